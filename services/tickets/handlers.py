"""One function per command or query: ``verb_noun(cmd, uow)``; what support keeps
(teams, canned replies) has one set of commands, ``Kept``, for each kind:
``TEAMS.create(cmd, uow)``.

A command loads the ticket, acts on it through the aggregate (``domain.Ticket``)
and saves it; ``_run`` is that skeleton, once, with the contract's order of
errors: the caller (ValidationFailed, Forbidden), the ticket being theirs
(NotFound), the input (ValidationFailed), the ticket's state (Conflict), then the
rate limits (RateLimited). A query reads through the repository and answers with
``views``. Every answer is exactly the contract's JSON body.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta

from services.tickets import domain, schemas, views
from services.tickets.settings import response_policy
from services.tickets.unit_of_work import TicketsUnitOfWork
from shared.catalog import KEY_PATTERN, VIEW_MESSAGES, build_catalog
from shared.commands import ME, NO_TEAM, NOBODY
from shared.errors import (
    INVALID_REQUEST,
    Conflict,
    Forbidden,
    NotFound,
    RateLimited,
    ValidationFailed,
)
from shared.idempotency import Claim, IdempotentRequest
from shared.ids import row_id
from shared.rendering import render_markdown

NOT_FOUND_MESSAGE = "Ticket not found."
# At most this many pieces of due work per tick: a backlog (after a stop) is worked
# off over several ticks, so one tick never holds a worker for long.
DUE_WORK_BATCH = 500

log = logging.getLogger(__name__)


@dataclass
class Command:
    """An RPC call as the handlers take it: who, which ticket, what fields."""

    actor: dict
    fields: dict | None = field(default_factory=dict)
    ticket_id: object = None
    # ``{"key", "fingerprint"}`` of a keyed request (shared/idempotency.py), or None.
    idempotency: dict | None = None
    # The team a team command is about (its key, from the path).
    team_key: object = None
    macro_id: object = None


# --- helpers -------------------------------------------------------------------------
def _actor(cmd: Command) -> domain.Actor:
    problems = domain.actor_problems(cmd.actor)
    if problems:
        raise ValidationFailed("The caller is invalid.", {"actor": problems})
    return domain.Actor(cmd.actor["id"], cmd.actor.get("name"), cmd.actor["role"])


def _admin(cmd: Command) -> domain.Actor:
    actor = _actor(cmd)
    if not actor.is_admin:
        raise Forbidden("Only support staff may do this.")
    return actor


def _ticket_id(value) -> int:
    # A malformed id names no ticket: the same NotFound as a missing one.
    ticket_id = row_id(value)
    if ticket_id is None:
        raise NotFound(NOT_FOUND_MESSAGE)
    return ticket_id


def _claim(uow, cmd: Command, actor: domain.Actor) -> Claim:
    """Hold the command's idempotency key in this transaction; without one, its RPC
    call's (``uow.call``): a second delivery of the call then replays the first answer."""
    request = IdempotentRequest.from_rpc(actor.id, cmd.idempotency)
    if request is None:
        request = IdempotentRequest.for_call(actor.id, uow.call)
    return uow.idempotency.claim(request)


def _commit(uow, claim: Claim, response: dict) -> dict:
    """Commit the command and return its answer, stored with the action (in the same
    transaction) under its key or its call. Views are cheap to build by now: the
    HTML was rendered once, when the text was written."""
    uow.idempotency.remember(claim, response)
    uow.commit()
    return response


@contextlib.contextmanager
def _domain_rules():
    """Turn the domain's refusals into the RPC errors: ``Conflict``, ``RateLimited``."""
    try:
        yield
    except domain.ConflictError as exc:
        raise Conflict(str(exc)) from None
    except domain.LimitReached as exc:
        raise RateLimited(exc.message, views.rate_limit_details(exc)) from None


