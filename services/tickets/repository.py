"""Reading and writing tickets, messages and timeline entries (SQLAlchemy Core).

The repository is where text meets the at-rest cipher: descriptions, message
bodies (internal notes included), resolution and closing notes are sealed with the
keyring on the way in and opened on the way out, every one through ``_seal`` and
``_open``, bound to its table, column and row id and to what decides who reads it
(``SEALED_CONTEXT``: a ticket's owner, a message's ticket and internal flag). Ids
are allocated with ``nextval`` first so the binding can name the row.

A ticket with its messages and timeline is read with one statement (``view``): one
round trip, and one consistent snapshot even outside a transaction.

Commands work on the aggregate: ``load`` locks a ticket and returns it as a
``domain.Ticket``; ``save`` stores what the command did to it (new ticket, changed
columns, messages, timeline entries, due work) and keeps it for the unit of work,
which writes its events to the outbox on commit.

Due work (``due_work``) is only ever written with its ticket locked: by ``save``,
and by the scheduler, which claims a due row (``claim_due``) and then takes its
ticket without waiting (``load_due``), so it never deadlocks with a command.
"""

from __future__ import annotations

import functools
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by
from sqlalchemy.dialects.postgresql import insert as pg_insert

from services.tickets import clocks, domain
from services.tickets.tables import (
    ENCRYPTED_COLUMNS,
    SEALED_CONTEXT,
    due_work,
    macros,
    messages,
    priority_changes,
    resolutions,
    staff,
    teams,
    tickets,
    timeline,
)
from shared.catalog import VIEW_FOLLOW_UPS
from shared.crypto import Keyring, sealed_columns

# (table, column) -> its EncryptedColumn, which binds a value to its row's context.
_SEALED = {(c.table, c.column): c for c in sealed_columns(ENCRYPTED_COLUMNS, SEALED_CONTEXT)}
ENCRYPTED_TICKET_COLUMNS = tuple(c for t, c in _SEALED if t == "tickets")
ENCRYPTED_MESSAGE_COLUMNS = tuple(c for t, c in _SEALED if t == "messages")
# A ticket's columns but its encrypted text: lists, and the row a command locks.
_LIST_COLUMNS = [c for c in tickets.c if c.name not in ENCRYPTED_TICKET_COLUMNS]


def _pairs(table: sa.Table, *columns: str) -> list:
    """``json_build_object`` arguments: each column's name, then its value."""
    # Keys as SQL literals, not bind parameters: the statement's text never changes.
    return [part for name in columns for part in (sa.literal_column(f"'{name}'"), table.c[name])]


def _json_list(table: sa.Table, columns: tuple[str, ...], *where) -> sa.ScalarSelect:
    """A correlated subquery: the ticket's rows of ``table`` as a JSON list, oldest first."""
    rows = sa.func.json_agg(
        aggregate_order_by(sa.func.json_build_object(*_pairs(table, *columns)), table.c.id)
    )
    return (
        sa.select(sa.func.coalesce(rows, sa.literal_column("'[]'::json")))
        .where(table.c.ticket_id == tickets.c.id, *where)
        .scalar_subquery()
    )


_MESSAGE_COLUMNS = ("id", "author", "author_name", "internal", "body", "body_html", "created_at")
# ``before_id`` when the caller gives none: after every message id (bigint's largest).
AFTER_EVERY_MESSAGE = 2**63 - 1


def _latest_messages(include_internal: bool) -> tuple[sa.ScalarSelect, sa.ScalarSelect]:
    """Correlated subqueries: the ticket's latest ``messages_limit`` messages with ids
    below ``before_id`` as a JSON list, oldest first; and how many there are in all
    below ``before_id`` (so the caller knows how many earlier ones it did not get).

    Both walk the ``(ticket_id, id)`` index backwards from ``before_id``: the list
    costs the same for a ticket with 3 messages as for one with 3,000.
    """
    where = [messages.c.ticket_id == tickets.c.id, messages.c.id < sa.bindparam("before_id")]
    if not include_internal:
        where.append(messages.c.internal.is_(False))
    latest = (
        sa.select(messages)
        .where(*where)
        .order_by(messages.c.id.desc())
        .limit(sa.bindparam("messages_limit", type_=sa.Integer))
        .correlate(tickets)
        .subquery("latest")
    )
    rows = sa.func.json_agg(
        aggregate_order_by(
            sa.func.json_build_object(*_pairs(latest, *_MESSAGE_COLUMNS)), latest.c.id
        )
    )
    listed = sa.select(sa.func.coalesce(rows, sa.literal_column("'[]'::json"))).scalar_subquery()
    count = sa.select(sa.func.count()).select_from(messages).where(*where).scalar_subquery()
    return listed, count


# What support's views add to a ticket's row: its team's label, and its assignee's
# name as the staff directory has it now (the latest their token carried).
_SUPPORT_COLUMNS = (
    sa.select(teams.c.label)
    .where(teams.c.key == tickets.c.team_key)
    .scalar_subquery()
    .label("team_label"),
    sa.select(staff.c.name)
    .where(staff.c.id == tickets.c.assignee_id)
    .scalar_subquery()
    .label("assignee_known_name"),
)


def _follows_up() -> sa.ScalarSelect:
    """A correlated subquery: the earlier ticket this one follows up, as JSON (or NULL)."""
    earlier = tickets.alias("earlier")
    return (
        sa.select(sa.func.json_build_object(*_pairs(earlier, "id", "subject")))
        .where(earlier.c.id == tickets.c.follows_up_id)
        .scalar_subquery()
    )


def _follow_ups() -> sa.ScalarSelect:
    """A correlated subquery: the owner's later tickets that follow this one up, oldest
    first, at most ``VIEW_FOLLOW_UPS`` (the partial index on follows_up_id finds them)."""
    alias = tickets.alias("later_ticket")
    later = (
        sa.select(alias.c.id, alias.c.subject, alias.c.status)
        .where(alias.c.follows_up_id == tickets.c.id, alias.c.owner_id == tickets.c.owner_id)
        .order_by(alias.c.id)
        .limit(VIEW_FOLLOW_UPS)
        .correlate(tickets)
        .subquery("later")
    )
    rows = sa.func.json_agg(
        aggregate_order_by(
            sa.func.json_build_object(*_pairs(later, "id", "subject", "status")), later.c.id
        )
    )
    return sa.select(sa.func.coalesce(rows, sa.literal_column("'[]'::json"))).scalar_subquery()


