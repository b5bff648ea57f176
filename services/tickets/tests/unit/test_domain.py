"""The ticket rules on their own: no database, no broker."""

import itertools
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from services.tickets import domain
from shared.catalog import ISSUE_TYPES, STATUS_KEYS

pytestmark = pytest.mark.unit

# The contract's table, written out independently of domain.TRANSITIONS.
ALLOWED = {
    ("open", "in_review"),
    ("open", "awaiting_user"),
    ("open", "resolved"),
    ("open", "closed"),
    ("in_review", "awaiting_user"),
    ("in_review", "resolved"),
    ("in_review", "closed"),
    ("awaiting_user", "in_review"),
    ("awaiting_user", "resolved"),
    ("awaiting_user", "closed"),
    ("resolved", "in_review"),
    ("resolved", "closed"),
}


@pytest.mark.parametrize("current,target", list(itertools.product(STATUS_KEYS, repeat=2)))
def test_transition_table_exhaustively(current, target):
    allowed = (current, target) in ALLOWED
    assert domain.can_transition(current, target) is allowed
    if allowed:
        domain.check_transition(current, target)
    else:
        with pytest.raises(domain.ConflictError):
            domain.check_transition(current, target)


def test_closed_is_final():
    assert domain.TRANSITIONS["closed"] == frozenset()
    with pytest.raises(domain.ConflictError):
        domain.check_open_for_messages("closed")
    with pytest.raises(domain.ConflictError):
        domain.check_closable("closed")
    for status in STATUS_KEYS[:-1]:
        domain.check_open_for_messages(status)
        domain.check_closable(status)


@pytest.mark.parametrize(
    "issue_type,priority",
    [
        ("access", "critical"),
        ("bug", "high"),
        ("billing", "high"),
        ("data", "medium"),
        ("other", "low"),
    ],
)
def test_priority_from_issue_type(issue_type, priority):
    assert domain.priority_for(issue_type) == priority


def test_every_issue_type_has_a_ranked_priority():
    ranks = [domain.PRIORITY_RANK[domain.priority_for(t["key"])] for t in ISSUE_TYPES]
    assert ranks == [0, 1, 1, 2, 3]


@pytest.mark.parametrize(
    "status,expected",
    [
        ("open", None),
        ("in_review", None),
        ("awaiting_user", "in_review"),
        ("resolved", "in_review"),
        ("closed", None),
    ],
)
def test_owner_reply_moves(status, expected):
    assert domain.status_after_owner_reply(status) == expected


@pytest.mark.parametrize("status", STATUS_KEYS)
@pytest.mark.parametrize("internal", [True, False])
def test_support_message_moves_only_open_on_public_reply(status, internal):
    expected = "in_review" if status == "open" and not internal else None
    assert domain.status_after_support_message(status, internal) == expected


@pytest.mark.parametrize(
    "q,expected",
    [
        ("1042", ("id", 1042)),
        ("#1042", ("id", 1042)),
        ("  #7 ", ("id", 7)),
        ("# 7", ("subject", "# 7")),
        ("1042a", ("subject", "1042a")),
        ("\u0661\u0662", ("subject", "\u0661\u0662")),  # Arabic-Indic digits are text
        ("#\uff11\uff12", ("subject", "#\uff11\uff12")),  # so are full-width ones
        ("#" + "9" * 30, ("id", None)),
        ("Printer", ("subject", "Printer")),
        ("", None),
        ("   ", None),
        (None, None),
    ],
)
def test_parse_search(q, expected):
    assert domain.parse_search(q) == expected


def test_like_pattern_takes_wildcards_literally():
    assert domain.like_pattern("100%_a\\b") == "%100\\%\\_a\\\\b%"


def test_actor_problems():
    assert domain.actor_problems({"id": "u1", "name": None, "role": "user"}) == []
    assert domain.actor_problems({"id": "a1", "role": "admin"}) == []
    assert len(domain.actor_problems({"id": 5, "name": 3, "role": "root"})) == 3
    # NUL cannot be stored, a lone surrogate cannot be encoded: neither names anyone.
    assert len(domain.actor_problems({"id": "u\x001", "name": "A\ud800", "role": "user"})) == 2
    assert domain.actor_problems("u1") != []


def test_reply_allowed_again_when_the_nth_latest_leaves_the_window():
    now = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
    assert domain.reply_allowed_at(None, now) is None  # fewer than the limit
    assert domain.reply_allowed_at(now - timedelta(hours=1), now) is None  # just left
    inside = now - timedelta(minutes=59, seconds=30)
    assert domain.reply_allowed_at(inside, now) == now + timedelta(seconds=30)


# --- the aggregate --------------------------------------------------------------------
NOW = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
OWNER = domain.Actor("u1", "Ada", "user")
SUPPORT = domain.Actor("a1", "Sam", "admin")


def clock():
    return NOW + timedelta(minutes=5)


def opened(**overrides) -> domain.Ticket:
    ticket = domain.Ticket.open(
        7, OWNER, "access", "login", "Cannot sign in", "d" * 50, NOW, lambda text: f"<p>{text}</p>"
    )
    for name, value in overrides.items():
        setattr(ticket, name, value)
    ticket.events, ticket.new_timeline, ticket.is_new = [], [], False
    return ticket