def _run(
    uow: TicketsUnitOfWork,
    cmd: Command,
    actor: domain.Actor,
    schema,
    act: Callable[[domain.Ticket, dict], object],
    answer: Callable[[domain.Ticket, object], dict],
    own: bool = False,
    reserve_message: bool = False,
) -> dict:
    """Load, act, save: every command on an existing ticket.

    In one transaction: a repeat (keyed, or the call delivered again) answers as the
    first did; the ticket is locked (only the caller's with ``own``: NotFound
    otherwise; with ``reserve_message`` it carries its next message's id and time);
    the fields are checked (ValidationFailed); ``act(ticket, fields)`` changes it
    through the aggregate, whose refusals are Conflict or RateLimited; the ticket is
    saved and ``answer(ticket, result of act)`` is the answer, committed with its events.
    """
    with uow:
        claim = _claim(uow, cmd, actor)
        if claim.replay is not None:  # done before: the same answer, nothing again
            return claim.replay
        ticket = uow.tickets.load(
            _ticket_id(cmd.ticket_id),
            owner_id=actor.id if own else None,
            reserve_message=reserve_message,
        )
        if ticket is None:
            raise NotFound(NOT_FOUND_MESSAGE)
        claim.check()
        data = schemas.load(schema, cmd.fields)
        with _domain_rules():
            result = act(ticket, data)
        uow.tickets.save(ticket)
        return _commit(uow, claim, answer(ticket, result))


def _current_view(uow, support: bool) -> Callable[[domain.Ticket, object], dict]:
    """An ``answer``: the view of the ticket as this transaction has left it."""

    def answer(ticket: domain.Ticket, _result) -> dict:
        row = uow.tickets.view(ticket.id, include_internal=support, messages_limit=VIEW_MESSAGES)
        return views.ticket_view(row, support)

    return answer


def _message_answer(support: bool) -> Callable[[domain.Ticket, domain.Message], dict]:
    """An ``answer``: the message the command added."""
    return lambda _ticket, message: views.message_view(vars(message), support)


# --- queries -------------------------------------------------------------------------
def get_catalog(settings) -> dict:
    """The catalog document for the configured features, limits and response targets."""
    return build_catalog(settings)


def _page(uow, filters: dict | None, sort: str, params: dict, item) -> dict:
    after = views.after_key(sort, params["cursor"])
    if filters is None:  # a search that can match nothing
        return {"items": [], "next_cursor": None}
    with uow.autocommit():
        rows = uow.tickets.page(filters, sort, after, params["limit"] + 1)
    return views.page(rows, params["limit"], sort, item)


def list_tickets(cmd: Command, uow: TicketsUnitOfWork) -> dict:
    """The caller's own tickets, newest first, filtered by status and ``q``."""
    actor = _actor(cmd)
    params = schemas.load(schemas.LIST_TICKETS, cmd.fields)
    filters = views.search_filter(params["q"])
    if filters is not None:
        filters["owner_id"] = actor.id
        if params["status"]:
            filters["status"] = params["status"]
    return _page(uow, filters, "created", params, views.list_item)


def admin_list_tickets(cmd: Command, uow: TicketsUnitOfWork) -> dict:
    """Every user's tickets for support, with the queue's filters and sorts."""
    actor = _admin(cmd)
    params = schemas.load(schemas.ADMIN_LIST_TICKETS, cmd.fields)
    filters = views.search_filter(params["q"])
    if filters is not None:
        for name in ("status", "priority", "issue_type", "feature"):
            if params[name]:
                filters[name] = params[name]
        if params["owner"]:
            filters["owner_id"] = params["owner"]
        assignee = params["assignee"]
        if assignee == NOBODY:
            filters["unassigned"] = True
        elif assignee is not None:
            filters["assignee_id"] = actor.id if assignee == ME else assignee
        team = params["team"]
        if team == NO_TEAM:
            filters["no_team"] = True
        elif team is not None:
            filters["team_key"] = team
    # One moment for the whole page: the clock filter and every item's state agree.
    now = datetime.now(UTC)
    if filters is not None and params["sla"]:
        filters[f"sla_{params['sla']}"] = now
    item = functools.partial(views.admin_list_item, now=now)
    return _page(uow, filters, params["sort"], params, item)


def _view(uow, ticket_id, owner: domain.Actor | None) -> dict:
    """A ticket's view: the owner's (NotFound unless it is theirs), or support's."""
    support = owner is None
    with uow.autocommit():
        ticket = uow.tickets.view(
            _ticket_id(ticket_id),
            include_internal=support,
            owner_id=None if support else owner.id,
            messages_limit=VIEW_MESSAGES,
        )
    if ticket is None:
        raise NotFound(NOT_FOUND_MESSAGE)
    return views.ticket_view(ticket, support)


def get_ticket(cmd: Command, uow: TicketsUnitOfWork) -> dict:
    """The caller's own ticket (no internal notes); NotFound for anyone else's."""
    return _view(uow, cmd.ticket_id, _actor(cmd))


