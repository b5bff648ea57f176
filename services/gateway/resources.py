"""The contract's resources: thin translations from HTTP to one RPC call each.

Each resource validates the query or body with ``schemas``, calls one service
method with the verified actor, and returns the service's answer unchanged (the
services return exactly the contract's JSON bodies). Errors are raised and
serialized in ``errors.py``.
"""

from __future__ import annotations

import falcon

from services.gateway import schemas
from services.gateway.body import NO_BODY, read_json
from services.gateway.errors import ApiError
from services.gateway.middleware import ADMIN_PREFIX, route_label
from services.gateway.rpc import NOTIFICATIONS, TICKETS
from shared import idempotency
from shared.errors import INVALID_REQUEST
from shared.rendering import render_markdown


def _actor(req) -> dict:
    return req.context.actor.as_dict()


def _command(req, schema, params=None, required=True) -> tuple[dict, dict | None]:
    """A POST's valid fields and its ``idempotency`` (``{"key", "fingerprint"}``, or
    None without an ``Idempotency-Key`` header) for the service.

    Reading the body comes first (413, 415, 400); then the fields and the key are
    checked together, so a request wrong in both gets one 422 naming both.
    """
    data = read_json(req, required=required)
    body = {} if data is NO_BODY else data
    key = req.get_header(idempotency.HEADER)
    problems = [] if key is None else idempotency.key_problems(key)
    try:
        fields = schemas.load_body(schema, body)
    except ApiError as invalid:
        if problems:
            invalid.details[idempotency.HEADER] = problems
        raise
    if problems:
        raise ApiError(422, INVALID_REQUEST, {idempotency.HEADER: problems})
    if key is None:
        return fields, None
    route = route_label(req.uri_template)
    digest = idempotency.fingerprint(req.method, route, params or {}, body)
    return fields, {"key": key, "fingerprint": digest}


def check_reachable(clients, req, params: dict) -> None:
    """Raise the service's NotFound if the path names a ticket or notice the caller
    cannot see (someone else's, or none).

    The contract ranks 404 above 405 and every body error, so a request refused for
    one of those asks this first: the one place that decides what "reachable" means.
    """
    actor = req.context.actor
    if params.get("ticket_id") is not None:
        # The matched route, not the raw path: "//api/v1/admin/..." is routed too.
        admin = (req.uri_template or "").startswith(ADMIN_PREFIX + "/")
        getter = "admin_get_ticket" if admin else "get_ticket"
        clients.call(TICKETS, getter, actor.as_dict(), params["ticket_id"])
    elif params.get("notice_id") is not None:
        clients.call(NOTIFICATIONS, "get_notice", actor.id, params["notice_id"])
    elif params.get("team_key") is not None:
        clients.call(TICKETS, "get_team", actor.as_dict(), params["team_key"])
    elif params.get("macro_id") is not None:
        clients.call(TICKETS, "get_macro", actor.as_dict(), params["macro_id"])


class _Resource:
    def __init__(self, clients):
        self.clients = clients

    def tickets(self, method, *args):
        return self.clients.call(TICKETS, method, *args)

    def notifications(self, method, *args):
        return self.clients.call(NOTIFICATIONS, method, *args)


class TicketsQuery(_Resource):
    """``GET`` answered by the tickets service's ``method`` on the caller and the
    query string, validated first with ``query`` (a schema class)."""

    def __init__(self, clients, method, query):
        super().__init__(clients)
        self.method = method
        self.query = query()

    def on_get(self, req, resp):
        params = schemas.load_query(self.query, req.params)
        resp.media = self.tickets(self.method, _actor(req), params)


class TicketCommand(_Resource):
    """``POST`` on one ticket: validate the body, make one call, answer with its result.

    An unreachable ticket outranks a bad body (the contract puts 404 before 413, 415,
    400 and 422), so a body that fails validation is blamed only once the ticket is
    known to be the caller's.
    """

    def __init__(self, clients, method, schema, *, created=False, required=True):
        super().__init__(clients)
        self.method = method
        self.schema = schema
        self.status = falcon.HTTP_201 if created else falcon.HTTP_200
        self.required = required

    def on_post(self, req, resp, ticket_id):
        params = {"ticket_id": ticket_id}
        try:
            fields, key = _command(req, self.schema, params, self.required)
        except ApiError:
            check_reachable(self.clients, req, params)  # NotFound wins
            raise
        resp.media = self.tickets(self.method, _actor(req), ticket_id, fields, key)
        resp.status = self.status


