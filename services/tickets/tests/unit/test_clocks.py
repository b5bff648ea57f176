"""Response clocks on their own: targets, pauses, business hours, daylight saving."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.tickets import clocks, domain
from services.tickets.tables import tickets

pytestmark = pytest.mark.unit

BERLIN = ZoneInfo("Europe/Berlin")
HOUR = 3600
POLICY = clocks.DEFAULT_POLICY
OFFICE = clocks.parse_business_hours("mon-fri 09:00-17:00", BERLIN)
OFFICE_POLICY = clocks.ResponsePolicy(POLICY.first, 48 * HOUR, OFFICE)


def berlin(*args) -> datetime:
    return datetime(*args, tzinfo=BERLIN)


# --- calendars -----------------------------------------------------------------------
def test_round_the_clock_counts_every_second():
    start = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
    clock = POLICY.start(clocks.FIRST, "critical", start)
    assert clock.due_at == start + timedelta(hours=4)
    assert clock.warn_at == start + timedelta(hours=3, minutes=12)  # 80% of 4h
    assert (clock.response, clock.started_at, clock.elapsed) == ("first", start, 0.0)


def test_business_hours_skip_the_night_and_the_weekend():
    friday_4pm = berlin(2026, 5, 8, 16, 0)  # a Friday, summer time
    clock = OFFICE_POLICY.start(clocks.FIRST, "critical", friday_4pm)
    # 1h on Friday, then 3h from Monday 09:00.
    assert clock.due_at == berlin(2026, 5, 11, 12, 0)
    # At risk after 80% of 4h = 3h12m: 1h Friday + 2h12m Monday.
    assert clock.warn_at == berlin(2026, 5, 11, 11, 12)
    assert OFFICE.between(friday_4pm, clock.due_at) == 4 * HOUR


def test_a_ticket_opened_on_a_sunday_night_starts_counting_on_monday_morning():
    clock = OFFICE_POLICY.start(clocks.FIRST, "high", berlin(2026, 5, 10, 23, 30))
    assert clock.due_at == berlin(2026, 5, 11, 17, 0)  # 8h: the whole of Monday


def test_business_hours_across_the_spring_daylight_saving_change():
    # Berlin moves from UTC+1 to UTC+2 on Sunday 29 March 2026.
    friday_4pm = berlin(2026, 3, 27, 16, 0)
    assert friday_4pm.utcoffset() == timedelta(hours=1)
    clock = OFFICE_POLICY.start(clocks.FIRST, "critical", friday_4pm)
    # Monday 12:00 on the wall is 10:00 UTC, not 11:00: the hour was lost overnight.
    assert clock.due_at == datetime(2026, 3, 30, 10, 0, tzinfo=UTC)
    assert (clock.due_at - friday_4pm).total_seconds() == (3 * 24 - 4 - 1) * HOUR


def test_a_day_that_loses_or_gains_an_hour_counts_the_hours_it_has():
    every_day = clocks.parse_business_hours("mon-sun 00:00-24:00", BERLIN)
    spring = every_day.between(berlin(2026, 3, 29, 0, 0), berlin(2026, 3, 30, 0, 0))
    autumn = every_day.between(berlin(2026, 10, 25, 0, 0), berlin(2026, 10, 26, 0, 0))
    assert (spring, autumn) == (23 * HOUR, 25 * HOUR)
    # A day's counted time ends at the wall's midnight however long the day was.
    assert every_day.add(berlin(2026, 10, 25, 0, 0), 25 * HOUR) == berlin(2026, 10, 26, 0, 0)


def test_business_hours_across_the_autumn_change_keep_the_wall_hours():
    # Berlin returns to UTC+1 on Sunday 25 October 2026: Monday 09:00 is 08:00 UTC.
    clock = OFFICE_POLICY.start(clocks.NEXT, "low", berlin(2026, 10, 23, 9, 0))  # Friday
    # 48 office hours = 6 office days: Fri, Mon-Fri (Oct 26-30) -> due Friday 30 at 17:00.
    assert clock.due_at == berlin(2026, 10, 30, 17, 0)
    assert clock.due_at.astimezone(UTC).hour == 16


def test_several_windows_a_day_and_a_short_saturday():
    calendar = clocks.parse_business_hours(
        "mon-fri 09:00-12:00, mon-fri 13:00-17:00, sat 10:00-14:00", BERLIN
    )
    saturday = berlin(2026, 5, 9, 13, 0)
    # 1h left on Saturday, nothing on Sunday, then 09:00-12:00 and 13:00-14:00 Monday.
    assert calendar.add(saturday, 5 * HOUR) == berlin(2026, 5, 11, 14, 0)
    assert calendar.between(berlin(2026, 5, 11, 8, 0), berlin(2026, 5, 11, 18, 0)) == 7 * HOUR


@pytest.mark.parametrize(
    "text,problem",
    [
        ("mon-fri 9-17", "not a window"),
        ("fri-mon 09:00-17:00", "runs backwards"),
        ("mon-fri 17:00-09:00", "closes before it opens"),
        ("mon 09:00-12:00,mon 11:00-13:00", "overlap"),
        ("xyz 09:00-17:00", "not a day"),
        ("mon-fry 09:00-17:00", "not a day"),
        ("mon 09:00-24:30", "not a time of day"),
        ("mon 09:60-10:00", "not a time of day"),
    ],
)
def test_a_calendar_that_makes_no_sense_is_refused_saying_why(text, problem):
    with pytest.raises(ValueError, match=problem):
        clocks.parse_business_hours(text, BERLIN)


@pytest.mark.parametrize("text", [None, "", " ", "always", "24/7"])
def test_no_calendar_is_round_the_clock(text):
    assert clocks.parse_business_hours(text, BERLIN) is clocks.ROUND_THE_CLOCK


# --- states, pauses, targets ----------------------------------------------------------
def test_the_state_at_each_moment():
    start = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
    clock = POLICY.start(clocks.FIRST, "critical", start)
    minute = timedelta(minutes=1)
    assert clock.state(start) == "due"
    assert clock.state(clock.warn_at - minute) == "due"
    assert clock.state(clock.warn_at) == "at_risk"
    assert clock.state(clock.due_at - minute) == "at_risk"
    assert clock.state(clock.due_at) == "breached"
    assert clocks.STOPPED.state(start) == "none"
    assert POLICY.pause(clock, start + minute).state(start + 10 * minute) == "none"


def test_a_pause_keeps_the_time_spent_and_resuming_counts_only_what_is_left():
    start = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
    clock = POLICY.start(clocks.FIRST, "critical", start)
    paused = POLICY.pause(clock, start + timedelta(hours=1))
    assert (paused.response, paused.elapsed, paused.due_at, paused.warn_at) == (
        "first",
        HOUR,
        None,
        None,
    )
    back = start + timedelta(days=2)
    resumed = POLICY.resume(paused, "critical", back)
    assert resumed.due_at == back + timedelta(hours=3)
    assert resumed.warn_at == back + timedelta(hours=2, minutes=12)
    assert POLICY.pause(paused, back) is paused  # pausing a paused clock changes nothing


def test_a_pause_in_business_hours_counts_only_open_hours():
    friday_4pm = berlin(2026, 5, 8, 16, 0)
    clock = OFFICE_POLICY.start(clocks.FIRST, "critical", friday_4pm)
    paused = OFFICE_POLICY.pause(clock, berlin(2026, 5, 11, 10, 0))  # Monday 10:00
    assert paused.elapsed == 2 * HOUR  # Friday 16-17 and Monday 9-10
    resumed = OFFICE_POLICY.resume(paused, "critical", berlin(2026, 5, 11, 16, 30))
    assert resumed.due_at == berlin(2026, 5, 12, 10, 30)  # 30 min Monday + 1h30 Tuesday


def test_resuming_with_nothing_owed_starts_a_next_response():
    back = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
    clock = POLICY.resume(clocks.STOPPED, "critical", back)
    assert (clock.response, clock.due_at) == ("next", back + timedelta(hours=48))


def test_a_priority_change_moves_due_and_at_risk_but_not_what_was_told():
    start = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
    low = POLICY.start(clocks.FIRST, "low", start)
    warned = clocks.ResponseClock(**{**vars(low), "notified": clocks.WARNED})
    critical = POLICY.retarget(warned, "critical")
    assert critical.due_at == start + timedelta(hours=4)
    assert critical.warn_at == start + timedelta(hours=3, minutes=12)
    assert critical.notified == clocks.WARNED and critical.started_at == start
    # After a pause, the new target counts from what was already spent.
    paused = POLICY.pause(low, start + timedelta(hours=5))
    resumed = POLICY.resume(paused, "critical", start + timedelta(hours=6))
    assert resumed.due_at == resumed.warn_at == start + timedelta(hours=6)  # already past 4h


# --- the ticket's clock through its lifecycle ------------------------------------------
NOW = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
OWNER = domain.Actor("u1", "Ada", "user")
SUPPORT = domain.Actor("a1", "Sam", "admin")


def opened(policy=POLICY) -> domain.Ticket:
    ticket = domain.Ticket.open(
        7, OWNER, "access", "login", "Cannot sign in", "d" * 50, NOW, str, policy
    )
    ticket.is_new, ticket.events, ticket.new_timeline = False, [], []
    return ticket


def at(minutes: float) -> datetime:
    return NOW + timedelta(minutes=minutes)


def reply(ticket, actor, minutes, internal=False):
    ticket.next_message = domain.MessageSlot(100 + int(minutes), at(minutes))
    if actor is OWNER:
        return ticket.add_reply(OWNER, "words", str, None)
    return ticket.add_support_message(SUPPORT, "words", str, internal)


def test_a_new_ticket_owes_a_first_response_by_its_priority():
    ticket = opened()
    assert (ticket.clock.response, ticket.clock.due_at) == ("first", NOW + timedelta(hours=4))
    assert ticket.first_response_due_at == ticket.clock.due_at
    assert ticket.first_response_at is None


def test_a_public_support_reply_stops_the_clock_and_is_the_first_response():
    ticket = opened()
    reply(ticket, SUPPORT, 30, internal=True)  # an internal note answers nothing
    assert ticket.clock.response == "first" and ticket.first_response_at is None
    reply(ticket, SUPPORT, 45)
    assert ticket.clock == clocks.STOPPED
    assert ticket.first_response_at == at(45)
    assert ticket.first_response_due_at == NOW + timedelta(hours=4)  # kept for the record
    reply(ticket, SUPPORT, 50)
    assert ticket.first_response_at == at(45)  # the first one stays the first


def test_the_owner_writing_after_a_reply_is_owed_a_next_response_once():
    ticket = opened()
    reply(ticket, SUPPORT, 10)
    reply(ticket, OWNER, 20)
    assert (ticket.clock.response, ticket.clock.due_at) == ("next", at(20) + timedelta(hours=48))
    reply(ticket, OWNER, 30)  # still waiting on the same answer: the clock runs on
    assert ticket.clock.due_at == at(20) + timedelta(hours=48)
    reply(ticket, SUPPORT, 40)
    assert ticket.clock == clocks.STOPPED


def test_waiting_on_the_owner_pauses_and_their_reply_resumes():
    ticket = opened()
    ticket.change_status(SUPPORT, "awaiting_user", None, lambda: at(60))
    assert (ticket.clock.response, ticket.clock.due_at, ticket.clock.elapsed) == (
        "first",
        None,
        HOUR,
    )
    reply(ticket, OWNER, 600)  # back to review ten hours later
    assert ticket.status == "in_review"
    assert ticket.clock.due_at == at(600) + timedelta(hours=3)  # the first response's 3h left
    assert ticket.first_response_due_at == ticket.clock.due_at


def test_coming_back_to_review_owes_a_next_response():
    ticket = opened()
    reply(ticket, SUPPORT, 10)
    ticket.change_status(SUPPORT, "resolved", "Fixed the sync job.", lambda: at(20))
    assert ticket.clock == clocks.STOPPED
    ticket.change_status(SUPPORT, "in_review", None, lambda: at(30))
    assert (ticket.clock.response, ticket.clock.due_at) == ("next", at(30) + timedelta(hours=48))


def test_closing_stops_the_clock():
    ticket = opened()
    ticket.close(OWNER, None, lambda: at(5))
    assert ticket.clock == clocks.STOPPED


def test_a_priority_change_recomputes_the_clock():
    ticket = opened()  # critical: due in 4h
    assert ticket.change_priority(SUPPORT, "low", "Only one user affected", lambda: at(30))
    assert ticket.clock.due_at == ticket.first_response_due_at == NOW + timedelta(hours=24)
    assert ticket.clock.warn_at == NOW + timedelta(hours=24 * 0.8)
    assert ticket.changes["sla_due_at"] == NOW + timedelta(hours=24)
    # Counted from when the response became owed, not from the change.
    ticket.change_priority(SUPPORT, "high", "More users report it", lambda: at(60))
    assert ticket.clock.due_at == NOW + timedelta(hours=8)
    # Paused, a change of priority applies when the clock resumes.
    ticket.change_status(SUPPORT, "awaiting_user", None, lambda: at(120))
    ticket.change_priority(SUPPORT, "critical", "Outage", lambda: at(130))
    assert ticket.clock.due_at is None
    reply(ticket, OWNER, 600)
    assert ticket.clock.due_at == at(600) + timedelta(hours=2)  # 4h target, 2h already spent


def test_business_hours_follow_the_ticket():
    ticket = opened(OFFICE_POLICY)  # Monday 4 May 14:00 in Berlin
    assert ticket.clock.due_at == berlin(2026, 5, 5, 10, 0)  # 3h Monday, 1h Tuesday


def test_the_ticket_holds_one_clock_its_row_keeps_in_six_columns():
    ticket = opened()
    row = ticket.columns(column.name for column in tickets.c)
    assert {k: v for k, v in row.items() if k.startswith("sla_")} == {
        "sla_response": "first",
        "sla_started_at": NOW,
        "sla_elapsed": 0.0,
        "sla_warn_at": NOW + timedelta(hours=4 * 0.8),
        "sla_due_at": NOW + timedelta(hours=4),
        "sla_notified": None,
    }
    assert domain.Ticket.from_columns(row).clock == ticket.clock
    # NULL and 0, as a ticket that owes nothing stores them: the stopped clock.
    owes_nothing = row | dict.fromkeys(domain.CLOCK_COLUMNS.values()) | {"sla_elapsed": 0.0}
    assert domain.Ticket.from_columns(owes_nothing).clock == clocks.STOPPED


# --- telling support: once per owed response --------------------------------------------
def team(team_key):
    return ("lead", "agent") if team_key is None else ()


def test_a_warning_at_risk_and_a_breach_past_due_once_each_per_owed_response():
    ticket = opened()  # critical: at risk at 3h12m, due at 4h
    assert ticket.warn_response_due(at(180), team) is False  # not yet at risk
    assert ticket.warn_response_due(at(193), team) is True
    assert ticket.warn_response_due(at(194), team) is False  # told already
    assert ticket.tell_response_breached(at(230), team) is False  # not yet due
    assert ticket.tell_response_breached(at(241), team) is True
    assert ticket.tell_response_breached(at(300), team) is False
    warning, breach = ticket.events
    assert (type(warning).__name__, type(breach).__name__) == ("SlaWarning", "SlaBreached")
    assert (warning.response, warning.priority, warning.actor_role) == (
        "first",
        "critical",
        "system",
    )
    assert warning.due_at == "2026-05-04T16:00:00Z" and warning.at == "2026-05-04T15:13:00Z"
    assert warning.team_member_ids == ("lead", "agent")  # nobody holds it: the team hears
    assert ticket.clock.notified == "breached"

    # Answered, then the owner writes: a new owed response, told of afresh.
    reply(ticket, SUPPORT, 310)
    reply(ticket, OWNER, 320)
    assert ticket.clock.notified is None
    ticket.assignee_id = "a1"
    assert ticket.warn_response_due(at(320) + timedelta(hours=40), team) is True
    assert ticket.events[-1].team_member_ids == ()  # the assignee hears, not the team


def test_telling_support_records_only_what_was_told_and_moves_no_due_work():
    ticket = opened()
    ticket.changes, ticket.schedules = {}, {}
    assert ticket.warn_response_due(at(193), team)
    assert (ticket.changes, ticket.schedules) == ({"sla_notified": "warning"}, {})
    assert ticket.tell_response_breached(at(241), team)
    assert (ticket.changes, ticket.schedules) == ({"sla_notified": "breached"}, {})


def test_a_paused_or_answered_clock_tells_nothing():
    ticket = opened()
    ticket.change_status(SUPPORT, "awaiting_user", None, lambda: at(10))
    assert not ticket.warn_response_due(at(500), team)
    assert not ticket.tell_response_breached(at(500), team)
    reply(ticket, SUPPORT, 600)
    assert not ticket.tell_response_breached(at(900), team)
    assert not any(type(e).__name__.startswith("Sla") for e in ticket.events)


def test_a_warning_told_survives_a_pause_but_a_priority_change_keeps_it_told():
    ticket = opened()
    assert ticket.warn_response_due(at(200), team)
    ticket.change_status(SUPPORT, "awaiting_user", None, lambda: at(210))
    reply(ticket, OWNER, 300)  # back: the same first response, still owed
    assert ticket.clock.notified == "warning"
    assert not ticket.warn_response_due(at(310), team)
