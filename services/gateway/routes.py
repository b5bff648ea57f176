"""The gateway's one route table: each API and operations route's path template,
resource, who may call it, and its OpenAPI operations.

``app.create_app`` registers a route from each entry, ``openapi.build_openapi``
documents each entry, and the routes answered without a token (``PUBLIC``) are
read from it, so a route cannot be served without being documented, nor
documented with other access than it is served with. The pages are routed by
``pages.register_pages`` (public, outside the API, not in the document).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from services.gateway import operations, resources, schemas

# Who may call a route: anyone, a signed-in user (or admin), an admin only.
PUBLIC, USER, ADMIN = "public", "user", "admin"

V1 = "/api/v1"
TICKET_ID = "{ticket_id:row_id}"
TEAM_KEY = "{team_key}"
NOTICE_ID = "{notice_id:row_id}"
MACRO_ID = "{macro_id:row_id}"

BODY_ERRORS = (400, 408, 413, 415, 422)
TICKET_ACTION_ERRORS = (404, *BODY_ERRORS, 409)
STREAM_LAST_EVENT_ID = {
    "name": "Last-Event-ID",
    "in": "header",
    "required": False,
    "schema": {"type": "string"},
    "description": "The id of the last notice received: the notices stored after it "
    "(at most 100, oldest first) are sent first, so a reconnect misses nothing.",
}


@dataclass(frozen=True)
class Wiring:
    """What resources are built from: ``create_app``'s settings and clients, and
    what it derives from them once."""

    settings: Any
    clients: Any
    feature_keys: tuple
    catalog: dict
    document: dict


def op(
    summary,
    *,
    tag,
    ok=200,
    response=None,
    query=None,
    body=None,
    errors=(),
    content_type="application/json",
    headers=None,
    body_optional=False,
    replays=True,
    description=None,
    parameters=(),
    also=None,
) -> dict:
    """One operation's OpenAPI data (path parameters come from the route's template)."""
    return {
        "summary": summary,
        "tag": tag,
        "ok": ok,
        "response": response,
        "query": query,
        "body": body,
        "errors": tuple(errors),
        "content_type": content_type,
        "headers": headers or {},
        "body_optional": body_optional,
        # A POST that changes something stores its answer under an Idempotency-Key.
        "replays": replays,
        # Free text, header parameters and further success answers (status -> text).
        "description": description,
        "parameters": list(parameters),
        "also": also or {},
    }


def located(description: str) -> dict:
    """The ``Location`` header of a 201, documented as where the new thing is."""
    return {"Location": {"description": description, "schema": {"type": "string"}}}


LOCATION = located("/api/v1/tickets/{id}")


def ticket_action(summary, body, response, *, tag, errors=TICKET_ACTION_ERRORS, **kwargs) -> dict:
    """An operation on one ticket that takes a body."""
    return op(summary, tag=tag, body=body, response=response, errors=errors, **kwargs)


_FIELD = re.compile(r"\{(\w+)(?::[^}]*)?\}")


@dataclass(frozen=True)
class Route:
    """One route: Falcon's ``template``, ``auth`` (PUBLIC, USER or ADMIN), the
    ``resource`` built from a ``Wiring``, and ``operations`` (method -> ``op``)."""

    template: str
    auth: str
    resource: Callable[[Wiring], object]
    operations: Mapping[str, dict] = field(default_factory=dict)

    @property
    def path(self) -> str:
        """The documented path: every field is ``{id}``, with no converter."""
        return _FIELD.sub("{id}", self.template)

    @property
    def fields(self) -> tuple[str, ...]:
        """The template's field names, in order (``ticket_id``, ``notice_id``)."""
        return tuple(_FIELD.findall(self.template))


def reading(template, auth, resource, summary, *, tag, **kwargs) -> Route:
    """A route that answers GET only (``op``'s summary and keywords)."""
    return Route(template, auth, resource, {"get": op(summary, tag=tag, **kwargs)})


def ticket_command(
    template, auth, method, body, response, summary, *, tag, body_optional=False, **kwargs
) -> Route:
    """A route on one ticket whose POST runs the tickets service's ``method`` on a
    ``body`` (validated and documented by that one schema) and answers ``response``."""

    def resource(w):
        return resources.TicketCommand(w.clients, method, body(), required=not body_optional)

    post = ticket_action(summary, body, response, tag=tag, body_optional=body_optional, **kwargs)
    return Route(template, auth, resource, {"post": post})


