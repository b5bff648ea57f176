"""Cross-cutting concerns only: request ids, authentication, metrics, access log,
the headers every API answer carries."""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import logging
import re
import threading
import time
import uuid
from collections import OrderedDict

from services.gateway import metrics
from services.gateway.auth import TokenVerifier
from services.gateway.errors import ApiError
from services.gateway.rpc import TICKETS
from shared import idempotency
from shared.errors import HelpdeskError
from shared.logging import bind_request_id, reset_request_id

access_log = logging.getLogger("gateway.access")
staff_log = logging.getLogger("gateway.staff")

REQUEST_ID_HEADER = "X-Request-Id"
# The notice id a reconnecting stream saw last (server-sent events).
LAST_EVENT_ID_HEADER = "Last-Event-ID"
MAX_REQUEST_ID_LENGTH = 128
# The characters a caller's request id keeps (a regex class body; OpenAPI states it).
REQUEST_ID_CHARACTERS = "A-Za-z0-9._:@+=/-"
_UNSAFE = re.compile(f"[^{REQUEST_ID_CHARACTERS}]")
API_PREFIX = "/api/"
ADMIN_PREFIX = "/api/v1/admin"


# A field of a route template: ``{name}``, or ``{name:converter}``.
TEMPLATE_FIELD = re.compile(r"\{(\w+)(?::[^}]*)?\}")


@functools.lru_cache(maxsize=256)
def route_label(uri_template: str | None) -> str:
    """The route template without field converters, for metric labels and logs."""
    return TEMPLATE_FIELD.sub(r"{\1}", uri_template) if uri_template else "unmatched"


def request_id_from(header: str | None) -> str:
    """The caller's id cleaned to safe characters and bounded length, or a new one."""
    if header:
        cleaned = _UNSAFE.sub("", header)[:MAX_REQUEST_ID_LENGTH]
        if cleaned:
            return cleaned
    return uuid.uuid4().hex


def _address(text: str):
    # "[::1]:443" and "10.0.0.1:5000" happen in X-Forwarded-For; the port is not the client.
    text = text.strip().strip('"')
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def client_address(peer: str | None, forwarded_for: str | None, trusted) -> str | None:
    """The client's address: the peer's, unless the peer is a trusted proxy.

    From a trusted proxy, ``X-Forwarded-For`` is read from the right (the hop the
    proxy itself appended) past every trusted address; the first untrusted one is
    the client. Anything left of it was written by the client and proves nothing.
    From anyone else the header is ignored: a client cannot name its own address.
    ``trusted`` holds ``ipaddress`` networks.
    """
    current = _address(peer or "")
    if current is None or not forwarded_for:
        return peer
    for hop in reversed(forwarded_for.split(",")):
        if not any(current in network for network in trusted):
            break
        previous = _address(hop)
        if previous is None:
            break  # a garbled hop: the last address we could vouch for stands
        current = previous
    return str(current)


class RequestContext:
    """Give every request an id (echoed or made), bind it for logs; time and count it;
    write its access line, naming the client and the actor.

    ``router`` names the route of a request refused before routing (401/403 come
    from ``Authenticate``, which runs first), so those count under their route too.
    ``trusted_proxies`` (``HELPDESK_TRUSTED_PROXIES``) are the load balancers whose
    ``X-Forwarded-For`` names the client (``client_address``).
    """

    def __init__(self, router=None, trusted_proxies=()):
        self.router = router
        self.trusted = tuple(ipaddress.ip_network(n) for n in trusted_proxies)

    def _route(self, req) -> str:
        template = req.uri_template or req.context.get("route_template")
        if template is None and self.router is not None:
            template = matched_template(self.router, req.path)
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
            # Who did what: support's reading of tickets is audited from these lines.
            actor = req.context.get("actor")
            access_log.info(
                "request",
                extra={
                    "method": req.method,
                    "route": route,
                    "path": req.path,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                    "client": client_address(
                        req.remote_addr, req.get_header("X-Forwarded-For"), self.trusted
                    ),
                    "actor_id": actor.id if actor else None,
                    "actor_role": actor.role if actor else None,
                },
            )
        token = req.context.get("log_token")
        if token is not None:
            # Bound in another context (an error path): nothing to undo.
            with contextlib.suppress(ValueError):
                reset_request_id(token)


def matched_template(router, path: str) -> str | None:
    """The URI template of the route ``router`` answers ``path`` with, or None.

    The router reads a path its own way (leading slashes dropped, so ``//api/v1/x``
    is ``/api/v1/x``): anything decided about a request goes by this, never by the
    raw path.
    """
    found = router.find(path)
    return found[3] if found else None


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


class Authenticate:
    """Verify the bearer token for every route but the public ones, before the responder.

    Decided on the route the router matches, not on the raw path: the router takes
    ``//api/v1/tickets`` for ``/api/v1/tickets``, so a check on the raw path let such
    spellings reach a handler with no identity. A matched route is public only when
    its template is in ``public_routes`` (the app's explicit list); every other
    route, present or future, needs a token. A path no route matches needs one when
    the router would read it as under ``/api/`` (401 outranks 404), and a route
    under the admin prefix needs the admin role (403 outranks 404 and 405).
    """

    def __init__(self, verifier: TokenVerifier, router, public_routes):
        self.verifier = verifier
        self.router = router
        self.public_routes = frozenset(public_routes)

    def process_request(self, req, resp):
        template = matched_template(self.router, req.path)
        req.context.route_template = template
        if template is None:
            routed = "/" + req.path.lstrip("/")
            if not routed.startswith(API_PREFIX):
                return  # not the API: answered 404 (or a page's own 404) below
        elif template in self.public_routes:
            return
        else:
            routed = template
        actor = self.verifier.verify(req.get_header("Authorization"))
        req.context.actor = actor
        if _under(routed, ADMIN_PREFIX) and not actor.admin:
            raise ApiError(403, "This endpoint needs the admin role.")


