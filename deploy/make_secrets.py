"""Create a deployment's secrets once, outside the image and outside git.

``python deploy/make_secrets.py`` writes what ``docker-compose.yml`` reads and
never overwrites a file that exists (so it is safe to re-run):

- ``.env``: the administrative ``HELPDESK_POSTGRES_PASSWORD`` and
  ``HELPDESK_RABBITMQ_PASSWORD`` (only the set-up step gets them) and each
  service's own database and broker password, and the backup service's read-only
  database password (``PASSWORDS``); random and URL-safe, so they can sit inside
  connection URLs. A password missing from an existing ``.env`` is appended; none
  is ever changed;
- ``deploy/secrets/jwt_secret``: the HS256 secret shared with the host platform
  that signs the tokens (replace it with the platform's own);
- ``deploy/secrets/data_keys``: the at-rest encryption key (``id=base64key``);
- ``deploy/secrets/tls.pem``: the public certificate chain and key the load
  balancer serves. Self-signed for ``--hostname`` unless you put your own there.

``--internal-tls`` also writes a private CA (``ca.pem``) and server certificates
for ``postgres`` and ``rabbitmq`` that ``deploy/compose.tls.yml`` uses.

Who may read what (compose bind-mounts a secret file with its host owner and mode,
so these modes are what the containers see too):

- the directory ``deploy/secrets`` is 0700, also when it exists already (git checks
  it out 0755);
- the secrets a container reads as a non-root user (``jwt_secret``, ``data_keys``,
  ``tls.pem``) are 0640, group ``SECRETS_GID`` (10001: the Help Center image's
  ``helpdesk`` group; the load balancer joins it with ``group_add``);
- the internal servers' keys (``postgres-key.pem``, ``rabbitmq-key.pem``) are
  0600: their containers start as root and copy the key into place for their own
  user (``deploy/compose.tls.yml``);
- ``ca-key.pem`` and ``.env`` are 0600 (never mounted); certificates are 0644.

Re-running fixes the modes of files that exist (never their contents). Setting the
group needs root (or membership of group 10001); without it the script says so.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import secrets
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from shared.crypto import generate_key

ROOT = Path(__file__).resolve().parent.parent
VALIDITY = dt.timedelta(days=825)
# Every password docker-compose.yml reads from .env (tools/access.py: one login each).
PASSWORDS = (
    "HELPDESK_POSTGRES_PASSWORD",
    "HELPDESK_RABBITMQ_PASSWORD",
    "HELPDESK_TICKETS_DB_PASSWORD",
    "HELPDESK_NOTIFICATIONS_DB_PASSWORD",
    "HELPDESK_TICKETS_AMQP_PASSWORD",
    "HELPDESK_NOTIFICATIONS_AMQP_PASSWORD",
    "HELPDESK_GATEWAY_AMQP_PASSWORD",
    # The backup service's read-only database role.
    "HELPDESK_BACKUP_DB_PASSWORD",
)
# The group the Help Center image runs as (deploy/Dockerfile's helpdesk, gid 10001).
SECRETS_GID = 10001
# name -> (mode, readable by SECRETS_GID); anything else under deploy/secrets is 0600.
ACCESS = {
    "jwt_secret": (0o640, True),
    "data_keys": (0o640, True),
    "tls.pem": (0o640, True),
    "postgres-key.pem": (0o600, False),
    "rabbitmq-key.pem": (0o600, False),
    "ca-key.pem": (0o600, False),
    "ca.pem": (0o644, False),
    "postgres.pem": (0o644, False),
    "rabbitmq.pem": (0o644, False),
}


def _write(path: Path, text: str, written: list) -> None:
    if path.exists():
        return
    # Created owner-only; restrict() then opens it to exactly who needs it.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    written.append(path)


def _passwords(env: Path, written: list) -> None:
    """Write ``.env`` (0600) with every password of ``PASSWORDS``, or append the
    ones an existing ``.env`` lacks (one made by an earlier version)."""
    have = set()
    if env.exists():
        have = {line.split("=", 1)[0].strip() for line in env.read_text().splitlines()}
    missing = "".join(f"{name}={secrets.token_hex(24)}\n" for name in PASSWORDS if name not in have)
    if not missing:
        return
    if have:
        with env.open("a", encoding="utf-8") as fh:
            fh.write(missing)
    else:
        _write(env, missing, written)
    if env not in written:
        written.append(env)
    env.chmod(0o600)


def restrict(secrets_dir: Path) -> list[str]:
    """Apply ``ACCESS`` to every file in ``secrets_dir`` (and 0700 to the directory).

    Returns the files whose group could not be set (not root, not in the group).
    """
    secrets_dir.chmod(0o700)
    ungrouped = []
    for path in sorted(secrets_dir.iterdir()):
        if not path.is_file() or path.name == ".gitignore":
            continue
        mode, grouped = ACCESS.get(path.name, (0o600, False))
        if grouped and path.stat().st_gid != SECRETS_GID:
            try:
                os.chown(path, -1, SECRETS_GID)
            except PermissionError:
                ungrouped.append(path.name)
        path.chmod(mode)
    return ungrouped


def pem_key(key) -> str:
    """An unencrypted PKCS#8 PEM of ``key``."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def pem_cert(cert) -> str:
    """The PEM of ``cert``."""
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def issue(common_name: str, issuer=None, issuer_key=None, ca: bool = False):
    """A P-256 key and certificate for ``common_name`` (self-signed without an issuer)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), True
        )
    else:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(common_name)]), critical=False
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    cert = builder.sign(issuer_key or key, hashes.SHA256())
    return key, cert


def make_secrets(root: Path, hostname: str, internal_tls: bool) -> list[Path]:
    """Write every missing secret under the checkout ``root``; return the paths written."""
    written: list[Path] = []
    secrets_dir = root / "deploy" / "secrets"
    secrets_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    secrets_dir.chmod(0o700)  # mkdir leaves an existing (checked-out, 0755) directory as it is
    _passwords(root / ".env", written)
    _write(secrets_dir / "jwt_secret", secrets.token_urlsafe(48) + "\n", written)
    _write(secrets_dir / "data_keys", f"k{secrets.token_hex(3)}={generate_key()}\n", written)
    if not (secrets_dir / "tls.pem").exists():
        key, cert = issue(hostname)
        _write(secrets_dir / "tls.pem", pem_cert(cert) + pem_key(key), written)
    if internal_tls:
        if (secrets_dir / "ca.pem").exists():
            ca_cert = x509.load_pem_x509_certificate((secrets_dir / "ca.pem").read_bytes())
            ca_key = serialization.load_pem_private_key(
                (secrets_dir / "ca-key.pem").read_bytes(), password=None
            )
        else:
            ca_key, ca_cert = issue("Help Center internal CA", ca=True)
            _write(secrets_dir / "ca.pem", pem_cert(ca_cert), written)
            _write(secrets_dir / "ca-key.pem", pem_key(ca_key), written)
        for host in ("postgres", "rabbitmq"):
            if not (secrets_dir / f"{host}.pem").exists():
                key, cert = issue(host, ca_cert, ca_key)
                _write(secrets_dir / f"{host}.pem", pem_cert(cert), written)
                _write(secrets_dir / f"{host}-key.pem", pem_key(key), written)
    ungrouped = restrict(secrets_dir)
    if ungrouped:
        print(
            f"make_secrets: could not give group {SECRETS_GID} read access to "
            f"{', '.join(ungrouped)}: run as root, or `chgrp {SECRETS_GID}` them, "
            "or the containers cannot read them",
            file=sys.stderr,
        )
    return written


def main(argv=None) -> int:
    """Create the missing secrets and list what was written."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--hostname", default="localhost", help="name on the self-signed public certificate"
    )
    parser.add_argument(
        "--internal-tls",
        action="store_true",
        help="also a CA and certificates for postgres/rabbitmq",
    )
    args = parser.parse_args(argv)
    for path in make_secrets(ROOT, args.hostname, args.internal_tls):
        print(f"wrote {path.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
