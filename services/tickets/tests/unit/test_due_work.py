"""Scheduled work on the aggregate and the scheduler's tick, in memory.

What a change schedules or cancels (auto-close and its reminder on resolving, the
awaiting reminder on awaiting_user, nothing left once closed), what each kind does
when it falls due, and the tick (``handlers.run_due_work``) on the fake unit of
work: once per row, catch-up after a stop, rows or tickets held elsewhere skipped.
Locks between real instances are the integration and e2e tests' part.
"""

from datetime import timedelta

import pytest

from services.tickets import domain, handlers
from services.tickets.handlers import Command
from services.tickets.tests.unit.fakes import FakeSettings, FakeUnitOfWork
from services.tickets.tests.unit.test_handlers import ADMIN, FIELDS, USER

pytestmark = pytest.mark.unit

NOTE = {"status": "resolved", "resolution_note": "Cleared the stale cache."}


@pytest.fixture
def uow():
    return FakeUnitOfWork()


def open_ticket(uow) -> int:
    return handlers.create_ticket(Command(USER, dict(FIELDS)), uow)["id"]


def move(uow, ticket_id, fields, actor=ADMIN):
    return handlers.change_status(Command(actor, fields, ticket_id), uow)


def resolved(uow) -> int:
    ticket_id = open_ticket(uow)
    move(uow, ticket_id, NOTE)
    return ticket_id


# The lifecycle's due work; the response clocks' (sla_warning, sla_breach) is
# test_clocks.py's and test_response_clock_work below.
LIFECYCLE = (domain.CLOSING_SOON, domain.AUTO_CLOSE, domain.AWAITING_REMINDER)


def due(uow, ticket_id, kinds=LIFECYCLE) -> dict:
    return {kind: at for (t, kind), at in uow.store.due.items() if t == ticket_id and kind in kinds}


def tick(uow) -> dict:
    uow.events.clear()
    return dict(handlers.run_due_work(uow))


def timeline(uow, ticket_id) -> list:
    return [(t["status"], t["by"]) for t in uow.store.timeline if t["ticket_id"] == ticket_id]


def test_resolving_schedules_the_auto_close_and_its_reminder(uow):
    ticket_id = resolved(uow)
    resolved_at = uow.store.tickets[ticket_id]["updated_at"]
    assert due(uow, ticket_id) == {
        "auto_close": resolved_at + timedelta(days=7),
        "closing_soon": resolved_at + timedelta(days=6),
    }


def test_the_reminder_then_the_auto_close_each_once(uow):
    ticket_id = resolved(uow)
    uow.clock.advance(days=6, seconds=1)
    assert tick(uow) == {"closing_soon": 1}
    [(event_type, payload)] = uow.events
    assert event_type == "closing_soon"
    assert payload["owner_id"] == "u-1" and payload["actor_role"] == "system"
    assert payload["actor_id"] is None
    closes_at = uow.store.due[ticket_id, "auto_close"]
    assert payload["closes_at"] == closes_at.isoformat(timespec="microseconds").replace(
        "+00:00", "Z"
    )
    assert tick(uow) == {}  # once
    assert uow.events == []

    uow.clock.advance(days=1)
    assert tick(uow) == {"auto_close": 1}
    [(event_type, payload)] = uow.events
    assert event_type == "status_changed"
    assert (payload["from_status"], payload["to_status"]) == ("resolved", "closed")
    assert (payload["actor_role"], payload["actor_id"]) == ("system", None)
    assert uow.store.tickets[ticket_id]["status"] == "closed"
    assert timeline(uow, ticket_id)[-1] == ("closed", "system")
    assert due(uow, ticket_id) == {}
    assert tick(uow) == {}


def test_an_owner_reply_cancels_both(uow):
    ticket_id = resolved(uow)
    uow.clock.advance(days=2)
    handlers.add_reply(Command(USER, {"body": "Still broken for me."}, ticket_id), uow)
    assert uow.store.tickets[ticket_id]["status"] == "in_review"
    assert due(uow, ticket_id) == {}
    uow.clock.advance(days=30)
    # Only the response clock's work is left (support owes an answer since the reply).
    assert set(tick(uow)) == {"sla_warning", "sla_breach"}
    assert uow.store.tickets[ticket_id]["status"] == "in_review"


@pytest.mark.parametrize("target", ["in_review", "closed"])
def test_any_other_move_away_from_resolved_cancels_both(uow, target):
    ticket_id = resolved(uow)
    move(uow, ticket_id, {"status": target})
    assert due(uow, ticket_id) == {}


