"""The gateway's one route table: each API and operations route's path template,
resource, who may call it, and its OpenAPI operations.

``app.create_app`` registers a route from each entry, ``openapi.build_openapi``
documents each entry, and the routes answered without a token (``PUBLIC``) are
read from it, so a route cannot be served without being documented, nor
documented with other access than it is served with. The table is written by
``Section``: the routes under one path prefix that share their access and their
OpenAPI tag. The pages are routed by ``pages.register_pages`` (public, outside
the API, not in the document).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from services.gateway import operations, resources, schemas
from services.gateway.middleware import LAST_EVENT_ID_HEADER, TEMPLATE_FIELD
from shared.catalog import ROLES

# Who may call a route: anyone, a signed-in user (or admin), an admin only.
PUBLIC = "public"
USER, ADMIN = ROLES

V1 = "/api/v1"
TICKET_ID = "{ticket_id:row_id}"
TEAM_KEY = "{team_key}"
NOTICE_ID = "{notice_id:row_id}"
MACRO_ID = "{macro_id:row_id}"

# What a body may be refused with (unreadable, too slow, too large, not JSON, invalid),
# and a query (unreadable, invalid): ``op`` documents them wherever there is one.
BODY_ERRORS = (400, 408, 413, 415, 422)
QUERY_ERRORS = (400, 422)
STREAM_LAST_EVENT_ID = {
    "name": LAST_EVENT_ID_HEADER,
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
    """One operation's OpenAPI data (path parameters come from the route's template;
    ``errors`` are those of its own, the body's and the query's are added)."""
    implied = (*(BODY_ERRORS if body else ()), *(QUERY_ERRORS if query else ()))
    return {
        "summary": summary,
        "ok": ok,
        "response": response,
        "query": query,
        "body": body,
        "errors": tuple(sorted({*errors, *implied})),
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


def ticket_action(summary, body, response, *, errors=(409,), **kwargs) -> dict:
    """An operation on one ticket that takes a body (409: the ticket's state refuses it)."""
    return op(summary, body=body, response=response, errors=errors, **kwargs)


@dataclass(frozen=True)
class Route:
    """One route: Falcon's ``template``, ``auth`` (PUBLIC, USER or ADMIN), the OpenAPI
    ``tag`` of its operations, the ``resource`` built from a ``Wiring``, and
    ``operations`` (method -> ``op``)."""

    template: str
    auth: str
    tag: str
    resource: Callable[[Wiring], object]
    operations: Mapping[str, dict]

    @property
    def path(self) -> str:
        """The documented path: every field is ``{id}``, with no converter."""
        return TEMPLATE_FIELD.sub("{id}", self.template)

    @property
    def fields(self) -> tuple[str, ...]:
        """The template's field names, in order (``ticket_id``, ``notice_id``)."""
        return tuple(TEMPLATE_FIELD.findall(self.template))


# A route as a section lists it: its path under the section's prefix, its resource
# (built from a ``Wiring``) and its operations (method -> ``op``).
Entry = tuple[str, Callable[[Wiring], object], Mapping[str, dict]]


@dataclass(frozen=True)
class Section:
    """The routes under one path ``prefix`` that share who may call them (``auth``)
    and the OpenAPI ``tag`` they are documented under."""

    prefix: str
    auth: str
    tag: str

    def routes(self, *entries: Entry) -> tuple[Route, ...]:
        """A route of each entry, in the entries' order."""
        return tuple(
            Route(self.prefix + path, self.auth, self.tag, resource, operations)
            for path, resource, operations in entries
        )


def entry(path, resource, **operations) -> Entry:
    """A section's route at ``path`` with its operations by method (``get=op(...)``)."""
    return path, resource, operations


def reading(path, resource, summary, **kwargs) -> Entry:
    """A route that answers GET only (``op``'s summary and keywords)."""
    return entry(path, resource, get=op(summary, **kwargs))


def posting(path, resource, summary, **kwargs) -> Entry:
    """A route that answers POST only (``op``'s summary and keywords)."""
    return entry(path, resource, post=op(summary, **kwargs))


def ticket_command(
    path, method, body, response, summary, *, body_optional=False, **kwargs
) -> Entry:
    """A route on one ticket whose POST runs the tickets service's ``method`` on a
    ``body`` (validated and documented by that one schema) and answers ``response``."""

    def resource(w):
        return resources.TicketCommand(w.clients, method, body(), required=not body_optional)

    post = ticket_action(summary, body, response, body_optional=body_optional, **kwargs)
    return entry(path, resource, post=post)


def ticket_messages(
    ticket, *, add, body, message, listing, page, add_summary, list_summary, **kwargs
) -> Entry:
    """``{ticket}/messages``: GET pages through the ticket's earlier messages
    (``listing``, answering ``page``), POST adds one (``add`` on a ``body``, answering
    ``message``, 201)."""

    def resource(w):
        return resources.TicketMessages(w.clients, add, body(), listing, created=True)

    return entry(
        f"{ticket}/messages",
        resource,
        get=op(list_summary, query=schemas.MessageListQuery, response=page),
        post=ticket_action(add_summary, body, message, ok=201, **kwargs),
    )


def kept_collection(
    path,
    field,
    location,
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
) -> tuple[Entry, Entry]:
    """The two routes of a kind support keeps (teams, macros): GET/POST ``path``
    (``collection``: every one as ``listing``, a new one from ``body``, documented as
    at ``location``) and GET/PATCH/DELETE ``path/{field}`` (``item``: one, a change
    from ``change``, a delete). ``summaries``: of list, create, get, change and
    delete, in that order."""
    listed, created, got, changed, deleted = summaries
    every = entry(
        path,
        collection,
        get=op(listed, response=listing),
        post=op(
            created,
            ok=201,
            body=body,
            response=response,
            errors=create_errors,
            headers=located(location),
            description=create_description,
        ),
    )
    one = entry(
        f"{path}/{field}",
        item,
        get=op(got, response=response),
        patch=op(changed, body=change, response=response),
        delete=op(deleted, ok=204),
    )
    return every, one


ROUTES: tuple[Route, ...] = (
    *Section(V1, USER, "catalog").routes(
        reading(
            "/catalog",
            lambda w: resources.Document(w.catalog),
            "Issue types, features, statuses and limits for the ticket form",
            response=schemas.Catalog,
        ),
        posting(
            "/preview",
            lambda w: resources.Preview(),
            "Render Markdown exactly as it will be stored",
            body=schemas.PreviewBody,
            response=schemas.PreviewResult,
            replays=False,
        ),
    ),
    *Section(f"{V1}/tickets", USER, "tickets").routes(
        entry(
            "",
            lambda w: resources.TicketCollection(w.clients, w.feature_keys),
            get=op(
                "The caller's tickets, newest first",
                query=schemas.TicketListQuery,
                response=schemas.TicketPage,
            ),
            post=op(
                "Open a ticket (at most tickets_per_day per UTC day)",
                ok=201,
                body=schemas.CreateTicketBody,
                response=schemas.Ticket,
                errors=(429,),
                headers=LOCATION,
            ),
        ),
        reading(
            f"/{TICKET_ID}",
            lambda w: resources.TicketItem(w.clients),
            "One of the caller's tickets",
            response=schemas.Ticket,
        ),
        ticket_messages(
            f"/{TICKET_ID}",
            add="add_reply",
            body=schemas.ReplyBody,
            message=schemas.Message,
            listing="list_messages",
            page=schemas.MessagePage,
            add_summary="Reply on the caller's ticket (at most messages_per_hour per ticket, "
            "rolling hour)",
            list_summary="Earlier messages of the caller's ticket, a page at a time, oldest first",
            errors=(409, 429),
        ),
        ticket_command(
            f"/{TICKET_ID}/close",
            "close_ticket",
            schemas.CloseBody,
            schemas.Ticket,
            "Close the caller's ticket (never reopened)",
            body_optional=True,
        ),
    ),
    *Section(f"{V1}/notifications", USER, "notifications").routes(
        reading(
            "",
            lambda w: resources.NoticeCollection(w.clients),
            "The caller's notices, newest first",
            query=schemas.NoticeListQuery,
            response=schemas.NoticePage,
        ),
        reading(
            "/unread-count",
            lambda w: resources.NoticeUnreadCount(w.clients),
            "How many of the caller's notices are unread",
            response=schemas.UnreadCount,
        ),
        reading(
            "/stream",
            lambda w: resources.NoticeStreamElsewhere(),
            "The caller's new notices as they happen (Server-Sent Events)",
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
        posting(
            f"/{NOTICE_ID}/read",
            lambda w: resources.NoticeRead(w.clients),
            "Mark one of the caller's notices read (empty body)",
            body=schemas.EmptyBody,
            body_optional=True,
            response=schemas.Notice,
        ),
        posting(
            "/read-all",
            lambda w: resources.NoticeReadAll(w.clients),
            "Mark all the caller's notices read (empty body)",
            body=schemas.EmptyBody,
            body_optional=True,
            response=schemas.Updated,
        ),
    ),
    *Section(f"{V1}/admin/tickets", ADMIN, "support").routes(
        reading(
            "",
            lambda w: resources.TicketsQuery(
                w.clients, "admin_list_tickets", schemas.AdminTicketListQuery
            ),
            "Every user's tickets, filtered and sorted",
            query=schemas.AdminTicketListQuery,
            response=schemas.AdminTicketPage,
        ),
        reading(
            f"/{TICKET_ID}",
            lambda w: resources.AdminTicketItem(w.clients),
            "Any ticket, with owner and internal notes",
            response=schemas.AdminTicket,
        ),
        ticket_messages(
            f"/{TICKET_ID}",
            add="admin_add_message",
            body=schemas.AdminMessageBody,
            message=schemas.AdminMessage,
            listing="admin_list_messages",
            page=schemas.AdminMessagePage,
            add_summary="A public reply or an internal note; a public reply may set the status too",
            list_summary="Earlier messages of any ticket, internal notes included, a page at a time",
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
            f"/{TICKET_ID}/status",
            "change_status",
            schemas.StatusBody,
            schemas.AdminTicket,
            "Change the status (resolved needs a resolution_note)",
        ),
        ticket_command(
            f"/{TICKET_ID}/assign",
            "assign_ticket",
            schemas.AssignBody,
            schemas.AdminTicket,
            "Assign to an admin, or unassign with null",
        ),
        ticket_command(
            f"/{TICKET_ID}/priority",
            "change_priority",
            schemas.PriorityBody,
            schemas.AdminTicket,
            "Change the priority, with a reason kept in the ticket's history",
            description=(
                "The change and its reason appear in `priority_changes` of the support "
                "view. The priority the ticket already has changes nothing and records "
                "nothing (200, the ticket as it is). A closed ticket is a 409."
            ),
        ),
    ),
    *Section(f"{V1}/admin", ADMIN, "support").routes(
        reading(
            "/staff",
            lambda w: resources.StaffCollection(w.clients),
            "The staff directory: every admin who has made an API call (with the latest "
            "name their token carried) and anyone named in a team",
            response=schemas.StaffList,
        ),
        *kept_collection(
            "/teams",
            TEAM_KEY,
            "/api/v1/admin/teams/{key}",
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
            "/stats",
            lambda w: resources.TicketsQuery(w.clients, "get_stats", schemas.StatsQuery),
            "The dashboard: open tickets by status and priority, unassigned, at risk "
            "and breached now; first-response times; created and resolved per day",
            query=schemas.StatsQuery,
            response=schemas.Stats,
        ),
        *kept_collection(
            "/macros",
            MACRO_ID,
            "/api/v1/admin/macros/{id}",
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
    ),
    # Operations routes are public (the load balancer keeps /metrics from the internet).
    *Section("", PUBLIC, "operations").routes(
        reading(
            "/healthz",
            lambda w: operations.Health(),
            "200 while the process runs",
            response=schemas.Health,
        ),
        reading(
            "/readyz",
            lambda w: operations.Ready(w.clients),
            "200 when the broker and every service answer; else 503 naming what failed",
            response=schemas.Health,
            errors=(503,),
        ),
        reading("/openapi.json", lambda w: resources.Document(w.document), "This document"),
        reading(
            "/metrics",
            lambda w: operations.Metrics(),
            "Prometheus text format",
            content_type="text/plain",
        ),
    ),
)

# The routes answered without a token (``middleware.Authenticate``), the pages aside.
PUBLIC_TEMPLATES = tuple(route.template for route in ROUTES if route.auth == PUBLIC)


def by_path() -> dict[str, Mapping[str, dict]]:
    """Documented path -> method -> operation, in the table's order."""
    return {route.path: route.operations for route in ROUTES}