def _view_statement(include_internal: bool, owner: bool) -> sa.Select:
    listed, count = _latest_messages(include_internal)
    extra = []
    if include_internal:  # support's side of the history
        extra.append(
            _json_list(
                priority_changes,
                ("from_priority", "to_priority", "reason", "at", "by_name"),
            ).label("priority_changes")
        )
    query = sa.select(
        tickets,
        listed.label("messages"),
        count.label("messages_before"),
        _json_list(timeline, ("status", "at", "by")).label("timeline"),
        *_SUPPORT_COLUMNS,
        _json_list(resolutions, ("id", "note", "at", "by_name")).label("resolutions"),
        _follows_up().label("follows_up"),
        _follow_ups().label("follow_ups"),
        *extra,
    ).where(tickets.c.id == sa.bindparam("ticket_id"))
    if owner:
        query = query.where(tickets.c.owner_id == sa.bindparam("owner_id"))
    return query


def _messages_statement(include_internal: bool, owner: bool) -> sa.Select:
    listed, count = _latest_messages(include_internal)
    query = sa.select(tickets.c.id, listed.label("messages"), count.label("messages_before")).where(
        tickets.c.id == sa.bindparam("ticket_id")
    )
    if owner:
        query = query.where(tickets.c.owner_id == sa.bindparam("owner_id"))
    return query


def _lock_statement(owner: bool, reserve_message: bool) -> sa.Select:
    # No encrypted text: commands decide on status and ids, and read their view after.
    query = sa.select(*_LIST_COLUMNS).where(tickets.c.id == sa.bindparam("ticket_id"))
    if owner:
        query = query.where(tickets.c.owner_id == sa.bindparam("owner_id"))
    # Serialize concurrent commands on one ticket: each sees the other's status.
    query = query.with_for_update()
    if not reserve_message:
        return query
    # The next message's id and time, drawn in the same round trip but only once the
    # row is locked (the outer query projects from the materialized, locked row):
    # message ids and times then follow the order in which commands got the ticket.
    locked = query.cte("locked").prefix_with("MATERIALIZED")
    return sa.select(
        locked,
        sa.func.nextval(sa.literal_column("'messages_id_seq'")).label("message_id"),
        sa.func.clock_timestamp().label("message_at"),
    )


# Every fixed statement is built once: building one per call (and its cache key)
# cost more CPU than running it. _VIEW is keyed by (include internal notes, owner's
# only), _LOCK by (owner's only, reserve a message).
_VIEW = {(i, o): _view_statement(i, o) for i in (False, True) for o in (False, True)}
_MESSAGES = {(i, o): _messages_statement(i, o) for i in (False, True) for o in (False, True)}
_LOCK = {(o, r): _lock_statement(o, r) for o in (False, True) for r in (False, True)}
_CLOCK = sa.select(sa.func.clock_timestamp())
_TAKE_ALLOWANCE = sa.text(
    "INSERT INTO ticket_allowance AS a (owner_id, day, n) "
    "VALUES (:owner_id, (now() AT TIME ZONE 'UTC')::date, 1) "
    "ON CONFLICT (owner_id, day) DO UPDATE SET n = a.n + 1 WHERE a.n < :limit "
    "RETURNING n, clock_timestamp() AS now, nextval('tickets_id_seq') AS ticket_id"
)
# A new ticket and its first timeline entry ("open", by ``opened_by``): one statement.
_NEW_TICKET = (
    tickets.insert()
    .values({c.name: sa.bindparam(c.name) for c in tickets.c})
    .returning(tickets.c.id, tickets.c.status, tickets.c.owner_id, tickets.c.created_at)
    .cte("new")
)
_ADD_TICKET = timeline.insert().from_select(
    ["ticket_id", "status", "by", "actor_id", "at"],
    sa.select(
        _NEW_TICKET.c.id,
        _NEW_TICKET.c.status,
        sa.bindparam("opened_by"),
        _NEW_TICKET.c.owner_id,
        _NEW_TICKET.c.created_at,
    ),
)
# The ``skip``+1-th latest message by ``author_id`` as the owner on a ticket.
_NTH_LATEST_OWNER_MESSAGE = (
    sa.select(messages.c.created_at)
    .where(
        messages.c.ticket_id == sa.bindparam("ticket_id"),
        messages.c.author_id == sa.bindparam("author_id"),
        messages.c.author == "user",
    )
    .order_by(messages.c.id.desc())
    .offset(sa.bindparam("skip", type_=sa.Integer))
    .limit(1)
)
_INSERT_RESOLUTION = resolutions.insert()
_NEXT_RESOLUTION_ID = sa.select(sa.func.nextval(sa.literal_column("'resolutions_id_seq'")))
_INSERT_PRIORITY_CHANGE = priority_changes.insert()
_SUBJECT_OF = sa.select(tickets.c.subject).where(
    tickets.c.id == sa.bindparam("ticket_id"), tickets.c.owner_id == sa.bindparam("owner_id")
)


# --- a command's writes, in one statement ----------------------------------------------
# Everything a command does to a locked ticket (its messages, changed columns,
# timeline entries and due work) is written by one statement of data-modifying CTEs:
# one round trip and one statement's overhead, however much the command did. The
# parts touch different rows (due work is cancelled or set per kind, never both),
# so running them as one statement changes nothing but the cost.
def _message_part(n: int) -> sa.CTE:
    # Parameters prefixed "m<n>_": several CTEs share one namespace of parameters.
    return (
        messages.insert()
        .values({c.name: sa.bindparam(f"m{n}_{c.name}", type_=c.type) for c in messages.c})
        .cte(f"message_{n}")
    )


def _ticket_part(columns: tuple[str, ...]) -> sa.CTE:
    return (
        tickets.update()
        .where(tickets.c.id == sa.bindparam("ticket_id"))
        .values({name: sa.bindparam(f"t_{name}", type_=tickets.c[name].type) for name in columns})
        .cte("ticket")
    )


def _rows(*columns: tuple[str, sa.types.TypeEngine]) -> sa.TableValuedAlias:
    """Rows from parallel arrays (``unnest``), one bound array per column: a fixed
    statement for any number of rows."""
    arrays = [sa.bindparam(name, type_=ARRAY(type_)) for name, type_ in columns]
    return sa.func.unnest(*arrays).table_valued(*(name for name, _ in columns)).render_derived()


