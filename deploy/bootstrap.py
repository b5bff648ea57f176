"""One-shot set-up a deployment runs before any service starts.

``python deploy/bootstrap.py`` waits for PostgreSQL and RabbitMQ to answer, creates
each service's database if missing and applies every migration
(``shared.migrate``), then declares the broker's exchanges and queues
(``shared.events.declare_topology``). Every step is idempotent, so it runs on each
``docker compose up`` and before each upgrade's new code. Exit 0 on success.
"""

from __future__ import annotations

import argparse
import sys
import time
from urllib.parse import urlsplit

import psycopg
from kombu import Connection

from shared import migrate
from shared.config import ConfigError, Settings
from shared.events import EVENT_QUEUES, declare_topology


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
                raise SystemExit(f"bootstrap: {name} did not answer in time: {exc}") from None
            print(f"bootstrap: waiting for {name}: {exc}", file=sys.stderr)
            time.sleep(interval)


def _postgres_ready(url: str):
    # The maintenance database: the service's own may not exist yet.
    maintenance = urlsplit(migrate._plain_url(url))._replace(path="/postgres").geturl()
    return lambda: psycopg.connect(maintenance, connect_timeout=5).close()


def _broker(settings: Settings, timeout: float) -> Connection:
    # ``amqp_ssl`` verifies the broker's certificate and name for an amqps:// URL.
    return Connection(settings.amqp_url, connect_timeout=timeout, ssl=settings.amqp_ssl or False)


def _broker_ready(settings: Settings):
    def attempt():
        with _broker(settings, 5) as conn:
            conn.connect()

    return attempt


def bootstrap(settings: Settings, timeout: float) -> None:
    """Wait for the backing services, migrate both databases, declare the topology."""
    deadline = time.monotonic() + timeout
    for service, setting in migrate.DATABASE_SETTING.items():
        url = getattr(settings, setting)
        wait_for(f"PostgreSQL ({_redacted(url)})", _postgres_ready(url), deadline)
        migrate.upgrade(service, url)
        print(f"bootstrap: {service}: migrated {_redacted(url)}", file=sys.stderr)
    wait_for(f"RabbitMQ ({_redacted(settings.amqp_url)})", _broker_ready(settings), deadline)
    with _broker(settings, 10) as conn:
        declare_topology(conn)
    names = ", ".join(queue.name for queue in EVENT_QUEUES)
    print(f"bootstrap: broker topology declared (queues: {names})", file=sys.stderr)


def main(argv=None) -> int:
    """Run the set-up with settings from the environment; non-zero exit on failure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
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
        print(f"bootstrap: configuration error: {exc}", file=sys.stderr)
        return 2
    bootstrap(settings, args.timeout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