class TicketMessages(TicketCommand):
    """A ticket's messages: ``POST`` adds one (``TicketCommand``), ``GET`` pages back
    through the earlier ones (``before``, ``limit``) with ``list_method``."""

    def __init__(self, clients, method, schema, list_method, **kwargs):
        super().__init__(clients, method, schema, **kwargs)
        self.list_method = list_method
        self.query = schemas.MessageListQuery()

    def on_get(self, req, resp, ticket_id):
        try:
            params = schemas.load_query(self.query, req.params)
        except ApiError:
            check_reachable(self.clients, req, {"ticket_id": ticket_id})  # NotFound wins
            raise
        resp.media = self.tickets(self.list_method, _actor(req), ticket_id, params)


# ---------------------------------------------------------------- shared


class Document:
    """A GET answered with one JSON document built once per process from the
    configuration: ``/api/v1/catalog``, ``/openapi.json``."""

    def __init__(self, document: dict):
        self.document = document

    def on_get(self, req, resp):
        resp.media = self.document


class Preview:
    """``POST /api/v1/preview``: the one renderer, so a preview is what will be stored.

    It changes nothing, so an ``Idempotency-Key`` is checked but nothing is stored:
    a repeat renders the same HTML again.
    """

    def __init__(self):
        self.schema = schemas.PreviewBody()

    def on_post(self, req, resp):
        fields, _key = _command(req, self.schema)
        resp.media = {"html": render_markdown(fields["text"])}


# ---------------------------------------------------------------- a user's tickets


class TicketCollection(TicketsQuery):
    """``GET``/``POST /api/v1/tickets``: the caller's own tickets."""

    def __init__(self, clients, feature_keys):
        super().__init__(clients, "list_tickets", schemas.TicketListQuery)
        self.create = schemas.CreateTicketBody(feature_keys)

    def on_post(self, req, resp):
        fields, key = _command(req, self.create)
        ticket = self.tickets("create_ticket", _actor(req), fields, key)
        resp.status = falcon.HTTP_201
        resp.location = f"/api/v1/tickets/{ticket['id']}"
        resp.media = ticket


class TicketItem(_Resource):
    """``GET /api/v1/tickets/{id}``: the owner's view, no internal notes."""

    def on_get(self, req, resp, ticket_id):
        resp.media = self.tickets("get_ticket", _actor(req), ticket_id)


# ---------------------------------------------------------------- support


class AdminTicketItem(_Resource):
    """``GET /api/v1/admin/tickets/{id}``: the support view, internal notes included."""

    def on_get(self, req, resp, ticket_id):
        resp.media = self.tickets("admin_get_ticket", _actor(req), ticket_id)


class StaffCollection(_Resource):
    """``GET /api/v1/admin/staff``: the staff directory."""

    def on_get(self, req, resp):
        resp.media = self.tickets("list_staff", _actor(req))


class AdminCollection(_Resource):
    """``GET``/``POST`` of the things of one kind the tickets service keeps for
    support (``noun``: teams, macros): ``list_<noun>s``, and ``create_<noun>`` with
    a body of ``create`` (201, located at ``<path>/<its id_field>``)."""

    noun = path = id_field = ""

    def __init__(self, clients, create):
        super().__init__(clients)
        self.create = create

    def on_get(self, req, resp):
        resp.media = self.tickets(f"list_{self.noun}s", _actor(req))

    def on_post(self, req, resp):
        fields, key = _command(req, self.create)
        made = self.tickets(f"create_{self.noun}", _actor(req), fields, key)
        resp.status = falcon.HTTP_201
        resp.location = f"{self.path}/{made[self.id_field]}"
        resp.media = made


