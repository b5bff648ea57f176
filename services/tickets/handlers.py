"""One function per command or query: ``verb_noun(cmd, uow)``.

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
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from services.tickets import domain, schemas, views
from services.tickets.settings import response_policy
from services.tickets.unit_of_work import TicketsUnitOfWork
from shared.catalog import VIEW_MESSAGES, build_catalog
from shared.errors import Conflict, Forbidden, NotFound, RateLimited, ValidationFailed
from shared.idempotency import Claim, IdempotentRequest
from shared.ids import row_id
from shared.rendering import render_markdown

NOT_FOUND_MESSAGE = "Ticket not found."


@dataclass
class Command:
    """An RPC call as the handlers take it: who, which ticket, what fields."""

    actor: dict
    fields: dict | None = field(default_factory=dict)
    ticket_id: object = None
    # ``{"key", "fingerprint"}`` of a keyed request (shared/idempotency.py), or None.
    idempotency: dict | None = None


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
    """Hold the command's idempotency key in this transaction (nothing without one)."""
    return uow.idempotency.claim(IdempotentRequest.from_rpc(actor.id, cmd.idempotency))


def _commit(uow, claim: Claim, response: dict) -> dict:
    """Commit the command and return its answer, stored with the action (in the same
    transaction) when the command is keyed. Views are cheap to build by now: the
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

    In one transaction: a keyed repeat answers as the first did; the ticket is
    locked (only the caller's with ``own``: NotFound otherwise; with
    ``reserve_message`` it carries its next message's id and time); the fields are
    checked (ValidationFailed); ``act(ticket, fields)`` changes it through the
    aggregate, whose refusals are Conflict or RateLimited; the ticket is saved and
    ``answer(ticket, result of act)`` is the answer, committed with its events.
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
    return build_catalog(
        settings.features,
        settings.tickets_per_day,
        settings.messages_per_hour,
        settings.response_targets,
    )


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
        for name in ("status", "priority"):
            if params[name]:
                filters[name] = params[name]
        assignee = params["assignee"]
        if assignee == "none":
            filters["unassigned"] = True
        elif assignee is not None:
            filters["assignee_id"] = actor.id if assignee == "me" else assignee
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
    data = schemas.load(
        schemas.create_ticket(tuple(key for key, _label in uow.settings.features)), cmd.fields
    )
    with uow:
        claim = _claim(uow, cmd, actor)
        if claim.replay is not None:  # done before: the same answer, nothing spent
            return claim.replay
        claim.check()
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
        )
        uow.tickets.save(ticket)
        return _commit(uow, claim, views.new_ticket_view(ticket))


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
        return ticket.add_reply(actor, data["body"], render_markdown, allowance)

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
    """Support replies publicly (open -> in_review) or leaves an internal note."""
    actor = _admin(cmd)
    return _run(
        uow,
        cmd,
        actor,
        schemas.ADMIN_ADD_MESSAGE,
        lambda ticket, data: ticket.add_support_message(
            actor, data["body"], render_markdown, data["internal"]
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
    """Give a ticket to an admin (or nobody); the same admin again changes nothing."""
    actor = _admin(cmd)
    return _run(
        uow,
        cmd,
        actor,
        schemas.ASSIGN_TICKET,
        lambda ticket, data: ticket.assign(
            actor, data["assignee_id"], data["assignee_name"], uow.tickets.now
        ),
        _current_view(uow, support=True),
    )
