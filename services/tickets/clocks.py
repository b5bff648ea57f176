"""Response clocks (SLA): when a ticket owes its owner a response, and by when.

A ticket owes a *first* response from the moment it is opened, and a *next*
response each time its owner writes after support's last public reply (or it
comes back to review). The clock counts while a response is owed and the ticket
is being worked (``open``, ``in_review``); it is paused while the ticket waits on
its owner or is settled (``awaiting_user``, ``resolved``, ``closed``) and resumes
with the time already spent; a public support reply stops it. Time is counted
round the clock or in business hours: a weekly calendar in a time zone, daylight
saving changes included (``zoneinfo``).

Pure arithmetic of datetimes and seconds: no framework, no I/O, no clock of its
own (every function is given ``now``), so every rule is unit-tested on its own.
The ``Ticket`` aggregate (``domain.py``) holds a ``ResponseClock`` (its row keeps
one ``sla_*`` column per field) and asks a ``ResponsePolicy`` how each change moves it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from shared.catalog import DEFAULT_FIRST_RESPONSE, DEFAULT_NEXT_RESPONSE, RESPONSES, SLA_STATES

FIRST, NEXT = RESPONSES

# The ``sla.state`` of the admin views.
DUE, AT_RISK, BREACHED, NONE = SLA_STATES

# A clock is at risk once this share of its target has passed.
AT_RISK_SHARE = 0.8

# What the clock has told support about the owed response (one of each per response).
WARNED, BREACH_TOLD = "warning", "breached"

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MINUTES_PER_DAY = 24 * 60


# --- calendars -----------------------------------------------------------------------
class RoundTheClock:
    """Every second counts (the default)."""

    zone = ZoneInfo("UTC")

    def add(self, start: datetime, seconds: float) -> datetime:
        """The moment ``seconds`` of counted time after ``start``."""
        return start + timedelta(seconds=max(0.0, seconds))

    def between(self, start: datetime, end: datetime) -> float:
        """Counted seconds from ``start`` to ``end`` (0 when ``end`` is not later)."""
        return max(0.0, (end - start).total_seconds())

    def describe(self) -> str:
        return "round the clock"


ROUND_THE_CLOCK = RoundTheClock()


@dataclass(frozen=True)
class BusinessHours:
    """A weekly calendar in a time zone: ``windows[weekday]`` (0 is Monday) holds that
    day's open hours as (start, end) minutes after local midnight, in order.

    Local times are turned into instants with ``zoneinfo`` day by day, so an hour
    lost or repeated by a daylight saving change is lost or counted twice exactly
    as a clock on the wall shows it.
    """

    zone: ZoneInfo
    windows: tuple[tuple[tuple[int, int], ...], ...]

    def __post_init__(self):
        if len(self.windows) != 7 or not any(self.windows):
            raise ValueError("A calendar needs seven days and some open hours.")

    def _spans(self, start: datetime):
        """(open, close) instants of every window from ``start``'s local day on."""
        day = start.astimezone(self.zone).date()
        while True:
            for begin, end in self.windows[day.weekday()]:
                yield self._instant(day, begin), self._instant(day, end)
            day += timedelta(days=1)

    def _instant(self, day: date, minutes: int) -> datetime:
        if minutes == MINUTES_PER_DAY:  # 24:00 is the next day's midnight
            day, minutes = day + timedelta(days=1), 0
        local = datetime.combine(day, time(minutes // 60, minutes % 60), tzinfo=self.zone)
        return local.astimezone(UTC)

    def add(self, start: datetime, seconds: float) -> datetime:
        """The moment ``seconds`` of open hours after ``start`` have passed (``start``
        itself for none: a due time already reached stays where it was)."""
        if seconds <= 0:
            return start
        remaining = seconds
        for opens, closes in self._spans(start):
            if closes <= start:
                continue
            begin = max(opens, start)
            span = (closes - begin).total_seconds()
            if remaining <= span:
                return begin + timedelta(seconds=remaining)
            remaining -= span
        raise AssertionError("unreachable: a calendar always opens again")  # pragma: no cover

    def between(self, start: datetime, end: datetime) -> float:
        """Open-hours seconds from ``start`` to ``end`` (0 when ``end`` is not later)."""
        total = 0.0
        if end <= start:
            return total
        for opens, closes in self._spans(start):
            if opens >= end:
                return total
            begin, finish = max(opens, start), min(closes, end)
            if finish > begin:
                total += (finish - begin).total_seconds()
        raise AssertionError("unreachable")  # pragma: no cover

    def describe(self) -> str:
        parts = []
        for weekday, windows in enumerate(self.windows):
            for begin, end in windows:
                parts.append(f"{WEEKDAYS[weekday]} {_hhmm(begin)}-{_hhmm(end)}")
        return f"{', '.join(parts)} ({self.zone.key})"


Calendar = RoundTheClock | BusinessHours


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


_WINDOW = re.compile(
    r"(?P<first>[a-z]{3})(?:-(?P<last>[a-z]{3}))?\s+"
    r"(?P<begin>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})"
)


def _minutes(text: str) -> int:
    hours, minutes = (int(part) for part in text.split(":"))
    if minutes >= 60 or hours > 24 or (hours == 24 and minutes):
        raise ValueError(f"{text!r} is not a time of day (00:00 to 24:00)")
    return hours * 60 + minutes


def _days(first: str, last: str | None) -> list[int]:
    for name in (first, last):
        if name is not None and name not in WEEKDAYS:
            raise ValueError(f"{name!r} is not a day ({', '.join(WEEKDAYS)})")
    start = WEEKDAYS.index(first)
    stop = WEEKDAYS.index(last) if last else start
    if stop < start:
        raise ValueError(f"{first}-{last} runs backwards (write e.g. mon-fri)")
    return list(range(start, stop + 1))


def parse_business_hours(text: str | None, zone: ZoneInfo) -> Calendar:
    """A calendar from ``mon-fri 09:00-17:00,sat 10:00-14:00`` (comma-separated
    windows: a day or a range of days, then local opening and closing times;
    ``24:00`` is midnight at the end of the day). Empty, ``always`` or ``24/7``: round
    the clock. ``ValueError`` saying what is wrong."""
    if text is None or text.strip().lower() in ("", "always", "24/7"):
        return ROUND_THE_CLOCK
    days: list[list[tuple[int, int]]] = [[] for _ in WEEKDAYS]
    for item in text.split(","):
        item = item.strip().lower()
        match = _WINDOW.fullmatch(item)
        if match is None:
            raise ValueError(f"{item!r} is not a window like 'mon-fri 09:00-17:00'")
        begin, end = _minutes(match["begin"]), _minutes(match["end"])
        if end <= begin:
            raise ValueError(f"{item!r} closes before it opens (windows stay within a day)")
        for weekday in _days(match["first"], match["last"]):
            days[weekday].append((begin, end))
    for weekday, windows in enumerate(days):
        windows.sort()
        for (_, end), (begin, _) in zip(windows, windows[1:], strict=False):
            if begin < end:
                raise ValueError(f"two windows overlap on {WEEKDAYS[weekday]}")
    return BusinessHours(zone, tuple(tuple(w) for w in days))


# --- a ticket's clock ------------------------------------------------------------------
def sla_state(due_at: datetime | None, warn_at: datetime | None, now: datetime) -> str:
    """The ``sla.state`` at ``now`` of a clock due at ``due_at`` and at risk from
    ``warn_at`` (both None: nothing owed, or paused)."""
    if due_at is None:
        return NONE
    if now >= due_at:
        return BREACHED
    if warn_at is not None and now >= warn_at:
        return AT_RISK
    return DUE


@dataclass(frozen=True)
class ResponseClock:
    """The response a ticket owes (``response``: FIRST, NEXT or None), counting since
    ``started_at`` (None while paused) after ``elapsed`` counted seconds from earlier
    runs; at risk from ``warn_at``, due at ``due_at`` (both None unless counting);
    ``notified``: what support has been told of this response (None, WARNED,
    BREACH_TOLD)."""

    response: str | None = None
    started_at: datetime | None = None
    elapsed: float = 0.0
    warn_at: datetime | None = None
    due_at: datetime | None = None
    notified: str | None = None

    @property
    def owed(self) -> bool:
        return self.response is not None

    @property
    def counting(self) -> bool:
        return self.started_at is not None

    def state(self, now: datetime) -> str:
        """``due``, ``at_risk``, ``breached`` or ``none`` at ``now``."""
        return sla_state(self.due_at, self.warn_at, now)


STOPPED = ResponseClock()


@dataclass(frozen=True)
class ResponsePolicy:
    """The targets (seconds) of each response and the calendar they are counted in.

    ``first`` maps every priority to its first-response target; ``next`` is the
    next-response target. Each method returns the clock after a change; a clock
    is never changed in place.
    """

    first: dict[str, float]
    next: float
    calendar: Calendar = field(default=ROUND_THE_CLOCK)

    def target(self, response: str, priority: str) -> float:
        """The target, in counted seconds, of ``response`` for a ticket of ``priority``."""
        return self.first[priority] if response == FIRST else self.next

    def _run(self, clock: ResponseClock, priority: str, started_at: datetime) -> ResponseClock:
        """``clock`` counting from ``started_at``, its due and at-risk times set."""
        target = self.target(clock.response, priority)
        left = target - clock.elapsed
        return ResponseClock(
            response=clock.response,
            started_at=started_at,
            elapsed=clock.elapsed,
            warn_at=self.calendar.add(started_at, left - (1 - AT_RISK_SHARE) * target),
            due_at=self.calendar.add(started_at, left),
            notified=clock.notified,
        )

    def start(self, response: str, priority: str, now: datetime) -> ResponseClock:
        """A new owed ``response``, counting from ``now``: nothing told of it yet."""
        return self._run(ResponseClock(response=response), priority, now)

    def pause(self, clock: ResponseClock, now: datetime) -> ResponseClock:
        """Stop counting at ``now``, keeping the time spent (a paused clock owes the
        same response when it resumes)."""
        if not clock.counting:
            return clock
        spent = clock.elapsed + self.calendar.between(clock.started_at, now)
        return ResponseClock(response=clock.response, elapsed=spent, notified=clock.notified)

    def resume(self, clock: ResponseClock, priority: str, now: datetime) -> ResponseClock:
        """Count again from ``now`` with the time left (a next response when none is owed)."""
        if not clock.owed:
            return self.start(NEXT, priority, now)
        if clock.counting:
            return clock
        return self._run(clock, priority, now)

    def retarget(self, clock: ResponseClock, priority: str) -> ResponseClock:
        """The same clock under ``priority``'s target (a priority change): due and at
        risk move; what was already told stays told."""
        if not clock.counting:
            return clock
        return self._run(clock, priority, clock.started_at)

    def describe(self) -> str:
        """One line for logs: the targets and the calendar."""
        first = ", ".join(f"{p} {_human(s)}" for p, s in self.first.items())
        return f"first response {first}; next {_human(self.next)}; {self.calendar.describe()}"


def _human(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


# The contract's targets, round the clock.
DEFAULT_POLICY = ResponsePolicy(dict(DEFAULT_FIRST_RESPONSE), DEFAULT_NEXT_RESPONSE)
