"""Every RPC method end to end against the real database and broker."""

import pytest

from services.tickets.tests.integration.conftest import (
    ADMIN,
    ADMIN_2,
    OTHER_USER,
    USER,
    move_sealed,
    new_ticket_fields,
)
from shared.catalog import ISSUE_TYPE_KEYS
from shared.errors import Conflict, Forbidden, NotFound, ValidationFailed

pytestmark = pytest.mark.integration


def test_ping_and_catalog(call):
    assert call("ping") == "pong"
    catalog = call("get_catalog")
    assert [t["key"] for t in catalog["issue_types"]] == list(ISSUE_TYPE_KEYS)
    assert catalog["limits"]["tickets_per_day"] == 5


def test_create_returns_the_owner_view(call):
    ticket = call("create_ticket", USER, new_ticket_fields(subject="  Charts do not load  "))
    assert ticket["subject"] == "Charts do not load"
    assert ticket["status"] == "open"
    assert ticket["priority"] == "high"
    assert ticket["created_at"].endswith("Z")
    assert ticket["description_html"].startswith("<p>")
    assert ticket["messages"] == []
    assert ticket["timeline"] == [{"status": "open", "at": ticket["created_at"], "by": "user"}]
    assert ticket["assignee"] is None and ticket["resolution_note"] is None
    assert call("get_ticket", USER, ticket["id"]) == ticket


def _create(call, actor=USER, **overrides):
    return call("create_ticket", actor, new_ticket_fields(**overrides))


def test_priority_follows_issue_type(call):
    expected = {"access": "critical", "bug": "high", "billing": "high", "data": "medium"}
    for issue_type, priority in expected.items():
        assert _create(call, issue_type=issue_type)["priority"] == priority


def test_other_users_ticket_is_not_found_like_a_missing_one(call):
    ticket = _create(call)
    with pytest.raises(NotFound) as theirs:
        call("get_ticket", OTHER_USER, ticket["id"])
    with pytest.raises(NotFound) as missing:
        call("get_ticket", OTHER_USER, 999_999)
    assert (theirs.value.message, theirs.value.details) == (
        missing.value.message,
        missing.value.details,
    )
    for bad_id in ("abc", -1, 0, None, True):
        with pytest.raises(NotFound):
            call("get_ticket", USER, bad_id)
    # NotFound wins over a bad body and a closed ticket.
    with pytest.raises(NotFound):
        call("add_reply", OTHER_USER, ticket["id"], {"body": ""})


def test_create_rejects_bad_and_unknown_fields_naming_them(call, db):
    bad = {
        "issue_type": "nonsense",
        "feature": "nope",
        "subject": 12345678901,
        "description": "   too short   ",
        "status": "closed",
        "priority": "critical",
    }
    with pytest.raises(ValidationFailed) as err:
        call("create_ticket", USER, bad)
    # Every field sent is refused by its name.
    assert set(err.value.details) == set(bad)
    assert all(isinstance(v, list) and v for v in err.value.details.values())
    with pytest.raises(ValidationFailed) as err:
        call("create_ticket", USER, new_ticket_fields(subject=" " * 5 + "x" * 9 + " " * 5))
    assert list(err.value.details) == ["subject"]
    with pytest.raises(ValidationFailed):
        call("create_ticket", USER, "not an object")
    with pytest.raises(ValidationFailed) as err:
        call("create_ticket", {"id": "", "role": "owner"}, new_ticket_fields())
    assert list(err.value.details) == ["actor"]
    # Nothing half-written, nothing spent.
    assert db.execute("SELECT count(*) FROM tickets").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM ticket_allowance").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM outbox").fetchone()[0] == 0


def test_text_is_encrypted_at_rest_and_bound_to_its_row(call, db):
    ticket = _create(call)
    call(
        "admin_add_message",
        ADMIN,
        ticket["id"],
        {"body": "secret internal words", "internal": True},
    )
    call("add_reply", USER, ticket["id"], {"body": "my reply words"})
    call(
        "change_status",
        ADMIN,
        ticket["id"],
        {"status": "resolved", "resolution_note": "fixed the charts for you"},
    )
    call("close_ticket", USER, ticket["id"], {"note": "thanks, all good now"})
    row = db.execute(
        "SELECT subject, description, resolution_note, closed_note FROM tickets"
    ).fetchone()
    assert row[0] == "Charts do not load"  # subjects stay searchable
    for stored in row[1:]:
        assert stored.startswith("hd2:t1:")
    bodies = [r[0] for r in db.execute("SELECT body FROM messages ORDER BY id")]
    assert len(bodies) == 2 and all(b.startswith("hd2:t1:") for b in bodies)
    dump = " ".join(str(r) for r in db.execute("SELECT * FROM messages"))
    assert "secret internal" not in dump and "my reply" not in dump
    # A value moved to another row no longer opens: the service refuses to show it.
    ticket2 = _create(call)
    move_sealed(db, "description", ticket["id"], ticket2["id"])
    with pytest.raises(Exception) as err:
        call("get_ticket", USER, ticket2["id"])
    assert "TamperedValue" in type(err.value).__name__ or "authentication" in str(err.value)


