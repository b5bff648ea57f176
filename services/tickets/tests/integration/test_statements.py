"""How many statements a command sends: the one tickets process's CPU per statement
bounds the rate of every ticket command (docs/benchmarks.md), so a reply that also
sets the status must cost no more round trips than a plain reply."""

import pytest
import sqlalchemy as sa

from services.tickets import handlers
from services.tickets.handlers import Command
from services.tickets.tests.integration.conftest import ADMIN, USER, new_ticket_fields
from services.tickets.unit_of_work import TicketsUnitOfWork
from shared.data_keys import keyring_from_settings
from shared.db import Connections, make_engine

pytestmark = pytest.mark.integration


def test_a_reply_that_sets_the_status_sends_as_many_statements_as_a_plain_reply(settings):
    engine = make_engine(settings.tickets_database_url, pool_size=1)
    keyring = keyring_from_settings(settings)
    sent: list[str] = []
    sa.event.listen(engine, "before_cursor_execute", lambda *args: sent.append(args[2]))

    def run(command, actor, fields, ticket_id=None) -> dict:
        uow = TicketsUnitOfWork(Connections(engine), keyring, settings)
        return getattr(handlers, command)(Command(actor, fields, ticket_id=ticket_id), uow)

    def statements(command, actor, fields, ticket_id) -> list[str]:
        sent.clear()
        run(command, actor, fields, ticket_id)
        return list(sent)

    try:
        plain, moved = (run("create_ticket", USER, new_ticket_fields())["id"] for _ in range(2))
        for ticket_id in (plain, moved):  # both in review: later replies are plain ones
            run("admin_add_message", ADMIN, {"body": "On it."}, ticket_id)
        reply = statements("admin_add_message", ADMIN, {"body": "Looking."}, plain)
        one_step = statements(
            "admin_add_message", ADMIN, {"body": "Looking.", "status": "awaiting_user"}, moved
        )
        # The move's timeline entry, columns and due work went in with the message,
        # and its status_changed event with the message_added one.
        assert len(one_step) == len(reply) == 3, (reply, one_step)
        with engine.connect() as conn:
            timeline = conn.execute(
                sa.text("SELECT status FROM timeline WHERE ticket_id = :t ORDER BY id"),
                {"t": moved},
            ).scalars()
            assert list(timeline) == ["open", "in_review", "awaiting_user"]
            due = conn.execute(
                sa.text("SELECT kind FROM due_work WHERE ticket_id = :t"), {"t": moved}
            ).scalars()
            assert list(due) == ["awaiting_reminder"]
    finally:
        engine.dispose()