_TIMELINE_ROWS = _rows(
    ("tl_status", sa.Text()),
    ("tl_by", sa.Text()),
    ("tl_actor_id", sa.Text()),
    ("tl_at", sa.DateTime(timezone=True)),
)
_TIMELINE_PART = (
    timeline.insert()
    .from_select(
        ["ticket_id", "status", "by", "actor_id", "at"],
        sa.select(sa.bindparam("ticket_id", type_=sa.BigInteger), *_TIMELINE_ROWS.c),
    )
    .cte("entries")
)
_CANCEL_DUE_PART = (
    due_work.delete()
    .where(
        due_work.c.ticket_id == sa.bindparam("ticket_id"),
        due_work.c.kind == sa.any_(sa.bindparam("cancel_kinds", type_=ARRAY(sa.Text))),
    )
    .cte("cancelled")
)
_DUE_ROWS = _rows(("set_kinds", sa.Text()), ("set_due_at", sa.DateTime(timezone=True)))
_SET_DUE_PART = pg_insert(due_work).from_select(
    ["ticket_id", "kind", "due_at"],
    sa.select(sa.bindparam("ticket_id", type_=sa.BigInteger), *_DUE_ROWS.c),
)
_SET_DUE_PART = _SET_DUE_PART.on_conflict_do_update(
    index_elements=[due_work.c.ticket_id, due_work.c.kind],
    set_={"due_at": _SET_DUE_PART.excluded.due_at},
).cte("scheduled")


@functools.lru_cache(maxsize=256)
def _write_statement(
    messages_count: int, columns: tuple[str, ...], entries: bool, cancel: bool, schedule: bool
) -> sa.Select:
    """The one statement writing what a command did, by its shape: how many messages,
    which ticket columns, whether timeline entries, cancelled and set due work."""
    parts = [_message_part(n) for n in range(messages_count)]
    if columns:
        parts.append(_ticket_part(columns))
    parts += [
        part
        for wanted, part in (
            (entries, _TIMELINE_PART),
            (cancel, _CANCEL_DUE_PART),
            (schedule, _SET_DUE_PART),
        )
        if wanted
    ]
    return sa.select(sa.literal_column("1")).add_cte(*parts)


# When the owed response is due, tickets owing none at the end of time: the queue's
# ``due`` order and the ``sla_*`` filters compare this expression, which
# ``tickets_due_queue_idx`` indexes (migration 0004), so both walk the index.
_NEVER = sa.literal_column("'infinity'::timestamptz")
_owed_by = sa.func.coalesce(tickets.c.sla_due_at, _NEVER)

# --- due work ---------------------------------------------------------------------------
_DUE_ORDER = (due_work.c.due_at, due_work.c.ticket_id, due_work.c.kind)


def _claim_statement(after: bool) -> sa.Select:
    # The oldest due row nobody holds, through the due_work_due index; ``after``: past
    # the (due_at, ticket_id, kind) of the last row this tick looked at. now() (the
    # transaction's start: each claim has its own), not clock_timestamp(): a volatile
    # bound is no index condition, and the scan would walk every row not yet due.
    query = sa.select(*_DUE_ORDER).where(due_work.c.due_at <= sa.func.now())
    if after:
        query = query.where(
            sa.tuple_(*_DUE_ORDER)
            > sa.tuple_(
                sa.bindparam("after_due_at", type_=sa.DateTime(timezone=True)),
                sa.bindparam("after_ticket_id", type_=sa.BigInteger),
                sa.bindparam("after_kind", type_=sa.Text),
            )
        )
    return query.order_by(*_DUE_ORDER).limit(1).with_for_update(skip_locked=True)


_CLAIM_DUE = {after: _claim_statement(after) for after in (False, True)}
# A ticket for its due work: locked unless a command holds it (then no row: the
# scheduler comes back on its next tick rather than wait), with every due time it has.
_LOAD_DUE = (
    sa.select(
        *_LIST_COLUMNS,
        sa.select(sa.func.json_object_agg(due_work.c.kind, due_work.c.due_at))
        .where(due_work.c.ticket_id == tickets.c.id)
        .scalar_subquery()
        .label("scheduled"),
    )
    .where(tickets.c.id == sa.bindparam("ticket_id"))
    .with_for_update(of=tickets, skip_locked=True)
)
_OLDEST_DUE = sa.select(sa.func.min(due_work.c.due_at))

# List filters by name; each is bound to the parameter of the same name (``unassigned``
# takes none; the ``sla_*`` ones take the moment they are judged at). A page's
# statement is built once per combination of filters in use.
_FILTERS = {
    "id": tickets.c.id == sa.bindparam("id"),
    "owner_id": tickets.c.owner_id == sa.bindparam("owner_id"),
    "issue_type": tickets.c.issue_type == sa.bindparam("issue_type"),
    "feature": tickets.c.feature == sa.bindparam("feature"),
    "status": tickets.c.status == sa.bindparam("status"),
    "priority": tickets.c.priority == sa.bindparam("priority"),
    "assignee_id": tickets.c.assignee_id == sa.bindparam("assignee_id"),
    "unassigned": tickets.c.assignee_id.is_(None),
    "team_key": tickets.c.team_key == sa.bindparam("team_key"),
    "no_team": tickets.c.team_key.is_(None),
    "subject_like": tickets.c.subject.ilike(sa.bindparam("subject_like"), escape="\\"),
    # The response clock's states at a moment (clocks.sla_state, in SQL).
    # Not yet due: a range of the index bounded below ``infinity``, so the tickets
    # owing nothing (most of them) are never walked.
    "sla_due": sa.and_(
        _owed_by > sa.bindparam("sla_due"),
        _owed_by < _NEVER,
        tickets.c.sla_warn_at > sa.bindparam("sla_due"),
    ),
    "sla_at_risk": sa.and_(
        _owed_by > sa.bindparam("sla_at_risk"),
        _owed_by < _NEVER,
        tickets.c.sla_warn_at <= sa.bindparam("sla_at_risk"),
    ),
    "sla_breached": _owed_by <= sa.bindparam("sla_breached"),
}
# Per sort: ORDER BY, and the condition for rows after the last one shown, whose key
# comes in the parameters ``after_*``.
_SORTS = {
    "created": ([tickets.c.id.desc()], tickets.c.id < sa.bindparam("after_id")),
    "priority": (
        [tickets.c.priority_rank.asc(), tickets.c.id.asc()],
        sa.tuple_(tickets.c.priority_rank, tickets.c.id)
        > sa.tuple_(sa.bindparam("after_rank"), sa.bindparam("after_id")),
    ),
    "updated": (
        [tickets.c.updated_at.desc(), tickets.c.id.desc()],
        sa.tuple_(tickets.c.updated_at, tickets.c.id)
        < sa.tuple_(sa.bindparam("after_updated"), sa.bindparam("after_id")),
    ),
    # The soonest owed response first, tickets owing none last (``after_due`` None).
    "due": (
        [_owed_by.asc(), tickets.c.id.asc()],
        sa.tuple_(_owed_by, tickets.c.id)
        > sa.tuple_(
            sa.func.coalesce(
                sa.bindparam("after_due", type_=sa.DateTime(timezone=True)),
                _NEVER,
            ),
            sa.bindparam("after_id"),
        ),
    ),
}