def test_owner_lifecycle_with_automatic_moves(call):
    ticket = _create(call)
    tid = ticket["id"]
    # First public support reply on open -> in_review.
    reply = call("admin_add_message", ADMIN, tid, {"body": "Looking into it **now**"})
    assert reply["author"] == "support" and reply["internal"] is False
    assert reply["body_html"] == "<p>Looking into it <strong>now</strong></p>"
    assert call("get_ticket", USER, tid)["status"] == "in_review"
    call("change_status", ADMIN, tid, {"status": "awaiting_user"})
    # Owner reply on awaiting_user -> in_review.
    mine = call("add_reply", USER, tid, {"body": "  Here is more detail  "})
    assert mine["body"] == "Here is more detail" and "internal" not in mine
    assert call("get_ticket", USER, tid)["status"] == "in_review"
    resolved = call(
        "change_status", ADMIN, tid, {"status": "resolved", "resolution_note": "Cache cleared."}
    )
    assert resolved["resolution_note"] == "Cache cleared."
    # Owner reply on resolved -> in_review.
    call("add_reply", USER, tid, {"body": "Still broken"})
    seen = call("get_ticket", USER, tid)
    assert seen["status"] == "in_review"
    assert seen["resolution_note"] == "Cache cleared."
    assert [(t["status"], t["by"]) for t in seen["timeline"]] == [
        ("open", "user"),
        ("in_review", "support"),
        ("awaiting_user", "support"),
        ("in_review", "user"),
        ("resolved", "support"),
        ("in_review", "user"),
    ]
    assert [m["author"] for m in seen["messages"]] == ["support", "user", "user"]
    assert seen["last_message_at"] == seen["messages"][-1]["created_at"]
    closed = call("close_ticket", USER, tid, {"note": "Made in error"})
    assert closed["status"] == "closed" and closed["closed_note"] == "Made in error"
    assert closed["timeline"][-1]["status"] == "closed"
    # Closed is final.
    with pytest.raises(Conflict):
        call("add_reply", USER, tid, {"body": "hello?"})
    with pytest.raises(Conflict):
        call("close_ticket", USER, tid, {})
    with pytest.raises(Conflict):
        call("admin_add_message", ADMIN, tid, {"body": "note", "internal": True})
    with pytest.raises(Conflict):
        call("change_status", ADMIN, tid, {"status": "in_review"})
    call("record_staff", ADMIN)  # known staff: the closed ticket is what refuses it
    with pytest.raises(Conflict):
        call("assign_ticket", ADMIN, tid, {"assignee_id": ADMIN["id"]})
    # ValidationFailed comes before Conflict.
    with pytest.raises(ValidationFailed):
        call("add_reply", USER, tid, {"body": "   "})
    with pytest.raises(ValidationFailed):
        call("change_status", ADMIN, tid, {"status": "resolved"})
    assert call("list_tickets", USER, {})["items"][0]["status"] == "closed"


def test_close_without_a_note_and_with_an_empty_body(call):
    ticket = _create(call)
    closed = call("close_ticket", USER, ticket["id"], None)
    assert closed["status"] == "closed" and closed["closed_note"] is None
    with pytest.raises(ValidationFailed) as err:
        call("close_ticket", USER, _create(call)["id"], {"note": "x", "reason": "y"})
    assert list(err.value.details) == ["reason"]


def test_change_status_rules(call):
    tid = _create(call)["id"]
    with pytest.raises(Conflict):
        call("change_status", ADMIN, tid, {"status": "open"})
    with pytest.raises(ValidationFailed) as err:
        call("change_status", ADMIN, tid, {"status": "in_review", "resolution_note": "not now!!"})
    assert list(err.value.details) == ["resolution_note"]
    with pytest.raises(ValidationFailed) as err:
        call("change_status", ADMIN, tid, {"status": "resolved", "resolution_note": "short"})
    assert list(err.value.details) == ["resolution_note"]
    with pytest.raises(ValidationFailed) as err:
        call("change_status", ADMIN, tid, {"status": "gone"})
    assert list(err.value.details) == ["status"]
    view = call("change_status", ADMIN, tid, {"status": "closed"})
    assert view["status"] == "closed" and view["timeline"][-1]["by"] == "support"
    assert view["owner"] == {"id": USER["id"], "name": USER["name"]}