# Admins whose (id, name) a worker remembers having recorded: beyond this many, the
# least recently seen are forgotten (and recorded again, harmlessly, if they return).
STAFF_SEEN_SIZE = 4096
_UNSEEN = object()


class RecordStaff:
    """Keep the staff directory (the tickets service's) up to date with every admin
    who calls the API, and the latest name their token carried, without an RPC per
    request.

    Each worker remembers which (id, name) it has recorded; only an admin it has not
    seen, or seen under another name, costs a ``record_staff`` call, made before the
    request is handled (so an admin's first call already finds them in the
    directory). The record is idempotent, so several workers, or a restarted one,
    recording the same admin again is harmless. A failed record is logged and tried
    again on their next request: the request itself goes on.
    """

    def __init__(self, clients, size: int = STAFF_SEEN_SIZE):
        self.clients = clients
        self.size = size
        self._seen: OrderedDict[str, str | None] = OrderedDict()
        self._lock = threading.Lock()

    def process_request(self, req, resp):
        actor = req.context.get("actor")
        if actor is None or not actor.admin:
            return
        with self._lock:
            recorded = self._seen.get(actor.id, _UNSEEN)
            if recorded is not _UNSEEN:
                self._seen.move_to_end(actor.id)
        if recorded is not _UNSEEN and (recorded == actor.name or actor.name is None):
            return  # a token without a name keeps the one recorded
        try:
            self.clients.call(TICKETS, "record_staff", actor.as_dict())
        except (HelpdeskError, ApiError) as exc:
            staff_log.warning("staff not recorded: %s", exc, extra={"staff_id": actor.id})
            return
        with self._lock:
            self._seen[actor.id] = actor.name
            self._seen.move_to_end(actor.id)
            while len(self._seen) > self.size:
                self._seen.popitem(last=False)


# What a page on a listed origin may send and read (CORS). Credentials are never
# allowed: callers authenticate with a bearer token, not cookies.
CORS_METHODS = ("GET", "HEAD", "POST", "PATCH", "DELETE")
CORS_REQUEST_HEADERS = (
    "Authorization",
    "Content-Type",
    idempotency.HEADER,
    LAST_EVENT_ID_HEADER,
    REQUEST_ID_HEADER,
)
CORS_EXPOSED_HEADERS = ("Retry-After", REQUEST_ID_HEADER)
CORS_MAX_AGE = 600  # seconds a browser may reuse a preflight's answer


def is_preflight(req) -> bool:
    """A CORS preflight: ``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``."""
    return (
        req.method == "OPTIONS"
        and req.get_header("Origin") is not None
        and req.get_header("Access-Control-Request-Method") is not None
    )


class Cors:
    """Cross-origin calls from the origins in ``HELPDESK_CORS_ORIGINS`` only.

    A preflight is answered here, before authentication (a browser never sends a
    token with one): 204, with the allowed methods and headers when the origin is
    listed, with no CORS header at all when it is not, so the browser refuses the
    call. Any other answer to a listed origin names it (never ``*``) and exposes
    ``Retry-After`` and ``X-Request-Id``. ``Vary: Origin`` on every answer while
    any origin is listed, since the headers depend on it.
    """

    def __init__(self, origins):
        self.origins = frozenset(origins)

    def process_request(self, req, resp):
        if not is_preflight(req):
            return
        resp.status = 204
        if req.get_header("Origin") in self.origins:
            resp.set_headers(
                {
                    "Access-Control-Allow-Methods": ", ".join(CORS_METHODS),
                    "Access-Control-Allow-Headers": ", ".join(CORS_REQUEST_HEADERS),
                    "Access-Control-Max-Age": str(CORS_MAX_AGE),
                }
            )
        resp.complete = True

    def process_response(self, req, resp, resource, req_succeeded):
        if not self.origins:
            return
        resp.append_header("Vary", "Origin")
        origin = req.get_header("Origin")
        if origin in self.origins:
            resp.set_header("Access-Control-Allow-Origin", origin)
            if not is_preflight(req):
                resp.set_header("Access-Control-Expose-Headers", ", ".join(CORS_EXPOSED_HEADERS))


class NoStoreNoSniff:
    """``Cache-Control: no-store`` and ``X-Content-Type-Options: nosniff`` on every
    answer, errors included (401 before routing, 404, 405, 413...).

    An API answer carries one caller's data, so no cache may keep it; a resource
    that sets its own ``Cache-Control`` (the pages and assets revalidate with an
    ETag) keeps it.
    """

    def process_response(self, req, resp, resource, req_succeeded):
        resp.set_header("X-Content-Type-Options", "nosniff")
        if resp.get_header("Cache-Control") is None:
            resp.set_header("Cache-Control", "no-store")
