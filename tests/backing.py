"""Private PostgreSQL clusters and RabbitMQ nodes, for tests that must restart them.

The machine's shared PostgreSQL and RabbitMQ serve every session on it: a test
that stops a broker or a database under traffic starts its own, on free
127.0.0.1 ports in a temporary directory, and deletes it afterwards.

- ``PrivatePostgres``: ``initdb`` + ``pg_ctl`` from the machine's PostgreSQL 15
  binaries (as the ``postgres`` user when run as root); ``restart()`` keeps the
  data and the port.
- ``PrivateBroker``: a RabbitMQ node of its own (``rabbitmq-server`` with a unique
  node name, ports, database and log directories, and no plugins); ``restart()``
  keeps its queues and messages, as a real broker restart does.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from tests.stack import free_port

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    """Block until something accepts connections on 127.0.0.1:``port``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


class PrivatePostgres:
    """A throwaway PostgreSQL cluster on a free 127.0.0.1 port (trust auth)."""

    prefix = "helpdesk-pg-"

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix=self.prefix))
        self.port = free_port()
        self.data = self.dir / "data"
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            shutil.chown(self.dir, "postgres", "postgres")

    def _run(self, *argv, **kwargs):
        prefix = ["runuser", "-u", "postgres", "--"] if self._as_postgres else []
        return subprocess.run(
            [*prefix, *argv], check=True, capture_output=True, timeout=120, **kwargs
        )

    def configure(self) -> None:
        """Settings written after ``initdb``; subclasses add their own."""
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(
                f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.dir}'\n"
                "fsync = off\nshared_buffers = 16MB\n"
            )

    def start(self):
        """initdb (once), configure, start; returns self once it accepts connections."""
        if not self.data.exists():
            self._run(str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres")
            self.configure()
        self._pg_ctl("-w", "start")
        return self

    def _pg_ctl(self, *args) -> None:
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "log"), *args)

    def stop_server(self) -> None:
        """Stop the server at once, every connection dropped; ``start()`` brings it back."""
        self._pg_ctl("-m", "immediate", "-w", "stop")

    def restart(self, down_for: float = 0.0) -> None:
        """Stop the server at once, wait ``down_for`` seconds, start it again."""
        self.stop_server()
        time.sleep(down_for)
        self.start()

    def url(self, database: str = "postgres", host: str = "127.0.0.1", **query) -> str:
        """A ``postgresql://`` URL to this cluster, with libpq query parameters."""
        params = "&".join(f"{k}={v}" for k, v in query.items())
        return f"postgresql://postgres@{host}:{self.port}/{database}" + (
            f"?{params}" if params else ""
        )

    def stop(self) -> None:
        """Stop the cluster and delete it."""
        with contextlib.suppress(subprocess.CalledProcessError):
            self._pg_ctl("-m", "immediate", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)


class PrivateBroker:
    """A RabbitMQ node of its own on free 127.0.0.1 ports (user guest/guest)."""

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="helpdesk-rabbit-"))
        self.node = f"helpdesk{uuid.uuid4().hex[:8]}@localhost"
        self.port = free_port()
        self.dist_port = free_port()
        self.pid_file = self.dir / "rabbit.pid"
        (self.dir / "rabbitmq.conf").write_text(f"listeners.tcp.default = 127.0.0.1:{self.port}\n")
        # Not the shared node's /etc/rabbitmq/rabbitmq-env.conf (it names that node).
        (self.dir / "rabbitmq-env.conf").write_text("")
        (self.dir / "enabled_plugins").write_text("[].\n")
        # rabbitmq-server runs as the rabbitmq user when started by root.
        if os.geteuid() == 0:
            shutil.chown(self.dir, "rabbitmq", "rabbitmq")
            for path in self.dir.iterdir():
                shutil.chown(path, "rabbitmq", "rabbitmq")
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """The AMQP URL of this node's default vhost."""
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def _env(self) -> dict:
        return {
            **{k: v for k, v in os.environ.items() if not k.startswith(("RABBITMQ_", "HELPDESK_"))},
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.dir / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.dir / "log"),
            "RABBITMQ_PID_FILE": str(self.pid_file),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.dir / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(self.dir / "rabbitmq.conf"),
            "RABBITMQ_CONF_ENV_FILE": str(self.dir / "rabbitmq-env.conf"),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        }

    def ctl(self, *args, timeout: float = 90.0) -> str:
        """``rabbitmqctl -n <this node> ...``; its output."""
        # Without RABBITMQ_DIST_PORT: the CLI would try to take the node's own port.
        env = {k: v for k, v in os.environ.items() if not k.startswith("RABBITMQ_")}
        return subprocess.run(
            ["rabbitmqctl", "-n", self.node, *args],
            check=True,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
        ).stdout

    def start(self):
        """Start the node; returns self once it accepts AMQP connections."""
        log = open(self.dir / "server.out", "ab")  # noqa: SIM115 - kept by the process
        self.proc = subprocess.Popen(
            ["rabbitmq-server"],
            env=self._env(),
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        try:
            self.ctl("wait", str(self.pid_file), "--timeout", "90", timeout=100)
            wait_for_port(self.port)
        except Exception as exc:
            out = (self.dir / "server.out").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"private RabbitMQ {self.node} did not start:\n{out}") from exc
        return self

    def halt(self) -> None:
        """Stop the node (its queues and persistent messages stay on disk)."""
        if self.proc is None:
            return
        with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
            self.ctl("stop", str(self.pid_file), timeout=60)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, 9)
            self.proc.wait()
        self.proc = None

    def restart(self, down_for: float = 0.0) -> None:
        """Stop the node, wait ``down_for`` seconds, start it again on the same ports."""
        self.halt()
        time.sleep(down_for)
        self.start()

    def queue_depths(self) -> dict[str, int]:
        """Messages waiting (ready + unacked) per queue on the default vhost."""
        out = self.ctl("list_queues", "-q", "--no-table-headers", "name", "messages")
        depths = {}
        for line in out.splitlines():
            name, _, count = line.rpartition("\t")
            if name:
                depths[name] = int(count)
        return depths

    def stop(self) -> None:
        """Stop the node and delete its files."""
        self.halt()
        shutil.rmtree(self.dir, ignore_errors=True)