@functools.lru_cache(maxsize=256)
def _page_statement(filters: tuple[str, ...], sort: str, after: bool) -> sa.Select:
    order_by, after_last = _SORTS[sort]
    query = sa.select(*_LIST_COLUMNS, *_SUPPORT_COLUMNS).where(
        *(_FILTERS[name] for name in filters)
    )
    if after:
        query = query.where(after_last)
    return query.order_by(*order_by).limit(sa.bindparam("limit", type_=sa.Integer))


class TicketRepository:
    """Tickets and what hangs off them, through one unit of work's connection."""

    def __init__(
        self,
        connection: sa.Connection,
        keyring: Keyring,
        policy: clocks.ResponsePolicy = clocks.DEFAULT_POLICY,
        timings: domain.Timings | None = None,
    ):
        self.connection = connection
        self.keyring = keyring
        # The response targets and calendar every loaded ticket's clock counts by.
        self.policy = policy
        # How long the loaded tickets' scheduled work waits (the settings').
        self.timings = timings or domain.Timings()
        # Tickets saved in this transaction: their events go to the outbox on commit.
        self.saved: list[domain.Ticket] = []

    # --- the aggregate ------------------------------------------------------------------
    def load(
        self, ticket_id: int, owner_id: str | None = None, reserve_message: bool = False
    ) -> domain.Ticket | None:
        """The ticket, locked (``lock``), for a command to act on; None if missing or
        not ``owner_id``'s. With ``reserve_message`` it holds its ``next_message``."""
        row = self.lock(ticket_id, owner_id, reserve_message)
        if row is None:
            return None
        if reserve_message:
            row["next_message"] = domain.MessageSlot(row.pop("message_id"), row.pop("message_at"))
        return domain.Ticket.from_columns(row, response_policy=self.policy, timings=self.timings)

    def save(self, ticket: domain.Ticket) -> None:
        """Store what a command did to ``ticket``: the new ticket, or its new messages
        and changed columns; its new timeline entries and due work (with those, in one
        statement: ``write``); then its resolutions and priority changes."""
        timeline, messages_, changes = ticket.new_timeline, ticket.new_messages, ticket.changes
        row = _row(ticket)
        if ticket.is_new:
            # The first entry (opened) goes in with the ticket, in the same statement,
            # which stores every column.
            self.add(row, opened_by=timeline[0].by)
            timeline, changes = timeline[1:], {}
        self.write(row, [vars(m) for m in messages_], changes, timeline, ticket.schedules)
        for resolution in ticket.new_resolutions:
            self.add_resolution(ticket.id, resolution)
        for change in ticket.new_priority_changes:
            self.connection.execute(
                _INSERT_PRIORITY_CHANGE, dict(vars(change), ticket_id=ticket.id)
            )
        ticket.is_new, ticket.changes, ticket.new_timeline, ticket.new_messages = False, {}, [], []
        ticket.new_resolutions, ticket.new_priority_changes = [], []
        ticket.schedules = {}
        self.saved.append(ticket)

    def write(
        self,
        ticket: dict,
        new_messages: list[dict] = (),
        changes: dict | None = None,
        entries: list[domain.TimelineEntry] = (),
        schedules: dict | None = None,
    ) -> None:
        """Write to one locked ticket (its row as ``lock`` returned it), in one
        statement: ``new_messages`` (their ``id`` and ``created_at`` those ``lock``
        drew), the ``changes`` to its columns, its timeline ``entries``, and the due
        work ``schedules`` want (kind -> time, None to cancel). Text is sealed for
        its row. Nothing to write: no statement."""
        changes, schedules = dict(changes or {}), schedules or {}
        for column in ENCRYPTED_TICKET_COLUMNS:
            if column in changes:
                changes[column] = self._seal("tickets", column, ticket, changes[column])
        cancel = sorted(kind for kind, at in schedules.items() if at is None)
        wanted = sorted((kind, at) for kind, at in schedules.items() if at is not None)
        columns = tuple(sorted(changes))
        if not (new_messages or columns or entries or cancel or wanted):
            return
        params = {"ticket_id": ticket["id"]}
        for n, message in enumerate(new_messages):
            stored = dict(message)
            for column in ENCRYPTED_MESSAGE_COLUMNS:
                stored[column] = self._seal("messages", column, message, message[column])
            params.update({f"m{n}_{k}": v for k, v in stored.items()})
        params.update({f"t_{k}": v for k, v in changes.items()})
        if entries:
            params.update(
                tl_status=[e.status for e in entries],
                tl_by=[e.by for e in entries],
                tl_actor_id=[e.actor_id for e in entries],
                tl_at=[e.at for e in entries],
            )
        if cancel:
            params["cancel_kinds"] = cancel
        if wanted:
            params["set_kinds"] = [kind for kind, _ in wanted]
            params["set_due_at"] = [at for _, at in wanted]
        statement = _write_statement(
            len(new_messages), columns, bool(entries), bool(cancel), bool(wanted)
        )
        self.connection.execute(statement, params)

    # --- due work -----------------------------------------------------------------------
    def claim_due(self, after: tuple | None = None) -> tuple[datetime, int, str] | None:
        """The oldest due work (``due_at``, ``ticket_id``, ``kind``) that no other
        transaction holds, locked until this one ends; past ``after`` (a previous
        claim's tuple) when given; None when nothing more is due."""
        if after is None:
            row = self.connection.execute(_CLAIM_DUE[False]).first()
        else:
            params = dict(
                zip(("after_due_at", "after_ticket_id", "after_kind"), after, strict=True)
            )
            row = self.connection.execute(_CLAIM_DUE[True], params).first()
        return None if row is None else tuple(row)

    def load_due(self, ticket_id: int) -> domain.Ticket | None:
        """The ticket, locked, with its stored due work (``scheduled``); None when a
        command holds it right now (or it is gone): never waits for its lock."""
        row = self.connection.execute(_LOAD_DUE, {"ticket_id": ticket_id}).first()
        if row is None:
            return None
        row = row._asdict()
        scheduled = {k: datetime.fromisoformat(v) for k, v in (row.pop("scheduled") or {}).items()}
        return domain.Ticket.from_columns(
            row, response_policy=self.policy, timings=self.timings, scheduled=scheduled
        )

    def oldest_due_at(self) -> datetime | None:
        """When the oldest due work not yet done fell (or falls) due; None when there
        is none. One index probe: the scheduler's lag is now minus this."""
        return self.connection.execute(_OLDEST_DUE).scalar()

    # --- ids, time and text -------------------------------------------------------------
    def now(self) -> datetime:
        """The database clock at this moment: one time source however many instances
        run, and the time of the change itself (after any row lock wait), not of the
        transaction's start."""
        return self.connection.execute(_CLOCK).scalar_one()

    def _seal(self, table: str, column: str, row: dict, text: str | None) -> str | None:
        """``text`` sealed for ``column`` of ``row`` (its id and its bound context)."""
        return self.keyring.encrypt(text, _SEALED[table, column].binding(row["id"], row))

    def _open(self, table: str, column: str, row: dict) -> str | None:
        """``row[column]`` opened; ``DataIntegrityError`` if it was sealed for another
        row, column or context (another owner, ticket or audience)."""
        return self.keyring.decrypt(row[column], _SEALED[table, column].binding(row["id"], row))

    def _open_ticket(self, row) -> dict:
        ticket = dict(row._mapping)
        for column in ENCRYPTED_TICKET_COLUMNS:
            if column in ticket:
                ticket[column] = self._open("tickets", column, ticket)
        return ticket

    # --- the daily allowance ----------------------------------------------------------
    def take_allowance(self, owner_id: str, limit: int) -> tuple[bool, datetime, int | None]:
        """Spend one of today's (UTC, by the database clock) tickets for ``owner_id``.

        Returns (granted, database now, the new ticket's id when granted). The
        conditional upsert holds the counter row's lock until the transaction ends,
        so racing requests across any number of instances are counted exactly; a
        rollback gives the ticket back. The id comes in the same round trip.
        """
        row = self.connection.execute(
            _TAKE_ALLOWANCE, {"owner_id": owner_id, "limit": limit}
        ).first()
        if row is not None:
            return True, row.now, row.ticket_id
        return False, self.now(), None

    # --- tickets ----------------------------------------------------------------------
    def add(self, ticket: dict, opened_by: str) -> None:
        """Insert a new ticket (every column; ``id`` the one ``take_allowance`` handed
        out) with its first timeline entry, its status entered by ``opened_by``."""
        stored = dict(ticket, opened_by=opened_by)
        for column in ENCRYPTED_TICKET_COLUMNS:
            stored[column] = self._seal("tickets", column, ticket, stored[column])
        self.connection.execute(_ADD_TICKET, stored)

    def lock(
        self, ticket_id: int, owner_id: str | None = None, reserve_message: bool = False
    ) -> dict | None:
        """The ticket, locked until the transaction ends, without its encrypted text;
        None if missing (or not ``owner_id``'s).

        With ``reserve_message`` it also holds ``message_id`` and ``message_at``: the
        id and database time for a message added to it (see ``write``).
        """
        params = {"ticket_id": ticket_id, "owner_id": owner_id}
        row = self.connection.execute(_LOCK[owner_id is not None, reserve_message], params)
        row = row.first()
        return None if row is None else row._asdict()

    def view(
        self,
        ticket_id: int,
        include_internal: bool,
        owner_id: str | None = None,
        messages_limit: int = 50,
    ) -> dict | None:
        """The ticket with its latest ``messages_limit`` ``messages`` and its
        ``timeline``, oldest first, and ``earlier_messages`` (how many it has before
        those), or None.

        Internal notes only when ``include_internal``; None also when the ticket is
        not ``owner_id``'s. One statement: the ticket and both lists come from the
        same snapshot.
        """
        params = {
            "ticket_id": ticket_id,
            "owner_id": owner_id,
            "before_id": AFTER_EVERY_MESSAGE,
            "messages_limit": messages_limit,
        }
        row = self.connection.execute(_VIEW[include_internal, owner_id is not None], params).first()
        if row is None:
            return None
        ticket = _with_known_name(self._open_ticket(row))
        self._open_messages(ticket)
        for entry in ticket["timeline"]:
            entry["at"] = datetime.fromisoformat(entry["at"])
        for resolution in ticket["resolutions"]:
            resolution["ticket_id"] = ticket["id"]
            resolution["note"] = self._open("resolutions", "note", resolution)
            resolution["at"] = datetime.fromisoformat(resolution["at"])
        for change in ticket.get("priority_changes", ()):
            change["at"] = datetime.fromisoformat(change["at"])
        return ticket

    def messages_before(
        self,
        ticket_id: int,
        include_internal: bool,
        before_id: int | None,
        limit: int,
        owner_id: str | None = None,
    ) -> dict | None:
        """The ticket's latest ``limit`` messages with ids below ``before_id`` (all
        when None), oldest first, as ``messages``, and ``earlier_messages``: how many
        it has before those. None when the ticket is missing or not ``owner_id``'s."""
        params = {
            "ticket_id": ticket_id,
            "owner_id": owner_id,
            "before_id": AFTER_EVERY_MESSAGE if before_id is None else before_id,
            "messages_limit": limit,
        }
        statement = _MESSAGES[include_internal, owner_id is not None]
        row = self.connection.execute(statement, params).first()
        if row is None:
            return None
        page = row._asdict()
        self._open_messages(page)
        return page

    def _open_messages(self, row: dict) -> None:
        # ``messages`` and ``messages_before`` as the statements above read them.
        for message in row["messages"]:
            # The statement picked the messages whose ticket_id is this ticket's id.
            message["ticket_id"] = row["id"]
            for column in ENCRYPTED_MESSAGE_COLUMNS:
                message[column] = self._open("messages", column, message)
            message["created_at"] = datetime.fromisoformat(message["created_at"])
        row["earlier_messages"] = row.pop("messages_before") - len(row["messages"])

    def page(self, filters: dict, sort: str, after: dict | None, limit: int) -> list[dict]:
        """Up to ``limit`` list rows (no encrypted text), in ``sort`` order.

        ``filters`` maps names in ``_FILTERS`` to the value to match (a LIKE
        pattern for ``subject_like``, True for ``unassigned``); ``after`` holds the
        ``after_*`` key of the last row already shown (see ``_SORTS``), or None.
        Rows carry ``team_label``, and ``assignee_name`` from the staff directory.
        """
        statement = _page_statement(tuple(sorted(filters)), sort, after is not None)
        params = {**filters, **(after or {}), "limit": limit}
        rows = self.connection.execute(statement, params)
        return [_with_known_name(dict(r._mapping)) for r in rows]

    # --- messages and resolutions ----------------------------------------------------
    def nth_latest_reply_at(self, ticket_id: int, owner_id: str, n: int) -> datetime | None:
        """When ``owner_id``'s ``n``-th latest message on the ticket was written, or
        None if they wrote fewer. Exact under races only with the ticket locked."""
        params = {"ticket_id": ticket_id, "author_id": owner_id, "skip": n - 1}
        return self.connection.execute(_NTH_LATEST_OWNER_MESSAGE, params).scalar()

    def add_resolution(self, ticket_id: int, resolution: domain.Resolution) -> None:
        """Keep a resolution note in the ticket's history (sealed for its row)."""
        row = dict(vars(resolution), id=self.connection.execute(_NEXT_RESOLUTION_ID).scalar_one())
        row["ticket_id"] = ticket_id
        row["note"] = self._seal("resolutions", "note", row, resolution.note)
        self.connection.execute(_INSERT_RESOLUTION, row)

    def subject_of(self, ticket_id: int, owner_id: str) -> str | None:
        """The subject of ticket ``ticket_id`` if it is ``owner_id``'s, else None."""
        params = {"ticket_id": ticket_id, "owner_id": owner_id}
        return self.connection.execute(_SUBJECT_OF, params).scalar()

    # --- rendered HTML of rows written before it was stored -------------------------------
    def without_html(self, table: str, batch: int) -> list[dict]:
        """Up to ``batch`` rows of ``table`` (tickets or messages) with no stored HTML,
        their text opened, locked until the transaction ends (rows locked by a command
        right now are skipped: it stores their HTML itself)."""
        text = RENDERED_TEXT[table]
        rows = self.connection.execute(
            sa.select(_TABLES[table])
            .where(_TABLES[table].c[f"{text}_html"].is_(None))
            .order_by(_TABLES[table].c.id)
            .limit(batch)
            .with_for_update(skip_locked=True)
        )
        opened = []
        for row in rows:
            row = dict(row._mapping)
            row[text] = self._open(table, text, row)
            opened.append(row)
        return opened

    def store_html(self, table: str, row: dict, html: str) -> None:
        """Seal and store the rendered HTML of ``row``'s text (``row``: as
        ``without_html`` returned it, the context its value is bound to included)."""
        column = f"{RENDERED_TEXT[table]}_html"
        self.connection.execute(
            _TABLES[table]
            .update()
            .where(_TABLES[table].c.id == row["id"])
            .values({column: self._seal(table, column, row, html)})
        )

    # --- resolution notes written before their history was kept -------------------------
    def without_resolution_history(self, batch: int) -> list[tuple[int, domain.Resolution]]:
        """Up to ``batch`` tickets with a resolution note but no history (resolved
        before migration 0006), locked, each with its note as the one resolution:
        at the last time it was resolved, by whoever did (their name unknown)."""
        last_resolved = (
            sa.select(timeline.c.at, timeline.c.actor_id)
            .where(timeline.c.ticket_id == tickets.c.id, timeline.c.status == domain.RESOLVED)
            .order_by(timeline.c.id.desc())
            .limit(1)
            .correlate(tickets)
            .lateral("last_resolved")
        )
        rows = self.connection.execute(
            sa.select(
                tickets.c.id,
                tickets.c.owner_id,
                tickets.c.resolution_note,
                tickets.c.updated_at,
                last_resolved.c.at,
                last_resolved.c.actor_id,
            )
            .select_from(tickets.outerjoin(last_resolved, sa.true()))
            .where(
                tickets.c.resolution_note.is_not(None),
                ~sa.exists().where(resolutions.c.ticket_id == tickets.c.id),
            )
            .order_by(tickets.c.id)
            .limit(batch)
            .with_for_update(of=tickets, skip_locked=True)
        )
        found = []
        for row in rows:
            note = self._open("tickets", "resolution_note", dict(row._mapping))
            at = row.at or row.updated_at
            found.append((row.id, domain.Resolution(note, at, row.actor_id, None)))
        return found


