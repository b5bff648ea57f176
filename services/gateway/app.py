"""The gateway's app factory: ``create_app(settings, clients)``.

``clients`` is anything with ``call(service, method, *args)``, ``ping(service)``
and ``check_broker()``: ``rpc.RpcClients`` in production, in-process fakes in the
unit tests. Routes, middleware and error handlers are all wired here.
"""

from __future__ import annotations

import functools
import threading
import time

import falcon
from falcon.routing import BaseConverter

from services.gateway import metrics, resources, schemas
from services.gateway.auth import TokenVerifier
from services.gateway.errors import (
    ApiError,
    error_body,
    handle_api_error,
    handle_remote_error,
    register_error_handlers,
)
from services.gateway.hsts import StrictTransportSecurity
from services.gateway.middleware import Authenticate, Cors, NoStoreNoSniff, RequestContext
from services.gateway.openapi import build_openapi
from services.gateway.pages import register_pages
from shared.catalog import build_catalog
from shared.config import Settings
from shared.errors import HelpdeskError
from shared.ids import row_id

TICKET_ID = "{ticket_id:row_id}"
NOTICE_ID = "{notice_id:row_id}"


class RowIdConverter(BaseConverter):
    """A ticket or notice id in a path (``shared.ids.row_id``); anything else is a 404.

    The one rule for ids in every route, the API's and the pages'. Falcon's ``int``
    converter would also take "+12" and "١٢" as ticket 12, and any length.
    """

    def convert(self, value):
        return row_id(value)


SERVICES = ("tickets", "notifications")
# Operations routes: public (the load balancer keeps /metrics from the internet).
OPERATIONS = ("/healthz", "/readyz", "/openapi.json", "/metrics")


class Health:
    """``GET /healthz``: the process is up."""

    def on_get(self, req, resp):
        resp.media = {"status": "ok"}


# How old an answer of /readyz may be: a burst of callers (or of probes from many
# load balancers) costs one check of the broker and services a second, not one each.
READY_MAX_AGE = 1.0


class Ready:
    """``GET /readyz``: the broker and each service answer; else 503 naming what failed.

    One check at a time: a caller that finds the last result older than
    ``READY_MAX_AGE`` runs the check while the others wait for it and share its
    result. The answer names what failed, never an exception's text (it may carry
    addresses or credentials of the broker).
    """

    def __init__(self, clients):
        self.clients = clients
        self._lock = threading.Lock()
        self._checked_at = None
        self._failed: tuple = ()

    def _check(self) -> tuple:
        try:
            self.clients.check_broker()
        except Exception:  # any fault means not ready; what it was goes to no one
            return ("broker",)
        failed = []
        for service in SERVICES:
            try:
                self.clients.ping(service)
            except Exception:
                failed.append(service)
        return tuple(failed)

    def failed(self) -> tuple:
        """What failed in a check at most ``READY_MAX_AGE`` old (empty when ready)."""
        with self._lock:
            now = time.monotonic()
            if self._checked_at is None or now - self._checked_at >= READY_MAX_AGE:
                self._failed = self._check()
                self._checked_at = now
            return self._failed

    def on_get(self, req, resp):
        failed = self.failed()
        if failed:
            resp.status = falcon.HTTP_503
            resp.set_header("Retry-After", "5")
            resp.media = error_body(
                "service_unavailable",
                "Not ready: " + ", ".join(failed),
                dict.fromkeys(failed, "unavailable"),
            )
            return
        resp.media = {"status": "ok"}


class OpenApi:
    """``GET /openapi.json``: generated once per process from ``schemas``."""

    def __init__(self, settings):
        self.document = build_openapi(settings)

    def on_get(self, req, resp):
        resp.media = self.document


class Metrics:
    """``GET /metrics``: Prometheus text exposition."""

    def on_get(self, req, resp):
        resp.data, resp.content_type = metrics.exposition()


def _existence_first(clients):
    """405 handler: an unreachable ticket or notice is a 404, which outranks 405.

    Errors raised inside an error handler are not handled again, so this handler
    serializes whichever error wins itself.
    """

    def handle(req, resp, ex, params):
        if req.context.get("actor") is not None:
            try:
                resources.check_reachable(clients, req, params or {})
            except HelpdeskError as remote:
                handle_remote_error(req, resp, remote, params)
                return
            except ApiError as unavailable:
                handle_api_error(req, resp, unavailable, params)
                return
        handle_api_error(req, resp, ApiError(405, headers=dict(ex.headers or {})), params)

    return handle


