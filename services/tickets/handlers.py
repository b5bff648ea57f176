"""One function per command: ``verb_noun(cmd, uow)``.

Each handler checks, in the contract's order, that the ticket is the caller's
(NotFound), that the input is valid (ValidationFailed), that the ticket's state
allows the action (Conflict) and, for new tickets, the daily allowance
(RateLimited); then it changes the ticket, records timeline entries and events in
one transaction, commits and returns exactly the contract's JSON body.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from services.tickets import domain, schemas
from services.tickets.unit_of_work import TicketsUnitOfWork
from shared.catalog import VIEW_MESSAGES, build_catalog
from shared.errors import Conflict, Forbidden, NotFound, RateLimited, ValidationFailed
from shared.events import (
    MESSAGE_ADDED,
    STATUS_CHANGED,
    TICKET_ASSIGNED,
    TICKET_CLOSED,
    TICKET_CREATED,
    iso_utc,
)
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


def _load_ticket(uow, ticket_id, owner: domain.Actor | None, reserve_message=False) -> dict:
    ticket = uow.tickets.lock(
        _ticket_id(ticket_id),
        owner_id=owner.id if owner else None,
        reserve_message=reserve_message,
    )
    if ticket is None:
        raise NotFound(NOT_FOUND_MESSAGE)
    return ticket


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
def _state_rules():
    """Turn the domain's ``ConflictError`` into the RPC ``Conflict``."""
    try:
        yield
    except domain.ConflictError as exc:
        raise Conflict(str(exc)) from None


def _checked(
    uow, cmd: Command, owner, claim: Claim, schema, rule, reserve_message=False
) -> tuple[dict, dict]:
    """The ticket, locked, and the valid fields, checked in the contract's order.

    NotFound (not the caller's or missing), then ValidationFailed (an idempotency key
    used for another request, then ``schema``), then Conflict (``rule(status,
    fields)`` raising the domain's ``ConflictError``). With ``reserve_message`` the
    ticket carries the id and time for a new message.
    """
    ticket = _load_ticket(uow, cmd.ticket_id, owner, reserve_message)
    claim.check()
    data = schemas.load(schema, cmd.fields)
    with _state_rules():
        rule(ticket["status"], data)
    return ticket, data


def _ref(ticket: dict, actor: domain.Actor | None, actor_role: str) -> dict:
    """The ``TicketRef`` part of every event payload."""
    return {
        "ticket_id": ticket["id"],
        "subject": ticket["subject"],
        "owner_id": ticket["owner_id"],
        "owner_name": ticket["owner_name"],
        "assignee_id": ticket["assignee_id"],
        "status": ticket["status"],
        "actor_id": actor.id if actor else None,
        "actor_name": actor.name if actor else None,
        "actor_role": actor_role,
    }


# --- views (the contract's JSON bodies) ----------------------------------------------
def _person(person_id, name) -> dict | None:
    return None if person_id is None else {"id": person_id, "name": name}


def list_item(ticket: dict) -> dict:
    """A ticket as a user's list shows it."""
    return {
        "id": ticket["id"],
        "subject": ticket["subject"],
        "issue_type": ticket["issue_type"],
        "feature": ticket["feature"],
        "status": ticket["status"],
        "priority": ticket["priority"],
        "created_at": iso_utc(ticket["created_at"]),
        "updated_at": iso_utc(ticket["updated_at"]),
        "last_message_at": iso_utc(ticket["last_message_at"]),
    }


def admin_list_item(ticket: dict) -> dict:
    """A ticket as the support queue shows it: with owner and assignee."""
    item = list_item(ticket)
    item["owner"] = _person(ticket["owner_id"], ticket["owner_name"])
    item["assignee"] = _person(ticket["assignee_id"], ticket["assignee_name"])
    return item


def _html(text: str, stored: str | None) -> str:
    # Stored when the text was written; only rows older than that (until
    # services.tickets.fill_html has run) are rendered here, on read.
    return render_markdown(text) if stored is None else stored