def admin_get_ticket(cmd: Command, uow: TicketsUnitOfWork) -> dict:
    """Any ticket, as support sees it (owner, internal notes)."""
    _admin(cmd)
    return _view(uow, cmd.ticket_id, None)


def _messages_page(cmd: Command, uow, owner: domain.Actor | None) -> dict:
    """A page of a ticket's messages: the latest ``limit`` before message ``before``,
    oldest first, and how many it has before them. NotFound first, like a view."""
    ticket_id = _ticket_id(cmd.ticket_id)
    support = owner is None

    def read(before_id, limit):
        with uow.autocommit():
            page = uow.tickets.messages_before(
                ticket_id, support, before_id, limit, owner_id=None if support else owner.id
            )
        if page is None:
            raise NotFound(NOT_FOUND_MESSAGE)
        return page

    try:
        params = schemas.load(schemas.LIST_MESSAGES, cmd.fields)
    except ValidationFailed:
        read(None, 1)  # a ticket the caller cannot see outranks a bad query: NotFound
        raise
    page = read(params["before"], params["limit"])
    return {
        "items": [views.message_view(m, support) for m in page["messages"]],
        "earlier_messages": page["earlier_messages"],
    }


def list_messages(cmd: Command, uow: TicketsUnitOfWork) -> dict:
    """Earlier messages of the caller's own ticket (no internal notes), a page at a time."""
    return _messages_page(cmd, uow, _actor(cmd))


def admin_list_messages(cmd: Command, uow: TicketsUnitOfWork) -> dict:
    """Earlier messages of any ticket, internal notes included, for support."""
    _admin(cmd)
    return _messages_page(cmd, uow, None)


# --- commands ------------------------------------------------------------------------
def create_ticket(cmd: Command, uow: TicketsUnitOfWork) -> dict:
    """Open a ticket for the caller, spending one of today's allowance."""
    actor = _actor(cmd)
    data = schemas.load(schemas.for_features(schemas.CreateTicket, _feature_keys(uow)), cmd.fields)
    with uow:
        claim = _claim(uow, cmd, actor)
        if claim.replay is not None:  # done before: the same answer, nothing spent
            return claim.replay
        claim.check()
        follows_up, follows_up_subject = data.get("follows_up"), None
        if follows_up is not None:
            follows_up_subject = uow.tickets.subject_of(follows_up, actor.id)
            if follows_up_subject is None:
                # Another's ticket and no ticket read the same: nothing tells them apart.
                raise ValidationFailed(
                    INVALID_REQUEST, {"follows_up": ["Must be one of your tickets."]}
                )
        limit = uow.settings.tickets_per_day
        granted, now, ticket_id = uow.tickets.take_allowance(actor.id, limit)
        if not granted:
            with _domain_rules():
                raise domain.daily_limit_reached(now, limit)
        ticket = domain.Ticket.open(
            ticket_id,
            actor,
            data["issue_type"],
            data["feature"],
            data["subject"],
            data["description"],
            now,
            render_markdown,
            response_policy(uow.settings),
            arrival=_arrival(uow, data["feature"], data["issue_type"]),
            follows_up_id=follows_up,
        )
        uow.tickets.save(ticket)
        return _commit(uow, claim, views.new_ticket_view(ticket, follows_up_subject))


def add_reply(cmd: Command, uow: TicketsUnitOfWork) -> dict:
    """The owner replies; on awaiting_user or resolved the ticket goes back to review.

    At most ``messages_per_hour`` per ticket in any rolling hour (RateLimited after
    the other checks); support staff replying on their own ticket are not limited.
    The ticket is locked, so replies on it take turns and each counts the ones
    committed before it: exact under races.
    """
    actor = _actor(cmd)

    def act(ticket: domain.Ticket, data: dict) -> domain.Message:
        allowance = None
        if not actor.is_admin:
            limit = uow.settings.messages_per_hour
            nth_latest = uow.tickets.nth_latest_reply_at(ticket.id, actor.id, limit)
            allowance = domain.ReplyAllowance(limit, nth_latest)
        return ticket.add_reply(
            actor, data["body"], render_markdown, allowance, audience=uow.staff.audience
        )

    return _run(
        uow,
        cmd,
        actor,
        schemas.ADD_REPLY,
        act,
        _message_answer(False),
        own=True,
        reserve_message=True,
    )