def _with_known_name(row: dict) -> dict:
    """``row`` with its assignee named as the directory knows them now (the name kept
    at assignment when the directory knows none)."""
    known = row.pop("assignee_known_name", None)
    if known is not None:
        row["assignee_name"] = known
    return row


def _row(ticket: domain.Ticket) -> dict:
    """The ``tickets`` row of a ticket aggregate, column by column."""
    return ticket.columns(column.name for column in tickets.c)


# The text column whose HTML is stored beside it, ``<text>_html``, per table.
RENDERED_TEXT = {"tickets": "description", "messages": "body"}
_TABLES = {"tickets": tickets, "messages": messages}


# --- staff and teams ------------------------------------------------------------------
_OPEN_ASSIGNED = (
    sa.select(sa.func.count())
    .select_from(tickets)
    .where(tickets.c.assignee_id == staff.c.id, tickets.c.status.in_(domain.OPEN_STATUSES))
    .scalar_subquery()
)
_STAFF_TEAMS = (
    sa.select(
        sa.func.coalesce(
            sa.func.array_agg(aggregate_order_by(teams.c.key, teams.c.id)),
            sa.literal_column("'{}'::text[]"),
        )
    )
    .where(staff.c.id == sa.func.any(teams.c.members))
    .scalar_subquery()
)
_DIRECTORY = sa.select(
    staff.c.id,
    staff.c.name,
    _STAFF_TEAMS.label("teams"),
    _OPEN_ASSIGNED.label("open_assigned"),
).order_by(sa.func.lower(sa.func.coalesce(staff.c.name, staff.c.id)), staff.c.id)
# A token's name replaces the one kept; a token with none keeps it. The row is
# written only when something changes (a repeat costs no write, and no WAL).
_RECORD_STAFF = sa.text(
    "INSERT INTO staff AS s (id, name, first_seen_at, updated_at) "
    "VALUES (:id, :name, now(), now()) "
    "ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, updated_at = now() "
    "WHERE EXCLUDED.name IS NOT NULL AND s.name IS DISTINCT FROM EXCLUDED.name"
)
_NAME_STAFF = sa.text(
    "INSERT INTO staff (id, first_seen_at, updated_at) "
    "SELECT id, now(), now() FROM unnest(CAST(:ids AS text[])) AS id "
    "ON CONFLICT (id) DO NOTHING"
)
_STAFF_MEMBER = sa.select(staff.c.id, staff.c.name).where(staff.c.id == sa.bindparam("id"))
_MEMBERS_LOAD = sa.select(staff.c.id, staff.c.name, _OPEN_ASSIGNED.label("open_assigned")).where(
    staff.c.id == sa.func.any(sa.bindparam("ids", type_=ARRAY(sa.Text)))
)
# The team's members, or every known staff member when there is no such team or it
# has nobody in it: one statement, one snapshot.
_AUDIENCE = sa.text(
    "SELECT coalesce("
    "(SELECT members FROM teams WHERE key = :team_key AND cardinality(members) > 0), "
    "(SELECT coalesce(array_agg(id ORDER BY id), '{}') FROM staff))"
)
_TEAM_COLUMNS = (
    teams.c.key,
    teams.c.label,
    teams.c.members,
    teams.c.features,
    teams.c.issue_types,
    teams.c.assignment,
    teams.c.last_assigned_id,
)
_TEAMS = sa.select(*_TEAM_COLUMNS).order_by(teams.c.id)
_TEAMS_TAKING = _TEAMS.where(
    sa.or_(
        sa.bindparam("feature") == sa.func.any(teams.c.features),
        sa.bindparam("issue_type") == sa.func.any(teams.c.issue_types),
    )
)
_TEAM = sa.select(*_TEAM_COLUMNS).where(teams.c.key == sa.bindparam("key"))
# Taking a turn locks the team; routing to it keeps it from being deleted meanwhile.
_LOCK_TEAM = {
    "update": _TEAM.with_for_update(),
    "share": _TEAM.with_for_update(read=True, key_share=True),
}
_ADD_TEAM = (
    pg_insert(teams)
    .values(
        key=sa.bindparam("key"),
        label=sa.bindparam("label"),
        members=sa.bindparam("members", type_=ARRAY(sa.Text)),
        features=sa.bindparam("features", type_=ARRAY(sa.Text)),
        issue_types=sa.bindparam("issue_types", type_=ARRAY(sa.Text)),
        assignment=sa.bindparam("assignment"),
        created_at=sa.func.now(),
        updated_at=sa.func.now(),
    )
    .on_conflict_do_nothing(index_elements=[teams.c.key])
    .returning(*_TEAM_COLUMNS)
)
_DELETE_TEAM = teams.delete().where(teams.c.key == sa.bindparam("key")).returning(teams.c.key)
_TOOK_TURN = (
    teams.update()
    .where(teams.c.key == sa.bindparam("team_key"))
    .values(last_assigned_id=sa.bindparam("member_id"))
)