def message_view(message: dict, support: bool) -> dict:
    """A message; support views also say whether it is an internal note."""
    view = {
        "id": message["id"],
        "author": message["author"],
        "author_name": message["author_name"],
        "body": message["body"],
        "body_html": _html(message["body"], message["body_html"]),
        "created_at": iso_utc(message["created_at"]),
    }
    if support:
        view["internal"] = message["internal"]
    return view


def ticket_view(ticket: dict, support: bool) -> dict:
    """The full ticket (as ``TicketRepository.view`` reads it): the owner's view, or
    support's with the owner and internal notes. Its latest ``VIEW_MESSAGES``
    messages only, and how many it has before them (``list_messages`` pages back)."""
    view = list_item(ticket)
    view.update(
        description=ticket["description"],
        description_html=_html(ticket["description"], ticket["description_html"]),
        assignee=_person(ticket["assignee_id"], ticket["assignee_name"]),
        resolution_note=ticket["resolution_note"],
        closed_note=ticket["closed_note"],
        messages=[message_view(m, support) for m in ticket["messages"]],
        earlier_messages=ticket["earlier_messages"],
        timeline=[
            {"status": t["status"], "at": iso_utc(t["at"]), "by": t["by"]}
            for t in ticket["timeline"]
        ],
    )
    if support:
        view["owner"] = _person(ticket["owner_id"], ticket["owner_name"])
    return view


def _current_view(uow, ticket_id: int, support: bool) -> dict:
    """The view of a ticket as this transaction has left it."""
    ticket = uow.tickets.view(ticket_id, include_internal=support, messages_limit=VIEW_MESSAGES)
    return ticket_view(ticket, support)


# --- queries -------------------------------------------------------------------------
def get_catalog(settings) -> dict:
    """The catalog document for the configured features and daily limit."""
    return build_catalog(settings.features, settings.tickets_per_day, settings.messages_per_hour)


def _search_filter(q) -> dict | None:
    """The list filter for the search box; None when the search can match nothing."""
    search = domain.parse_search(q)
    if search is None:
        return {}
    kind, value = search
    if kind == "id":
        return None if value is None else {"id": value}
    return {"subject_like": domain.like_pattern(value)}


def _after(sort: str, cursor: str | None) -> dict | None:
    """The repository's ``after_*`` key for a page cursor (None: the first page)."""
    if sort == "priority":  # critical first, then oldest
        key = schemas.decode_cursor(cursor, (int, int))
        return key and {"after_rank": key[0], "after_id": key[1]}
    if sort == "updated":  # newest change first
        key = schemas.decode_cursor(cursor, (datetime, int))
        return key and {"after_updated": key[0], "after_id": key[1]}
    key = schemas.decode_cursor(cursor, (int,))  # created: newest first
    return key and {"after_id": key[0]}


_CURSOR_KEY = {
    "priority": lambda t: [t["priority_rank"], t["id"]],
    "updated": lambda t: [iso_utc(t["updated_at"]), t["id"]],
    "created": lambda t: [t["id"]],
}


def _page(uow, filters: dict | None, sort: str, params: dict, item) -> dict:
    after = _after(sort, params["cursor"])
    if filters is None:  # a search that can match nothing
        return {"items": [], "next_cursor": None}
    with uow.autocommit():
        rows = uow.tickets.page(filters, sort, after, params["limit"] + 1)
    more = len(rows) > params["limit"]
    rows = rows[: params["limit"]]
    return {
        "items": [item(r) for r in rows],
        "next_cursor": schemas.encode_cursor(_CURSOR_KEY[sort](rows[-1])) if more else None,
    }


def list_tickets(cmd: Command, uow: TicketsUnitOfWork) -> dict:
    """The caller's own tickets, newest first, filtered by status and ``q``."""
    actor = _actor(cmd)
    params = schemas.load(schemas.LIST_TICKETS, cmd.fields)
    filters = _search_filter(params["q"])
    if filters is not None:
        filters["owner_id"] = actor.id
        if params["status"]:
            filters["status"] = params["status"]
    return _page(uow, filters, "created", params, list_item)


