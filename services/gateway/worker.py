"""The gateway's gunicorn worker: gthread, with gunicorn's own errors in the contract's shape.

gunicorn refuses a request it cannot parse (a bad request line, method or header, a
request line over ``limit_request_line``, too many headers, a broken chunk) before
the app sees it, with a small HTML page. The contract wants every error as the one
JSON body with an ``X-Request-Id``, so this worker has gunicorn write that instead.
The status gunicorn chose (400, 414, 431, ...) is kept.
"""

from __future__ import annotations

import json

from gunicorn import util
from gunicorn.workers.gthread import ThreadWorker

from services.gateway.errors import CODE_BY_STATUS, DEFAULT_MESSAGE
from services.gateway.middleware import REQUEST_ID_HEADER, request_id_from


def error_response(status: int, reason: str, message: str) -> bytes:
    """A whole HTTP/1.1 response, connection closing, for an error gunicorn answers itself."""
    code = CODE_BY_STATUS.get(status, "internal_error" if status >= 500 else "malformed_request")
    body = json.dumps(
        {
            "error": {
                "code": code,
                # gunicorn's text says what was wrong ("Invalid header name ..."); a 500
                # comes with none, and never with a trace.
                "message": message or DEFAULT_MESSAGE.get(status, reason),
                "details": {},
            }
        }
    ).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        # The request could not be read, so no id of its own can be echoed.
        f"{REQUEST_ID_HEADER}: {request_id_from(None)}\r\n"
        "\r\n"
    )
    return head.encode("latin-1") + body


def _write_error(sock, status_int, reason, mesg):
    util.write_nonblock(sock, error_response(status_int, reason, mesg))


class GatewayWorker(ThreadWorker):
    """gunicorn's gthread worker whose parse errors are the contract's JSON errors."""

    def init_process(self):
        # ``Worker.handle_error`` picks the status and text, then calls
        # ``util.write_error``: replacing that one function (in this worker process
        # only) changes the body and nothing else of gunicorn's error handling.
        util.write_error = _write_error
        super().init_process()
