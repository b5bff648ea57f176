"""A unit of work in memory, for testing the handlers without PostgreSQL or RabbitMQ.

``FakeUnitOfWork`` has what the handlers use of ``TicketsUnitOfWork``: ``tickets``
(a ``FakeTicketRepository``: the repository's methods over dicts), ``idempotency``
(keys kept in a dict), ``settings``, a transaction that is rolled back unless
committed (the stored state is copied on entry and restored on rollback) and the
events written on commit, as the real one writes them to the outbox. The clock is
set by the test. What needs the real parts (locks under races, SQL, sealing,
publishing) stays with the integration tests.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from services.tickets import clocks, domain
from services.tickets.settings import DEFAULT_CATALOG, response_policy, timings
from services.tickets.tables import tickets
from services.tickets.unit_of_work import EVENT_TYPES
from shared.catalog import (
    DEFAULT_FIRST_RESPONSE,
    DEFAULT_NEXT_RESPONSE,
    VIEW_FOLLOW_UPS,
)
from shared.tests.fakes import FakeIdempotencyKeys, FakeTransactions

# Columns a command's load leaves out: the encrypted text (see repository._LIST_COLUMNS).
# The actors and a valid new ticket of the unit tests.
USER = {"id": "u-1", "name": "Ada", "role": "user"}
OTHER = {"id": "u-2", "name": "Bob", "role": "user"}
ADMIN = {"id": "a-1", "name": "Sam", "role": "admin"}
FIELDS = {
    "issue_type": "bug",
    "feature": "dashboard",
    "subject": "Charts stay empty",
    "description": "The dashboard charts stay empty after login, in every browser we tried.",
}

_TEXT = ("description", "description_html", "resolution_note", "closed_note")
_ROW = tuple(column.name for column in tickets.c)
# Tickets owing no response sort after every due time (the repository's ``infinity``).
_NEVER = datetime.max.replace(tzinfo=UTC)


@dataclass
class FakeSettings:
    """The settings the handlers read."""

    tickets_per_day: int = 5
    messages_per_hour: int = 20
    features: tuple = DEFAULT_CATALOG.features
    issue_type_descriptions: tuple = DEFAULT_CATALOG.descriptions
    sla_first_response: tuple = DEFAULT_FIRST_RESPONSE
    sla_next_response: int = DEFAULT_NEXT_RESPONSE
    sla_business_hours: str = ""
    sla_timezone: str = "UTC"
    # Seconds; 0 turns it off.
    auto_close_after: int = 7 * 86400
    auto_close_reminder: int = 86400
    awaiting_reminder_after: int = 3 * 86400

    @property
    def response_targets(self) -> dict:
        return {"first": dict(self.sla_first_response), "next": self.sla_next_response}


@dataclass
class Store:
    """What the database would hold."""

    tickets: dict = field(default_factory=dict)  # id -> row
    messages: list = field(default_factory=list)
    timeline: list = field(default_factory=list)
    resolutions: list = field(default_factory=list)
    priority_changes: list = field(default_factory=list)
    allowance: dict = field(default_factory=dict)  # (owner_id, day) -> n
    keys: dict = field(default_factory=dict)  # (caller, key) -> (fingerprint, answer)
    staff: dict = field(default_factory=dict)  # id -> name
    teams: list = field(default_factory=list)  # domain.Team, in creation order
    macros: dict = field(default_factory=dict)  # id -> row
    due: dict = field(default_factory=dict)  # (ticket_id, kind) -> due_at


class FakeClock:
    """The database clock: a fixed time that moves a microsecond per reading."""

    def __init__(self, start=datetime(2026, 5, 4, 12, 0, tzinfo=UTC)):
        self.at = start

    def __call__(self) -> datetime:
        self.at += timedelta(microseconds=1)
        return self.at

    def advance(self, **delta) -> None:
        self.at += timedelta(**delta)


class FakeTicketRepository:
    """``TicketRepository``'s methods, on a ``Store``."""

    def __init__(self, store: Store, clock: FakeClock, ids, message_ids, uow):
        self.store, self.now = store, clock
        self.policy = response_policy(uow.settings)
        self.ids, self.message_ids = ids, message_ids
        self.timings = timings(uow.settings)
        # Locks other transactions hold right now: due work (claim_due skips it) and
        # tickets (load_due gets none).
        self.held_due, self.held_tickets = uow.held_due, uow.held_tickets
        self.saved: list[domain.Ticket] = []

    def take_allowance(self, owner_id, limit):
        now = self.now()
        day = (owner_id, now.date())
        if self.store.allowance.get(day, 0) >= limit:
            return False, now, None
        self.store.allowance[day] = self.store.allowance.get(day, 0) + 1
        return True, now, next(self.ids)

    def load(self, ticket_id, owner_id=None, reserve_message=False):
        row = self.store.tickets.get(ticket_id)
        if row is None or (owner_id is not None and row["owner_id"] != owner_id):
            return None
        ticket = domain.Ticket.from_columns(
            {k: v for k, v in row.items() if k not in _TEXT},
            response_policy=self.policy,
            timings=self.timings,
        )
        if reserve_message:
            ticket.next_message = domain.MessageSlot(next(self.message_ids), self.now())
        return ticket

    def save(self, ticket: domain.Ticket) -> None:
        if ticket.is_new:
            self.store.tickets[ticket.id] = ticket.columns(_ROW)
        row = self.store.tickets[ticket.id]
        row.update(ticket.changes)
        self.store.messages.extend(vars(m) for m in ticket.new_messages)
        self.store.timeline.extend(dict(vars(t), ticket_id=ticket.id) for t in ticket.new_timeline)
        for kept, new in (
            (self.store.resolutions, ticket.new_resolutions),
            (self.store.priority_changes, ticket.new_priority_changes),
        ):
            kept.extend(dict(vars(entry), ticket_id=ticket.id) for entry in new)
        for kind, at in ticket.schedules.items():
            if at is None:
                self.store.due.pop((ticket.id, kind), None)
            else:
                self.store.due[ticket.id, kind] = at
        ticket.is_new, ticket.changes, ticket.new_timeline, ticket.new_messages = False, {}, [], []
        ticket.new_resolutions, ticket.new_priority_changes = [], []
        ticket.schedules = {}
        self.saved.append(ticket)

    def subject_of(self, ticket_id, owner_id):
        row = self.store.tickets.get(ticket_id)
        return row["subject"] if row is not None and row["owner_id"] == owner_id else None

    def claim_due(self, after=None):
        now = self.now.at
        due = sorted(
            (at, ticket_id, kind)
            for (ticket_id, kind), at in self.store.due.items()
            if at <= now and (ticket_id, kind) not in self.held_due
        )
        return next((d for d in due if after is None or d > after), None)

    def load_due(self, ticket_id):
        if ticket_id in self.held_tickets:
            return None
        ticket = self.load(ticket_id)
        ticket.scheduled = {k: at for (t, k), at in self.store.due.items() if t == ticket_id}
        return ticket

    def oldest_due_at(self):
        return min(self.store.due.values(), default=None)

    def nth_latest_reply_at(self, ticket_id, owner_id, n):
        mine = [
            m["created_at"]
            for m in self.store.messages
            if m["ticket_id"] == ticket_id and m["author_id"] == owner_id and m["author"] == "user"
        ]
        return mine[-n] if len(mine) >= n else None

    def _messages(self, ticket_id, include_internal, before_id, limit):
        shown = [
            dict(m)
            for m in self.store.messages
            if m["ticket_id"] == ticket_id
            and (include_internal or not m["internal"])
            and (before_id is None or m["id"] < before_id)
        ]
        page = shown[-limit:]
        return {"messages": page, "earlier_messages": len(shown) - len(page)}

    def view(self, ticket_id, include_internal, owner_id=None, messages_limit=50):
        row = self.store.tickets.get(ticket_id)
        if row is None or (owner_id is not None and row["owner_id"] != owner_id):
            return None
        timeline = [t for t in self.store.timeline if t["ticket_id"] == ticket_id]
        earlier = self.store.tickets.get(row["follows_up_id"])
        view = {
            **self._support_columns(dict(row)),
            **self._messages(ticket_id, include_internal, None, messages_limit),
            "timeline": timeline,
            "resolutions": [r for r in self.store.resolutions if r["ticket_id"] == ticket_id],
            "follows_up": earlier and {"id": earlier["id"], "subject": earlier["subject"]},
            "follow_ups": [
                {"id": t["id"], "subject": t["subject"], "status": t["status"]}
                for t in sorted(self.store.tickets.values(), key=lambda t: t["id"])
                if t["follows_up_id"] == ticket_id and t["owner_id"] == row["owner_id"]
            ][:VIEW_FOLLOW_UPS],
        }
        if include_internal:
            view["priority_changes"] = [
                c for c in self.store.priority_changes if c["ticket_id"] == ticket_id
            ]
        return view

    def messages_before(self, ticket_id, include_internal, before_id, limit, owner_id=None):
        row = self.store.tickets.get(ticket_id)
        if row is None or (owner_id is not None and row["owner_id"] != owner_id):
            return None
        return {"id": ticket_id, **self._messages(ticket_id, include_internal, before_id, limit)}

    def page(self, filters, sort, after, limit):
        def matches(row):
            for name, value in filters.items():
                if name == "unassigned":
                    if row["assignee_id"] is not None:
                        return False
                elif name.startswith("sla_"):
                    state = clocks.sla_state(row["sla_due_at"], row["sla_warn_at"], value)
                    if state != name.removeprefix("sla_"):
                        return False
                elif name == "no_team":
                    if row["team_key"] is not None:
                        return False
                elif name == "subject_like":
                    text = value[1:-1].replace("\\%", "%").replace("\\_", "_")
                    if text.replace("\\\\", "\\").lower() not in row["subject"].lower():
                        return False
                elif row[name] != value:
                    return False
            return True

        key, descending = {
            "created": (lambda r: (r["id"],), True),
            "priority": (lambda r: (r["priority_rank"], r["id"]), False),
            "updated": (lambda r: (r["updated_at"], r["id"]), True),
            "due": (lambda r: (r["sla_due_at"] or _NEVER, r["id"]), False),
        }[sort]
        rows = sorted(filter(matches, self.store.tickets.values()), key=key, reverse=descending)
        if after is not None:
            if "after_due" in after:
                after = dict(after, after_due=after["after_due"] or _NEVER)
            last = tuple(
                after[k]
                for k in ("after_rank", "after_updated", "after_due", "after_id")
                if k in after
            )
            rows = [r for r in rows if (key(r) < last if descending else key(r) > last)]
        return [self._shown(r) for r in rows[:limit]]

    def _shown(self, row):
        shown = {k: v for k, v in row.items() if k not in _TEXT}
        return self._support_columns(shown)

    def _support_columns(self, row):
        # As the repository's statements add them: the team's label, the directory's name.
        labels = {t.key: t.label for t in self.store.teams}
        row["team_label"] = labels.get(row["team_key"])
        row["team_key"] = row["team_key"] if row["team_key"] in labels else None
        if self.store.staff.get(row["assignee_id"]) is not None:
            row["assignee_name"] = self.store.staff[row["assignee_id"]]
        return row


