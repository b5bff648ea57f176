"""The notice rules, event in, notices out, without I/O."""

import pytest

from services.notifications.domain import excerpt, notices_for
from services.notifications.tests.support import ADMIN, OTHER_ADMIN, OWNER, ticket_event
from shared.events import parse_event

pytestmark = pytest.mark.unit


def event(event_type, **payload):
    return parse_event(ticket_event(event_type, **payload))


def message(**fields):
    return event("message_added", **fields)


def status(from_status, to_status, **kw):
    return event("status_changed", from_status=from_status, to_status=to_status, **kw)


def test_public_support_reply_tells_the_owner():
    (notice,) = notices_for(message())
    assert (notice.recipient_id, notice.kind, notice.ticket_id) == (OWNER, "support_reply", 1042)
    assert notice.title == "Support replied to #1042"
    assert "Cannot export my invoices" in notice.body and "Try again now." in notice.body


def test_internal_note_tells_nobody():
    assert notices_for(message(internal=True, body=None, assignee_id=OTHER_ADMIN)) == []


def test_support_reply_on_own_ticket_tells_nobody():
    assert notices_for(message(owner_id=ADMIN)) == []


def test_owner_reply_tells_the_assignee_only():
    (notice,) = notices_for(
        message(author="user", actor_id=OWNER, actor_role="user", assignee_id=ADMIN)
    )
    assert (notice.recipient_id, notice.kind) == (ADMIN, "user_reply")
    assert notice.title == "New reply on #1042"


def test_owner_reply_on_unassigned_ticket_tells_the_team_the_event_names():
    reply = message(
        author="user", actor_id=OWNER, actor_role="user", team_member_ids=[ADMIN, OTHER_ADMIN]
    )
    notices = notices_for(reply)
    assert [(n.recipient_id, n.kind) for n in notices] == [
        (ADMIN, "user_reply"),
        (OTHER_ADMIN, "user_reply"),
    ]
    assert all(n.title == "New reply on #1042" for n in notices)
    # An unassigned ticket with nobody to hear of it (no staff known yet): nobody.
    assert notices_for(message(author="user", actor_id=OWNER, actor_role="user")) == []


def test_owner_reply_on_an_assigned_ticket_tells_the_assignee_not_the_team():
    reply = message(
        author="user",
        actor_id=OWNER,
        actor_role="user",
        assignee_id=ADMIN,
        team_member_ids=[OTHER_ADMIN],
    )
    assert [(n.recipient_id, n.kind) for n in notices_for(reply)] == [(ADMIN, "user_reply")]


def created(**payload):
    return event("ticket_created", **payload)


def test_a_new_ticket_nobody_holds_tells_every_member_of_its_team():
    notices = notices_for(created(team_key="billing", team_member_ids=[ADMIN, OTHER_ADMIN]))
    assert [(n.recipient_id, n.kind, n.ticket_id) for n in notices] == [
        (ADMIN, "new_ticket", 1042),
        (OTHER_ADMIN, "new_ticket", 1042),
    ]
    assert notices[0].title == "New ticket #1042" and notices[0].body == "Cannot export my invoices"


def test_a_new_ticket_tells_nobody_of_their_own_action_and_each_member_once():
    # An admin opening a ticket is in the team that hears of it: not told.
    mine = created(actor_id=ADMIN, owner_id=ADMIN, team_member_ids=[ADMIN, OTHER_ADMIN, ADMIN])
    assert [n.recipient_id for n in notices_for(mine)] == [OTHER_ADMIN]


def test_a_new_ticket_assigned_on_arrival_tells_no_team():
    # The assignment's own event tells the one who got it.
    assert notices_for(created(assignee_id=ADMIN, team_member_ids=[])) == []
    assigned = event(
        "ticket_assigned", assignee_id=ADMIN, actor_id=OWNER, actor_role="system", status="open"
    )
    assert [(n.recipient_id, n.kind) for n in notices_for(assigned)] == [(ADMIN, "ticket_assigned")]