def test_the_owner_closing_it_cancels_everything(uow):
    ticket_id = resolved(uow)
    handlers.close_ticket(Command(USER, {}, ticket_id), uow)
    assert due(uow, ticket_id) == {}


def test_resolving_again_starts_the_period_again(uow):
    ticket_id = resolved(uow)
    uow.clock.advance(days=5)
    move(uow, ticket_id, {"status": "in_review"})
    move(uow, ticket_id, NOTE)
    again = uow.store.tickets[ticket_id]["updated_at"]
    assert due(uow, ticket_id)["auto_close"] == again + timedelta(days=7)


def test_catching_up_after_a_stop_closes_once_without_a_stale_reminder(uow):
    resolved(uow)
    uow.clock.advance(days=9)  # everything was stopped past both times
    assert tick(uow) == {"closing_soon": 1, "auto_close": 1}  # both rows done...
    # ...but only the closing is told: "closes tomorrow" would be false by now.
    assert [event_type for event_type, _ in uow.events] == ["status_changed"]
    assert tick(uow) == {}


def test_awaiting_the_owner_reminds_once_per_stay(uow):
    ticket_id = open_ticket(uow)
    move(uow, ticket_id, {"status": "awaiting_user"})
    entered = uow.store.tickets[ticket_id]["updated_at"]
    assert due(uow, ticket_id) == {"awaiting_reminder": entered + timedelta(days=3)}
    uow.clock.advance(days=3, seconds=1)
    assert tick(uow) == {"awaiting_reminder": 1}
    [(event_type, payload)] = uow.events
    assert event_type == "awaiting_reminder" and payload["status"] == "awaiting_user"
    assert payload["waiting_since"].startswith(entered.strftime("%Y-%m-%dT%H:%M:%S"))
    uow.clock.advance(days=10)
    assert tick(uow) == {}  # one reminder per stay
    # A new stay in awaiting_user gets a reminder of its own.
    move(uow, ticket_id, {"status": "in_review"})
    move(uow, ticket_id, {"status": "awaiting_user"})
    uow.clock.advance(days=3, seconds=1)
    assert tick(uow) == {"awaiting_reminder": 1}


def test_leaving_awaiting_user_cancels_the_reminder(uow):
    ticket_id = open_ticket(uow)
    move(uow, ticket_id, {"status": "awaiting_user"})
    handlers.add_reply(Command(USER, {"body": "Here is the screenshot."}, ticket_id), uow)
    assert due(uow, ticket_id) == {}


def test_zero_turns_auto_close_off(uow):
    uow.settings = FakeSettings(auto_close_after=0, awaiting_reminder_after=0)
    ticket_id = resolved(uow)
    assert due(uow, ticket_id) == {}
    move(uow, ticket_id, {"status": "in_review"})
    move(uow, ticket_id, {"status": "awaiting_user"})
    assert due(uow, ticket_id) == {}


def test_work_scheduled_before_it_was_turned_off_does_nothing(uow):
    ticket_id = resolved(uow)
    uow.settings = FakeSettings(auto_close_after=0)
    uow.clock.advance(days=8)
    tick(uow)
    assert uow.events == []
    assert uow.store.tickets[ticket_id]["status"] == "resolved"
    assert due(uow, ticket_id) == {}  # dropped, not retried forever


def test_no_reminder_when_it_is_zero(uow):
    uow.settings = FakeSettings(auto_close_reminder=0)
    ticket_id = resolved(uow)
    assert set(due(uow, ticket_id)) == {"auto_close"}


def test_seconds_long_timings():
    ticket = domain.Ticket(
        **{
            "id": 7,
            "owner_id": "u",
            "owner_name": None,
            "issue_type": "bug",
            "feature": "f",
            "subject": "s",
            "priority": "high",
            "priority_rank": 1,
            "status": "in_review",
            "assignee_id": None,
            "assignee_name": None,
            "created_at": None,
            "updated_at": None,
            "last_message_at": None,
        },
        timings=domain.Timings(timedelta(seconds=4), timedelta(seconds=2), None),
    )
    from datetime import UTC, datetime

    now = datetime(2026, 1, 1, tzinfo=UTC)
    ticket.change_status(
        domain.Actor("a", "A", "admin"), "resolved", "Fixed it for good.", lambda: now
    )
    assert ticket.schedules == {
        "closing_soon": now + timedelta(seconds=2),
        "auto_close": now + timedelta(seconds=4),
        "awaiting_reminder": None,
    }


def test_a_reminder_as_long_as_the_period_is_never_sent():
    timings = domain.Timings(timedelta(days=1), timedelta(days=1), None)
    assert timings.closing_soon_before() is None


