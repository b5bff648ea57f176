"""The handlers on a unit of work in memory: load, act, save; answers, events, errors.

No PostgreSQL, no RabbitMQ (``fakes.FakeUnitOfWork``): the contract's answers and
error order, the events each command records, and that a refused command changes
nothing. Locks under races, SQL and sealing are the integration tests' part.
"""

import pytest

from services.tickets import handlers
from services.tickets.handlers import Command
from services.tickets.tests.unit.fakes import (
    ADMIN,
    FIELDS,
    OTHER,
    USER,
    FakeSettings,
    FakeUnitOfWork,
)
from shared.errors import Conflict, Forbidden, NotFound, RateLimited, ValidationFailed
from shared.idempotency import RpcCall

pytestmark = pytest.mark.unit


@pytest.fixture
def uow():
    uow = FakeUnitOfWork()
    uow.store.staff[ADMIN["id"]] = ADMIN["name"]  # the gateway recorded them (record_staff)
    return uow


def create(uow, actor=USER, **overrides):
    return handlers.create_ticket(Command(actor, {**FIELDS, **overrides}), uow)


def run(uow, name, actor, ticket_id, fields=None):
    return getattr(handlers, name)(Command(actor, fields, ticket_id), uow)


def types(uow):
    return [event_type for event_type, _payload in uow.events]


def test_create_answers_the_owner_view_and_records_ticket_created(uow):
    ticket = create(uow)
    assert ticket["status"] == "open" and ticket["priority"] == "high"
    assert ticket["description_html"].startswith("<p>")
    assert ticket["messages"] == [] and ticket["earlier_messages"] == 0
    assert ticket["timeline"] == [{"status": "open", "at": ticket["created_at"], "by": "user"}]
    assert ticket == run(uow, "get_ticket", USER, ticket["id"])  # what was stored
    [(event_type, payload)] = uow.events
    assert event_type == "ticket_created"
    assert payload["ticket_id"] == ticket["id"] and payload["actor_role"] == "user"
    assert (payload["priority"], payload["owner_name"], payload["status"]) == (
        "high",
        "Ada",
        "open",
    )


def test_the_daily_limit_says_when_it_resets_and_rejected_attempts_spend_nothing():
    uow = FakeUnitOfWork(FakeSettings(tickets_per_day=2))
    create(uow), create(uow)
    with pytest.raises(ValidationFailed):
        create(uow, subject="short")  # invalid before the allowance: spends nothing
    with pytest.raises(RateLimited) as err:
        create(uow)
    assert err.value.details["reset_at"] == "2026-05-05T00:00:00Z"
    assert int(err.value.details["retry_after"]) == 12 * 3600
    create(uow, actor=OTHER)  # per user
    assert types(uow) == ["ticket_created"] * 3


def test_the_first_public_support_reply_moves_open_to_review_and_names_itself(uow):
    tid = create(uow)["id"]
    note = run(uow, "admin_add_message", ADMIN, tid, {"body": "VIP", "internal": True})
    assert note["internal"] is True
    assert run(uow, "get_ticket", USER, tid)["status"] == "open"  # a note moves nothing
    reply = run(uow, "admin_add_message", ADMIN, tid, {"body": "On it"})
    assert reply["internal"] is False and reply["id"] > note["id"]
    view = run(uow, "admin_get_ticket", ADMIN, tid)
    assert view["status"] == "in_review"
    assert view["last_message_at"] == view["updated_at"] == reply["created_at"]
    assert [t["by"] for t in view["timeline"]] == ["user", "support"]
    owner_view = run(uow, "get_ticket", USER, tid)
    assert [m["id"] for m in owner_view["messages"]] == [reply["id"]]  # no internal note
    (_, internal), (_, public), (_, moved) = uow.events[1:]
    assert internal["body"] is None and internal["status"] == "open"
    assert public["body"] == "On it" and public["status"] == "in_review"
    assert (moved["from_status"], moved["to_status"]) == ("open", "in_review")
    assert moved["caused_by_message_id"] == reply["id"]


def test_an_owner_reply_on_awaiting_user_goes_back_to_review(uow):
    tid = create(uow)["id"]
    run(uow, "change_status", ADMIN, tid, {"status": "awaiting_user"})
    message = run(uow, "add_reply", USER, tid, {"body": "Here are the details"})
    assert "internal" not in message
    assert run(uow, "get_ticket", USER, tid)["status"] == "in_review"
    assert types(uow)[-3:] == ["status_changed", "message_added", "status_changed"]
    assert uow.events[-1][1]["actor_role"] == "user"