def test_status_change_by_support_tells_the_owner():
    (notice,) = notices_for(status("in_review", "awaiting_user"))
    assert (notice.recipient_id, notice.kind) == (OWNER, "status_changed")
    assert notice.title == "#1042 is now Awaiting User"
    assert "In Review → Awaiting User" in notice.body


def test_status_change_by_the_system_tells_the_owner():
    (notice,) = notices_for(status("awaiting_user", "closed", actor_id=None, actor_role="system"))
    assert (notice.recipient_id, notice.kind) == (OWNER, "status_changed")


def test_status_change_caused_by_a_message_tells_nobody():
    assert notices_for(status("open", "in_review", caused_by_message_id=7)) == []


def test_status_change_by_the_owner_tells_nobody():
    assert (
        notices_for(status("awaiting_user", "in_review", actor_id=OWNER, actor_role="user")) == []
    )


def test_resolution_is_one_ticket_resolved_with_the_note():
    note = "Fixed in the export job; please retry."
    (notice,) = notices_for(status("in_review", "resolved", resolution_note=note))
    assert (notice.recipient_id, notice.kind) == (OWNER, "ticket_resolved")
    assert notice.title == "#1042 was resolved"
    assert note in notice.body


def test_assignment_tells_the_new_assignee():
    (notice,) = notices_for(event("ticket_assigned", assignee_id=OTHER_ADMIN))
    assert (notice.recipient_id, notice.kind) == (OTHER_ADMIN, "ticket_assigned")
    assert notice.title == "#1042 was assigned to you"


@pytest.mark.parametrize(
    "payload",
    [
        {"assignee_id": ADMIN},  # took it themselves
        {"assignee_id": None, "previous_assignee_id": OTHER_ADMIN},  # unassigned
        {"assignee_id": OTHER_ADMIN, "previous_assignee_id": OTHER_ADMIN},  # unchanged
    ],
)
def test_assignments_nobody_hears_of(payload):
    assert notices_for(event("ticket_assigned", **payload)) == []


def test_creation_and_owner_close_tell_nobody():
    created = event("ticket_created")
    closed = event(
        "ticket_closed", from_status="in_review", actor_id=OWNER, actor_role="user", status="closed"
    )
    assert notices_for(created) == [] and notices_for(closed) == []


def test_titles_hold_no_ticket_text():
    events = [
        message(),
        status("in_review", "awaiting_user"),
        status("in_review", "resolved", resolution_note="All sorted now, thanks."),
        event("ticket_assigned", assignee_id=OTHER_ADMIN),
    ]
    for notice in (n for e in events for n in notices_for(e)):
        assert "invoices" not in notice.title


def test_excerpt_is_one_line_and_bounded():
    text = "word " * 100
    cut = excerpt(text, 50)
    assert len(cut) <= 50 and cut.endswith("…") and "\n" not in cut
    assert excerpt("short\n\ntext") == "short text"


def test_the_queue_is_bound_to_exactly_the_events_a_rule_hears_of():
    """A rule for a type the queue is not bound to would never run, and a bound type
    without a rule would be delivered, parsed and acked for nothing."""
    from services.notifications.domain import _RULES
    from services.notifications.queues import TICKET_EVENTS

    assert {b.routing_key for b in TICKET_EVENTS.bindings} == {
        "tickets.ticket_created",
        "tickets.message_added",
        "tickets.status_changed",
        "tickets.ticket_assigned",
        "tickets.sla_warning",
        "tickets.sla_breached",
        "tickets.closing_soon",
        "tickets.awaiting_reminder",
    }
    assert {b.routing_key.split(".", 1)[1] for b in TICKET_EVENTS.bindings} == set(_RULES)


# --- response clocks -------------------------------------------------------------------
def clock_event(event_type, **payload):
    fields = {
        "actor_id": None,
        "actor_role": "system",
        "response": "first",
        "priority": "critical",
        "due_at": "2026-05-04T16:00:00Z",
        "at": "2026-05-04T15:12:00Z",
        **payload,
    }
    return event(event_type, **fields)


