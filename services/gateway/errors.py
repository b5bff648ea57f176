"""Every error the gateway answers with, in the contract's one JSON shape.

Resources raise exceptions; this module turns each into a status, a code and the
body ``{"error": {"code", "message", "details"}}`` in one place. Remote errors from
the services (``shared.errors``) map to HTTP through ``REMOTE_STATUS``, the one
table of that mapping.
"""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime

import falcon

from shared.errors import (
    Conflict,
    DataIntegrityError,
    Forbidden,
    HelpdeskError,
    NotFound,
    RateLimited,
    StorageUnavailable,
    ValidationFailed,
)
from shared.logging import current_request_id

log = logging.getLogger("gateway.errors")

# shared.errors class -> HTTP status.
REMOTE_STATUS = {
    ValidationFailed: 422,
    NotFound: 404,
    Forbidden: 403,
    Conflict: 409,
    RateLimited: 429,
    # The service's database is down: nothing was done, so the client may retry.
    StorageUnavailable: 503,
    # Stored text failed its integrity check: the server's fault, never shown (security.md).
    DataIntegrityError: 500,
}

# Falcon's own errors (routing, 405, ...) -> the contract's code for that status;
# a status a service's error also answers with takes that error's code.
CODE_BY_STATUS = {
    400: "malformed_request",
    401: "unauthorized",
    403: Forbidden.code,
    404: NotFound.code,
    405: "method_not_allowed",
    408: "request_timeout",
    409: Conflict.code,
    413: "payload_too_large",
    414: "uri_too_long",
    415: "unsupported_media_type",
    417: "expectation_failed",
    422: ValidationFailed.code,
    429: RateLimited.code,
    431: "header_fields_too_large",
    500: "internal_error",
    501: "not_implemented",
    503: StorageUnavailable.code,
}

DEFAULT_MESSAGE = {
    400: "The request is malformed.",
    401: "A valid bearer token is required.",
    403: "This needs the admin role.",
    404: "Not found.",
    405: "This method is not allowed here.",
    408: "The request was not received in time.",
    413: "The request body is too large.",
    414: "The request line is too long.",
    415: "The request body must be application/json.",
    431: "The request has too many or too large header fields.",
    500: "Something went wrong on our side.",
    503: "A backend service did not answer in time; try again shortly.",
}

# Seconds a client should wait before retrying after a 503.
UNAVAILABLE_RETRY_AFTER = 5


class ApiError(Exception):
    """An error response the gateway decides itself (not a remote error)."""

    def __init__(self, status: int, message=None, details=None, headers=None, code=None):
        super().__init__(message or DEFAULT_MESSAGE.get(status, "Error."))
        self.status = status
        self.code = code or CODE_BY_STATUS[status]
        self.message = message or DEFAULT_MESSAGE.get(status, "Error.")
        self.details = details or {}
        self.headers = headers or {}


class Unauthorized(ApiError):
    """No token, or a token the gateway refuses."""

    def __init__(self, message="A valid bearer token is required."):
        super().__init__(401, message, headers={"WWW-Authenticate": "Bearer"})


class RequestTimeout(Exception):
    """The client did not send its request's head and body within the bound
    (``GatewaySettings.request_read_timeout``); raised by the worker's socket reads."""


class ServiceUnavailable(ApiError):
    """A backend service or the broker did not answer within the bounded time."""

    def __init__(self, service: str, reason: str = "did not answer in time"):
        super().__init__(
            503,
            f"The {service} service {reason}; try again shortly.",
            details={"service": service},
            headers={"Retry-After": str(UNAVAILABLE_RETRY_AFTER)},
        )
        self.service = service


def error_body(code: str, message: str, details: dict | None = None) -> dict:
    """The contract's error body."""
    return {"error": {"code": code, "message": message, "details": details or {}}}


def _respond(resp, status, code, message, details=None, headers=None):
    resp.status = status
    resp.media = error_body(code, message, details)
    for name, value in (headers or {}).items():
        resp.set_header(name, value)


def retry_after_seconds(details: dict) -> int:
    """Seconds until a rate limit resets, from the service's ``retry_after`` or ``reset_at``."""
    raw = details.get("retry_after")
    try:
        if raw is not None:
            return max(1, math.ceil(float(raw)))
    except (TypeError, ValueError):
        pass
    reset_at = details.get("reset_at")
    if isinstance(reset_at, str):
        try:
            reset = datetime.fromisoformat(reset_at.replace("Z", "+00:00"))
            return max(1, math.ceil((reset - datetime.now(UTC)).total_seconds()))
        except ValueError:
            pass
    return 60


def handle_api_error(req, resp, ex: ApiError, params):
    """Serialize an error the gateway raised itself."""
    _respond(resp, ex.status, ex.code, ex.message, ex.details, ex.headers)


def handle_remote_error(req, resp, ex: HelpdeskError, params):
    """Map a service's typed error through ``REMOTE_STATUS``."""
    status = next((s for cls, s in REMOTE_STATUS.items() if isinstance(ex, cls)), None)
    if status is None:
        handle_unexpected(req, resp, ex, params)
        return
    details = ex.details if isinstance(ex.details, dict) else {}
    headers = {}
    if status == 429:
        seconds = retry_after_seconds(details)
        headers["Retry-After"] = str(seconds)
        # nameko carries an error's details as text; the API says seconds as a number.
        details = {**details, "retry_after": seconds}
    elif status == 503:
        headers["Retry-After"] = str(UNAVAILABLE_RETRY_AFTER)
    _respond(
        resp,
        status,
        ex.code if status == 500 else CODE_BY_STATUS[status],
        ex.message or DEFAULT_MESSAGE[status],
        details,
        headers,
    )


def handle_http_error(req, resp, ex: falcon.HTTPError, params):
    """Falcon's own errors (unknown route, 405 with ``Allow``, ...) in the contract's shape."""
    status = ex.status_code
    code = CODE_BY_STATUS.get(status, "error")
    message = DEFAULT_MESSAGE.get(status) or ex.title or "Error."
    headers = dict(ex.headers or {})
    if status == 401:
        headers.setdefault("WWW-Authenticate", "Bearer")
    _respond(resp, status, code, message, None, headers)


def handle_unexpected(req, resp, ex: Exception, params):
    """Any other fault: a 500 with the JSON body, never a stack trace; logged with the id."""
    log.error(
        "unexpected error",
        exc_info=(type(ex), ex, ex.__traceback__),
        extra={"method": req.method, "path": req.path, "request_id": current_request_id()},
    )
    _respond(resp, 500, CODE_BY_STATUS[500], DEFAULT_MESSAGE[500])


def register_error_handlers(app: falcon.App) -> None:
    """Install the handlers; Falcon picks the most specific class first."""
    app.add_error_handler(Exception, handle_unexpected)
    app.add_error_handler(falcon.HTTPError, handle_http_error)
    app.add_error_handler(HelpdeskError, handle_remote_error)
    app.add_error_handler(ApiError, handle_api_error)
