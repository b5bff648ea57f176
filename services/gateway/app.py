"""The gateway's app factory: ``create_app(settings, clients)``.

``clients`` is anything with ``call(service, method, *args)``, ``ping(service)``
and ``check_broker()``: ``rpc.RpcClients`` in production, in-process fakes in the
unit tests. Middleware and error handlers are wired here; the routes come from
``routes.ROUTES``, the one table the OpenAPI document is also generated from.
"""

from __future__ import annotations

import falcon
from falcon.routing import BaseConverter

from services.gateway import resources
from services.gateway.auth import TokenVerifier
from services.gateway.errors import (
    ApiError,
    handle_api_error,
    handle_remote_error,
    register_error_handlers,
)
from services.gateway.hsts import StrictTransportSecurity
from services.gateway.middleware import (
    Authenticate,
    Cors,
    NoStoreNoSniff,
    RecordStaff,
    RequestContext,
)
from services.gateway.openapi import build_openapi
from services.gateway.pages import register_pages
from services.gateway.routes import PUBLIC_TEMPLATES, ROUTES, Wiring
from services.gateway.settings import GatewaySettings
from shared.catalog import build_catalog
from shared.errors import HelpdeskError
from shared.ids import row_id


class RowIdConverter(BaseConverter):
    """A ticket or notice id in a path (``shared.ids.row_id``); anything else is a 404.

    The one rule for ids in every route, the API's and the pages'. Falcon's ``int``
    converter would also take "+12" and "١٢" as ticket 12, and any length.
    """

    def convert(self, value):
        return row_id(value)


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


def create_app(settings: GatewaySettings, clients) -> falcon.App:
    """Build the WSGI app for ``settings`` on top of ``clients``."""
    router = Router()
    router.options.converters["row_id"] = RowIdConverter
    app = falcon.App(
        middleware=[
            StrictTransportSecurity(),
            NoStoreNoSniff(),
            RequestContext(router, settings.trusted_proxies),
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

    wiring = Wiring(
        settings=settings,
        clients=clients,
        feature_keys=tuple(key for key, _label in settings.features),
        catalog=build_catalog(settings),
        document=build_openapi(settings),
    )
    for route in ROUTES:
        app.add_route(route.template, route.resource(wiring))
    pages = register_pages(app, settings)
    # Added last, once every route is known: the routes answered without a token are
    # the table's public ones and the pages; every other route needs one (see Authenticate).
    app.add_middleware(Authenticate(TokenVerifier(settings), router, PUBLIC_TEMPLATES + pages))
    # Once the caller is known: admins go into the staff directory.
    app.add_middleware(RecordStaff(clients))
    return app