def test_users_get_forbidden_on_admin_methods(call):
    tid = _create(call)["id"]
    calls = [
        ("admin_list_tickets", {}),
        ("admin_get_ticket", tid),
        ("admin_add_message", tid, {"body": "x"}),
        ("change_status", tid, {"status": "in_review"}),
        ("assign_ticket", tid, {"assignee_id": "u-1"}),
    ]
    for method, *args in calls:
        with pytest.raises(Forbidden):
            call(method, USER, *args)


def test_internal_notes_never_reach_user_views(call):
    tid = _create(call)["id"]
    note = call(
        "admin_add_message", ADMIN, tid, {"body": "internal: user is VIP", "internal": True}
    )
    assert note["internal"] is True
    owner_view = call("get_ticket", USER, tid)
    assert owner_view["messages"] == [] and owner_view["status"] == "open"
    assert "VIP" not in str(owner_view) and "VIP" not in str(call("list_tickets", USER, {}))
    assert owner_view["last_message_at"] is None
    support_view = call("admin_get_ticket", ADMIN, tid)
    assert [m["internal"] for m in support_view["messages"]] == [True]
    with pytest.raises(ValidationFailed) as err:
        call("admin_add_message", ADMIN, tid, {"body": "x", "internal": "yes"})
    assert list(err.value.details) == ["internal"]


def test_assignment(call, amqp_url):
    tid = _create(call)["id"]
    # Only known staff: someone who never called is refused, before the ticket's state.
    with pytest.raises(ValidationFailed) as err:
        call("assign_ticket", ADMIN, tid, {"assignee_id": "a-2"})
    assert list(err.value.details) == ["assignee_id"]
    call("record_staff", ADMIN_2)
    call("record_staff", ADMIN)
    view = call("assign_ticket", ADMIN, tid, {"assignee_id": "a-2"})
    # The name is the directory's.
    assert view["assignee"] == {"id": "a-2", "name": "Kim Support"}
    assert call("get_ticket", USER, tid)["assignee"] == {"id": "a-2", "name": "Kim Support"}
    again = call("assign_ticket", ADMIN, tid, {"assignee_id": "a-2"})
    assert again["updated_at"] == view["updated_at"]
    # A newer name in the directory shows on the tickets they hold.
    call("record_staff", dict(ADMIN_2, name="Kim Renamed"))
    assert call("admin_get_ticket", ADMIN, tid)["assignee"]["name"] == "Kim Renamed"
    assert call("assign_ticket", ADMIN, tid, {"assignee_id": None})["assignee"] is None
    mine = call("assign_ticket", ADMIN, tid, {"assignee_id": ADMIN["id"]})
    assert mine["assignee"] == {"id": ADMIN["id"], "name": ADMIN["name"]}
    # Unknown staff is a 422 even on a closed ticket (validation before conflict).
    call("close_ticket", USER, tid, {})
    with pytest.raises(ValidationFailed):
        call("assign_ticket", ADMIN, tid, {"assignee_id": "nobody-known"})
    with pytest.raises(ValidationFailed) as err:
        call("assign_ticket", ADMIN, tid, {})
    assert list(err.value.details) == ["assignee_id"]
    with pytest.raises(NotFound):
        call("assign_ticket", ADMIN, 424242, {"assignee_id": "a-2"})


