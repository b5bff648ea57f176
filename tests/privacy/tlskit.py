"""What the in-transit tests need: a throwaway CA, a TLS PostgreSQL, a TLS broker port.

- ``make_ca`` / ``issue_for``: a CA and server certificates made with cryptography's
  x509 builder (``deploy/make_secrets.py``'s helpers), written as PEM files.
- ``TlsPostgres``: a private PostgreSQL cluster (``tests.backing.PrivatePostgres``)
  with ``ssl = on`` and a ``pg_hba.conf`` that
  rejects any connection not made over TLS (the shared cluster is left untouched).
- ``TlsBrokerPort``: a TLS front for the local RabbitMQ (``amqps://`` on a free
  port, forwarding to 127.0.0.1:5672), run as a separate process with plain threads.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from deploy.make_secrets import issue, pem_cert, pem_key
from tests.backing import PrivatePostgres, wait_for_port
from tests.stack import free_port


@dataclass
class Issued:
    """PEM files of one certificate and its key."""

    cert: Path
    key: Path


def _write(directory: Path, name: str, key, cert) -> Issued:
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    cert_path.write_text(pem_cert(cert))
    key_path.write_text(pem_key(key))
    key_path.chmod(0o600)
    return Issued(cert_path, key_path)


def make_ca(directory: Path, name: str = "Help Center test CA") -> tuple[Issued, tuple]:
    """A CA (``deploy/make_secrets.py``'s helpers); its files, and (cert, key) to issue with."""
    key, cert = issue(name, ca=True)
    return _write(directory, name.lower().replace(" ", "-"), key, cert), (cert, key)


def issue_for(directory: Path, ca, host: str = "localhost") -> Issued:
    """A server certificate for ``host`` signed by ``ca``."""
    ca_cert, ca_key = ca
    key, cert = issue(host, issuer=ca_cert, issuer_key=ca_key)
    return _write(directory, host, key, cert)


class TlsPostgres(PrivatePostgres):
    """A private PostgreSQL cluster that accepts TLS connections only."""

    prefix = "helpdesk-tls-pg-"

    def __init__(self, server: Issued):
        super().__init__()
        # The server reads its key as the postgres user; it insists on 0600.
        self.cert = self.dir / "server.crt"
        self.key = self.dir / "server.key"
        shutil.copy(server.cert, self.cert)
        shutil.copy(server.key, self.key)
        self.key.chmod(0o600)
        if self._as_postgres:
            for path in (self.cert, self.key):
                shutil.chown(path, "postgres", "postgres")

    def configure(self) -> None:
        """The private cluster's settings, plus TLS only."""
        super().configure()
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(
                f"ssl = on\nssl_cert_file = '{self.cert}'\nssl_key_file = '{self.key}'\n"
                "ssl_min_protocol_version = 'TLSv1.2'\n"
            )
        (self.data / "pg_hba.conf").write_text(
            "local all all trust\n"
            "hostssl all all 127.0.0.1/32 trust\n"
            "hostnossl all all 127.0.0.1/32 reject\n"
        )

    def url(self, database: str = "postgres", **query) -> str:
        """A ``postgresql://`` URL to this cluster with libpq query parameters."""
        # By name: the certificate is for ``localhost`` (verify-full checks it).
        return super().url(database, host="localhost", **query)


class TlsBrokerPort:
    """``amqps://`` on a free port: TLS terminated here, bytes relayed to the broker."""

    def __init__(self, server: Issued, target_port: int = 5672):
        self.port = free_port()
        self.server = server
        self.target_port = target_port
        self.proc: subprocess.Popen | None = None

    def start(self) -> TlsBrokerPort:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.privacy.tls_relay",
                str(self.port),
                str(self.server.cert),
                str(self.server.key),
                str(self.target_port),
            ],
            cwd=Path(__file__).resolve().parents[2],
            env={k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")},
        )
        wait_for_port(self.port)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