def close_ticket(cmd: Command, uow: TicketsUnitOfWork) -> dict:
    """The owner closes their ticket from any status but closed, with an optional note."""
    actor = _actor(cmd)
    return _run(
        uow,
        cmd,
        actor,
        schemas.CLOSE_TICKET,
        lambda ticket, data: ticket.close(actor, data["note"], uow.tickets.now),
        _current_view(uow, support=False),
        own=True,
    )


def admin_add_message(cmd: Command, uow: TicketsUnitOfWork) -> dict:
    """Support replies publicly (open -> in_review) or leaves an internal note; a public
    reply may set the status too (one action: an illegal move stores no message)."""
    actor = _admin(cmd)
    return _run(
        uow,
        cmd,
        actor,
        schemas.ADMIN_ADD_MESSAGE,
        lambda ticket, data: ticket.add_support_message(
            actor,
            data["body"],
            render_markdown,
            data["internal"],
            data["status"],
            data["resolution_note"],
        ),
        _message_answer(True),
        reserve_message=True,
    )


def change_status(cmd: Command, uow: TicketsUnitOfWork) -> dict:
    """Support moves a ticket along the transition table (resolving needs a note)."""
    actor = _admin(cmd)
    return _run(
        uow,
        cmd,
        actor,
        schemas.CHANGE_STATUS,
        lambda ticket, data: ticket.change_status(
            actor, data["status"], data["resolution_note"], uow.tickets.now
        ),
        _current_view(uow, support=True),
    )


def assign_ticket(cmd: Command, uow: TicketsUnitOfWork) -> dict:
    """Give a ticket to known staff (or nobody), named as the directory names them;
    anyone else is ValidationFailed on ``assignee_id``. The same admin again changes
    nothing."""
    actor = _admin(cmd)

    def act(ticket: domain.Ticket, data: dict) -> None:
        assignee_id, name = data["assignee_id"], None
        if assignee_id is not None:
            member = uow.staff.get(assignee_id)
            if member is None:
                raise ValidationFailed(
                    "The assignee is not known staff.",
                    {"assignee_id": [UNKNOWN_STAFF]},
                )
            name = member["name"]
        ticket.assign(actor, assignee_id, name, uow.tickets.now)

    return _run(uow, cmd, actor, schemas.ASSIGN_TICKET, act, _current_view(uow, support=True))


def change_priority(cmd: Command, uow: TicketsUnitOfWork) -> dict:
    """Support changes a ticket's priority with a reason, kept in its history; the
    priority it already has changes nothing."""
    actor = _admin(cmd)
    return _run(
        uow,
        cmd,
        actor,
        schemas.CHANGE_PRIORITY,
        lambda ticket, data: ticket.change_priority(
            actor, data["priority"], data["reason"], uow.tickets.now
        ),
        _current_view(uow, support=True),
    )


UNKNOWN_STAFF = (
    "Not known staff: an admin who has signed in, or someone named in a team "
    "(GET /api/v1/admin/staff)."
)


def _arrival(uow: TicketsUnitOfWork, feature: str, issue_type: str) -> domain.Arrival:
    """Where a new ticket goes (``domain.route``), in its create transaction: to the
    member its team assigns it to now (round robin, fewest open), or else to its team,
    whose members (or every known staff member, when no team took it) hear of it.

    The chosen team is read again locked: automatic choices on the same team take
    turns across instances (each sees the last one's ticket and turn), and a team
    deleted meanwhile cannot vanish under the ticket that names it.
    """
    team = domain.route(uow.teams.taking(feature, issue_type), feature, issue_type)
    if team is not None:
        team = uow.teams.get(team.key, lock="update" if team.assigns_automatically else "share")
    if team is None:
        return domain.Arrival(audience=uow.staff.audience(None))
    if not team.assigns_automatically:
        return domain.Arrival(team.key, audience=uow.staff.audience(team.key))
    members = uow.staff.members(team.members)
    loads = {member_id: member["open_assigned"] for member_id, member in members.items()}
    assignee = domain.choose_assignee(team, loads)
    uow.teams.took_turn(team.key, assignee)
    return domain.Arrival(team.key, assignee, members.get(assignee, {}).get("name"))


# --- staff and teams -----------------------------------------------------------------
TEAM_NOT_FOUND = "Team not found."
_KEY = re.compile(KEY_PATTERN)


def record_staff(cmd: Command, uow: TicketsUnitOfWork) -> dict:
    """Know the calling admin as staff, with the name their token carries (the
    gateway calls it when it sees an admin, or a new name, for the first time)."""
    actor = _admin(cmd)
    with uow.autocommit():
        uow.staff.record(actor.id, actor.name)
    return {"id": actor.id, "name": actor.name}


