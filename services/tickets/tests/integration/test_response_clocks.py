"""Response clocks against the real database: the stored clock, the ``sla`` filter,
the queue sorted by the soonest owed response and the index that serves it."""

from datetime import UTC, datetime, timedelta

import pytest

from services.tickets.tests.integration.conftest import ADMIN, USER, new_ticket_fields

pytestmark = pytest.mark.integration


def _create(call, issue_type="bug"):
    return call("create_ticket", USER, new_ticket_fields(issue_type=issue_type))["id"]


def _clock(db, ticket_id, warn_in, due_in):
    """Move a ticket's stored clock so it is at risk / due relative to now."""
    now = datetime.now(UTC)
    db.execute(
        "UPDATE tickets SET sla_warn_at = %s, sla_due_at = %s WHERE id = %s",
        (now + timedelta(seconds=warn_in), now + timedelta(seconds=due_in), ticket_id),
    )


def test_a_new_ticket_owes_its_first_response_and_a_public_reply_stops_the_clock(call, db):
    ticket_id = _create(call, "access")  # critical: 4h by default
    view = call("admin_get_ticket", ADMIN, ticket_id)
    created = datetime.fromisoformat(view["created_at"])
    due = datetime.fromisoformat(view["sla"]["due_at"])
    assert view["sla"]["state"] == "due" and due - created == timedelta(hours=4)
    assert view["sla"]["first_response_due_at"] == view["sla"]["due_at"]
    assert view["sla"]["first_response_at"] is None
    assert "sla" not in call("get_ticket", USER, ticket_id)  # support's view only

    call("admin_add_message", ADMIN, ticket_id, {"body": "Noted", "internal": True})
    assert call("admin_get_ticket", ADMIN, ticket_id)["sla"]["state"] == "due"
    message = call("admin_add_message", ADMIN, ticket_id, {"body": "On it", "internal": False})
    sla = call("admin_get_ticket", ADMIN, ticket_id)["sla"]
    assert sla == {
        "state": "none",
        "due_at": None,
        "first_response_due_at": view["sla"]["due_at"],
        "first_response_at": message["created_at"],
    }
    # The owner writes again: a next response is owed, 48h from their message.
    reply = call("add_reply", USER, ticket_id, {"body": "Still empty"})
    sla = call("admin_get_ticket", ADMIN, ticket_id)["sla"]
    assert datetime.fromisoformat(sla["due_at"]) - datetime.fromisoformat(
        reply["created_at"]
    ) == timedelta(hours=48)
    row = db.execute("SELECT sla_response FROM tickets WHERE id = %s", (ticket_id,)).fetchone()
    assert row == ("next",)


def test_waiting_on_the_owner_pauses_the_clock(call, db):
    ticket_id = _create(call)
    call("change_status", ADMIN, ticket_id, {"status": "awaiting_user"})
    assert call("admin_get_ticket", ADMIN, ticket_id)["sla"]["state"] == "none"
    response, started, elapsed = db.execute(
        "SELECT sla_response, sla_started_at, sla_elapsed FROM tickets WHERE id = %s",
        (ticket_id,),
    ).fetchone()
    assert (response, started) == ("first", None) and 0 <= elapsed < 60
    reply = call("add_reply", USER, ticket_id, {"body": "Here is the screenshot"})
    sla = call("admin_get_ticket", ADMIN, ticket_id)["sla"]
    left = datetime.fromisoformat(sla["due_at"]) - datetime.fromisoformat(reply["created_at"])
    # What was left of the first response's 8h, not a fresh target.
    assert timedelta(hours=8) - timedelta(seconds=elapsed) - left < timedelta(seconds=1)
    assert sla["first_response_due_at"] == sla["due_at"]


def test_a_priority_change_recomputes_the_clock(call):
    ticket_id = _create(call, "other")  # low: 24h
    before = call("admin_get_ticket", ADMIN, ticket_id)
    fields = {"priority": "critical", "reason": "The whole team is locked out"}
    after = call("change_priority", ADMIN, ticket_id, fields)
    created = datetime.fromisoformat(before["created_at"])
    assert datetime.fromisoformat(before["sla"]["due_at"]) - created == timedelta(hours=24)
    assert datetime.fromisoformat(after["sla"]["due_at"]) - created == timedelta(hours=4)
    assert after["sla"]["first_response_due_at"] == after["sla"]["due_at"]


def test_the_sla_filter_and_the_queue_by_due(call, db):
    breached, at_risk, due, later, answered = (_create(call) for _ in range(5))
    _clock(db, breached, -120, -60)
    _clock(db, at_risk, -60, 600)
    _clock(db, due, 300, 900)
    _clock(db, later, 3000, 9000)
    call("admin_add_message", ADMIN, answered, {"body": "Fixed", "internal": False})

    def ids(**params):
        return [t["id"] for t in call("admin_list_tickets", ADMIN, params)["items"]]

    assert ids(sla="breached") == [breached]
    assert ids(sla="at_risk") == [at_risk]
    assert ids(sla="due") == [later, due]  # the default order: newest first
    states = {t["id"]: t["sla"]["state"] for t in call("admin_list_tickets", ADMIN, {})["items"]}
    assert states == {
        breached: "breached",
        at_risk: "at_risk",
        due: "due",
        later: "due",
        answered: "none",
    }

    # Soonest owed first, owing none last, a page at a time through the cursor.
    seen, cursor = [], None
    while True:
        page = call("admin_list_tickets", ADMIN, {"sort": "due", "limit": 2, "cursor": cursor})
        seen += [t["id"] for t in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [breached, at_risk, due, later, answered]
    assert ids(sort="due", sla="due") == [due, later]


def test_sorting_by_due_walks_its_index(call, db):
    from sqlalchemy.dialects import postgresql

    from services.tickets.repository import _page_statement

    for _ in range(3):
        _create(call)
    db.execute("SET enable_seqscan = off")  # a few rows: make the planner show its options
    db.execute("SET enable_sort = off")
    now = datetime.now(UTC)
    cases = [((), False), ((), True), (("sla_at_risk",), False), (("sla_due",), True)]
    for filters, after in cases:  # first pages, pages after a cursor, the sla= filters
        statement = _page_statement(filters, "due", after).compile(dialect=postgresql.dialect())
        params = {"after_due": None, "after_id": 1, "limit": 20, **dict.fromkeys(filters, now)}
        plan = "\n".join(row[0] for row in db.execute(f"EXPLAIN {statement}", params))
        assert "Index Scan using tickets_due_queue_idx" in plan, plan
        assert "Sort" not in plan, plan
        if filters:  # a range of the index, short of the tickets that owe nothing
            assert "Index Cond" in plan and "'infinity'" in plan, plan


def test_the_catalog_tells_the_response_targets(call):
    assert call("get_catalog")["response_targets"] == {
        "first": {"critical": 14400, "high": 28800, "medium": 86400, "low": 86400},
        "next": 172800,
    }
