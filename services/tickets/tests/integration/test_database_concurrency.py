"""Database calls of concurrent workers do not block each other under eventlet.

Guards against psycopg's blocking wait function (the compiled build, or psycopg
imported before ``shared.green``): then ten half-second queries would take five
seconds instead of about one half.
"""

import time

import eventlet
import pytest
import sqlalchemy as sa
from nameko.rpc import rpc

from services.tickets.service import TicketsService
from services.tickets.tests.integration.conftest import run_entrypoint

pytestmark = pytest.mark.integration


class SleepyTickets:
    """The tickets service's own database dependency, behind a test entrypoint."""

    name = "sleepy_tickets"
    db = TicketsService.db.__class__(TicketsService.db.url_setting)

    @rpc
    def sleep(self, seconds):
        with self.db.autocommit() as connection:
            connection.execute(sa.text("SELECT pg_sleep(:s)"), {"s": seconds})
        return True


def test_ten_concurrent_pg_sleeps_take_about_one(container_factory, settings):
    container = container_factory(SleepyTickets, settings.nameko_config())
    container.start()

    def sleep(_):
        return run_entrypoint(container, "sleep", 0.5)

    started = time.monotonic()
    results = list(eventlet.GreenPool(10).imap(sleep, range(10)))
    elapsed = time.monotonic() - started
    assert results == [True] * 10
    assert elapsed < 1.5, f"10 x pg_sleep(0.5) took {elapsed:.2f}s: the hub is blocked"
