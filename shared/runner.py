"""Run one nameko service in the foreground with settings from the environment.

Each service's ``__main__`` calls ``run_service``; ``--check`` validates the
settings and imports everything, then exits (what deployment smoke tests use).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys

import eventlet
from kombu import Connection
from nameko.runners import ServiceRunner

import shared.green  # noqa: F401,I001  (must precede psycopg)
from shared.config import ConfigError, Settings
from shared.events import declare_topology
from shared.logging import configure_logging

log = logging.getLogger(__name__)


def run_service(name: str, service_cls, argv=None, on_start=None) -> int:
    """Start ``service_cls`` until SIGINT/SIGTERM; return a process exit code."""
    parser = argparse.ArgumentParser(prog=f"helpdesk-{name}", description=service_cls.__doc__)
    parser.add_argument(
        "--check", action="store_true", help="validate settings and code, then exit without serving"
    )
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"helpdesk-{name}: configuration error: {exc}", file=sys.stderr)
        return 2
    configure_logging(name, settings.log_level)
    if args.check:
        print(f"helpdesk-{name}: configuration ok ({settings.env})")
        return 0

    # Queues and exchanges exist before anything publishes or consumes.
    with Connection(settings.amqp_url, connect_timeout=10) as conn:
        declare_topology(conn)

    runner = ServiceRunner(settings.nameko_config())
    runner.add_service(service_cls)
    stop = eventlet.Event()

    def _shutdown(signum, frame):
        if not stop.ready():
            stop.send(signum)

    signal.signal(signal.SIGTERM, _shutdown)
    signal.signal(signal.SIGINT, _shutdown)
    runner.start()
    log.info("service started", extra={"service_name": name, "env": settings.env})
    if on_start is not None:
        on_start(settings)
    stop.wait()
    log.info("service stopping")
    runner.stop()
    return 0