def _team(row) -> domain.Team:
    values = row._asdict()
    for name in ("members", "features", "issue_types"):
        values[name] = tuple(values[name])
    return domain.Team(**values)


class StaffRepository:
    """The staff directory: who is known staff, their names, teams and open load."""

    def __init__(self, connection: sa.Connection):
        self.connection = connection

    def record(self, staff_id: str, name: str | None) -> None:
        """Know ``staff_id`` as staff, with ``name`` when their token carried one."""
        self.connection.execute(_RECORD_STAFF, {"id": staff_id, "name": name})

    def name(self, staff_ids) -> None:
        """Know each of ``staff_ids`` as staff (named in a team), keeping any name known."""
        if staff_ids:
            self.connection.execute(_NAME_STAFF, {"ids": list(staff_ids)})

    def get(self, staff_id: str) -> dict | None:
        """``{"id", "name"}`` of a known staff member, or None."""
        row = self.connection.execute(_STAFF_MEMBER, {"id": staff_id}).first()
        return None if row is None else row._asdict()

    def directory(self) -> list[dict]:
        """Every known staff member (``id``, ``name``, ``teams``: their team keys in
        creation order, ``open_assigned``), by name."""
        return [row._asdict() for row in self.connection.execute(_DIRECTORY)]

    def members(self, staff_ids) -> dict[str, dict]:
        """Staff id -> ``{"id", "name", "open_assigned"}`` for those of ``staff_ids`` known."""
        rows = self.connection.execute(_MEMBERS_LOAD, {"ids": list(staff_ids)})
        return {row.id: row._asdict() for row in rows}

    def audience(self, team_key: str | None) -> tuple[str, ...]:
        """Who hears of work nobody holds on a ticket of team ``team_key`` (None: no
        team): its members, or every known staff member when it has no team or no
        members (``domain.Audience``). Read at the moment of the action."""
        members = self.connection.execute(_AUDIENCE, {"team_key": team_key}).scalar_one()
        return tuple(members)