def test_a_row_another_instance_holds_is_skipped(uow):
    ticket_id = resolved(uow)
    uow.clock.advance(days=8)
    uow.held_due.update({(ticket_id, "auto_close"), (ticket_id, "closing_soon")})
    assert tick(uow) == {}
    assert uow.store.tickets[ticket_id]["status"] == "resolved"


def test_a_ticket_a_command_holds_waits_for_the_next_tick(uow):
    first, second = resolved(uow), resolved(uow)
    uow.clock.advance(days=8)
    uow.held_tickets.add(first)
    assert tick(uow) == {"closing_soon": 1, "auto_close": 1}  # the other ticket's
    assert uow.store.tickets[first]["status"] == "resolved"
    assert uow.store.tickets[second]["status"] == "closed"
    uow.held_tickets.clear()
    assert tick(uow) == {"closing_soon": 1, "auto_close": 1}
    assert uow.store.tickets[first]["status"] == "closed"


def test_a_tick_takes_at_most_its_batch(uow):
    for _ in range(3):
        resolved(uow)
    uow.clock.advance(days=8)
    assert sum(handlers.run_due_work(uow, batch=4).values()) == 4
    assert sum(handlers.run_due_work(uow, batch=4).values()) == 2


def test_failing_work_is_rolled_back_and_the_rest_goes_on(uow, monkeypatch):
    first, second = resolved(uow), resolved(uow)
    uow.clock.advance(days=8)

    def broken(ticket, now, _audience):
        if ticket.id == first:
            raise RuntimeError("boom")
        ticket.auto_close(now)

    monkeypatch.setitem(domain.DUE_WORK, "auto_close", broken)
    done = tick(uow)
    assert done == {"closing_soon": 2, "auto_close": 1}
    assert uow.store.tickets[first]["status"] == "resolved"
    assert (first, "auto_close") in uow.store.due  # kept: retried on the next tick
    assert uow.store.tickets[second]["status"] == "closed"


def test_each_piece_of_due_work_is_its_own_action(uow):
    first, second = resolved(uow), resolved(uow)
    uow.clock.advance(days=8)
    tick(uow)
    assert [p["ticket_id"] for _, p in uow.events] == [first, second]
    assert uow.commits >= 2 + 4  # two creates, two resolutions, then one per row


def test_scheduler_lag_is_now_minus_the_oldest_due_time(uow):
    assert handlers.scheduler_lag(uow) == 0.0
    ticket_id = resolved(uow)
    assert handlers.scheduler_lag(uow) == 0.0  # due in the future: no lag
    uow.clock.advance(days=6, hours=1)
    reminder_at = uow.store.due[ticket_id, "closing_soon"]
    assert handlers.scheduler_lag(uow) == pytest.approx(
        (uow.clock.at - reminder_at).total_seconds(), abs=0.01
    )


# --- the response clocks' due work ------------------------------------------------------
CLOCK = (domain.SLA_WARNING, domain.SLA_BREACH)


def test_response_clock_work_warns_then_tells_the_breach_once_each(uow):
    with uow.autocommit():
        uow.staff.record("a-2", "Kim")  # known staff: the team of a ticket no team takes
    ticket_id = open_ticket(uow)
    row = uow.store.tickets[ticket_id]
    assert due(uow, ticket_id, CLOCK) == {
        "sla_warning": row["sla_warn_at"],
        "sla_breach": row["sla_due_at"],
    }
    uow.clock.at = row["sla_warn_at"] + timedelta(seconds=1)
    assert tick(uow) == {"sla_warning": 1}
    [(event_type, payload)] = uow.events
    assert event_type == "sla_warning" and payload["response"] == "first"
    assert payload["team_member_ids"] == ("a-2",)  # nobody holds it: the team hears
    assert tick(uow) == {}
    uow.clock.at = row["sla_due_at"] + timedelta(seconds=1)
    assert tick(uow) == {"sla_breach": 1}
    assert [t for t, _ in uow.events] == ["sla_breached"]
    assert tick(uow) == {} and due(uow, ticket_id, CLOCK) == {}


def test_a_support_reply_cancels_the_clock_work(uow):
    ticket_id = open_ticket(uow)
    handlers.admin_add_message(Command(ADMIN, {"body": "On it."}, ticket_id), uow)
    assert due(uow, ticket_id, CLOCK) == {}
    uow.clock.advance(days=3)
    assert tick(uow) == {}
    # The owner writes: the next response's work is scheduled.
    handlers.add_reply(Command(USER, {"body": "Any news?"}, ticket_id), uow)
    assert set(due(uow, ticket_id, CLOCK)) == {"sla_warning", "sla_breach"}