def with_slot(ticket, message_id=11):
    ticket.next_message = domain.MessageSlot(message_id, NOW + timedelta(minutes=1))
    return ticket


def test_opening_records_its_priority_timeline_and_event():
    ticket = domain.Ticket.open(7, OWNER, "access", "login", "Cannot sign in", "d", NOW, str.upper)
    assert (ticket.priority, ticket.priority_rank, ticket.status) == ("critical", 0, "open")
    assert ticket.description_html == "D" and ticket.is_new
    assert ticket.new_timeline == [domain.TimelineEntry("open", "user", "u1", NOW)]
    [event] = ticket.events
    assert isinstance(event, domain.TicketCreated)
    assert (event.ticket_id, event.actor_role, event.priority) == (7, "user", "critical")


def test_an_owner_reply_on_resolved_moves_back_to_review_caused_by_it():
    ticket = with_slot(opened(status="resolved"))
    message = ticket.add_reply(OWNER, "still broken", str.upper, None)
    assert (message.id, message.body_html, message.author) == (11, "STILL BROKEN", "user")
    at = NOW + timedelta(minutes=1)
    assert ticket.changes == {"updated_at": at, "last_message_at": at, "status": "in_review"}
    added, moved = ticket.events
    assert added.status == "in_review" and added.body == "still broken"
    assert (moved.from_status, moved.to_status, moved.caused_by_message_id) == (
        "resolved",
        "in_review",
        11,
    )
    assert ticket.new_timeline == [domain.TimelineEntry("in_review", "user", "u1", at)]
    assert ticket.next_message is None  # one message per slot


def test_an_internal_note_changes_nothing_a_user_sees():
    ticket = with_slot(opened())
    ticket.add_support_message(SUPPORT, "secret", str, internal=True)
    assert ticket.changes == {} and ticket.new_timeline == []
    [event] = ticket.events
    assert event.internal is True and event.body is None and event.status == "open"


def test_a_refused_change_records_nothing():
    ticket = with_slot(opened(status="closed"))
    for act in (
        lambda: ticket.add_reply(OWNER, "x", str, None),
        lambda: ticket.add_support_message(SUPPORT, "x", str, False),
        lambda: ticket.change_status(SUPPORT, "in_review", None, clock),
        lambda: ticket.assign(SUPPORT, "a1", None, clock),
        lambda: ticket.close(OWNER, None, clock),
    ):
        with pytest.raises(domain.ConflictError):
            act()
    assert (ticket.changes, ticket.events, ticket.new_messages) == ({}, [], [])


def test_the_reply_limit_comes_after_closed_and_says_when_it_resets():
    allowance = domain.ReplyAllowance(20, NOW - timedelta(minutes=30))
    with pytest.raises(domain.ConflictError):
        with_slot(opened(status="closed")).add_reply(OWNER, "x", str, allowance)
    ticket = with_slot(opened())
    with pytest.raises(domain.LimitReached) as reached:
        ticket.add_reply(OWNER, "x", str, allowance)
    assert reached.value.reset_at == NOW + timedelta(minutes=30)
    assert reached.value.retry_after == 29 * 60
    assert ticket.new_messages == [] and ticket.next_message is not None


def test_resolving_keeps_the_note_and_assigning_oneself_takes_ones_name():
    ticket = opened()
    ticket.change_status(SUPPORT, "resolved", "Fixed the sync job.", clock)
    assert ticket.changes["resolution_note"] == "Fixed the sync job."
    ticket.assign(SUPPORT, "a1", None, clock)
    assert (ticket.assignee_id, ticket.assignee_name) == ("a1", "Sam")
    ticket.assign(SUPPORT, "a1", "Other", clock)  # the same admin again: nothing
    assert [type(e).__name__ for e in ticket.events] == ["StatusChanged", "TicketAssigned"]
    assert ticket.events[-1].assignee_id == "a1"  # the event tells the new assignee


def test_closing_stores_a_blank_note_as_none():
    ticket = opened(status="awaiting_user")
    ticket.close(OWNER, "", clock)
    stopped = {
        "sla_response": None,
        "sla_started_at": None,
        "sla_warn_at": None,
        "sla_due_at": None,
    }
    assert ticket.changes == {
        "status": "closed",
        "closed_note": None,
        "updated_at": clock(),
        **stopped,  # opened, it owed a first response: closing owes nothing
    }
    [event] = ticket.events
    assert (event.from_status, event.note, event.status) == ("awaiting_user", None, "closed")


@pytest.mark.parametrize(
    "now,reset",
    [
        (datetime(2026, 5, 4, 22, 0, tzinfo=UTC), datetime(2026, 5, 5, tzinfo=UTC)),
        (datetime(2026, 12, 31, 23, 59, 59, 500000, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)),
    ],
)
def test_the_daily_limit_resets_at_the_next_utc_midnight(now, reset):
    reached = domain.daily_limit_reached(now, 5)
    assert reached.reset_at == reset
    assert reached.retry_after == max(1, int((reset - now).total_seconds() + 0.999999))


def test_the_domain_imports_no_framework():
    # A fresh interpreter: this one has every framework loaded already.
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, services.tickets.domain; print(*sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    frameworks = {"sqlalchemy", "nameko", "marshmallow", "kombu", "falcon", "psycopg", "eventlet"}
    assert frameworks.isdisjoint(name.split(".")[0] for name in loaded)
