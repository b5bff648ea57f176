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


def test_a_message_id_is_drawn_only_once_the_ticket_is_locked(settings):
    """Message ids follow the order in which commands got the ticket's lock.

    A command waiting for the lock must draw its message id after the lock is
    granted, not before: else a later message could get the smaller id.
    """
    from datetime import UTC, datetime

    from services.tickets.repository import TicketRepository
    from services.tickets.tables import tickets
    from shared.data_keys import keyring_from_settings
    from shared.db import make_engine

    engine = make_engine(settings.tickets_database_url, pool_size=3)
    keyring = keyring_from_settings(settings)
    now = datetime.now(UTC)
    ticket = {
        "id": None, "owner_id": "u1", "owner_name": "U", "issue_type": "bug",
        "feature": "dashboard", "subject": "Locked", "description": "d",
        "description_html": "<p>d</p>", "priority": "high", "priority_rank": 1, "status": "open", "assignee_id": None, "assignee_name": None,
        "resolution_note": None, "closed_note": None, "created_at": now, "updated_at": now,
        "last_message_at": None,
    }  # fmt: skip
    # Every other column (response clock, team) as a new ticket no clock or team took has it.
    ticket |= {c.name: None for c in tickets.c if c.name not in ticket} | {"sla_elapsed": 0.0}
    try:
        with engine.begin() as setup:
            ticket["id"] = setup.execute(sa.text("SELECT nextval('tickets_id_seq')")).scalar()
            TicketRepository(setup, keyring).add(ticket, opened_by="user")
        with engine.connect() as first, engine.connect() as second:
            held = TicketRepository(first, keyring).lock(ticket["id"], reserve_message=True)
            waiting = eventlet.spawn(
                TicketRepository(second, keyring).lock, ticket["id"], reserve_message=True
            )
            eventlet.sleep(0.3)  # the second command now waits for the lock
            drawn_meanwhile = first.execute(sa.text("SELECT nextval('messages_id_seq')")).scalar()
            first.commit()
            later = waiting.wait()
            second.rollback()
        assert held["message_id"] < drawn_meanwhile < later["message_id"]
        assert later["message_at"] > held["message_at"]
    finally:
        engine.dispose()
