"""The ticket rules: priorities, the lifecycle, automatic moves, rate limits, searches.

``Ticket`` is the aggregate: opening a ticket, adding a message, moving, assigning,
resolving and closing it go through its methods, each checking its rules and
recording the events it causes (plain dataclasses below). Plain Python, no
framework or I/O, so every rule is unit-tested on its own; the repository stores
what a command did and the unit of work turns the events into outbox rows.

Time-driven work (auto-close, reminders) is scheduled by the aggregate too: a
change records the due work it wants (``Ticket.schedule`` / ``unschedule``), the
repository stores it with the change, and when it falls due the scheduler calls
the aggregate's method for its kind (``DUE_WORK``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime, time, timedelta

from services.tickets import clocks
from shared import catalog
from shared.catalog import (
    ACTORS,
    ADMIN_ROLE,
    PRIORITIES,
    PRIORITY_BY_ISSUE_TYPE,
    ROLES,
    STATUS_KEYS,
    TEAM_ASSIGNMENTS,
)
from shared.ids import MAX_ROW_ID
from shared.text import is_text
from shared.timestamps import iso_utc

OPEN, IN_REVIEW, AWAITING_USER, RESOLVED, CLOSED = STATUS_KEYS

# The contract's transition table: which status support may move a ticket to.
TRANSITIONS: dict[str, frozenset[str]] = {
    OPEN: frozenset({IN_REVIEW, AWAITING_USER, RESOLVED, CLOSED}),
    IN_REVIEW: frozenset({AWAITING_USER, RESOLVED, CLOSED}),
    AWAITING_USER: frozenset({IN_REVIEW, RESOLVED, CLOSED}),
    RESOLVED: frozenset({IN_REVIEW, CLOSED}),
    CLOSED: frozenset(),
}

# Statuses in which no response is owed: the response clock waits (closed: stops).
WAITING_STATUSES = frozenset({AWAITING_USER, RESOLVED, CLOSED})

# Who caused a timeline entry or event.
BY_USER, BY_SUPPORT, BY_SYSTEM = ACTORS

PRIORITY_RANK = {p: rank for rank, p in enumerate(PRIORITIES)}


class ConflictError(Exception):
    """The ticket's state forbids the action (closed, illegal transition)."""


def priority_for(issue_type: str) -> str:
    """The priority a new ticket of ``issue_type`` gets."""
    return PRIORITY_BY_ISSUE_TYPE[issue_type]


def can_transition(current: str, target: str) -> bool:
    """Whether support may move a ticket from ``current`` to ``target``."""
    return target in TRANSITIONS.get(current, frozenset())


def check_transition(current: str, target: str) -> None:
    """Raise ``ConflictError`` unless ``current`` -> ``target`` is allowed."""
    if not can_transition(current, target):
        raise ConflictError(f"A ticket cannot move from {current} to {target}.")


def check_open_for_messages(status: str) -> None:
    """Closed is final: no replies, notes, assignment or transitions."""
    if status == CLOSED:
        raise ConflictError("The ticket is closed.")


def check_closable(status: str) -> None:
    """The owner may close from any status but closed."""
    if status == CLOSED:
        raise ConflictError("The ticket is already closed.")


def status_after_owner_reply(status: str) -> str | None:
    """An owner reply on awaiting_user or resolved sends the ticket back to review."""
    return IN_REVIEW if status in (AWAITING_USER, RESOLVED) else None


def status_after_support_message(status: str, internal: bool) -> str | None:
    """The first public support reply on an open ticket puts it in review; notes move nothing."""
    return IN_REVIEW if status == OPEN and not internal else None


# An owner's messages on one ticket are limited per rolling window of this length.
REPLY_WINDOW = timedelta(hours=1)


def reply_allowed_at(nth_latest_at: datetime | None, now: datetime) -> datetime | None:
    """When the owner may reply again, or None if they may now.

    ``nth_latest_at`` is when their n-th latest message on the ticket was written, n
    being the limit (None: fewer than n). While it is inside the window the limit is
    reached; once it leaves, at most n - 1 of theirs remain in it.
    """
    if nth_latest_at is None or nth_latest_at + REPLY_WINDOW <= now:
        return None
    return nth_latest_at + REPLY_WINDOW


# ASCII digits only: str.isdigit and \d take any script's digits ("١٢", "１２").
_ID_QUERY = re.compile(r"#?([0-9]+)")


def parse_search(q: str | None) -> tuple[str, object] | None:
    """``1042`` / ``#1042`` -> ("id", 1042); other text -> ("subject", text); blank -> None.

    An id beyond any ticket's is ("id", None): it still matches only by id, so nothing.
    """
    if q is None:
        return None
    q = q.strip()
    if not q:
        return None
    match = _ID_QUERY.fullmatch(q)
    if match:
        number = int(match.group(1))
        # Larger numbers cannot be ticket ids (bigint): such a query matches nothing.
        return ("id", number if number <= MAX_ROW_ID else None)
    return ("subject", q)