def admin_list_tickets(cmd: Command, uow: TicketsUnitOfWork) -> dict:
    """Every user's tickets for support, with the queue's filters and sorts."""
    actor = _admin(cmd)
    params = schemas.load(schemas.ADMIN_LIST_TICKETS, cmd.fields)
    filters = _search_filter(params["q"])
    if filters is not None:
        for name in ("status", "priority"):
            if params[name]:
                filters[name] = params[name]
        assignee = params["assignee"]
        if assignee == "none":
            filters["unassigned"] = True
        elif assignee is not None:
            filters["assignee_id"] = actor.id if assignee == "me" else assignee
    return _page(uow, filters, params["sort"], params, admin_list_item)


def get_ticket(cmd: Command, uow: TicketsUnitOfWork) -> dict:
    """The caller's own ticket (no internal notes); NotFound for anyone else's."""
    actor = _actor(cmd)
    with uow.autocommit():
        ticket = uow.tickets.view(
            _ticket_id(cmd.ticket_id),
            include_internal=False,
            owner_id=actor.id,
            messages_limit=VIEW_MESSAGES,
        )
    if ticket is None:
        raise NotFound(NOT_FOUND_MESSAGE)
    return ticket_view(ticket, support=False)


def admin_get_ticket(cmd: Command, uow: TicketsUnitOfWork) -> dict:
    """Any ticket, as support sees it (owner, internal notes)."""
    _admin(cmd)
    with uow.autocommit():
        ticket = uow.tickets.view(
            _ticket_id(cmd.ticket_id), include_internal=True, messages_limit=VIEW_MESSAGES
        )
    if ticket is None:
        raise NotFound(NOT_FOUND_MESSAGE)
    return ticket_view(ticket, support=True)


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
        "items": [message_view(m, support) for m in page["messages"]],
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
        granted, now, ticket_id = uow.tickets.take_allowance(actor.id, uow.settings.tickets_per_day)
        if not granted:
            raise _daily_limit_reached(now, uow.settings.tickets_per_day)
        priority = domain.priority_for(data["issue_type"])
        ticket = {
            "id": ticket_id,
            "owner_id": actor.id,
            "owner_name": actor.name,
            "issue_type": data["issue_type"],
            "feature": data["feature"],
            "subject": data["subject"],
            "description": data["description"],
            # Rendered once, here: reads return the stored HTML.
            "description_html": render_markdown(data["description"]),
            "priority": priority,
            "priority_rank": domain.PRIORITY_RANK[priority],
            "status": domain.OPEN,
            "assignee_id": None,
            "assignee_name": None,
            "resolution_note": None,
            "closed_note": None,
            "created_at": now,
            "updated_at": now,
            "last_message_at": None,
        }
        uow.tickets.add(ticket, opened_by=domain.BY_USER)
        uow.add_event(
            TICKET_CREATED,
            {
                **_ref(ticket, actor, domain.BY_USER),
                "issue_type": ticket["issue_type"],
                "feature": ticket["feature"],
                "priority": priority,
            },
        )
        # Known without reading it back: no messages yet, one timeline entry.
        opened = {"status": domain.OPEN, "at": now, "by": domain.BY_USER}
        return _commit(
            uow,
            claim,
            ticket_view(
                dict(ticket, messages=[], earlier_messages=0, timeline=[opened]), support=False
            ),
        )


def _rate_limited(message: str, now: datetime, reset: datetime) -> RateLimited:
    """``RateLimited`` until ``reset`` (``now`` by the database clock)."""
    retry_after = max(1, math.ceil((reset - now).total_seconds()))
    return RateLimited(
        message,
        {"reset_at": iso_utc(reset).replace(".000000Z", "Z"), "retry_after": str(retry_after)},
    )


