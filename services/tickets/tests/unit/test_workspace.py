"""Support's workspace through the handlers and the aggregate, on the fake unit of work:
reply and status in one action, the resolution history, follow-ups, priority
changes and the queue's owner, issue type and feature filters."""

import pytest

from services.tickets import domain, handlers
from services.tickets.handlers import Command
from services.tickets.tests.unit.fakes import FakeUnitOfWork
from services.tickets.tests.unit.test_handlers import ADMIN, OTHER, USER, create, run
from shared.errors import Conflict, Forbidden, NotFound, ValidationFailed

pytestmark = pytest.mark.unit

NOTE = "Fixed the sync job that fed the charts."


@pytest.fixture
def uow():
    return FakeUnitOfWork()


def reply(uow, ticket_id, **fields):
    return run(uow, "admin_add_message", ADMIN, ticket_id, {"body": "Done on our side.", **fields})


# --- reply and status in one action ------------------------------------------------------
def test_a_reply_that_resolves_is_one_action_with_one_message_event_telling_the_note(uow):
    ticket = create(uow)
    message = reply(uow, ticket["id"], status="resolved", resolution_note=NOTE)
    view = run(uow, "get_ticket", USER, ticket["id"])
    assert view["status"] == "resolved" and view["resolution_note"] == NOTE
    assert [m["id"] for m in view["messages"]] == [message["id"]]
    assert [t["status"] for t in view["timeline"]] == ["open", "resolved"]
    (_, added), (_, moved) = uow.events[1:]
    assert added["resolution_note"] == NOTE and added["status"] == "resolved"
    # The move names the reply that caused it: its notice is the reply's.
    assert moved["caused_by_message_id"] == message["id"] and moved["to_status"] == "resolved"


def test_a_reply_may_leave_the_ticket_awaiting_the_user(uow):
    ticket = create(uow)
    reply(uow, ticket["id"], status="awaiting_user")
    view = run(uow, "admin_get_ticket", ADMIN, ticket["id"])
    # The carried status replaces the first reply's automatic move to in_review.
    assert [t["status"] for t in view["timeline"]] == ["open", "awaiting_user"]
    added = uow.events[1][1]
    assert added["resolution_note"] is None and added["status"] == "awaiting_user"


def test_an_illegal_move_stores_no_message_and_records_nothing(uow):
    ticket = create(uow)
    run(uow, "change_status", ADMIN, ticket["id"], {"status": "awaiting_user"})
    events = list(uow.events)
    with pytest.raises(Conflict):
        reply(uow, ticket["id"], status="open")
    view = run(uow, "admin_get_ticket", ADMIN, ticket["id"])
    assert view["messages"] == [] and view["status"] == "awaiting_user"
    assert uow.events == events


@pytest.mark.parametrize(
    "fields,field",
    [
        ({"internal": True, "status": "awaiting_user"}, "status"),
        ({"status": "resolved"}, "resolution_note"),
        ({"status": "awaiting_user", "resolution_note": NOTE}, "resolution_note"),
        ({"resolution_note": NOTE}, "resolution_note"),
        ({"status": "resolved", "resolution_note": "short"}, "resolution_note"),
    ],
)
def test_status_rules_on_a_reply_are_validation_errors(uow, fields, field):
    ticket = create(uow)
    with pytest.raises(ValidationFailed) as failed:
        reply(uow, ticket["id"], **fields)
    assert field in failed.value.details
    assert run(uow, "admin_get_ticket", ADMIN, ticket["id"])["messages"] == []


# --- the resolution history ----------------------------------------------------------
def test_every_resolution_note_is_kept_and_the_latest_never_cleared(uow):
    ticket = create(uow)
    run(uow, "change_status", ADMIN, ticket["id"], {"status": "resolved", "resolution_note": NOTE})
    run(uow, "add_reply", USER, ticket["id"], {"body": "Still empty for me."})
    reopened = run(uow, "get_ticket", USER, ticket["id"])
    assert reopened["status"] == "in_review" and reopened["resolution_note"] == NOTE
    second = "Cleared the cache of the chart tiles."
    reply(uow, ticket["id"], status="resolved", resolution_note=second)
    for view in (
        run(uow, "get_ticket", USER, ticket["id"]),
        run(uow, "admin_get_ticket", ADMIN, ticket["id"]),
    ):
        assert [r["note"] for r in view["resolutions"]] == [NOTE, second]
        assert [r["by_name"] for r in view["resolutions"]] == ["Sam", "Sam"]
        assert view["resolution_note"] == second
        resolved_at = [t["at"] for t in view["timeline"] if t["status"] == "resolved"]
        assert [r["at"] for r in view["resolutions"]] == resolved_at