def list_staff(cmd: Command, uow: TicketsUnitOfWork) -> dict:
    """The staff directory: every known staff member with their teams and open load."""
    _admin(cmd)
    with uow.autocommit():
        members = uow.staff.directory()
    return {"items": [views.staff_view(m) for m in members]}


# --- what support keeps: teams and canned replies (macros) ----------------------------
@dataclass(frozen=True)
class Kept:
    """One kind of thing support keeps and edits whole (teams, canned replies), and its
    admin-only commands: ``TEAMS.create(cmd, uow)``, ``MACROS.delete(cmd, uow)``...

    What the kinds differ in: ``ident`` reads the command's id of one (NotFound for a
    malformed one: it names none); ``repository`` is its repository on the unit of
    work; ``view`` is how the contract shows one; ``new_schema`` and ``change_schema``
    give the schemas of a new one and of a change; ``add(uow, data, actor)`` and
    ``update(uow, ident, data, actor)`` store them."""

    ident: Callable[[Command], object]
    repository: Callable[[TicketsUnitOfWork], object]
    not_found: str
    view: Callable[[object], dict]
    new_schema: Callable[[TicketsUnitOfWork], schemas.Schema]
    change_schema: Callable[[TicketsUnitOfWork], schemas.Schema]
    add: Callable[..., object]
    update: Callable[..., object]

    def list(self, cmd: Command, uow: TicketsUnitOfWork) -> dict:
        """Every one, in the repository's order: ``{"items": [...]}``."""
        _admin(cmd)
        with uow.autocommit():
            found = self.repository(uow).all()
        return {"items": [self.view(item) for item in found]}

    def get(self, cmd: Command, uow: TicketsUnitOfWork) -> dict:
        """One; NotFound if there is none with the command's id."""
        _admin(cmd)
        ident = self.ident(cmd)
        with uow.autocommit():
            item = self.repository(uow).get(ident)
        if item is None:
            raise NotFound(self.not_found)
        return self.view(item)

    def create(self, cmd: Command, uow: TicketsUnitOfWork) -> dict:
        """A new one from the command's fields."""
        actor = _admin(cmd)
        data = schemas.load(self.new_schema(uow), cmd.fields)
        with uow:
            claim = _claim(uow, cmd, actor)
            if claim.replay is not None:
                return claim.replay
            claim.check()
            return _commit(uow, claim, self.view(self.add(uow, data, actor)))

    def change(self, cmd: Command, uow: TicketsUnitOfWork) -> dict:
        """Change the fields given of one (NotFound before a bad body's ValidationFailed)."""
        actor = _admin(cmd)
        ident = self.ident(cmd)
        with uow:
            claim = _claim(uow, cmd, actor)
            if claim.replay is not None:
                return claim.replay
            # Locked: a missing one is a 404 before a bad body is a 422, and it cannot
            # be deleted between this look and the change.
            if self.repository(uow).get(ident, lock="update") is None:
                raise NotFound(self.not_found)
            claim.check()
            data = schemas.load(self.change_schema(uow), cmd.fields)
            item = self.update(uow, ident, data, actor)
            return _commit(uow, claim, self.view(item))

    def delete(self, cmd: Command, uow: TicketsUnitOfWork) -> None:
        """Delete one; NotFound if there is none."""
        _admin(cmd)
        ident = self.ident(cmd)
        with uow:
            if not self.repository(uow).delete(ident):
                raise NotFound(self.not_found)
            uow.commit()


def _team_key(cmd: Command) -> str:
    # A key that could not name a team names none: the same NotFound as a missing one.
    if not isinstance(cmd.team_key, str) or not _KEY.match(cmd.team_key):
        raise NotFound(TEAM_NOT_FOUND)
    return cmd.team_key


def _feature_keys(uow) -> tuple[str, ...]:
    return tuple(key for key, _label in uow.settings.features)


def _stored(value):
    return tuple(value) if isinstance(value, list) else value


def _add_team(uow, data: dict, _actor) -> domain.Team:
    # Its members become known staff; a taken key is a Conflict.
    uow.staff.name(data["members"])
    team = uow.teams.add(domain.Team(**{k: _stored(v) for k, v in data.items()}))
    if team is None:
        raise Conflict(f"A team with the key {data['key']!r} exists.")
    return team