def kept_collection(
    path,
    field,
    located_as,
    *,
    collection,
    item,
    listing,
    body,
    change,
    response,
    summaries,
    create_errors=(),
    create_description=None,
) -> tuple[Route, Route]:
    """The two routes of a kind support keeps (teams, macros): GET/POST ``path``
    (``collection``: every one as ``listing``, a new one from ``body``, located at
    ``path/{located_as}``) and GET/PATCH/DELETE ``path/{field}`` (``item``: one, a
    change from ``change``, a delete). ``summaries``: of list, create, get, change
    and delete, in that order."""
    listed, created, got, changed, deleted = summaries
    every = {
        "get": op(listed, tag="support", response=listing),
        "post": op(
            created,
            tag="support",
            ok=201,
            body=body,
            response=response,
            errors=(*BODY_ERRORS, *create_errors),
            headers=located(f"{path}/{{{located_as}}}"),
            description=create_description,
        ),
    }
    one = {
        "get": op(got, tag="support", response=response, errors=(404,)),
        "patch": op(
            changed, tag="support", body=change, response=response, errors=(404, *BODY_ERRORS)
        ),
        "delete": op(deleted, tag="support", ok=204, errors=(404,)),
    }
    return Route(path, ADMIN, collection, every), Route(f"{path}/{field}", ADMIN, item, one)


def ticket_messages(
    prefix, auth, *, add, body, message, listing, page, add_summary, list_summary, tag, **kwargs
) -> Route:
    """``{prefix}/messages`` of one ticket: GET pages through its earlier messages
    (``listing``, answering ``page``), POST adds one (``add`` on a ``body``, answering
    ``message``, 201)."""

    def resource(w):
        return resources.TicketMessages(w.clients, add, body(), listing, created=True)

    return Route(
        f"{prefix}/messages",
        auth,
        resource,
        {
            "get": op(
                list_summary,
                tag=tag,
                query=schemas.MessageListQuery,
                response=page,
                errors=(404, 400, 422),
            ),
            "post": ticket_action(add_summary, body, message, tag=tag, ok=201, **kwargs),
        },
    )