class Router(falcon.routing.CompiledRouter):
    """Falcon's router, answering HEAD wherever GET is answered.

    HTTP asks every server for HEAD beside GET (RFC 9110, 9.1); Falcon sends no body
    for a HEAD, so the GET responder serves it as it is.
    """

    def map_http_methods(self, resource, **kwargs):
        responders = super().map_http_methods(resource, **kwargs)
        if "GET" in responders and "HEAD" not in responders:
            responders["HEAD"] = responders["GET"]
        return responders


def create_app(settings: Settings, clients) -> falcon.App:
    """Build the WSGI app for ``settings`` on top of ``clients``."""
    router = Router()
    router.options.converters["row_id"] = RowIdConverter
    app = falcon.App(
        middleware=[
            StrictTransportSecurity(),
            NoStoreNoSniff(),
            RequestContext(router),
            # Before Authenticate (added last): a preflight carries no token.
            Cors(settings.cors_origins),
        ],
        router=router,
        cors_enable=False,
    )
    app.req_options.strip_url_path_trailing_slash = True
    app.req_options.keep_blank_qs_values = False
    app.resp_options.secure_cookies_by_default = True
    register_error_handlers(app)
    app.add_error_handler(falcon.HTTPMethodNotAllowed, _existence_first(clients))

    feature_keys = tuple(key for key, _label in settings.features)
    catalog = build_catalog(settings.features, settings.tickets_per_day, settings.messages_per_hour)
    v1 = "/api/v1"
    app.add_route(f"{v1}/catalog", resources.Catalog(catalog))
    app.add_route(f"{v1}/preview", resources.Preview())
    app.add_route(f"{v1}/tickets", resources.TicketCollection(clients, feature_keys))
    app.add_route(f"{v1}/tickets/{TICKET_ID}", resources.TicketItem(clients))
    command = functools.partial(resources.TicketCommand, clients)
    messages = functools.partial(resources.TicketMessages, clients, created=True)
    app.add_route(
        f"{v1}/tickets/{TICKET_ID}/messages",
        messages("add_reply", schemas.ReplyBody(), "list_messages"),
    )
    app.add_route(
        f"{v1}/tickets/{TICKET_ID}/close",
        command("close_ticket", schemas.CloseBody(), required=False),
    )
    app.add_route(f"{v1}/notifications", resources.NoticeCollection(clients))
    app.add_route(f"{v1}/notifications/unread-count", resources.NoticeUnreadCount(clients))
    app.add_route(f"{v1}/notifications/stream", resources.NoticeStreamElsewhere())
    app.add_route(f"{v1}/notifications/read-all", resources.NoticeReadAll(clients))
    app.add_route(f"{v1}/notifications/{NOTICE_ID}/read", resources.NoticeRead(clients))
    app.add_route(f"{v1}/admin/tickets", resources.AdminTicketCollection(clients))
    app.add_route(f"{v1}/admin/tickets/{TICKET_ID}", resources.AdminTicketItem(clients))
    app.add_route(
        f"{v1}/admin/tickets/{TICKET_ID}/messages",
        messages("admin_add_message", schemas.AdminMessageBody(), "admin_list_messages"),
    )
    app.add_route(
        f"{v1}/admin/tickets/{TICKET_ID}/status",
        command("change_status", schemas.StatusBody()),
    )
    app.add_route(
        f"{v1}/admin/tickets/{TICKET_ID}/assign",
        command("assign_ticket", schemas.AssignBody()),
    )
    operations = {
        "/healthz": Health(),
        "/readyz": Ready(clients),
        "/openapi.json": OpenApi(settings),
        "/metrics": Metrics(),
    }
    for route in OPERATIONS:
        app.add_route(route, operations[route])
    pages = register_pages(app, settings)
    # Added last, once every route is known: the routes answered without a token are
    # listed here; every other route needs one (see Authenticate).
    app.add_middleware(Authenticate(TokenVerifier(settings), router, OPERATIONS + pages))
    return app