def test_user_list_search_filters_and_keyset_pages(call):
    created = []
    subjects = ["Printer on fire", "Invoice is wrong", "Cannot log in 100%", "Export is slow"]
    for actor in (USER, OTHER_USER):
        for subject in subjects:
            fields = new_ticket_fields(subject=subject + " again")
            created.append(call("create_ticket", actor, fields)["id"])
    mine = call("list_tickets", USER, {})
    assert [i["id"] for i in mine["items"]] == created[:4][::-1]
    assert mine["next_cursor"] is None
    assert set(mine["items"][0]) == {
        "id",
        "subject",
        "issue_type",
        "feature",
        "status",
        "priority",
        "created_at",
        "updated_at",
        "last_message_at",
    }
    assert [i["subject"] for i in call("list_tickets", USER, {"q": "INVOICE"})["items"]] == [
        "Invoice is wrong again"
    ]
    assert len(call("list_tickets", USER, {"q": "100%"})["items"]) == 1
    assert call("list_tickets", USER, {"q": "_"})["items"] == []
    assert [i["id"] for i in call("list_tickets", USER, {"q": f"#{created[1]}"})["items"]] == [
        created[1]
    ]
    assert call("list_tickets", USER, {"q": str(created[5])})["items"] == []  # not mine
    assert call("list_tickets", USER, {"q": "9" * 30})["items"] == []
    call("close_ticket", USER, created[0], {})
    closed = call("list_tickets", USER, {"status": "closed"})["items"]
    assert [i["id"] for i in closed] == [created[0]]
    # Pages of 3, then 1, with an opaque cursor.
    first = call("list_tickets", USER, {"limit": 3})
    second = call("list_tickets", USER, {"limit": "3", "cursor": first["next_cursor"]})
    assert [i["id"] for i in first["items"] + second["items"]] == created[:4][::-1]
    assert second["next_cursor"] is None
    for bad in ({"limit": 0}, {"limit": 101}, {"limit": 2.5}, {"cursor": "zzz"}, {"page": 2}):
        with pytest.raises(ValidationFailed) as err:
            call("list_tickets", USER, bad)
        assert list(err.value.details) == list(bad)


def test_admin_queue_filters_and_sorts(call):
    low = _create(call, issue_type="other")["id"]
    critical = _create(call, issue_type="access")["id"]
    high = _create(call, actor=OTHER_USER, issue_type="bug")["id"]
    critical_2 = _create(call, actor=OTHER_USER, issue_type="access")["id"]
    call("record_staff", ADMIN)
    call("record_staff", ADMIN_2)
    call("assign_ticket", ADMIN, high, {"assignee_id": ADMIN["id"]})
    call("assign_ticket", ADMIN, low, {"assignee_id": ADMIN_2["id"]})

    def ids(params):
        return [i["id"] for i in call("admin_list_tickets", ADMIN, params)["items"]]

    assert ids({}) == [critical_2, high, critical, low]
    assert ids({"sort": "priority"}) == [critical, critical_2, high, low]
    assert ids({"sort": "updated"}) == [low, high, critical_2, critical]
    assert ids({"assignee": "me"}) == [high]
    assert ids({"assignee": "none"}) == [critical_2, critical]
    assert ids({"assignee": ADMIN_2["id"]}) == [low]
    assert ids({"priority": "critical"}) == [critical_2, critical]
    call("change_status", ADMIN, low, {"status": "in_review"})
    assert ids({"status": "in_review"}) == [low]
    assert ids({"q": "charts"}) == [critical_2, high, critical, low]
    assert ids({"q": f"#{high}"}) == [high]
    item = call("admin_list_tickets", ADMIN, {"q": str(high)})["items"][0]
    assert item["owner"] == {"id": OTHER_USER["id"], "name": OTHER_USER["name"]}
    assert item["assignee"] == {"id": ADMIN["id"], "name": "Sam Support"}
    # Keyset pages walk every sort without gaps or repeats.
    for sort in ("priority", "created", "updated"):
        seen, cursor = [], None
        while True:
            page = call("admin_list_tickets", ADMIN, {"sort": sort, "limit": 1, "cursor": cursor})
            seen += [i["id"] for i in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == ids({"sort": sort})
    with pytest.raises(ValidationFailed) as err:
        call("admin_list_tickets", ADMIN, {"sort": "random", "priority": "urgent"})
    assert set(err.value.details) == {"sort", "priority"}


def test_racing_commands_on_one_ticket_are_serialized(call, tickets, db):
    import eventlet

    from services.tickets.tests.integration.conftest import run_entrypoint

    tid = _create(call)["id"]

    def close(_):
        try:
            return run_entrypoint(tickets, "close_ticket", USER, tid, {})["status"]
        except Conflict:
            return "conflict"

    results = list(eventlet.GreenPool(10).imap(close, range(10)))
    assert sorted(results) == ["closed"] + ["conflict"] * 9
    timeline = db.execute("SELECT status FROM timeline WHERE ticket_id = %s", (tid,)).fetchall()
    assert [s for (s,) in timeline] == ["open", "closed"]
    closed_events = db.execute("SELECT count(*) FROM outbox WHERE type = 'ticket_closed'")
    assert closed_events.fetchone()[0] == 1