ROUTES: tuple[Route, ...] = (
    reading(
        f"{V1}/catalog",
        USER,
        lambda w: resources.Document(w.catalog),
        "Issue types, features, statuses and limits for the ticket form",
        tag="catalog",
        response=schemas.Catalog,
    ),
    Route(
        f"{V1}/preview",
        USER,
        lambda w: resources.Preview(),
        {
            "post": op(
                "Render Markdown exactly as it will be stored",
                tag="catalog",
                body=schemas.PreviewBody,
                response=schemas.PreviewResult,
                errors=BODY_ERRORS,
                replays=False,
            )
        },
    ),
    Route(
        f"{V1}/tickets",
        USER,
        lambda w: resources.TicketCollection(w.clients, w.feature_keys),
        {
            "get": op(
                "The caller's tickets, newest first",
                tag="tickets",
                query=schemas.TicketListQuery,
                response=schemas.TicketPage,
                errors=(400, 422),
            ),
            "post": op(
                "Open a ticket (at most tickets_per_day per UTC day)",
                tag="tickets",
                ok=201,
                body=schemas.CreateTicketBody,
                response=schemas.Ticket,
                errors=(*BODY_ERRORS, 429),
                headers=LOCATION,
            ),
        },
    ),
    reading(
        f"{V1}/tickets/{TICKET_ID}",
        USER,
        lambda w: resources.TicketItem(w.clients),
        "One of the caller's tickets",
        tag="tickets",
        response=schemas.Ticket,
        errors=(404,),
    ),
    ticket_messages(
        f"{V1}/tickets/{TICKET_ID}",
        USER,
        add="add_reply",
        body=schemas.ReplyBody,
        message=schemas.Message,
        listing="list_messages",
        page=schemas.MessagePage,
        add_summary="Reply on the caller's ticket (at most messages_per_hour per ticket, "
        "rolling hour)",
        list_summary="Earlier messages of the caller's ticket, a page at a time, oldest first",
        tag="tickets",
        errors=(*TICKET_ACTION_ERRORS, 429),
    ),
    ticket_command(
        f"{V1}/tickets/{TICKET_ID}/close",
        USER,
        "close_ticket",
        schemas.CloseBody,
        schemas.Ticket,
        "Close the caller's ticket (never reopened)",
        tag="tickets",
        body_optional=True,
    ),
    reading(
        f"{V1}/notifications",
        USER,
        lambda w: resources.NoticeCollection(w.clients),
        "The caller's notices, newest first",
        tag="notifications",
        query=schemas.NoticeListQuery,
        response=schemas.NoticePage,
        errors=(400, 422),
    ),
    reading(
        f"{V1}/notifications/unread-count",
        USER,
        lambda w: resources.NoticeUnreadCount(w.clients),
        "How many of the caller's notices are unread",
        tag="notifications",
        response=schemas.UnreadCount,
    ),
    reading(
        f"{V1}/notifications/stream",
        USER,
        lambda w: resources.NoticeStreamElsewhere(),
        "The caller's new notices as they happen (Server-Sent Events)",
        tag="notifications",
        content_type="text/event-stream",
        description=(
            "Stays open. Read it with fetch (the bearer token goes in the Authorization "
            "header; EventSource cannot send it). Events: `retry: 2000` and a `: notices` "
            'comment on opening; `event: unread_count` with data {"unread_count": n} on '
            "opening and after each notice; `event: notice`, `id:` the notice id, data the "
            "notice as GET /api/v1/notifications lists it, within a second of the action; "
            "a `: ping` comment every 15 s while idle. The stream ends when the token "
            "expires (reconnect with a fresh one) or when the client fell more than 100 "
            "events behind. Served by the stream servers the load balancer routes this "
            "path to; a gateway reached directly answers 204 (no stream here: poll "
            "GET /api/v1/notifications/unread-count instead)."
        ),
        parameters=[STREAM_LAST_EVENT_ID],
        also={
            204: "No stream is served at this address: an SSE client stops "
            "reconnecting, and the caller polls the unread count instead."
        },
    ),
    Route(
        f"{V1}/notifications/{NOTICE_ID}/read",
        USER,
        lambda w: resources.NoticeRead(w.clients),
        {
            "post": op(
                "Mark one of the caller's notices read (empty body)",
                tag="notifications",
                body=schemas.EmptyBody,
                body_optional=True,
                response=schemas.Notice,
                errors=(404, *BODY_ERRORS),
            )
        },
    ),
    Route(
        f"{V1}/notifications/read-all",
        USER,
        lambda w: resources.NoticeReadAll(w.clients),
        {
            "post": op(
                "Mark all the caller's notices read (empty body)",
                tag="notifications",
                body=schemas.EmptyBody,
                body_optional=True,
                response=schemas.Updated,
                errors=BODY_ERRORS,
            )
        },
    ),
    reading(
        f"{V1}/admin/tickets",
        ADMIN,
        lambda w: resources.TicketsQuery(
            w.clients, "admin_list_tickets", schemas.AdminTicketListQuery
        ),
        "Every user's tickets, filtered and sorted",
        tag="support",
        query=schemas.AdminTicketListQuery,
        response=schemas.AdminTicketPage,
        errors=(400, 422),
    ),
    reading(
        f"{V1}/admin/tickets/{TICKET_ID}",
        ADMIN,
        lambda w: resources.AdminTicketItem(w.clients),
        "Any ticket, with owner and internal notes",
        tag="support",
        response=schemas.AdminTicket,
        errors=(404,),
    ),
    ticket_messages(
        f"{V1}/admin/tickets/{TICKET_ID}",
        ADMIN,
        add="admin_add_message",
        body=schemas.AdminMessageBody,
        message=schemas.AdminMessage,
        listing="admin_list_messages",
        page=schemas.AdminMessagePage,
        add_summary="A public reply or an internal note; a public reply may set the status too",
        list_summary="Earlier messages of any ticket, internal notes included, a page at a time",
        tag="support",
        description=(
            "A public reply may carry the `status` it leaves the ticket in (the "
            "transition table of POST .../status; `resolved` needs a "
            "`resolution_note`): reply and status change are one action, all or "
            "nothing. An illegal move is a 409 and stores no message; the owner "
            "gets one notice (`ticket_resolved` when it resolves, else "
            "`support_reply`). `status` with an internal note is a 422."
        ),
    ),
    ticket_command(
        f"{V1}/admin/tickets/{TICKET_ID}/status",
        ADMIN,
        "change_status",
        schemas.StatusBody,
        schemas.AdminTicket,
        "Change the status (resolved needs a resolution_note)",
        tag="support",
    ),
    ticket_command(
        f"{V1}/admin/tickets/{TICKET_ID}/assign",
        ADMIN,
        "assign_ticket",
        schemas.AssignBody,
        schemas.AdminTicket,
        "Assign to an admin, or unassign with null",
        tag="support",
    ),
    ticket_command(
        f"{V1}/admin/tickets/{TICKET_ID}/priority",
        ADMIN,
        "change_priority",
        schemas.PriorityBody,
        schemas.AdminTicket,
        "Change the priority, with a reason kept in the ticket's history",
        tag="support",
        description=(
            "The change and its reason appear in `priority_changes` of the support "
            "view. The priority the ticket already has changes nothing and records "
            "nothing (200, the ticket as it is). A closed ticket is a 409."
        ),
    ),
    reading(
        f"{V1}/admin/staff",
        ADMIN,
        lambda w: resources.StaffCollection(w.clients),
        "The staff directory: every admin who has made an API call (with the latest "
        "name their token carried) and anyone named in a team",
        tag="support",
        response=schemas.StaffList,
    ),
    *kept_collection(
        f"{V1}/admin/teams",
        TEAM_KEY,
        "key",
        collection=lambda w: resources.TeamCollection(w.clients, w.feature_keys),
        item=lambda w: resources.TeamItem(w.clients, w.feature_keys),
        listing=schemas.TeamList,
        body=schemas.TeamBody,
        change=schemas.TeamChangeBody,
        response=schemas.Team,
        summaries=(
            "Every team, in creation order (the order routing tries them in)",
            "Create a team; members not yet known become known staff",
            "One team",
            "Change the fields given (label, members, features, issue_types, "
            "assignment); the key stays",
            "Delete a team; its tickets keep no team",
        ),
        create_errors=(409,),
    ),
    reading(
        f"{V1}/admin/stats",
        ADMIN,
        lambda w: resources.TicketsQuery(w.clients, "get_stats", schemas.StatsQuery),
        "The dashboard: open tickets by status and priority, unassigned, at risk "
        "and breached now; first-response times; created and resolved per day",
        tag="support",
        query=schemas.StatsQuery,
        response=schemas.Stats,
        errors=(400, 422),
    ),
    *kept_collection(
        f"{V1}/admin/macros",
        MACRO_ID,
        "id",
        collection=lambda w: resources.MacroCollection(w.clients),
        item=lambda w: resources.MacroItem(w.clients),
        listing=schemas.MacroList,
        body=schemas.MacroBody,
        change=schemas.MacroChangeBody,
        response=schemas.Macro,
        summaries=(
            "Every canned reply, by title",
            "Create a canned reply; unknown placeholders in its body are a 422",
            "One canned reply",
            "Change the fields given (title, body, status; status null: none)",
            "Delete a canned reply",
        ),
        create_description=(
            "`body` may hold the placeholders `{owner_name}`, `{ticket_id}` and "
            "`{agent_name}`, which the reply box fills in when it inserts the macro; "
            "any other `{name}` is a 422. `status` (optional) is the status the reply "
            "box preselects with it."
        ),
    ),
    # Operations routes are public (the load balancer keeps /metrics from the internet).
    reading(
        "/healthz",
        PUBLIC,
        lambda w: operations.Health(),
        "200 while the process runs",
        tag="operations",
        response=schemas.Health,
    ),
    reading(
        "/readyz",
        PUBLIC,
        lambda w: operations.Ready(w.clients),
        "200 when the broker and every service answer; else 503 naming what failed",
        tag="operations",
        response=schemas.Health,
        errors=(503,),
    ),
    reading(
        "/openapi.json",
        PUBLIC,
        lambda w: resources.Document(w.document),
        "This document",
        tag="operations",
    ),
    reading(
        "/metrics",
        PUBLIC,
        lambda w: operations.Metrics(),
        "Prometheus text format",
        tag="operations",
        content_type="text/plain",
    ),
)

# The routes answered without a token (``middleware.Authenticate``), the pages aside.
PUBLIC_TEMPLATES = tuple(route.template for route in ROUTES if route.auth == PUBLIC)


def by_path() -> dict[str, Mapping[str, dict]]:
    """Documented path -> method -> operation, in the table's order."""
    return {route.path: route.operations for route in ROUTES}