class TeamRepository:
    """Teams, in creation order: what they take, their members, how they assign."""

    def __init__(self, connection: sa.Connection):
        self.connection = connection

    def all(self) -> list[domain.Team]:
        """Every team, oldest first."""
        return [_team(row) for row in self.connection.execute(_TEAMS)]

    def taking(self, feature: str, issue_type: str) -> list[domain.Team]:
        """The teams that take ``feature`` or ``issue_type``, oldest first (``domain.route``
        picks among them)."""
        params = {"feature": feature, "issue_type": issue_type}
        return [_team(row) for row in self.connection.execute(_TEAMS_TAKING, params)]

    def get(self, key: str, lock: str | None = None) -> domain.Team | None:
        """The team ``key``, or None. ``lock="update"``: locked until the transaction
        ends (automatic assignment takes its turn under it: race-free across
        instances); ``"share"``: kept from being deleted until then."""
        statement = _TEAM if lock is None else _LOCK_TEAM[lock]
        row = self.connection.execute(statement, {"key": key}).first()
        return None if row is None else _team(row)

    def add(self, team: domain.Team) -> domain.Team | None:
        """Store a new team; None when one with its key exists."""
        params = _editable({name: getattr(team, name) for name in _EDITABLE})
        row = self.connection.execute(_ADD_TEAM, dict(params, key=team.key)).first()
        return None if row is None else _team(row)

    def update(self, key: str, values: dict) -> domain.Team | None:
        """Change the team's ``values`` (names in ``_EDITABLE``); None if there is no such team."""
        statement = (
            teams.update()
            .where(teams.c.key == key)
            .values(**_editable(values), updated_at=sa.func.now())
            .returning(*_TEAM_COLUMNS)
        )
        row = self.connection.execute(statement).first()
        return None if row is None else _team(row)

    def delete(self, key: str) -> bool:
        """Delete the team (its tickets keep no team); whether there was one."""
        return self.connection.execute(_DELETE_TEAM, {"key": key}).first() is not None

    def took_turn(self, key: str, member_id: str) -> None:
        """Remember that ``member_id`` got the team's latest ticket (round robin)."""
        self.connection.execute(_TOOK_TURN, {"team_key": key, "member_id": member_id})


