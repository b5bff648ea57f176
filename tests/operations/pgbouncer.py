"""A real PgBouncer (Debian's package) in transaction pooling, in front of the local
PostgreSQL, for tests that run the services through it."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

from tools.localrun import free_port

BINARY = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
# PgBouncer refuses to run as root: when the tests do, it drops to this user.
RUN_AS = "postgres"


class PgBouncer:
    """Listens on 127.0.0.1:``port``; every database of the local server behind it, at
    most ``server_connections`` server connections per database and user."""

    def __init__(self, server_connections: int = 3):
        assert os.path.exists(BINARY), "pgbouncer is missing: `make test-deps` installs it"
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="helpdesk-pgbouncer-"))
        (self.dir / "users.txt").write_text('"root" ""\n"postgres" ""\n')
        (self.dir / "pgbouncer.ini").write_text(
            "[databases]\n"
            "* = host=127.0.0.1 port=5432\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {self.port}\n"
            f"auth_type = trust\nauth_file = {self.dir / 'users.txt'}\n"
            "pool_mode = transaction\n"
            f"default_pool_size = {server_connections}\n"
            "max_client_conn = 500\n"
            "unix_socket_dir =\n"
            # psycopg and SQLAlchemy send these at start-up; PgBouncer must let them by.
            "ignore_startup_parameters = extra_float_digits,options\n"
        )
        self.dir.chmod(0o755)
        for path in self.dir.iterdir():
            path.chmod(0o644)
        argv = [BINARY, str(self.dir / "pgbouncer.ini")]
        if os.geteuid() == 0:
            argv[1:1] = ["-u", RUN_AS]
        self.log = open(self.dir / "pgbouncer.log", "wb")  # noqa: SIM115 - kept by the process
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=self.log)
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 10
        while True:
            try:
                with psycopg.connect(self.url("postgres"), connect_timeout=2) as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.OperationalError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"pgbouncer did not start:\n{self.logs()}") from None
                time.sleep(0.1)

    def url(self, database: str) -> str:
        """A ``postgresql://`` URL of ``database`` through this PgBouncer."""
        return f"postgresql://root@127.0.0.1:{self.port}/{database}"

    def logs(self) -> str:
        return (self.dir / "pgbouncer.log").read_text(errors="replace")

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