def _daily_limit_reached(now: datetime, limit: int) -> RateLimited:
    """``RateLimited`` until the next UTC midnight."""
    return _rate_limited(
        f"You can open at most {limit} tickets per day; try again after midnight UTC.",
        now,
        datetime.combine(now.astimezone(UTC).date() + timedelta(days=1), datetime.min.time(), UTC),
    )


def _check_reply_rate(uow, ticket: dict, owner: domain.Actor) -> None:
    """RateLimited once the owner wrote ``messages_per_hour`` messages on the ticket in
    the last hour. Exact under races: the ticket is locked, so replies on it take
    turns and each counts the ones committed before it."""
    limit = uow.settings.messages_per_hour
    now = ticket["message_at"]
    reset = domain.reply_allowed_at(
        uow.tickets.nth_latest_reply_at(ticket["id"], owner.id, limit), now
    )
    if reset is not None:
        raise _rate_limited(
            f"You can post at most {limit} messages per ticket per hour; try again later.",
            now,
            reset,
        )


def _move(uow, ticket, target, by, actor, now, caused_by_message_id=None, resolution_note=None):
    """Set a new status: timeline entry and ``status_changed`` event."""
    previous = ticket["status"]
    ticket["status"] = target
    ticket["updated_at"] = now
    changes = {"status": target, "updated_at": now}
    if target == domain.RESOLVED:
        ticket["resolution_note"] = changes["resolution_note"] = resolution_note
    uow.tickets.update(ticket, **changes)
    uow.tickets.add_timeline(ticket["id"], target, by, actor.id if actor else None, now)
    uow.add_event(
        STATUS_CHANGED,
        {
            **_ref(ticket, actor, by),
            "from_status": previous,
            "to_status": target,
            "resolution_note": resolution_note,
            "caused_by_message_id": caused_by_message_id,
        },
    )


def _add_message(uow, ticket, actor, author, body, internal) -> dict:
    """Add a message to a ticket locked with ``reserve_message``."""
    now = ticket.pop("message_at")
    message = {
        "id": ticket.pop("message_id"),
        "ticket_id": ticket["id"],
        "author": author,
        "author_id": actor.id,
        "author_name": actor.name,
        "internal": internal,
        "body": body,
        "body_html": render_markdown(body),
        "created_at": now,
    }
    uow.tickets.add_message(message)
    if internal:
        target = None
    else:
        # The repository marked the ticket's last activity; internal notes leave none.
        ticket["updated_at"] = ticket["last_message_at"] = now
        target = (
            domain.status_after_owner_reply(ticket["status"])
            if author == domain.BY_USER
            else domain.status_after_support_message(ticket["status"], internal)
        )
    status_after = target or ticket["status"]
    uow.add_event(
        MESSAGE_ADDED,
        {
            **_ref(dict(ticket, status=status_after), actor, author),
            "message_id": message["id"],
            "author": author,
            "internal": internal,
            "body": None if internal else body,
        },
    )
    if target is not None:
        _move(uow, ticket, target, author, actor, now, caused_by_message_id=message["id"])
    return message


def add_reply(cmd: Command, uow: TicketsUnitOfWork) -> dict:
    """The owner replies; on awaiting_user or resolved the ticket goes back to review.

    At most ``messages_per_hour`` per ticket in any rolling hour (RateLimited after
    the other checks); support staff replying on their own ticket are not limited.
    """
    actor = _actor(cmd)
    with uow:
        claim = _claim(uow, cmd, actor)
        if claim.replay is not None:
            return claim.replay
        ticket, data = _checked(
            uow,
            cmd,
            actor,
            claim,
            schemas.ADD_REPLY,
            lambda status, _data: domain.check_open_for_messages(status),
            reserve_message=True,
        )
        if not actor.is_admin:
            _check_reply_rate(uow, ticket, actor)
        message = _add_message(uow, ticket, actor, domain.BY_USER, data["body"], False)
        return _commit(uow, claim, message_view(message, support=False))