# What an admin may set on a team (its key is its name for good).
_EDITABLE = ("label", "members", "features", "issue_types", "assignment")


def _editable(values: dict) -> dict:
    """The editable ``values``, lists as PostgreSQL arrays want them."""
    return {
        name: list(value) if isinstance(value, tuple | list) else value
        for name, value in values.items()
        if name in _EDITABLE
    }


_MACROS = sa.select(macros).order_by(sa.func.lower(macros.c.title), macros.c.id)
_MACRO = sa.select(macros).where(macros.c.id == sa.bindparam("macro_id"))
_ADD_MACRO = macros.insert().returning(*macros.c)
_DELETE_MACRO = (
    macros.delete().where(macros.c.id == sa.bindparam("macro_id")).returning(macros.c.id)
)


class MacroRepository:
    """Canned replies support staff share: staff-written templates, stored as written
    (they hold no customer text, so nothing here is sealed)."""

    def __init__(self, connection: sa.Connection):
        self.connection = connection

    def all(self) -> list[dict]:
        """Every macro, by title."""
        return [dict(r._mapping) for r in self.connection.execute(_MACROS)]

    def get(self, macro_id: int, lock: str | None = None) -> dict | None:
        """The macro, or None. ``lock="update"``: locked until the transaction ends
        (a change looks it up so before it changes it)."""
        statement = _MACRO if lock is None else _MACRO.with_for_update()
        row = self.connection.execute(statement, {"macro_id": macro_id}).first()
        return None if row is None else dict(row._mapping)

    def add(self, values: dict, by_name: str | None) -> dict:
        """Store a new macro (``title``, ``body``, ``status``)."""
        now = sa.func.clock_timestamp()
        statement = _ADD_MACRO.values(
            **values, created_at=now, updated_at=now, updated_by_name=by_name
        )
        return dict(self.connection.execute(statement).first()._mapping)

    def update(self, macro_id: int, values: dict, by_name: str | None) -> dict | None:
        """Change the macro's ``values``; None if there is no such macro."""
        statement = (
            macros.update()
            .where(macros.c.id == macro_id)
            .values(**values, updated_at=sa.func.clock_timestamp(), updated_by_name=by_name)
            .returning(*macros.c)
        )
        row = self.connection.execute(statement).first()
        return None if row is None else dict(row._mapping)

    def delete(self, macro_id: int) -> bool:
        """Delete the macro; whether there was one."""
        return self.connection.execute(_DELETE_MACRO, {"macro_id": macro_id}).first() is not None


# --- the dashboard's numbers ------------------------------------------------------------
_OPEN = tickets.c.status.in_(domain.OPEN_STATUSES)
_COUNT_OPEN_BY = {
    column: sa.select(tickets.c[column], sa.func.count()).where(_OPEN).group_by(tickets.c[column])
    for column in ("status", "priority")
}
_NOW = sa.bindparam("now", type_=sa.DateTime(timezone=True))
_SINCE = sa.bindparam("since", type_=sa.DateTime(timezone=True))
_COUNTS_NOW = sa.select(
    sa.func.count().filter(tickets.c.assignee_id.is_(None)).label("unassigned"),
    sa.func.count()
    .filter(_owed_by > _NOW, _owed_by < _NEVER, tickets.c.sla_warn_at <= _NOW)
    .label("at_risk"),
    sa.func.count().filter(_owed_by <= _NOW).label("breached"),
).where(_OPEN)
# First responses of the tickets opened in the window: how long each took, and
# whether it came by its due time; a response overdue and still missing is missed.
_WAITED = sa.extract("epoch", tickets.c.first_response_at - tickets.c.created_at)
_FIRST_RESPONSES = sa.select(
    sa.func.percentile_cont(0.5).within_group(_WAITED).label("median"),
    sa.func.percentile_cont(0.9).within_group(_WAITED).label("p90"),
    sa.func.count(tickets.c.first_response_at).label("answered"),
    sa.func.count()
    .filter(tickets.c.first_response_at <= tickets.c.first_response_due_at)
    .label("met"),
    sa.func.count()
    .filter(
        sa.or_(
            tickets.c.first_response_at > tickets.c.first_response_due_at,
            sa.and_(tickets.c.first_response_at.is_(None), tickets.c.first_response_due_at <= _NOW),
        )
    )
    .label("missed"),
).where(tickets.c.created_at >= _SINCE)
_CREATED_PER_DAY = sa.text(
    "SELECT date(timezone('UTC', created_at)) AS day, count(*) AS n FROM tickets "
    "WHERE created_at >= :since GROUP BY 1"
)
# A ticket resolved twice in a day counts once that day.
_RESOLVED_PER_DAY = sa.text(
    "SELECT date(timezone('UTC', at)) AS day, count(DISTINCT ticket_id) AS n FROM timeline "
    "WHERE status = 'resolved' AND at >= :since GROUP BY 1"
)


class StatsRepository:
    """The numbers a support lead looks at, read in a handful of aggregate queries."""

    def __init__(self, connection: sa.Connection):
        self.connection = connection

    def read(self, now: datetime, since: datetime) -> dict:
        """Open tickets by status and priority, unassigned, at risk and breached at
        ``now``; first responses of tickets opened since ``since``; tickets created
        and resolved per UTC day since then."""
        run = self.connection.execute
        params = {"now": now, "since": since}
        stats = {f"open_by_{c}": dict(run(q).all()) for c, q in _COUNT_OPEN_BY.items()}
        stats.update(run(_COUNTS_NOW, params).one()._asdict())
        stats["first_response"] = run(_FIRST_RESPONSES, params).one()._asdict()
        stats["created_per_day"] = dict(run(_CREATED_PER_DAY, params).all())
        stats["resolved_per_day"] = dict(run(_RESOLVED_PER_DAY, params).all())
        return stats
