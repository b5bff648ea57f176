"""Run one nameko service in the foreground with settings from the environment.

Each service's ``__main__`` calls ``run_service``; ``--check`` validates the
settings and imports everything, then exits (what deployment smoke tests use).
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import logging
import os
import signal
import sys

import eventlet
import eventlet.hubs
from nameko.runners import ServiceRunner

import shared.green  # noqa: F401,I001  (must precede psycopg)
from shared.data_keyring import DataKeyring
from shared.data_keys import keyring_or_exit
from shared.logging import configure_logging

log = logging.getLogger(__name__)


def _wake_hub_on_signals() -> None:
    """Make a signal wake eventlet's hub at once.

    Python runs a signal handler only when the main thread next executes bytecode;
    while the hub sleeps in epoll that can be seconds later (the next timer). With a
    wakeup fd the signal makes the fd readable, which wakes the hub immediately.
    """
    read_fd, write_fd = os.pipe()
    os.set_blocking(read_fd, False)
    os.set_blocking(write_fd, False)
    signal.set_wakeup_fd(write_fd)

    def drain():
        while True:
            eventlet.hubs.trampoline(read_fd, read=True)
            with contextlib.suppress(BlockingIOError):
                os.read(read_fd, 512)

    eventlet.spawn_n(drain)


def run_service(name: str, service_cls, settings_cls, argv=None, on_start=None) -> int:
    """Start ``service_cls`` with ``settings_cls`` (its ``Settings`` subclass) from the
    environment until SIGINT/SIGTERM; return a process exit code."""
    parser = argparse.ArgumentParser(prog=f"helpdesk-{name}", description=service_cls.__doc__)
    parser.add_argument(
        "--check", action="store_true", help="validate settings and code, then exit without serving"
    )
    args = parser.parse_args(argv)
    settings = settings_cls.from_env_or_exit(f"helpdesk-{name}")
    configure_logging(name, settings.log_level)
    if inspect.getmembers(service_cls, lambda member: isinstance(member, DataKeyring)):
        # The keys the service's keyring will load, checked here so that a bad or
        # missing key is one clear line (and fails --check), not a container traceback.
        keyring_or_exit(settings, f"helpdesk-{name}")
    if args.check:
        print(f"helpdesk-{name}: configuration ok ({settings.env})")
        return 0

    runner = ServiceRunner(settings.nameko_config())
    runner.add_service(service_cls)
    stopping = []

    def _shutdown(signum, frame):
        # A signal handler runs inside the hub's loop and must not block on eventlet
        # primitives, so the stop runs in its own green thread (as nameko's CLI does).
        if not stopping:
            stopping.append(signum)
            log.info("service stopping", extra={"signal": signal.Signals(signum).name})
            eventlet.spawn_n(runner.stop)

    signal.signal(signal.SIGTERM, _shutdown)
    signal.signal(signal.SIGINT, _shutdown)
    _wake_hub_on_signals()
    try:
        runner.start()
    except Exception as exc:
        # e.g. a dependency that cannot set up (missing data keys, unreachable database)
        log.error("service failed to start: %s", exc)
        print(f"helpdesk-{name}: cannot start: {exc}", file=sys.stderr)
        runner.kill()
        return 1
    log.info("service started", extra={"service_name": name, "env": settings.env})
    if on_start is not None:
        on_start(settings)
    # runner.wait() returns once every container has stopped (or one crashed).
    waiter = eventlet.spawn(runner.wait)
    while True:
        try:
            waiter.wait()
        except InterruptedError:
            continue
        except Exception:
            log.exception("service crashed")
            return 1
        break
    log.info("service stopped")
    return 0