def test_a_warning_tells_the_assignee_how_long_is_left():
    (notice,) = notices_for(clock_event("sla_warning", assignee_id=ADMIN, team_member_ids=["x"]))
    assert (notice.recipient_id, notice.kind, notice.ticket_id) == (ADMIN, "sla_warning", 1042)
    assert notice.title == "#1042: first response due in 48 min"
    assert "Priority: critical" in notice.body and "2026-05-04 16:00 UTC" in notice.body


def test_a_clock_on_an_unassigned_ticket_tells_the_team_once_each():
    told = notices_for(
        clock_event("sla_breached", at="2026-05-04T19:30:00Z", team_member_ids=["a", "b", "a"])
    )
    assert [(n.recipient_id, n.kind) for n in told] == [
        ("a", "sla_breached"),
        ("b", "sla_breached"),
    ]
    assert told[0].title == "#1042: first response overdue by 3 h 30 min"


def test_clock_titles_read_at_a_glance():
    def title(event_type, at, response="next"):
        (notice,) = notices_for(
            clock_event(event_type, at=at, assignee_id=ADMIN, response=response)
        )
        return notice.title

    assert title("sla_warning", "2026-05-04T15:59:30Z") == "#1042: next response due now"
    assert title("sla_warning", "2026-05-02T16:00:00Z") == "#1042: next response due in 2 days"
    assert title("sla_breached", "2026-05-04T16:00:10Z") == "#1042: next response overdue"
    assert title("sla_warning", "2026-05-04T13:00:00Z") == "#1042: next response due in 3 h"


def test_a_clock_nobody_can_hear_of_tells_nobody():
    assert notices_for(clock_event("sla_warning", team_member_ids=[])) == []


def test_a_reply_that_resolves_is_one_ticket_resolved_with_the_note():
    note = "Re-sent every invoice of May."
    reply = message(status="resolved", resolution_note=note)
    (notice,) = notices_for(reply)
    assert (notice.recipient_id, notice.kind) == (OWNER, "ticket_resolved")
    assert notice.title == "#1042 was resolved" and note in notice.body
    # The move the reply carried names it: its notice was the reply's.
    assert notices_for(status("in_review", "resolved", caused_by_message_id=7)) == []
    assert notices_for(message(status="resolved", resolution_note=note, owner_id=ADMIN)) == []


# --- scheduled work ---------------------------------------------------------------------
SYSTEM = {"actor_id": None, "actor_role": "system"}


def test_the_system_closing_a_resolved_ticket_tells_the_owner():
    (notice,) = notices_for(status("resolved", "closed", status="closed", **SYSTEM))
    assert (notice.recipient_id, notice.kind, notice.ticket_id) == (OWNER, "status_changed", 1042)
    assert notice.title == "#1042 was closed"
    assert "Cannot export my invoices" in notice.body and "no reply" in notice.body


@pytest.mark.parametrize(
    "closes_at,when",
    [
        ("2026-05-05T12:00:00Z", "tomorrow"),
        ("2026-05-07T12:00:00Z", "in 3 days"),
        ("2026-05-04T17:00:00Z", "in 5 hours"),
        ("2026-05-04T12:10:00Z", "in 10 minutes"),
    ],
)
def test_closing_soon_tells_the_owner_when(closes_at, when):
    (notice,) = notices_for(
        event(
            "closing_soon",
            status="resolved",
            closes_at=closes_at,
            reminded_at="2026-05-04T12:00:00Z",
            **SYSTEM,
        )
    )
    assert (notice.recipient_id, notice.kind) == (OWNER, "closing_soon")
    assert notice.title == f"#1042 will close {when}"
    assert "Cannot export my invoices" in notice.body and "reply" in notice.body
    assert closes_at[:10] in notice.body


def test_awaiting_reminder_asks_the_owner_for_their_answer():
    (notice,) = notices_for(
        event(
            "awaiting_reminder",
            status="awaiting_user",
            waiting_since="2026-05-01T12:00:00Z",
            **SYSTEM,
        )
    )
    assert (notice.recipient_id, notice.kind) == (OWNER, "awaiting_reminder")
    assert notice.title == "#1042 is waiting for your reply"
    assert "Cannot export my invoices" in notice.body