def like_pattern(text: str) -> str:
    """A LIKE pattern matching ``text`` anywhere, with LIKE's wildcards taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class Actor:
    """Who is calling: ``id`` and ``name`` from the verified token, ``role`` user or admin."""

    __slots__ = ("id", "name", "role")

    def __init__(self, id: str, name: str | None, role: str):
        self.id, self.name, self.role = id, name, role

    @property
    def is_admin(self) -> bool:
        return self.role == ADMIN_ROLE


def actor_problems(actor) -> list[str]:
    """What is wrong with an RPC ``actor`` value (empty when it is well formed)."""
    if not isinstance(actor, dict):
        return ["Must be an object with id, name and role."]
    problems = []
    actor_id, name = actor.get("id"), actor.get("name")
    if not isinstance(actor_id, str) or not actor_id or not is_text(actor_id):
        problems.append("id must be a non-empty string.")
    if name is not None and (not isinstance(name, str) or not is_text(name)):
        problems.append("name must be a string or null.")
    if actor.get("role") not in ROLES:
        problems.append(f"role must be one of {', '.join(ROLES)}.")
    return problems


# --- rate limits: pure arithmetic of times and counts ---------------------------------
class LimitReached(Exception):
    """A rate limit is reached until ``reset_at``; ``retry_after`` whole seconds from now."""

    def __init__(self, message: str, reset_at: datetime, retry_after: int):
        super().__init__(message)
        self.message, self.reset_at, self.retry_after = message, reset_at, retry_after

    @classmethod
    def until(cls, message: str, now: datetime, reset: datetime) -> LimitReached:
        """Reached at ``now`` until ``reset``."""
        return cls(message, reset, seconds_until(now, reset))


def seconds_until(now: datetime, reset: datetime) -> int:
    """Whole seconds from ``now`` to ``reset``, rounded up, at least 1 (a client that
    waits that long is past the reset)."""
    return max(1, math.ceil((reset - now).total_seconds()))


def next_utc_midnight(now: datetime) -> datetime:
    """When the daily allowance resets: the UTC midnight after ``now``."""
    return datetime.combine(now.astimezone(UTC).date() + timedelta(days=1), time.min, UTC)


def daily_limit_reached(now: datetime, limit: int) -> LimitReached:
    """The daily allowance of ``limit`` tickets is spent until the next UTC midnight."""
    return LimitReached.until(
        f"You can open at most {limit} tickets per day; try again after midnight UTC.",
        now,
        next_utc_midnight(now),
    )


@dataclass(frozen=True)
class ReplyAllowance:
    """An owner's replies on one ticket: at most ``limit`` per ``REPLY_WINDOW``;
    ``nth_latest_at`` is when their ``limit``-th latest was written (None: fewer)."""

    limit: int
    nth_latest_at: datetime | None

    def check(self, now: datetime) -> None:
        """Raise ``LimitReached`` while the limit is reached at ``now``."""
        reset = reply_allowed_at(self.nth_latest_at, now)
        if reset is not None:
            raise LimitReached.until(
                f"You can post at most {self.limit} messages per ticket per hour; try again later.",
                now,
                reset,
            )


# --- events: what a change tells the rest of the help desk -----------------------------
# Plain records; the unit of work writes each to the outbox (shared.events names its
# type and checks its payload, the fields below in this order).
@dataclass(frozen=True)
class TicketEvent:
    """Who and what every ticket event is about (the contract's ``TicketRef``)."""

    ticket_id: int
    subject: str
    owner_id: str
    owner_name: str | None
    assignee_id: str | None
    status: str
    actor_id: str | None
    actor_name: str | None
    actor_role: str


@dataclass(frozen=True)
class TicketCreated(TicketEvent):
    issue_type: str
    feature: str
    priority: str
    team_key: str | None = None  # the team it was routed to on arrival
    # Who hears of it when nobody holds it (``Arrival.audience``); empty once assigned.
    team_member_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class MessageAdded(TicketEvent):
    message_id: int
    author: str
    internal: bool
    body: str | None  # None for an internal note: its text never leaves the service
    # An owner's reply on a ticket nobody holds: the team that hears of it.
    team_member_ids: tuple[str, ...] = ()
    # Set when the reply itself resolved the ticket (one action, one notice).
    resolution_note: str | None = None


@dataclass(frozen=True)
class StatusChanged(TicketEvent):
    from_status: str
    to_status: str
    resolution_note: str | None
    caused_by_message_id: int | None  # the reply that moved it, if one did


@dataclass(frozen=True)
class TicketAssigned(TicketEvent):
    assignee_name: str | None
    previous_assignee_id: str | None


@dataclass(frozen=True)
class TicketClosed(TicketEvent):
    from_status: str
    note: str | None


@dataclass(frozen=True)
class PriorityChanged(TicketEvent):
    from_priority: str
    to_priority: str
    reason: str


@dataclass(frozen=True)
class ResponseClockEvent(TicketEvent):
    """An owed response at risk or past due; support hears of it: the assignee, or
    ``team_member_ids`` when nobody holds the ticket."""

    response: str
    priority: str
    due_at: str  # ISO 8601 UTC, as events carry times
    at: str  # when the clock was found at risk / past due
    team_member_ids: tuple[str, ...]


@dataclass(frozen=True)
class SlaWarning(ResponseClockEvent):
    pass


@dataclass(frozen=True)
class SlaBreached(ResponseClockEvent):
    pass


@dataclass(frozen=True)
class ClosingSoon(TicketEvent):
    """A resolved ticket will be closed by the system at ``closes_at`` unless its
    owner writes; the reminder was sent at ``reminded_at``."""

    closes_at: str  # ISO 8601 UTC, as events carry times
    reminded_at: str


@dataclass(frozen=True)
class AwaitingReminder(TicketEvent):
    """The ticket has waited for its owner's answer since ``waiting_since``."""

    waiting_since: str  # ISO 8601 UTC


# --- staff, teams and routing ------------------------------------------------------------
# A member's "open" tickets, for the directory's ``open_assigned`` and ``fewest_open``.
OPEN_STATUSES = catalog.OPEN_STATUSES
# How a team assigns a new ticket: by hand, in turn, or to the least loaded member.
ASSIGNMENTS = TEAM_ASSIGNMENTS
MANUAL, ROUND_ROBIN, FEWEST_OPEN = ASSIGNMENTS

# Who hears of work nobody holds on a ticket of team ``key`` (None: no team): the
# team's members, or every known staff member when it has no team or no members.
Audience = Callable[[str | None], tuple[str, ...]]


@dataclass(frozen=True)
class Team:
    """A support team: the features and issue types it takes, its members (staff
    ids, in order) and how it assigns; ``last_assigned_id`` is where round robin
    resumes."""

    key: str
    label: str
    members: tuple[str, ...] = ()
    features: tuple[str, ...] = ()
    issue_types: tuple[str, ...] = ()
    assignment: str = MANUAL
    last_assigned_id: str | None = None

    @property
    def assigns_automatically(self) -> bool:
        """Whether a new ticket goes to one of its members in the same action."""
        return self.assignment != MANUAL and bool(self.members)


@dataclass(frozen=True)
class Arrival:
    """Where a new ticket goes: its team (None: no team took it), the member who
    gets it on arrival (None: nobody yet), and who hears of it while nobody holds it."""

    team_key: str | None = None
    assignee_id: str | None = None
    assignee_name: str | None = None
    audience: tuple[str, ...] = ()


def route(teams: Iterable[Team], feature: str, issue_type: str) -> Team | None:
    """The team a new ticket goes to: the first (``teams`` in creation order) that
    takes its feature, else the first that takes its issue type, else None."""
    teams = tuple(teams)
    for team in teams:
        if feature in team.features:
            return team
    for team in teams:
        if issue_type in team.issue_types:
            return team
    return None


def next_in_turn(members: tuple[str, ...], last_assigned_id: str | None) -> str:
    """Round robin: the member after the one who got the last ticket (the first when
    that one is gone from the team, or none was given yet)."""
    if last_assigned_id in members:
        return members[(members.index(last_assigned_id) + 1) % len(members)]
    return members[0]


def least_loaded(members: tuple[str, ...], open_counts: Mapping[str, int]) -> str:
    """Fewest open: the member with the fewest open tickets assigned; a tie goes to
    the one listed first in the team."""
    return min(members, key=lambda m: (open_counts.get(m, 0), members.index(m)))


def choose_assignee(team: Team, open_counts: Mapping[str, int]) -> str | None:
    """The member a new ticket of ``team`` is assigned to on arrival, or None when
    the team assigns by hand (or has nobody to assign to)."""
    if not team.assigns_automatically:
        return None
    if team.assignment == ROUND_ROBIN:
        return next_in_turn(team.members, team.last_assigned_id)
    return least_loaded(team.members, open_counts)


# --- the ticket aggregate ----------------------------------------------------------------
# The ticket holds its response clock as one value (``Ticket.clock``); its row keeps it
# flat, a column per field (the queue's filters and index read them): field -> column.
# The one mapping between the two: ``Ticket.from_columns``, ``Ticket.columns`` and the
# ``changes`` a clock's move records all go through it.
CLOCK_COLUMNS = {f.name: f"sla_{f.name}" for f in fields(clocks.ResponseClock)}


def _clock_columns(clock: clocks.ResponseClock) -> dict:
    """The ticket's columns holding ``clock`` (column -> value)."""
    return {column: getattr(clock, name) for name, column in CLOCK_COLUMNS.items()}


# When a change happens, asked only once it is allowed (the service asks the database:
# one clock for every instance, and the time after any wait for the ticket's lock).
Clock = Callable[[], datetime]


@dataclass(frozen=True)
class TimelineEntry:
    """The ticket entered ``status`` at ``at``, caused by ``by`` (``actor_id``)."""

    status: str
    by: str
    actor_id: str | None
    at: datetime


@dataclass
class Message:
    """A public reply or an internal note, as written."""

    id: int
    ticket_id: int
    author: str
    author_id: str
    author_name: str | None
    internal: bool
    body: str
    body_html: str
    created_at: datetime


@dataclass(frozen=True)
class Resolution:
    """A resolution note as written: every one a ticket has had is kept."""

    note: str
    at: datetime
    by_id: str | None
    by_name: str | None


@dataclass(frozen=True)
class PriorityChange:
    """Support changed the priority from ``from_priority`` to ``to_priority``, and why."""

    from_priority: str
    to_priority: str
    reason: str
    at: datetime
    by_id: str
    by_name: str | None


@dataclass(frozen=True)
class MessageSlot:
    """The id and time of a ticket's next message, drawn while the ticket is locked
    (so ids and times follow the order in which commands got the ticket)."""

    id: int
    at: datetime


# --- scheduled work: what falls due with time ----------------------------------------------
CLOSING_SOON, AUTO_CLOSE, AWAITING_REMINDER = "closing_soon", "auto_close", "awaiting_reminder"
# A response clock at risk (80% of its target gone), and past due: support is told.
SLA_WARNING, SLA_BREACH = "sla_warning", "sla_breach"
# The contract's defaults (the settings read them from here).
AUTO_CLOSE_AFTER = timedelta(days=7)
AUTO_CLOSE_REMINDER = timedelta(days=1)
AWAITING_REMINDER_AFTER = timedelta(days=3)


@dataclass(frozen=True)
class Timings:
    """How long scheduled work waits; None turns it off.

    ``auto_close_after``: a resolved ticket with no word from its owner is closed
    by the system after this long; ``auto_close_reminder``: the owner hears
    ``closing_soon`` when this much is left (never when it is not shorter than
    ``auto_close_after``); ``awaiting_reminder_after``: a ticket awaiting its
    owner's answer reminds them once after this long.
    """

    auto_close_after: timedelta | None = AUTO_CLOSE_AFTER
    auto_close_reminder: timedelta | None = AUTO_CLOSE_REMINDER
    awaiting_reminder_after: timedelta | None = AWAITING_REMINDER_AFTER

    def closing_soon_before(self) -> timedelta | None:
        """How long before the auto-close the owner is reminded (None: never)."""
        after, reminder = self.auto_close_after, self.auto_close_reminder
        if after is None or reminder is None or reminder >= after:
            return None
        return reminder


@dataclass(eq=False)
class Ticket:
    """A ticket and its lifecycle: every change goes through a method here, which
    checks the rules (``ConflictError``, ``LimitReached``) before changing anything
    and records what changed (``changes``, ``new_timeline``, ``new_messages``) and
    the events it causes (``events``) for the repository to store.

    Loaded for a command, the ticket holds no encrypted text: ``description``,
    ``description_html``, ``resolution_note`` and ``closed_note`` are None unless
    set by the command itself.

    Due work: ``timings`` say how long each schedule waits; ``scheduled`` holds
    the ticket's due work as stored (kind -> due time) when the scheduler loaded
    it; ``schedules`` what this command wants stored (kind -> due time, or None
    to cancel it).
    """

    id: int
    owner_id: str
    owner_name: str | None
    issue_type: str
    feature: str
    subject: str
    priority: str
    priority_rank: int
    status: str
    assignee_id: str | None
    assignee_name: str | None
    created_at: datetime
    updated_at: datetime
    last_message_at: datetime | None
    # The owner's earlier ticket this one follows up ("this happened again").
    follows_up_id: int | None = None
    description: str | None = None
    description_html: str | None = None
    resolution_note: str | None = None
    closed_note: str | None = None
    # The response clock (its row's ``sla_*`` columns, NULL and 0 when nothing is owed:
    # stopped), and the first response's due time and moment, kept once it is given.
    clock: clocks.ResponseClock = clocks.STOPPED
    first_response_due_at: datetime | None = None
    first_response_at: datetime | None = None
    # The targets and calendar the clock counts by (the service's settings).
    response_policy: clocks.ResponsePolicy = field(default=clocks.DEFAULT_POLICY, repr=False)
    team_key: str | None = None
    # Drawn with the lock when the command will add a message (``MessageSlot``).
    next_message: MessageSlot | None = None
    # What this command did, for the repository and the outbox.
    is_new: bool = False
    changes: dict = field(default_factory=dict)
    new_timeline: list[TimelineEntry] = field(default_factory=list)
    new_messages: list[Message] = field(default_factory=list)
    new_resolutions: list[Resolution] = field(default_factory=list)
    new_priority_changes: list[PriorityChange] = field(default_factory=list)
    events: list[TicketEvent] = field(default_factory=list)
    timings: Timings = field(default_factory=Timings)
    scheduled: dict[str, datetime] = field(default_factory=dict)
    schedules: dict[str, datetime | None] = field(default_factory=dict)

    @classmethod
    def open(
        cls,
        ticket_id: int,
        owner: Actor,
        issue_type: str,
        feature: str,
        subject: str,
        description: str,
        now: datetime,
        render: Callable[[str], str],
        policy: clocks.ResponsePolicy = clocks.DEFAULT_POLICY,
        arrival: Arrival | None = None,
        follows_up_id: int | None = None,
    ) -> Ticket:
        """A new ticket for ``owner``, its priority from its issue type; it owes a
        first response from ``now``, by ``policy``'s target for that priority. It is
        routed as ``arrival`` says: to its team, and to the member who gets it on
        arrival (a ``ticket_assigned`` in the same action), or else heard of by the team.
        With ``follows_up_id`` (one of the owner's tickets, checked by the caller) it
        is linked to the earlier ticket it follows up."""
        arrival = arrival or Arrival()
        priority = priority_for(issue_type)
        clock = policy.start(clocks.FIRST, priority, now)
        ticket = cls(
            id=ticket_id,
            owner_id=owner.id,
            owner_name=owner.name,
            issue_type=issue_type,
            feature=feature,
            subject=subject,
            description=description,
            # Rendered once, here: reads return the stored HTML.
            description_html=render(description),
            priority=priority,
            priority_rank=PRIORITY_RANK[priority],
            status=OPEN,
            assignee_id=arrival.assignee_id,
            assignee_name=arrival.assignee_name,
            created_at=now,
            updated_at=now,
            last_message_at=None,
            response_policy=policy,
            team_key=arrival.team_key,
            follows_up_id=follows_up_id,
            is_new=True,
            clock=clock,
            first_response_due_at=clock.due_at,
        )
        ticket._schedule_clock()
        ticket.new_timeline.append(TimelineEntry(OPEN, BY_USER, owner.id, now))
        ticket.events.append(
            TicketCreated(
                **ticket._ref(owner, BY_USER),
                issue_type=issue_type,
                feature=feature,
                priority=priority,
                team_key=arrival.team_key,
                team_member_ids=() if arrival.assignee_id else tuple(arrival.audience),
            )
        )
        if arrival.assignee_id is not None:
            # Assigned by the system, as part of the owner's action: the owner (an
            # admin who is a member) is not told of their own ticket.
            ticket.events.append(
                TicketAssigned(
                    **ticket._ref(owner, BY_SYSTEM),
                    assignee_name=arrival.assignee_name,
                    previous_assignee_id=None,
                )
            )
        return ticket

    @classmethod
    def from_columns(cls, row: Mapping, **context) -> Ticket:
        """A stored ticket from its ``row`` (column -> value; the ``sla_*`` columns
        make its ``clock``) and what the service adds (``context``: policy, timings...)."""
        clock = clocks.ResponseClock(
            **{name: row[column] for name, column in CLOCK_COLUMNS.items()}
        )
        own = {k: v for k, v in row.items() if k not in CLOCK_COLUMNS.values()}
        return cls(**own, clock=clock, **context)

    def columns(self, names: Iterable[str]) -> dict:
        """The ticket's value of each column in ``names`` (the ``sla_*`` ones its clock's)."""
        clock = _clock_columns(self.clock)
        return {name: clock[name] if name in clock else getattr(self, name) for name in names}

    def _ref(self, actor: Actor | None, role: str, status: str | None = None) -> dict:
        """The ``TicketEvent`` fields for an event ``actor`` caused as ``role``."""
        return {
            "ticket_id": self.id,
            "subject": self.subject,
            "owner_id": self.owner_id,
            "owner_name": self.owner_name,
            "assignee_id": self.assignee_id,
            "status": status or self.status,
            "actor_id": actor.id if actor else None,
            "actor_name": actor.name if actor else None,
            "actor_role": role,
        }

    def _set(self, **values) -> None:
        for name, value in values.items():
            setattr(self, name, value)
        self.changes.update(values)

    def add_reply(
        self,
        owner: Actor,
        body: str,
        render: Callable[[str], str],
        allowance: ReplyAllowance | None,
        audience: Audience | None = None,
    ) -> Message:
        """The owner replies; on awaiting_user or resolved the ticket goes back to
        review. ``allowance`` None: not limited (support staff on their own ticket).
        On a ticket nobody holds, ``audience`` (its team's, asked only then) hears."""
        check_open_for_messages(self.status)
        if allowance is not None:
            allowance.check(self._slot().at)
        heard_by = ()
        if self.assignee_id is None and audience is not None:
            heard_by = tuple(audience(self.team_key))
        return self._add_message(owner, BY_USER, body, render, internal=False, heard_by=heard_by)

    def add_support_message(
        self,
        actor: Actor,
        body: str,
        render: Callable[[str], str],
        internal: bool,
        status: str | None = None,
        resolution_note: str | None = None,
    ) -> Message:
        """Support replies publicly (open -> in_review) or leaves an internal note.

        A public reply may carry the ``status`` it leaves the ticket in (a
        ``resolution_note`` to resolve): reply and move are one action, checked
        against the transition table before anything changes, and the reply's
        event tells the owner (``resolution_note`` set when it resolved).
        """
        check_open_for_messages(self.status)
        if status is not None:
            if internal:
                raise ValueError("An internal note changes no status.")
            check_transition(self.status, status)
        return self._add_message(
            actor,
            BY_SUPPORT,
            body,
            render,
            internal,
            status=status,
            resolution_note=resolution_note,
        )

    def _slot(self) -> MessageSlot:
        if self.next_message is None:
            raise RuntimeError("The ticket was not loaded to take a message.")
        return self.next_message

    def _add_message(
        self,
        actor,
        author,
        body,
        render,
        internal,
        heard_by=(),
        status=None,
        resolution_note=None,
    ) -> Message:
        slot, self.next_message = self._slot(), None
        message = Message(
            id=slot.id,
            ticket_id=self.id,
            author=author,
            author_id=actor.id,
            author_name=actor.name,
            internal=internal,
            body=body,
            body_html=render(body),
            created_at=slot.at,
        )
        self.new_messages.append(message)
        if internal:
            target = None  # an internal note leaves no trace a user could see
        else:
            self._set(updated_at=slot.at, last_message_at=slot.at)
            if status is not None:  # the move the reply carries, already checked
                target = status
            elif author == BY_USER:
                target = status_after_owner_reply(self.status)
            else:
                target = status_after_support_message(self.status, internal)
        self.events.append(
            MessageAdded(
                **self._ref(actor, author, status=target),
                message_id=message.id,
                author=author,
                internal=internal,
                body=None if internal else body,
                team_member_ids=heard_by,
                resolution_note=resolution_note if target == RESOLVED else None,
            )
        )
        if not internal:
            self._clock_after_message(author, slot.at)
        if target is not None:
            self._move(
                target,
                author,
                actor,
                slot.at,
                caused_by_message_id=message.id,
                resolution_note=resolution_note,
            )
        return message

    def change_status(
        self, actor: Actor, target: str, resolution_note: str | None, clock: Clock
    ) -> None:
        """Support moves the ticket along the transition table (a note to resolve)."""
        check_transition(self.status, target)
        self._move(target, BY_SUPPORT, actor, clock(), resolution_note=resolution_note)

    def _move(self, target, by, actor, now, caused_by_message_id=None, resolution_note=None):
        previous = self.status
        self._set(status=target, updated_at=now)
        self._clock_after_move(previous, target, now)
        if target == RESOLVED:
            # The latest note; never cleared: the history keeps every one.
            self._set(resolution_note=resolution_note)
            self.new_resolutions.append(
                Resolution(
                    resolution_note, now, actor.id if actor else None, actor.name if actor else None
                )
            )
        self.new_timeline.append(TimelineEntry(target, by, actor.id if actor else None, now))
        self._schedule_for_status(now)
        self.events.append(
            StatusChanged(
                **self._ref(actor, by),
                from_status=previous,
                to_status=target,
                resolution_note=resolution_note,
                caused_by_message_id=caused_by_message_id,
            )
        )

    def assign(
        self, actor: Actor, assignee_id: str | None, assignee_name: str | None, clock: Clock
    ) -> None:
        """Give the ticket to an admin (or nobody); the same admin again changes nothing."""
        check_open_for_messages(self.status)
        if assignee_id == self.assignee_id:
            return
        previous = self.assignee_id
        name = assignee_name if assignee_id is not None else None
        if name is None and assignee_id == actor.id:
            name = actor.name  # taking a ticket oneself: one's own name is known
        self._set(assignee_id=assignee_id, assignee_name=name, updated_at=clock())
        self.events.append(
            TicketAssigned(
                **self._ref(actor, BY_SUPPORT), assignee_name=name, previous_assignee_id=previous
            )
        )

    def change_priority(self, actor: Actor, priority: str, reason: str, clock: Clock) -> bool:
        """Support changes the priority, with a reason kept in the ticket's history.

        Closed is final (``ConflictError``). The priority it already has changes
        nothing and records nothing (as assigning the same admin again): False.
        The response clock is recomputed under the new priority's target.
        """
        check_open_for_messages(self.status)
        if priority not in PRIORITY_RANK:
            raise ValueError(f"Unknown priority {priority!r}.")
        if priority == self.priority:
            return False
        now, previous = clock(), self.priority
        self._set(priority=priority, priority_rank=PRIORITY_RANK[priority], updated_at=now)
        self.recompute_clock()  # the response owed moves to the new priority's target
        self.new_priority_changes.append(
            PriorityChange(previous, priority, reason, now, actor.id, actor.name)
        )
        self.events.append(
            PriorityChanged(
                **self._ref(actor, BY_SUPPORT),
                from_priority=previous,
                to_priority=priority,
                reason=reason,
            )
        )
        return True

    def close(self, owner: Actor, note: str | None, clock: Clock) -> None:
        """The owner closes the ticket from any status but closed; a blank note is none."""
        check_closable(self.status)
        now, previous = clock(), self.status
        note = note or None
        self._set(status=CLOSED, closed_note=note, updated_at=now)
        self._set_clock(clocks.STOPPED)
        self.new_timeline.append(TimelineEntry(CLOSED, BY_USER, owner.id, now))
        self._schedule_for_status(now)
        self.events.append(
            TicketClosed(**self._ref(owner, BY_USER), from_status=previous, note=note)
        )

    # --- the response clock -------------------------------------------------------------
    def _set_clock(self, clock: clocks.ResponseClock) -> None:
        """Hold ``clock`` (a first response's due time also in ``first_response_due_at``,
        which outlives the clock) and, when anything changed, its due work."""
        changed = self._hold_clock(clock)
        first = clock.response == clocks.FIRST and clock.due_at is not None
        if first and clock.due_at != self.first_response_due_at:
            self._set(first_response_due_at=clock.due_at)
            changed = True
        if changed:
            self._schedule_clock()

    def _hold_clock(self, clock: clocks.ResponseClock) -> bool:
        """Hold ``clock``, recording in ``changes`` the columns that changed (the
        repository writes columns, only those); whether any did."""
        held = _clock_columns(self.clock)
        changed = {k: v for k, v in _clock_columns(clock).items() if held[k] != v}
        self.clock = clock
        self.changes.update(changed)
        return bool(changed)

    def _schedule_clock(self) -> None:
        """Due work for the clock as it now stands: its warning at ``warn_at`` and its
        breach at ``due_at``, each while counting and not yet told; none while paused
        or when nothing is owed."""
        clock = self.clock
        if clock.counting and clock.notified is None:
            self.schedule(SLA_WARNING, clock.warn_at)
        else:
            self.unschedule(SLA_WARNING)
        if clock.counting and clock.notified != clocks.BREACH_TOLD:
            self.schedule(SLA_BREACH, clock.due_at)
        else:
            self.unschedule(SLA_BREACH)

    def _clock_after_message(self, author: str, now: datetime) -> None:
        """A public support reply answers what was owed (the first one is the ticket's
        first response); the owner writing on a worked ticket that owes nothing
        starts a next response. (An owner reply that brings the ticket back to
        review is the move's business.)"""
        policy = self.response_policy
        if author == BY_SUPPORT:
            if self.first_response_at is None:
                self._set(first_response_at=now)
            self._set_clock(clocks.STOPPED)
        elif self.status not in WAITING_STATUSES and not self.clock.owed:
            self._set_clock(policy.start(clocks.NEXT, self.priority, now))

    def _clock_after_move(self, previous: str, target: str, now: datetime) -> None:
        """Closing stops the clock; waiting on the owner or resolving pauses it;
        coming back to be worked resumes it, or starts a next response if none
        was owed."""
        policy = self.response_policy
        if target == CLOSED:
            self._set_clock(clocks.STOPPED)
        elif target in WAITING_STATUSES:
            self._set_clock(policy.pause(self.clock, now))
        elif previous in WAITING_STATUSES:
            self._set_clock(policy.resume(self.clock, self.priority, now))

    def warn_response_due(self, now: datetime, audience: Audience) -> bool:
        """At risk (80% of the target gone): tell support once per owed response.
        Nothing when nothing is owed, it is not yet at risk, or it was told already
        (the due work ran late, twice, or after a change moved the clock)."""
        clock = self.clock
        if clock.notified is not None or clock.state(now) not in (clocks.AT_RISK, clocks.BREACHED):
            return False
        # Told, not moved: its due work stays as it is (the breach still to come).
        self._hold_clock(replace(clock, notified=clocks.WARNED))
        self.events.append(SlaWarning(**self._clock_event(now, audience)))
        return True

    def tell_response_breached(self, now: datetime, audience: Audience) -> bool:
        """Past due: tell support once per owed response (its warning, due earlier,
        has run first unless a change moved both into the past at once)."""
        clock = self.clock
        if clock.notified == clocks.BREACH_TOLD or clock.state(now) != clocks.BREACHED:
            return False
        self._hold_clock(replace(clock, notified=clocks.BREACH_TOLD))
        self.events.append(SlaBreached(**self._clock_event(now, audience)))
        return True

    def _clock_event(self, now: datetime, audience: Audience) -> dict:
        """The payload of a clock's event: the assignee hears, or (asked only when
        nobody holds the ticket) its team's audience."""
        return {
            **self._ref(None, BY_SYSTEM),
            "response": self.clock.response,
            "priority": self.priority,
            "due_at": iso_utc(self.clock.due_at, timespec="auto"),
            "at": iso_utc(now, timespec="auto"),
            "team_member_ids": tuple(audience(self.team_key)) if self.assignee_id is None else (),
        }

    def recompute_clock(self) -> None:
        """The clock under the ticket's current priority (after a priority change):
        its due and at-risk times move, what support was told stays told."""
        self._set_clock(self.response_policy.retarget(self.clock, self.priority))

    # --- due work ------------------------------------------------------------------------
    def schedule(self, kind: str, at: datetime) -> None:
        """Want ``kind``'s work done at ``at`` (replacing any earlier time for it)."""
        self.schedules[kind] = at

    def unschedule(self, kind: str) -> None:
        """Want no ``kind`` work for this ticket (nothing if there was none)."""
        self.schedules[kind] = None

    def _schedule_for_status(self, now: datetime) -> None:
        """The status just changed at ``now``: cancel what belonged to the old one and
        schedule what the new one waits for. Closed is final: nothing stays due."""
        kinds = DUE_WORK if self.status == CLOSED else (CLOSING_SOON, AUTO_CLOSE, AWAITING_REMINDER)
        for kind in kinds:
            self.unschedule(kind)
        timings = self.timings
        if self.status == RESOLVED and timings.auto_close_after is not None:
            self.schedule(AUTO_CLOSE, now + timings.auto_close_after)
            before = timings.closing_soon_before()
            if before is not None:
                self.schedule(CLOSING_SOON, now + timings.auto_close_after - before)
        elif self.status == AWAITING_USER and timings.awaiting_reminder_after is not None:
            self.schedule(AWAITING_REMINDER, now + timings.awaiting_reminder_after)

    def auto_close(self, now: datetime) -> None:
        """Due work: the ticket stayed resolved with no word from its owner; the system
        closes it (a ``closed`` entry by ``system``). Nothing when it is no longer
        resolved or auto-close was turned off since."""
        if self.status != RESOLVED or self.timings.auto_close_after is None:
            return
        self._move(CLOSED, BY_SYSTEM, None, now)

    def remind_closing_soon(self, now: datetime) -> None:
        """Due work: tell the owner when the resolved ticket will close. Nothing when
        it is no longer resolved, or the closing is itself due (a catch-up after a
        stop: the closing notice says it all)."""
        closes_at = self.scheduled.get(AUTO_CLOSE)
        if self.status != RESOLVED or closes_at is None or closes_at <= now:
            return
        if self.timings.closing_soon_before() is None:  # turned off since
            return
        self.events.append(
            ClosingSoon(
                **self._ref(None, BY_SYSTEM),
                closes_at=iso_utc(closes_at, timespec="auto"),
                reminded_at=iso_utc(now, timespec="auto"),
            )
        )

    def remind_awaiting(self, now: datetime) -> None:
        """Due work: the ticket has waited for its owner's answer; remind them once
        (a new stay in awaiting_user schedules a new reminder)."""
        after = self.timings.awaiting_reminder_after
        due_at = self.scheduled.get(AWAITING_REMINDER)
        if self.status != AWAITING_USER or after is None:
            return
        waiting_since = (due_at or now) - after
        self.events.append(
            AwaitingReminder(
                **self._ref(None, BY_SYSTEM), waiting_since=iso_utc(waiting_since, timespec="auto")
            )
        )


# What the scheduler does when a ticket's work of each kind falls due: the aggregate's
# method for it, called with the ticket locked, the database time, and who hears of
# work nobody holds on it (``Audience``, for support's notices). A new kind of due
# work is an entry here (and the method that does it).
DueWork = Callable[[Ticket, datetime, Audience], object]
DUE_WORK: dict[str, DueWork] = {
    CLOSING_SOON: lambda ticket, now, _audience: ticket.remind_closing_soon(now),
    AUTO_CLOSE: lambda ticket, now, _audience: ticket.auto_close(now),
    AWAITING_REMINDER: lambda ticket, now, _audience: ticket.remind_awaiting(now),
    SLA_WARNING: Ticket.warn_response_due,
    SLA_BREACH: Ticket.tell_response_breached,
}