OPEN_STATUSES = domain.OPEN_STATUSES


class FakeStaffRepository:
    """``StaffRepository``'s methods, on a ``Store``."""

    def __init__(self, store: Store):
        self.store = store

    def record(self, staff_id, name):
        if name is not None or staff_id not in self.store.staff:
            self.store.staff[staff_id] = name

    def name(self, staff_ids):
        for staff_id in staff_ids:
            self.store.staff.setdefault(staff_id, None)

    def get(self, staff_id):
        if staff_id not in self.store.staff:
            return None
        return {"id": staff_id, "name": self.store.staff[staff_id]}

    def _open(self, staff_id):
        return sum(
            1
            for t in self.store.tickets.values()
            if t["assignee_id"] == staff_id and t["status"] in OPEN_STATUSES
        )

    def directory(self):
        return [
            {
                "id": staff_id,
                "name": name,
                "teams": [t.key for t in self.store.teams if staff_id in t.members],
                "open_assigned": self._open(staff_id),
            }
            for staff_id, name in sorted(
                self.store.staff.items(), key=lambda s: ((s[1] or s[0]).lower(), s[0])
            )
        ]

    def members(self, staff_ids):
        return {
            i: {"id": i, "name": self.store.staff[i], "open_assigned": self._open(i)}
            for i in staff_ids
            if i in self.store.staff
        }

    def audience(self, team_key):
        for team in self.store.teams:
            if team.key == team_key and team.members:
                return tuple(team.members)
        return tuple(sorted(self.store.staff))