def test_resolve_then_close_with_notes(uow):
    tid = create(uow)["id"]
    resolved = run(
        uow,
        "change_status",
        ADMIN,
        tid,
        {"status": "resolved", "resolution_note": "Fixed the sync job."},
    )
    assert resolved["resolution_note"] == "Fixed the sync job." and "owner" in resolved
    closed = run(uow, "close_ticket", USER, tid, {"note": "  "})
    assert closed["status"] == "closed" and closed["closed_note"] is None
    assert [t["status"] for t in closed["timeline"]] == ["open", "resolved", "closed"]
    (_, resolved_event), (closed_type, closed_event) = uow.events[-2:]
    assert resolved_event["resolution_note"] == "Fixed the sync job."
    assert closed_type == "ticket_closed"
    assert (closed_event["from_status"], closed_event["note"]) == ("resolved", None)


@pytest.mark.parametrize(
    "name,actor,fields",
    [
        ("add_reply", USER, {"body": "x"}),
        ("admin_add_message", ADMIN, {"body": "x"}),
        ("change_status", ADMIN, {"status": "in_review"}),
        ("assign_ticket", ADMIN, {"assignee_id": "a-1"}),
        ("close_ticket", USER, None),
    ],
)
def test_closed_is_final_and_a_refused_command_changes_nothing(uow, name, actor, fields):
    tid = create(uow)["id"]
    run(uow, "close_ticket", USER, tid)
    before, events = run(uow, "admin_get_ticket", ADMIN, tid), list(uow.events)
    with pytest.raises(Conflict):
        run(uow, name, actor, tid, fields)
    assert run(uow, "admin_get_ticket", ADMIN, tid) == before
    assert uow.events == events


def test_an_illegal_move_is_a_conflict(uow):
    tid = create(uow)["id"]
    run(uow, "change_status", ADMIN, tid, {"status": "awaiting_user"})
    with pytest.raises(Conflict, match="awaiting_user to awaiting_user"):
        run(uow, "change_status", ADMIN, tid, {"status": "awaiting_user"})


def test_errors_come_in_the_contracts_order(uow):
    tid = create(uow)["id"]
    with pytest.raises(ValidationFailed):  # the caller first
        run(uow, "add_reply", {"id": "", "role": "user"}, tid, {"body": "x"})
    with pytest.raises(Forbidden):
        run(uow, "change_status", USER, tid, {"status": "closed"})
    for ticket_id in (tid, 999, "abc"):  # someone else's looks missing, bad fields or not
        with pytest.raises(NotFound):
            run(uow, "add_reply", OTHER if ticket_id == tid else USER, ticket_id, {"bad": 1})
    run(uow, "close_ticket", USER, tid)
    with pytest.raises(ValidationFailed):  # before the Conflict of a closed ticket
        run(uow, "add_reply", USER, tid, {"body": ""})


def test_assigning_the_same_admin_again_changes_nothing(uow):
    tid = create(uow)["id"]
    view = run(uow, "assign_ticket", ADMIN, tid, {"assignee_id": "a-1"})
    assert view["assignee"] == {"id": "a-1", "name": "Sam"}  # oneself: one's own name
    again = run(uow, "assign_ticket", ADMIN, tid, {"assignee_id": "a-1"})
    assert again["updated_at"] == view["updated_at"]
    assert types(uow) == ["ticket_created", "ticket_assigned"]
    unassigned = run(uow, "assign_ticket", ADMIN, tid, {"assignee_id": None})
    assert unassigned["assignee"] is None
    assert uow.events[-1][1]["previous_assignee_id"] == "a-1"


def test_replies_per_hour_roll_with_the_window():
    uow = FakeUnitOfWork(FakeSettings(messages_per_hour=3))
    tid = create(uow)["id"]
    first = run(uow, "add_reply", USER, tid, {"body": "one"})
    for body in ("two", "three"):
        run(uow, "add_reply", USER, tid, {"body": body})
    run(uow, "admin_add_message", ADMIN, tid, {"body": "support is not counted"})
    uow.clock.advance(minutes=59, seconds=30)
    with pytest.raises(RateLimited) as err:
        run(uow, "add_reply", USER, tid, {"body": "four"})
    assert err.value.details["reset_at"].startswith("2026-05-04T13:00:00")
    assert err.value.details["retry_after"] == "30"
    assert first["created_at"].startswith("2026-05-04T12:00:00")
    uow.clock.advance(seconds=31)
    run(uow, "add_reply", USER, tid, {"body": "four"})  # the first left the window
    run(uow, "change_status", ADMIN, tid, {"status": "closed"})
    with pytest.raises(Conflict):  # a closed ticket's Conflict comes before the limit
        run(uow, "add_reply", USER, tid, {"body": "five"})


def test_support_replying_on_their_own_ticket_is_not_limited():
    uow = FakeUnitOfWork(FakeSettings(messages_per_hour=1))
    tid = create(uow, actor=ADMIN)["id"]
    for body in ("one", "two", "three"):
        run(uow, "add_reply", ADMIN, tid, {"body": body})