def test_a_note_from_before_the_history_shows_as_the_one_resolution():
    from services.tickets import views

    at = domain.datetime(2026, 5, 4, tzinfo=domain.UTC)
    ticket = {
        "resolutions": [],
        "resolution_note": NOTE,
        "timeline": [{"status": "resolved", "at": at}],
        "updated_at": at,
    }
    assert views.resolutions_view(ticket) == [
        {"note": NOTE, "at": "2026-05-04T00:00:00.000000Z", "by_name": None}
    ]


# --- follow-ups ----------------------------------------------------------------------
def test_a_follow_up_links_both_tickets_and_spends_one_of_the_days_tickets(uow):
    first = create(uow)
    run(uow, "close_ticket", USER, first["id"])
    again = create(uow, follows_up=first["id"], subject="Charts empty again")
    assert again["follows_up"] == {"id": first["id"], "subject": first["subject"]}
    assert again == run(uow, "get_ticket", USER, again["id"])
    earlier = run(uow, "get_ticket", USER, first["id"])
    assert earlier["follows_up"] is None
    assert earlier["follow_ups"] == [
        {"id": again["id"], "subject": "Charts empty again", "status": "open"}
    ]
    assert run(uow, "admin_get_ticket", ADMIN, first["id"])["follow_ups"] == earlier["follow_ups"]
    assert uow.store.allowance[("u-1", uow.clock.at.date())] == 2


@pytest.mark.parametrize("target", ["another's", "missing"])
def test_following_up_anything_but_ones_own_ticket_is_the_same_422(uow, target):
    others = create(uow, actor=OTHER)
    ticket_id = others["id"] if target == "another's" else 999
    with pytest.raises(ValidationFailed) as failed:
        create(uow, follows_up=ticket_id)
    assert failed.value.details == {"follows_up": ["Must be one of your tickets."]}
    assert ("u-1", uow.clock.at.date()) not in uow.store.allowance  # nothing spent


@pytest.mark.parametrize("value", [True, "1", 1.5, 0, -3])
def test_follows_up_must_be_a_ticket_number(uow, value):
    with pytest.raises(ValidationFailed) as failed:
        create(uow, follows_up=value)
    assert "follows_up" in failed.value.details


# --- priority --------------------------------------------------------------------------
def test_a_priority_change_is_kept_with_its_reason_for_support_only(uow):
    ticket = create(uow)
    view = run(
        uow, "change_priority", ADMIN, ticket["id"], {"priority": "critical", "reason": "Outage"}
    )
    assert view["priority"] == "critical"
    [change] = view["priority_changes"]
    assert (change["from_priority"], change["to_priority"], change["reason"]) == (
        "high",
        "critical",
        "Outage",
    )
    assert change["by_name"] == "Sam" and change["at"] == view["updated_at"]
    assert "priority_changes" not in run(uow, "get_ticket", USER, ticket["id"])
    event_type, payload = uow.events[-1]
    assert event_type == "priority_changed" and payload["reason"] == "Outage"
    page = handlers.admin_list_tickets(Command(ADMIN, {"sort": "priority"}), uow)
    assert page["items"][0]["priority"] == "critical"


def test_the_same_priority_changes_nothing_and_closed_is_final(uow):
    ticket = create(uow)
    events = list(uow.events)
    view = run(uow, "change_priority", ADMIN, ticket["id"], {"priority": "high", "reason": "Same"})
    assert view["priority_changes"] == [] and uow.events == events
    run(uow, "close_ticket", USER, ticket["id"])
    with pytest.raises(Conflict):
        run(uow, "change_priority", ADMIN, ticket["id"], {"priority": "low", "reason": "Done"})


@pytest.mark.parametrize(
    "fields",
    [
        {"priority": "urgent", "reason": "Why"},
        {"priority": "low"},
        {"priority": "low", "reason": "  "},
    ],
)
def test_a_priority_change_needs_a_known_priority_and_a_reason(uow, fields):
    ticket = create(uow)
    with pytest.raises(ValidationFailed):
        run(uow, "change_priority", ADMIN, ticket["id"], fields)