class FakeTeamRepository:
    """``TeamRepository``'s methods, on a ``Store`` (locks are the integration tests')."""

    def __init__(self, store: Store):
        self.store = store

    def all(self):
        return list(self.store.teams)

    def taking(self, feature, issue_type):
        return [t for t in self.store.teams if feature in t.features or issue_type in t.issue_types]

    def get(self, key, lock=None):
        return next((t for t in self.store.teams if t.key == key), None)

    def add(self, team):
        if self.get(team.key) is not None:
            return None
        self.store.teams.append(team)
        return team

    def update(self, key, values):
        team = self.get(key)
        if team is None:
            return None
        changed = replace(team, **values)
        self.store.teams[self.store.teams.index(team)] = changed
        return changed

    def delete(self, key):
        team = self.get(key)
        if team is None:
            return False
        self.store.teams.remove(team)
        for row in self.store.tickets.values():
            if row["team_key"] == key:
                row["team_key"] = None
        return True

    def took_turn(self, key, member_id):
        self.update(key, {"last_assigned_id": member_id})


class FakeMacroRepository:
    """``MacroRepository``'s methods, on a ``Store`` (locks are the integration tests')."""

    def __init__(self, store: Store, clock: FakeClock):
        self.store, self.now = store, clock

    def all(self):
        return sorted(self.store.macros.values(), key=lambda m: (m["title"].lower(), m["id"]))

    def get(self, macro_id, lock=None):
        return self.store.macros.get(macro_id)

    def add(self, values, by_name):
        now, macro_id = self.now(), max(self.store.macros, default=0) + 1
        row = {"status": None, **values, "id": macro_id, "created_at": now}
        self.store.macros[macro_id] = dict(row, updated_at=now, updated_by_name=by_name)
        return dict(self.store.macros[macro_id])

    def update(self, macro_id, values, by_name):
        if macro_id not in self.store.macros:
            return None
        row = self.store.macros[macro_id]
        row.update(values, updated_at=self.now(), updated_by_name=by_name)
        return dict(row)

    def delete(self, macro_id):
        return self.store.macros.pop(macro_id, None) is not None