def test_a_keyed_repeat_replays_the_first_answer_and_does_nothing_again(uow):
    tid = create(uow)["id"]
    key = {"key": "k-1", "fingerprint": "a" * 64}
    first = handlers.add_reply(Command(USER, {"body": "once"}, tid, key), uow)
    again = handlers.add_reply(Command(USER, {"body": "once"}, tid, key), uow)
    assert again == first
    assert types(uow) == ["ticket_created", "message_added"]
    with pytest.raises(ValidationFailed):  # the same key for another request
        other = {"key": "k-1", "fingerprint": "b" * 64}
        handlers.add_reply(Command(USER, {"body": "twice"}, tid, other), uow)


def test_a_keyless_call_delivered_again_replays_the_first_answer(uow):
    tid = create(uow)["id"]
    uow.call = RpcCall("c-1", redelivered=False, expiration="5000")
    first = run(uow, "admin_add_message", ADMIN, tid, {"body": "On it"})
    done = types(uow)
    assert done.count("message_added") == 1
    uow.call = RpcCall("c-1", redelivered=True, expiration="5000")
    assert run(uow, "admin_add_message", ADMIN, tid, {"body": "On it"}) == first
    assert types(uow) == done
    uow.call = RpcCall("c-2", redelivered=False, expiration="5000")  # another call acts
    assert run(uow, "admin_add_message", ADMIN, tid, {"body": "On it"}) != first
    assert types(uow) == [*done, "message_added"]


def test_a_keyless_create_delivered_again_spends_nothing_again(uow):
    uow.call = RpcCall("c-1")
    first = create(uow)
    uow.call = RpcCall("c-1", redelivered=True)
    assert create(uow) == first
    assert types(uow) == ["ticket_created"] and len(uow.store.tickets) == 1


def test_a_keyed_command_keeps_to_its_key_whatever_its_call(uow):
    tid = create(uow)["id"]
    key = {"key": "k-1", "fingerprint": "a" * 64}
    uow.call = RpcCall("c-1")
    first = handlers.add_reply(Command(USER, {"body": "once"}, tid, key), uow)
    uow.call = RpcCall("c-2")  # the client's retry is a new call with the same key
    assert handlers.add_reply(Command(USER, {"body": "once"}, tid, key), uow) == first
    assert [k for _caller, k in uow.store.keys] == ["k-1"]  # no call recorded beside it


def test_two_first_deliveries_of_one_call_act_once(uow):
    # The table's unique (caller, key) stops the second; the fake says the same.
    tid = create(uow)["id"]
    uow.call = RpcCall("c-1")
    run(uow, "add_reply", USER, tid, {"body": "once"})
    with pytest.raises(Conflict):
        run(uow, "add_reply", USER, tid, {"body": "once"})
    assert types(uow) == ["ticket_created", "message_added"]


def test_lists_page_with_cursors_and_search(uow):
    ids = [create(uow, subject=f"Printer number {i:02}")["id"] for i in range(5)]
    create(uow, actor=OTHER)
    first = handlers.list_tickets(Command(USER, {"limit": 2}), uow)
    assert [t["id"] for t in first["items"]] == ids[:-3:-1]
    second = handlers.list_tickets(Command(USER, {"limit": 2, "cursor": first["next_cursor"]}), uow)
    assert [t["id"] for t in second["items"]] == ids[2:0:-1]
    found = handlers.list_tickets(Command(USER, {"q": "number 03"}), uow)
    assert [t["id"] for t in found["items"]] == [ids[3]]
    nothing = handlers.list_tickets(Command(USER, {"q": "#" + "9" * 30}), uow)
    assert nothing == {"items": [], "next_cursor": None}
    queue = handlers.admin_list_tickets(Command(ADMIN, {"sort": "priority", "limit": 10}), uow)
    assert len(queue["items"]) == 6 and queue["items"][0]["owner"]["id"] == "u-1"


def test_message_pages_walk_back(uow):
    tid = create(uow)["id"]
    for i in range(5):
        run(uow, "add_reply", USER, tid, {"body": f"m{i}"})
        uow.clock.advance(minutes=1)
    page = run(uow, "list_messages", USER, tid, {"limit": 2})
    assert [m["body"] for m in page["items"]] == ["m3", "m4"] and page["earlier_messages"] == 3
    back = run(uow, "list_messages", USER, tid, {"limit": 2, "before": page["items"][0]["id"]})
    assert [m["body"] for m in back["items"]] == ["m1", "m2"]
    with pytest.raises(NotFound):  # before the bad query
        run(uow, "list_messages", OTHER, tid, {"limit": 0})
