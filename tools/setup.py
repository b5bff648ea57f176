"""``helpdesk-setup``: the one-shot set-up that runs before any service starts.

It waits for PostgreSQL and RabbitMQ to answer, creates each registered service's
database if missing and applies every migration (``tools.migrate``), then declares
the broker's exchanges and every queue a service consumes (``tools.registry``), so an
event published before its consumer first runs still waits for it. Every step is
idempotent, so it runs on each ``docker compose up``, before each upgrade's new code,
and at each ``make run``. Exit 0 on success.
"""

from __future__ import annotations

import argparse
import sys
import time
from urllib.parse import urlsplit

import psycopg
from kombu import Connection

from shared.config import ConfigError, Settings
from shared.events import declare_topology
from tools import migrate, registry


def _redacted(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"{parts.scheme}://{host}{f':{parts.port}' if parts.port else ''}{parts.path}"


def wait_for(name: str, attempt, deadline: float, interval: float = 1.0) -> None:
    """Call ``attempt`` until it succeeds or ``deadline`` (monotonic) passes."""
    while True:
        try:
            attempt()
            return
        except Exception as exc:  # any failure to connect means "not yet"
            if time.monotonic() >= deadline:
                raise SystemExit(f"helpdesk-setup: {name} did not answer in time: {exc}") from None
            print(f"helpdesk-setup: waiting for {name}: {exc}", file=sys.stderr)
            time.sleep(interval)


def _postgres_ready(url: str):
    # The maintenance database: the service's own may not exist yet.
    maintenance = urlsplit(migrate.plain_url(url))._replace(path="/postgres").geturl()
    return lambda: psycopg.connect(maintenance, connect_timeout=5).close()


def _broker(settings: Settings, timeout: float) -> Connection:
    # ``amqp_ssl`` verifies the broker's certificate and name for an amqps:// URL.
    return Connection(settings.amqp_url, connect_timeout=timeout, ssl=settings.amqp_ssl or False)


def _broker_ready(settings: Settings):
    def attempt():
        with _broker(settings, 5) as conn:
            conn.connect()

    return attempt


def declare_queues(settings: Settings) -> tuple:
    """Declare the exchanges and every registered service's queues; return the queues."""
    queues = registry.event_queues()
    with _broker(settings, 10) as conn:
        declare_topology(conn, queues)
    return queues


def setup(settings: Settings, timeout: float) -> None:
    """Wait for the backing services, migrate every database, declare the topology."""
    deadline = time.monotonic() + timeout
    for service in registry.services():
        url = service.database_url(settings)
        wait_for(f"PostgreSQL ({_redacted(url)})", _postgres_ready(url), deadline)
        migrate.upgrade(service.name, url)
        print(f"helpdesk-setup: {service.name}: migrated {_redacted(url)}", file=sys.stderr)
    wait_for(f"RabbitMQ ({_redacted(settings.amqp_url)})", _broker_ready(settings), deadline)
    names = ", ".join(queue.name for queue in declare_queues(settings))
    print(f"helpdesk-setup: broker topology declared (queues: {names})", file=sys.stderr)


def main(argv=None) -> int:
    """Run the set-up with settings from the environment; non-zero exit on failure."""
    parser = argparse.ArgumentParser(
        prog="helpdesk-setup",
        description="Create and migrate the databases, then declare the broker's queues.",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        help="seconds to wait for PostgreSQL and RabbitMQ (default 120)",
    )
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env(verifies_tokens=False)
    except ConfigError as exc:
        print(f"helpdesk-setup: configuration error: {exc}", file=sys.stderr)
        return 2
    setup(settings, args.timeout)
    return 0