class AdminItem(_Resource):
    """``GET``/``PATCH``/``DELETE`` of one such thing (``get_``, ``change_``,
    ``delete_<noun>``): ``PATCH`` changes the fields given (a missing one is a 404
    before a bad body is a 422); ``DELETE`` answers 204."""

    noun = ""

    def __init__(self, clients, change):
        super().__init__(clients)
        self.change = change

    def on_get(self, req, resp, **ids):
        resp.media = self.tickets(f"get_{self.noun}", _actor(req), *ids.values())

    def on_patch(self, req, resp, **ids):
        try:
            fields, key = _command(req, self.change, ids)
        except ApiError:
            check_reachable(self.clients, req, ids)  # NotFound wins
            raise
        resp.media = self.tickets(f"change_{self.noun}", _actor(req), *ids.values(), fields, key)

    def on_delete(self, req, resp, **ids):
        self.tickets(f"delete_{self.noun}", _actor(req), *ids.values())
        resp.status = falcon.HTTP_204


class TeamCollection(AdminCollection):
    """``GET``/``POST /api/v1/admin/teams``: every team (creation order), a new one."""

    noun, path, id_field = "team", "/api/v1/admin/teams", "key"

    def __init__(self, clients, feature_keys):
        super().__init__(clients, schemas.TeamBody(feature_keys))


class TeamItem(AdminItem):
    """``GET``/``PATCH``/``DELETE /api/v1/admin/teams/{key}``: one team; ``DELETE``
    leaves its tickets with no team."""

    noun = "team"

    def __init__(self, clients, feature_keys):
        super().__init__(clients, schemas.TeamChangeBody(feature_keys))


class MacroCollection(AdminCollection):
    """``GET``/``POST /api/v1/admin/macros``: every canned reply (by title), a new one."""

    noun, path, id_field = "macro", "/api/v1/admin/macros", "id"

    def __init__(self, clients):
        super().__init__(clients, schemas.MacroBody())


class MacroItem(AdminItem):
    """``GET``/``PATCH``/``DELETE /api/v1/admin/macros/{id}``: one canned reply."""

    noun = "macro"

    def __init__(self, clients):
        super().__init__(clients, schemas.MacroChangeBody())


# ---------------------------------------------------------------- notices


class NoticeCollection(_Resource):
    """``GET /api/v1/notifications``: the caller's own notices."""

    def __init__(self, clients):
        super().__init__(clients)
        self.query = schemas.NoticeListQuery()

    def on_get(self, req, resp):
        params = schemas.load_query(self.query, req.params)
        resp.media = self.notifications("list_notices", req.context.actor.id, params)


class NoticeUnreadCount(_Resource):
    """``GET /api/v1/notifications/unread-count``."""

    def on_get(self, req, resp):
        resp.media = self.notifications("unread_count", req.context.actor.id)


class NoticeStreamElsewhere:
    """``GET /api/v1/notifications/stream`` when it reaches a gateway, not a stream server.

    Streams are served by ``helpdesk-stream`` (a gthread worker would spend a thread
    on each). Where nothing routes the path there (a gateway on its own), 204 No
    Content tells a client that no stream is served here: an SSE client does not
    reconnect after a 204, the pages' bell polls instead, and a browser logs no error.
    """

    def on_get(self, req, resp):
        resp.status = falcon.HTTP_204


class NoticeRead(_Resource):
    """``POST /api/v1/notifications/{id}/read``: empty body (or ``{}``)."""

    def __init__(self, clients):
        super().__init__(clients)
        self.schema = schemas.EmptyBody()

    def on_post(self, req, resp, notice_id):
        params = {"notice_id": notice_id}
        try:
            _fields, key = _command(req, self.schema, params, required=False)
        except ApiError:
            check_reachable(self.clients, req, params)  # NotFound wins
            raise
        resp.media = self.notifications("mark_read", req.context.actor.id, notice_id, key)


class NoticeReadAll(_Resource):
    """``POST /api/v1/notifications/read-all``: empty body (or ``{}``)."""

    def __init__(self, clients):
        super().__init__(clients)
        self.schema = schemas.EmptyBody()

    def on_post(self, req, resp):
        _fields, key = _command(req, self.schema, required=False)
        resp.media = self.notifications("mark_all_read", req.context.actor.id, key)