def _update_team(uow, key: str, data: dict, _actor) -> domain.Team:
    # New members become known staff (a change cannot touch the key: ChangeTeam).
    uow.staff.name(data.get("members", ()))
    return uow.teams.update(key, {k: _stored(v) for k, v in data.items()})


# Teams, listed in creation order (the order routing tries them in).
TEAMS = Kept(
    ident=_team_key,
    repository=lambda uow: uow.teams,
    not_found=TEAM_NOT_FOUND,
    view=views.team_view,
    new_schema=lambda uow: schemas.for_features(schemas.CreateTeam, _feature_keys(uow)),
    change_schema=lambda uow: schemas.for_features(schemas.ChangeTeam, _feature_keys(uow)),
    add=_add_team,
    update=_update_team,
)


MACRO_NOT_FOUND = "Macro not found."


def _macro_id(cmd: Command) -> int:
    # A malformed id names no macro: the same NotFound as a missing one.
    macro_id = row_id(cmd.macro_id)
    if macro_id is None:
        raise NotFound(MACRO_NOT_FOUND)
    return macro_id


# Canned replies (macros), listed by title; unknown placeholders in one are a
# ValidationFailed, and a ``status`` of null preselects none.
MACROS = Kept(
    ident=_macro_id,
    repository=lambda uow: uow.macros,
    not_found=MACRO_NOT_FOUND,
    view=views.macro_view,
    new_schema=lambda _uow: schemas.CREATE_MACRO,
    change_schema=lambda _uow: schemas.CHANGE_MACRO,
    # Placeholders are checked by the schemas; the editor's name is kept with it.
    add=lambda uow, data, actor: uow.macros.add(data, actor.name),
    update=lambda uow, macro_id, data, actor: uow.macros.update(macro_id, data, actor.name),
)


# --- scheduled work --------------------------------------------------------------------
def run_due_work(uow: TicketsUnitOfWork, batch: int = DUE_WORK_BATCH) -> Counter:
    """Do the due work (auto-close, reminders...) that has fallen due; how many of
    each kind were done.

    Each piece in its own transaction: its row is claimed (``FOR UPDATE SKIP
    LOCKED``: another instance's claim is skipped, not waited for), its ticket
    locked (skipped for this tick if a command holds it), the aggregate's method
    for its kind (``domain.DUE_WORK``) does it, and the row is deleted with the
    change and its events, so it is done once however many instances tick. At most
    ``batch`` pieces are looked at; the rest wait for the next tick.
    """
    done: Counter = Counter()
    after = None
    for _ in range(batch):
        with uow:
            claimed = uow.tickets.claim_due(after)
            if claimed is None:
                break
            after = claimed
            _due_at, ticket_id, kind = claimed
            work = domain.DUE_WORK.get(kind)
            if work is None:  # written by a newer version: left for it
                log.warning("unknown due work left", extra={"ticket_id": ticket_id, "kind": kind})
                continue
            ticket = uow.tickets.load_due(ticket_id)
            if ticket is None:  # a command holds the ticket: next tick
                continue
            try:
                ticket.unschedule(kind)  # done now (the work may schedule it again)
                work(ticket, uow.tickets.now(), uow.staff.audience)
                uow.tickets.save(ticket)
                uow.commit()
            except Exception:
                # Rolled back and retried next tick; the rest of the batch goes on.
                log.exception("due work failed", extra={"ticket_id": ticket_id, "kind": kind})
                continue
            done[kind] += 1
    if done:
        log.info("due work done", extra={"due_work": dict(done)})
    return done


def scheduler_lag(uow: TicketsUnitOfWork) -> float:
    """Seconds from the oldest due work not yet done to now (0 when none is overdue)."""
    with uow.autocommit():
        oldest, now = uow.tickets.oldest_due_at(), uow.tickets.now()
    return 0.0 if oldest is None else max(0.0, (now - oldest).total_seconds())


# --- the dashboard ---------------------------------------------------------------------
def get_stats(cmd: Command, uow: TicketsUnitOfWork) -> dict:
    """The support lead's numbers now, and over the last ``days`` UTC days (today
    included): see ``views.stats_view``."""
    _admin(cmd)
    days = schemas.load(schemas.STATS, cmd.fields)["days"]
    now = datetime.now(UTC)
    first_day = now.date() - timedelta(days=days - 1)
    since = datetime.combine(first_day, time.min, UTC)
    with uow.autocommit():
        stats = uow.stats.read(now, since)
    return views.stats_view(stats, now, first_day, days)
