"""Cross-cutting concerns only: request ids, authentication, metrics, access log."""

from __future__ import annotations

import contextlib
import functools
import logging
import re
import time
import uuid

from services.gateway import metrics
from services.gateway.auth import TokenVerifier
from services.gateway.errors import ApiError
from shared.logging import bind_request_id, reset_request_id

access_log = logging.getLogger("gateway.access")

REQUEST_ID_HEADER = "X-Request-Id"
MAX_REQUEST_ID_LENGTH = 128
# The characters a caller's request id keeps (a regex class body; OpenAPI states it).
REQUEST_ID_CHARACTERS = "A-Za-z0-9._:@+=/-"
_UNSAFE = re.compile(f"[^{REQUEST_ID_CHARACTERS}]")
API_PREFIX = "/api/"
ADMIN_PREFIX = "/api/v1/admin"


_CONVERTER = re.compile(r"\{(\w+)[^}]*\}")


@functools.lru_cache(maxsize=256)
def route_label(uri_template: str | None) -> str:
    """The route template without field converters, for metric labels and logs."""
    return _CONVERTER.sub(r"{\1}", uri_template) if uri_template else "unmatched"


def request_id_from(header: str | None) -> str:
    """The caller's id cleaned to safe characters and bounded length, or a new one."""
    if header:
        cleaned = _UNSAFE.sub("", header)[:MAX_REQUEST_ID_LENGTH]
        if cleaned:
            return cleaned
    return uuid.uuid4().hex


class RequestContext:
    """Give every request an id (echoed or made), bind it for logs; time and count it.

    ``router`` names the route of a request refused before routing (401/403 come
    from ``Authenticate``, which runs first), so those count under their route too.
    """

    def __init__(self, router=None):
        self.router = router

    def _route(self, req) -> str:
        template = req.uri_template
        if template is None and self.router is not None:
            found = self.router.find(req.path)
            template = found[3] if found else None
        return route_label(template)

    def process_request(self, req, resp):
        req.context.started = time.perf_counter()
        req.context.request_id = request_id_from(req.get_header(REQUEST_ID_HEADER))
        req.context.log_token = bind_request_id(req.context.request_id)
        resp.set_header(REQUEST_ID_HEADER, req.context.request_id)

    def process_response(self, req, resp, resource, req_succeeded):
        request_id = req.context.get("request_id") or request_id_from(None)
        resp.set_header(REQUEST_ID_HEADER, request_id)
        started = req.context.get("started")
        elapsed = time.perf_counter() - started if started else 0.0
        route = self._route(req)
        status = resp.status_code
        metrics.observe(req.method, route, status, elapsed)
        if access_log.isEnabledFor(logging.INFO):
            access_log.info(
                "request",
                extra={
                    "method": req.method,
                    "route": route,
                    "path": req.path,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                },
            )
        token = req.context.get("log_token")
        if token is not None:
            # Bound in another context (an error path): nothing to undo.
            with contextlib.suppress(ValueError):
                reset_request_id(token)


class Authenticate:
    """Verify the bearer token on every API path, before routing.

    Doing it before routing makes 401 outrank 404 and 405, and the admin check on
    the path prefix makes 403 outrank them too, as the contract's order requires.
    """

    def __init__(self, verifier: TokenVerifier):
        self.verifier = verifier

    def process_request(self, req, resp):
        if not req.path.startswith(API_PREFIX):
            return
        actor = self.verifier.verify(req.get_header("Authorization"))
        req.context.actor = actor
        if (
            req.path == ADMIN_PREFIX or req.path.startswith(ADMIN_PREFIX + "/")
        ) and not actor.admin:
            raise ApiError(403, "This endpoint needs the admin role.")
