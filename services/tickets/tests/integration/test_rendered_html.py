"""Text is rendered once, when written: its HTML is stored sealed beside it."""

import pytest
import sqlalchemy as sa

from services.tickets.fill_html import fill_html, fill_resolutions
from services.tickets.repository import TicketRepository
from services.tickets.tables import messages, tickets
from services.tickets.tests.integration.conftest import (
    ADMIN,
    USER,
    move_sealed,
    new_ticket_fields,
)
from shared.data_keys import keyring_from_settings
from shared.db import make_engine

pytestmark = pytest.mark.integration


def _store_html(settings, table, row_id, html):
    """Seal ``html`` into ``table``'s HTML column for ``row_id`` as the service would
    (bound to the row as it is stored: its owner, or its ticket and audience)."""
    engine = make_engine(settings.tickets_database_url, pool_size=1)
    try:
        with engine.begin() as connection:
            repository = TicketRepository(connection, keyring_from_settings(settings))
            rows = {"tickets": tickets, "messages": messages}[table]
            row = connection.execute(sa.select(rows).where(rows.c.id == row_id)).mappings().one()
            repository.store_html(table, dict(row), html)
    finally:
        engine.dispose()


def test_html_is_stored_sealed_when_the_text_is_written(call, db):
    ticket = call("create_ticket", USER, new_ticket_fields(description="**Charts** " * 10))
    call("add_reply", USER, ticket["id"], {"body": "a *reply*"})
    call("admin_add_message", ADMIN, ticket["id"], {"body": "a `note`", "internal": True})
    stored = db.execute("SELECT description_html FROM tickets").fetchone()[0]
    bodies = [r[0] for r in db.execute("SELECT body_html FROM messages ORDER BY id")]
    for value in [stored, *bodies]:
        assert value.startswith("hd2:t1:")  # sealed like the text, not readable
    dump = " ".join(str(r) for r in db.execute("SELECT * FROM messages"))
    assert "<em>" not in dump and "<code>" not in dump
    view = call("admin_get_ticket", ADMIN, ticket["id"])
    assert view["description_html"].startswith("<p><strong>Charts</strong>")
    assert [m["body_html"] for m in view["messages"]] == [
        "<p>a <em>reply</em></p>",
        "<p>a <code>note</code></p>",
    ]


def test_views_read_the_stored_html_instead_of_rendering(call, settings):
    ticket = call("create_ticket", USER, new_ticket_fields())
    message = call("add_reply", USER, ticket["id"], {"body": "plain words"})
    # What is stored is what is shown: a view that rendered again would not show these.
    _store_html(settings, "tickets", ticket["id"], "<p>stored description</p>")
    _store_html(settings, "messages", message["id"], "<p>stored body</p>")
    for view in (
        call("get_ticket", USER, ticket["id"]),
        call("admin_get_ticket", ADMIN, ticket["id"]),
    ):
        assert view["description_html"] == "<p>stored description</p>"
        assert view["messages"][0]["body_html"] == "<p>stored body</p>"


def test_a_stored_html_moved_to_another_row_does_not_open(call, db):
    first = call("create_ticket", USER, new_ticket_fields())
    second = call("create_ticket", USER, new_ticket_fields())
    move_sealed(db, "description_html", first["id"], second["id"])
    with pytest.raises(Exception) as err:
        call("get_ticket", USER, second["id"])
    assert "DataIntegrity" in type(err.value).__name__ or "integrity" in str(err.value)


def test_rows_older_than_stored_html_are_filled_and_read_the_same(call, db, settings):
    ticket = call("create_ticket", USER, new_ticket_fields(description="# Title\n\n" + "x" * 60))
    call("add_reply", USER, ticket["id"], {"body": "- one\n- two"})
    before = call("get_ticket", USER, ticket["id"])
    # As migration 0002 leaves the rows written before it.
    db.execute("UPDATE tickets SET description_html = NULL")
    db.execute("UPDATE messages SET body_html = NULL")
    legacy = call("get_ticket", USER, ticket["id"])  # rendered on read meanwhile
    assert legacy == before
    engine = make_engine(settings.tickets_database_url, pool_size=1)
    try:
        filled = fill_html(engine, keyring_from_settings(settings), batch=1)
        assert filled == {"tickets": 1, "messages": 1}
        assert fill_html(engine, keyring_from_settings(settings)) == {"tickets": 0, "messages": 0}
    finally:
        engine.dispose()
    assert db.execute("SELECT description_html FROM tickets").fetchone()[0].startswith("hd2:")
    assert db.execute("SELECT body_html FROM messages").fetchone()[0].startswith("hd2:")
    assert call("get_ticket", USER, ticket["id"]) == before


def test_notes_resolved_before_the_history_are_copied_into_it(call, db, settings):
    ticket = call("create_ticket", USER, new_ticket_fields())
    note = "Re-synced the account from the billing side."
    call("change_status", ADMIN, ticket["id"], {"status": "resolved", "resolution_note": note})
    before = call("get_ticket", USER, ticket["id"])
    assert [r["note"] for r in before["resolutions"]] == [note]
    # As migration 0006 leaves a ticket resolved before it: a note, no history.
    db.execute("DELETE FROM resolutions")
    legacy = call("get_ticket", USER, ticket["id"])
    assert legacy["resolutions"] == [dict(before["resolutions"][0], by_name=None)]
    engine = make_engine(settings.tickets_database_url, pool_size=1)
    try:
        assert fill_resolutions(engine, keyring_from_settings(settings), batch=1) == 1
        assert fill_resolutions(engine, keyring_from_settings(settings)) == 0
    finally:
        engine.dispose()
    assert db.execute("SELECT note FROM resolutions").fetchone()[0].startswith("hd2:")
    assert call("get_ticket", USER, ticket["id"]) == legacy
