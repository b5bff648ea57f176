"""A whole Help Center stack, started as real processes for end-to-end tests.

Each ``Stack`` gets its own databases and RabbitMQ vhost, a free port and a fresh
data key, declares every service's queues as ``helpdesk-setup`` does, and starts
exactly the processes ``make run`` starts (``tools.localrun.process_specs``), so the
tests exercise the shipped commands.
Logs go to ``artifacts/stack-logs/<tag>/<service>.<n>.log``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from services.gateway.settings import FrontSettings
from tools.localrun import ROOT, free_port, process_specs, settings_class, start, stop_all
from tools.setup import ManagementApi, declare_queues

LOG_ROOT = ROOT / "artifacts" / "stack-logs"
BASE_AMQP = os.environ.get("HELPDESK_TEST_AMQP_BASE", "amqp://guest:guest@127.0.0.1:5672")
BASE_PG = os.environ.get("HELPDESK_TEST_PG_BASE", "postgresql://root@127.0.0.1:5432")
# The management API of the broker BASE_AMQP names (same host and login).
MANAGEMENT_PORT = int(os.environ.get("HELPDESK_TEST_RABBITMQ_MANAGEMENT_PORT", "15672"))


def _rabbitmqctl(*args):
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


@functools.cache
def _management_api():
    """The test broker's management API, or None when it does not answer (no plugin:
    scripts/ensure-backing-services.sh enables it). Through it a vhost is made in
    milliseconds; each ``rabbitmqctl`` call boots an Erlang node, about 2 s, and
    every test stack makes and deletes a vhost."""
    amqp = urlsplit(BASE_AMQP)
    api = ManagementApi(
        f"http://{amqp.username}:{amqp.password}@{amqp.hostname}:{MANAGEMENT_PORT}/",
        timeout=30,
    )
    try:
        api.request("GET", "/overview")
    except OSError:
        return None
    return api


def create_vhost(tag: str) -> str:
    """Create the RabbitMQ vhost ``helpdesk_<tag>``; return its AMQP URL."""
    vhost = f"helpdesk_{tag}"
    user = unquote(urlsplit(BASE_AMQP).username)
    api = _management_api()
    if api is None:
        _rabbitmqctl("add_vhost", vhost)
        _rabbitmqctl("set_permissions", "-p", vhost, user, ".*", ".*", ".*")
    else:
        api.request("PUT", f"/vhosts/{quote(vhost, safe='')}", {})
        api.request(
            "PUT",
            f"/permissions/{quote(vhost, safe='')}/{quote(user, safe='')}",
            {"configure": ".*", "write": ".*", "read": ".*"},
        )
    return f"{BASE_AMQP}/{vhost}"


def delete_vhost(url: str) -> None:
    """Delete the vhost an AMQP URL from ``create_vhost`` names."""
    vhost = url.rsplit("/", 1)[1]
    api = _management_api()
    if api is None:
        _rabbitmqctl("delete_vhost", vhost)
    else:
        api.request("DELETE", f"/vhosts/{quote(vhost, safe='')}")


@contextlib.contextmanager
def migrated_database(tag: str, service: str):
    """``create_database`` for the ``with`` block; the database is dropped after it."""
    from tools.migrate import drop_database

    url = create_database(tag, service)
    try:
        yield url
    finally:
        drop_database(url)


@contextlib.contextmanager
def fresh_vhost(tag: str):
    """``create_vhost`` for the ``with`` block; the vhost is deleted after it."""
    url = create_vhost(tag)
    try:
        yield url
    finally:
        delete_vhost(url)


@contextlib.contextmanager
def open_engine(url: str, pool_size: int = 2, *, truncate: tuple = ()):
    """An engine on ``url`` for the ``with`` block (disposed of after it), the
    ``truncate`` tables emptied first."""
    from shared.db import make_engine

    engine = make_engine(url, pool_size=pool_size)
    try:
        if truncate:
            with engine.begin() as db:
                db.exec_driver_sql(f"TRUNCATE {', '.join(truncate)}")
        yield engine
    finally:
        engine.dispose()


def create_database(tag: str, service: str) -> str:
    """A fresh, migrated database ``helpdesk_<tag>_<service>``; return its URL."""
    from tools.migrate import drop_database, upgrade

    url = f"{BASE_PG}/helpdesk_{tag}_{service}"
    drop_database(url)
    upgrade(service, url)
    return url


def isolated_stack(tag: str, env: dict | None = None) -> Stack:
    """A ``Stack`` (not started) on a new vhost and new, migrated databases of its own;
    ``discard_stack`` stops it and deletes them."""
    stack = Stack(
        tag,
        {
            "HELPDESK_AMQP_URL": create_vhost(tag),
            "HELPDESK_TICKETS_DATABASE_URL": create_database(tag, "tickets"),
            "HELPDESK_NOTIFICATIONS_DATABASE_URL": create_database(tag, "notifications"),
            **(env or {}),
        },
    )
    return stack


def tree_stack(tag: str, tree: Path, env: dict | None = None) -> Stack:
    """An ``isolated_stack`` running another source tree's code (an older commit's
    worktree, a benchmark's baseline): its processes start in ``tree`` with
    ``PYTHONPATH`` there, and that tree's own ``helpdesk-setup`` migrates its databases
    and declares its queues, as they were at its commit. ``discard_stack`` as usual."""
    stack = Stack(
        tag,
        {
            "HELPDESK_AMQP_URL": create_vhost(tag),
            "HELPDESK_TICKETS_DATABASE_URL": f"{BASE_PG}/helpdesk_{tag}_tickets",
            "HELPDESK_NOTIFICATIONS_DATABASE_URL": f"{BASE_PG}/helpdesk_{tag}_notifications",
            "PYTHONPATH": str(tree),
            **(env or {}),
        },
        tree=tree,
    )
    setup = "import sys; from tools.setup import main; sys.exit(main([]))"
    subprocess.run(
        [sys.executable, "-c", setup], cwd=tree, env=stack.env, check=True, capture_output=True
    )
    stack.declared = True
    return stack


def discard_stack(stack: Stack) -> None:
    """Stop ``stack`` and delete the vhost and databases ``isolated_stack`` made."""
    from tools.migrate import drop_database

    stack.close()
    delete_vhost(stack.env["HELPDESK_AMQP_URL"])
    for setting in ("HELPDESK_TICKETS_DATABASE_URL", "HELPDESK_NOTIFICATIONS_DATABASE_URL"):
        drop_database(stack.env[setting])


class Stack:
    """Real tickets, notifications and gateway processes on one isolated environment."""

    def __init__(self, tag: str, env: dict, tree: Path = ROOT):
        from shared.crypto import generate_key

        self.tag = tag
        # The source tree the processes run (``tree_stack``: another commit's).
        self.tree = tree
        self.port = free_port()
        self.stream_port = free_port()
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")},
            "HELPDESK_ENV": "development",
            "HELPDESK_HTTP_HOST": "127.0.0.1",
            "HELPDESK_HTTP_PORT": str(self.port),
            "HELPDESK_STREAM_PORT": str(self.stream_port),
            "HELPDESK_DATA_KEYS": f"t1={generate_key()}",
            "HELPDESK_LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
            **{k: str(v) for k, v in env.items()},
        }
        # With a certificate, both front processes serve HTTPS only, to the name the
        # test certificates are issued for.
        front = (
            "https://localhost" if self.env.get("HELPDESK_TLS_CERT_FILE") else "http://127.0.0.1"
        )
        self.base_url = f"{front}:{self.port}"
        self.stream_url = f"{front}:{self.stream_port}"
        self.log_dir = LOG_ROOT / tag
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.settings = settings_class().from_env(self.env)
        self.specs = process_specs(self.settings)
        self.procs = {}
        self.declared = False

    def start(self, service: str | None = None) -> None:
        """Start every process of ``service`` (all services when None)."""
        if not self.declared:
            # As helpdesk-setup does before make run starts anything: no event is
            # published to a queue that does not exist yet, whichever service is first.
            declare_queues(self.settings)
            self.declared = True
        for spec in self.specs:
            if service in (None, spec.service) and spec.label not in self.procs:
                log = open(self.log_path(spec.label), "ab")  # noqa: SIM115 - kept by the process
                self.procs[spec.label] = start(
                    spec, self.env, stdout=log, stderr=log, cwd=self.tree
                )

    def stop(self, service: str | None = None) -> None:
        """Stop every process of ``service`` (all when None), gracefully."""
        labels = [k for k in self.procs if service in (None, k.split(".")[0])]
        stop_all([self.procs.pop(label) for label in labels])

    def kill(self, service: str) -> None:
        """SIGKILL every process of ``service``: a crash, not a shutdown."""
        import signal

        for label in [k for k in self.procs if k.split(".")[0] == service]:
            proc = self.procs.pop(label)
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def close(self) -> None:
        self.stop()

    def log_path(self, label: str) -> Path:
        return self.log_dir / f"{label}.log"

    def logs(self, service: str) -> str:
        """Everything the processes of ``service`` have logged so far."""
        return "\n".join(
            p.read_text(errors="replace") for p in sorted(self.log_dir.glob(f"{service}.*.log"))
        )

    def unstarted(self) -> list[str]:
        """The services with fewer consumers on their RPC queue than instances started.

        ``/readyz`` pings each service once, so one instance answering says nothing
        of a second; the broker counts every instance that consumes (whatever the
        processes log).
        """
        from amqp.exceptions import NotFound
        from kombu import Connection

        instances = Counter(
            k.split(".")[0] for k in self.procs if k.split(".")[0] not in ("gateway", "stream")
        )
        waiting = []
        with Connection(self.env["HELPDESK_AMQP_URL"], connect_timeout=5) as conn:
            for service, started in sorted(instances.items()):
                try:
                    _queue, _messages, consumers = conn.channel().queue_declare(
                        queue=f"rpc-{service}", passive=True
                    )
                except NotFound:  # not declared yet (and the failure closed that channel)
                    consumers = 0
                if consumers < started:
                    waiting.append(service)
        return waiting

    def wait_ready(self, timeout: float = 90.0, ca_file: str | None = None) -> None:
        """Block until ``/readyz`` answers 200 and every service process has started;
        fail with the logs if that never happens. ``ca_file``: the CA that an HTTPS
        gateway's certificate is verified against."""
        context = ssl.create_default_context(cafile=ca_file) if ca_file else None
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            for label, proc in self.procs.items():
                if proc.poll() is not None:
                    raise RuntimeError(
                        f"{label} exited with {proc.returncode}:\n{self.logs(label.split('.')[0])[-4000:]}"
                    )
            try:
                ready = f"{self.base_url}/readyz"
                with urllib.request.urlopen(ready, timeout=5, context=context) as resp:
                    waiting = self.unstarted()
                    if any(k.startswith("stream.") for k in self.procs):
                        urllib.request.urlopen(
                            f"{self.stream_url}/healthz", timeout=5, context=context
                        ).close()
                    if resp.status == 200 and not waiting:
                        return
                    last = f"not started yet: {waiting}"
            except urllib.error.HTTPError as exc:
                last = f"{exc.code} {exc.read()[:300]!r}"
            except OSError as exc:
                last = repr(exc)
            time.sleep(0.3)
        raise RuntimeError(f"stack {self.tag} not ready after {timeout}s: {last}")

    def start_front(self) -> tuple[str, subprocess.Popen]:
        """``make run``'s front (``tools.localfront``) before this stack's gateway and
        stream process, on a port of its own: its URL and process (stop it)."""
        port = free_port()
        settings = dataclasses.replace(self.settings, http_port=port)
        specs = {s.service: s for s in process_specs(settings, front_gateway_port=self.port)}
        assert specs["gateway"].env == (("HELPDESK_HTTP_PORT", str(self.port)),)
        with open(self.log_path("front.1"), "ab") as log:
            proc = start(specs["front"], self.env, stdout=log, stderr=log)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{url}/healthz", timeout=2):
                    break
            except OSError:
                time.sleep(0.1)
        return url, proc

    def token(
        self, sub: str, role: str = "user", name: str | None = None, lifetime: int = 3600
    ) -> str:
        """A token the stack's gateway accepts, for ``sub`` in ``role``."""
        from services.gateway.tokens import mint_token

        return mint_token(FrontSettings.from_env(self.env), sub, role, name, lifetime)