def close_ticket(cmd: Command, uow: TicketsUnitOfWork) -> dict:
    """The owner closes their ticket from any status but closed, with an optional note."""
    actor = _actor(cmd)
    with uow:
        claim = _claim(uow, cmd, actor)
        if claim.replay is not None:
            return claim.replay
        ticket, data = _checked(
            uow,
            cmd,
            actor,
            claim,
            schemas.CLOSE_TICKET,
            lambda status, _data: domain.check_closable(status),
        )
        now = uow.tickets.now()
        previous = ticket["status"]
        note = data["note"] or None
        ticket.update(status=domain.CLOSED, closed_note=note, updated_at=now)
        uow.tickets.update(ticket, status=domain.CLOSED, closed_note=note, updated_at=now)
        uow.tickets.add_timeline(ticket["id"], domain.CLOSED, domain.BY_USER, actor.id, now)
        uow.add_event(
            TICKET_CLOSED,
            {**_ref(ticket, actor, domain.BY_USER), "from_status": previous, "note": note},
        )
        view = _current_view(uow, ticket["id"], support=False)
        return _commit(uow, claim, view)


def admin_add_message(cmd: Command, uow: TicketsUnitOfWork) -> dict:
    """Support replies publicly (open -> in_review) or leaves an internal note."""
    actor = _admin(cmd)
    with uow:
        claim = _claim(uow, cmd, actor)
        if claim.replay is not None:
            return claim.replay
        ticket, data = _checked(
            uow,
            cmd,
            None,
            claim,
            schemas.ADMIN_ADD_MESSAGE,
            lambda status, _data: domain.check_open_for_messages(status),
            reserve_message=True,
        )
        message = _add_message(
            uow, ticket, actor, domain.BY_SUPPORT, data["body"], data["internal"]
        )
        return _commit(uow, claim, message_view(message, support=True))


def change_status(cmd: Command, uow: TicketsUnitOfWork) -> dict:
    """Support moves a ticket along the transition table (resolving needs a note)."""
    actor = _admin(cmd)
    with uow:
        claim = _claim(uow, cmd, actor)
        if claim.replay is not None:
            return claim.replay
        ticket, data = _checked(
            uow,
            cmd,
            None,
            claim,
            schemas.CHANGE_STATUS,
            lambda status, data: domain.check_transition(status, data["status"]),
        )
        _move(
            uow,
            ticket,
            data["status"],
            domain.BY_SUPPORT,
            actor,
            uow.tickets.now(),
            resolution_note=data["resolution_note"],
        )
        view = _current_view(uow, ticket["id"], support=True)
        return _commit(uow, claim, view)


def assign_ticket(cmd: Command, uow: TicketsUnitOfWork) -> dict:
    """Give a ticket to an admin (or nobody); the same admin again changes nothing."""
    actor = _admin(cmd)
    with uow:
        claim = _claim(uow, cmd, actor)
        if claim.replay is not None:
            return claim.replay
        ticket, data = _checked(
            uow,
            cmd,
            None,
            claim,
            schemas.ASSIGN_TICKET,
            lambda status, _data: domain.check_open_for_messages(status),
        )
        if data["assignee_id"] != ticket["assignee_id"]:
            previous = ticket["assignee_id"]
            name = data["assignee_name"] if data["assignee_id"] is not None else None
            if name is None and data["assignee_id"] == actor.id:
                name = actor.name  # taking a ticket oneself: one's own name is known
            now = uow.tickets.now()
            ticket.update(assignee_id=data["assignee_id"], assignee_name=name, updated_at=now)
            uow.tickets.update(
                ticket, assignee_id=data["assignee_id"], assignee_name=name, updated_at=now
            )
            uow.add_event(
                TICKET_ASSIGNED,
                {
                    **_ref(ticket, actor, domain.BY_SUPPORT),
                    "assignee_name": name,
                    "previous_assignee_id": previous,
                },
            )
        view = _current_view(uow, ticket["id"], support=True)
        return _commit(uow, claim, view)
