"""JSON log lines that carry the request id, for every service.

The id travels: the HTTP process takes or makes ``X-Request-Id``, sends it in the RPC
call's context data, services put it in the events they emit, and whichever code
handles the call or event binds it here (``bind_request_id``) so that every log
line of that work carries it.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time

_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
_service_name = "helpdesk"

# LogRecord attributes that are not "extra" fields.
_RESERVED = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def bind_request_id(request_id: str | None) -> contextvars.Token:
    """Make ``request_id`` the id of every log line of the current (green)thread's work."""
    return _request_id.set(request_id)


def reset_request_id(token: contextvars.Token) -> None:
    """Undo ``bind_request_id``."""
    _request_id.reset(token)


def current_request_id() -> str | None:
    """The request id bound to the running work, if any."""
    return _request_id.get()


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, service, logger, message, request_id, extras."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "service": _service_name,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or _request_id.get(),
        }
        for key, value in vars(record).items():
            if key not in _RESERVED and key not in line:
                line[key] = value
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure_logging(service: str, level: str = "INFO") -> None:
    """Send every logger's records, as JSON lines, to stderr."""
    global _service_name
    _service_name = service
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # nameko and kombu are chatty at INFO about every connection.
    for noisy in ("kombu", "amqp", "nameko"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