class FakeUnitOfWork(FakeTransactions):
    """``TicketsUnitOfWork`` in memory: ``with uow: ...; uow.commit()``, or
    ``with uow.autocommit(): ...``; ``events`` holds (type, payload) as committed."""

    def __init__(self, settings: FakeSettings | None = None):
        super().__init__(Store())
        self.settings = settings or FakeSettings()
        self.clock = FakeClock()
        self.events: list[tuple[str, dict]] = []
        self._ids, self._message_ids = itertools.count(1), itertools.count(1)
        self.tickets = self.idempotency = self.staff = self.teams = self.macros = None
        # The RPC call a command came in (shared.idempotency.RpcCall); tests set it.
        self.call = None
        # (ticket_id, kind) and ticket ids another transaction holds locked; tests set them.
        self.held_due: set = set()
        self.held_tickets: set = set()

    def attach(self, live: bool) -> None:
        if not live:
            self.tickets = self.idempotency = self.staff = self.teams = self.macros = None
            return
        self.tickets = FakeTicketRepository(
            self.store, self.clock, self._ids, self._message_ids, self
        )
        self.staff = FakeStaffRepository(self.store)
        self.teams = FakeTeamRepository(self.store)
        self.macros = FakeMacroRepository(self.store, self.clock)
        self.idempotency = FakeIdempotencyKeys(self.store.keys)

    def commit(self) -> None:
        for ticket in self.tickets.saved:
            self.events.extend((EVENT_TYPES[type(e)], dict(vars(e))) for e in ticket.events)
            ticket.events = []
        self.tickets.saved = []
        super().commit()