# --- the queue's filters -----------------------------------------------------------------
def test_the_queue_filters_by_owner_issue_type_and_feature(uow):
    mine = create(uow)
    create(uow, issue_type="billing", feature="billing")
    theirs = create(uow, actor=OTHER, feature="reports")

    def ids(**params):
        page = handlers.admin_list_tickets(Command(ADMIN, params), uow)
        return [t["id"] for t in page["items"]]

    assert ids(owner="u-2") == [theirs["id"]]
    assert ids(owner="u-1", issue_type="bug") == [mine["id"]]
    assert ids(feature="reports") == [theirs["id"]]
    assert ids(owner="nobody") == []
    with pytest.raises(ValidationFailed):
        ids(issue_type="outage")


# --- canned replies ------------------------------------------------------------------
def macro(uow, name, macro_id=None, fields=None, actor=ADMIN):
    return getattr(handlers.MACROS, name)(Command(actor, fields, macro_id=macro_id), uow)


def test_macros_are_kept_listed_by_title_changed_and_deleted(uow):
    thanks = macro(
        uow,
        "create",
        fields={
            "title": "  Thanks ",
            "body": "Hi {owner_name}, #{ticket_id} is fixed. {agent_name}",
        },
    )
    assert (thanks["title"], thanks["status"], thanks["updated_by_name"]) == ("Thanks", None, "Sam")
    ask = macro(
        uow,
        "create",
        fields={"title": "ask for browser", "body": "Which browser?", "status": "awaiting_user"},
    )
    listed = macro(uow, "list")["items"]
    assert [m["title"] for m in listed] == ["ask for browser", "Thanks"]
    changed = macro(uow, "change", ask["id"], {"status": None})
    assert changed["status"] is None and changed["body"] == "Which browser?"
    assert macro(uow, "get", ask["id"]) == changed
    assert macro(uow, "delete", ask["id"]) is None
    for name, fields in (
        ("get", None),
        ("change", {"title": "x"}),
        ("delete", None),
    ):
        with pytest.raises(NotFound):
            macro(uow, name, ask["id"], fields)
    with pytest.raises(NotFound):
        macro(uow, "get", "abc")


@pytest.mark.parametrize(
    "fields,field",
    [
        ({"title": "Hi", "body": "Dear {customer}"}, "body"),
        ({"title": "Hi", "body": "Dear {owner_name} {Owner_Name}"}, "body"),
        ({"title": "", "body": "Hello"}, "title"),
        ({"title": "Hi", "body": "Hello", "status": "done"}, "status"),
        ({"title": "Hi"}, "body"),
        ({"title": "Hi", "body": "Hello", "priority": "low"}, "priority"),
    ],
)
def test_a_macro_with_unknown_placeholders_or_bad_fields_is_refused(uow, fields, field):
    with pytest.raises(ValidationFailed) as failed:
        macro(uow, "create", fields=fields)
    assert field in failed.value.details
    assert uow.store.macros == {}


def test_macros_are_for_support_only(uow):
    with pytest.raises(Forbidden):
        macro(uow, "list", actor=USER)
    with pytest.raises(Forbidden):
        macro(uow, "create", fields={"title": "Hi", "body": "Hello"}, actor=USER)


# --- the dashboard's shape -------------------------------------------------------------
def test_stats_name_every_status_priority_and_day_and_the_share_met():
    from datetime import UTC, date, datetime

    from services.tickets import views

    counted = {
        "open_by_status": {"open": 3, "awaiting_user": 1},
        "open_by_priority": {"critical": 2, "low": 2},
        "unassigned": 2,
        "at_risk": 1,
        "breached": 1,
        "first_response": {"median": 90.04, "p90": 600.0, "answered": 4, "met": 3, "missed": 1},
        "created_per_day": {date(2026, 5, 3): 2},
        "resolved_per_day": {date(2026, 5, 4): 1},
    }
    now = datetime(2026, 5, 4, 12, tzinfo=UTC)
    stats = views.stats_view(counted, now, date(2026, 5, 2), 3)
    assert stats["open"] == {
        "total": 4,
        "by_status": {"open": 3, "in_review": 0, "awaiting_user": 1},
        "by_priority": {"critical": 2, "high": 0, "medium": 0, "low": 2},
    }
    assert stats["first_response"]["median_seconds"] == 90.0
    assert stats["first_response"]["met_share"] == 0.75
    assert stats["per_day"] == [
        {"date": "2026-05-02", "created": 0, "resolved": 0},
        {"date": "2026-05-03", "created": 2, "resolved": 0},
        {"date": "2026-05-04", "created": 0, "resolved": 1},
    ]
    assert stats["since"] == "2026-05-02T00:00:00.000000Z"
    nothing = dict(counted, first_response=dict(counted["first_response"], met=0, missed=0))
    assert (
        views.stats_view(nothing, now, date(2026, 5, 4), 1)["first_response"]["met_share"] is None
    )
