"""The gateway's gunicorn worker: gthread, with gunicorn's own errors in the contract's
shape, and a bound on the time a client takes to send its request.

gunicorn refuses a request it cannot parse (a bad request line, method or header, a
request line over ``limit_request_line``, too many headers, a broken chunk) before
the app sees it, with a small HTML page. The contract wants every error as the one
JSON body with an ``X-Request-Id``, so this worker has gunicorn write that instead.
The status gunicorn chose (400, 414, 431, ...) is kept.

gthread reads a request on one of a worker's few threads, with blocking reads: once
a client has sent its first byte, nothing in gunicorn times out the rest, so a few
clients sending a byte now and then would hold every thread. Here every read of a
request's head and body shares one deadline, ``GatewaySettings.request_read_timeout``
seconds from the request's first read: a head not read by then is answered 408 by
this worker, a body not read by then 408 by the app (``body.read_json``), and the
connection is closed.
"""

from __future__ import annotations

import errno
import json
import time

from gunicorn import util
from gunicorn.workers.gthread import TConn, ThreadWorker

from services.gateway.errors import CODE_BY_STATUS, DEFAULT_MESSAGE, RequestTimeout
from services.gateway.middleware import REQUEST_ID_HEADER, request_id_from
from services.gateway.settings import GatewaySettings


def error_response(status: int, reason: str, message: str) -> bytes:
    """A whole HTTP/1.1 response, connection closing, for an error gunicorn answers itself."""
    code = CODE_BY_STATUS.get(status, CODE_BY_STATUS[500 if status >= 500 else 400])
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
        "Cache-Control: no-store\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        f"Content-Length: {len(body)}\r\n"
        # The request could not be read, so no id of its own can be echoed.
        f"{REQUEST_ID_HEADER}: {request_id_from(None)}\r\n"
        "\r\n"
    )
    return head.encode("latin-1") + body


def _write_error(sock, status_int, reason, mesg):
    util.write_nonblock(sock, error_response(status_int, reason, mesg))


class ReadDeadline:
    """The connection's socket as gunicorn's parser reads it: each ``recv`` waits at
    most until the deadline of the request being read, then raises ``RequestTimeout``.

    The clock starts at the request's first read (its first byte is there by then:
    gthread hands a connection to a thread only once it is readable) and covers the
    head and the body. Between requests (and while gunicorn drains an unread body
    after the answer, which it bounds itself) there is no deadline.
    """

    def __init__(self, sock, seconds: float):
        self._sock = sock
        self._seconds = seconds
        self._deadline = None
        self._armed = False

    def arm(self) -> None:
        """A new request: its deadline starts at its first read."""
        self._armed, self._deadline = True, None

    def disarm(self) -> None:
        """The request has been read or answered."""
        self._armed = False

    def recv(self, size: int) -> bytes:
        if not self._armed:
            return self._sock.recv(size)
        now = time.monotonic()
        if self._deadline is None:
            self._deadline = now + self._seconds
        remaining = self._deadline - now
        try:
            if remaining <= 0:
                raise TimeoutError
            # A socket timeout (not a poll for readability) also bounds a TLS record
            # that arrives a byte at a time.
            prior = self._sock.gettimeout()
            self._sock.settimeout(remaining)
            try:
                return self._sock.recv(size)
            finally:
                self._sock.settimeout(prior)
        except TimeoutError:
            self._armed = False
            raise RequestTimeout(
                f"The request was not received within {self._seconds:g} seconds."
            ) from None

    def __getattr__(self, name):
        return getattr(self._sock, name)


class _Connection(TConn):
    """gthread's connection, its parser reading through a ``ReadDeadline``."""

    read_timeout = GatewaySettings.request_read_timeout
    deadline = None

    def init(self):
        fresh = self.parser is None
        super().init()
        if fresh and not self.is_http2 and self.parser is not None:
            self.deadline = ReadDeadline(self.parser.unreader.sock, self.read_timeout)
            self.parser.unreader.sock = self.deadline
            self.deadline.arm()  # the connection's first request


class GatewayWorker(ThreadWorker):
    """gunicorn's gthread worker whose parse errors are the contract's JSON errors and
    whose requests must arrive within ``GatewaySettings.request_read_timeout``."""

    def init_process(self):
        # ``Worker.handle_error`` picks the status and text, then calls
        # ``util.write_error``: replacing that one function (in this worker process
        # only) changes the body and nothing else of gunicorn's error handling.
        util.write_error = _write_error
        # Validated by gunicorn_conf already, in the master.
        _Connection.read_timeout = GatewaySettings.from_env().request_read_timeout
        super().init_process()

    def accept(self, listener):
        """gthread's ``accept``, making a ``_Connection``."""
        try:
            client_sock, client_addr = listener.accept()
            self.nr_conns += 1
            client_sock.setblocking(True)
            conn = _Connection(self.cfg, client_sock, client_addr, listener.getsockname())
            self.enqueue_req(conn)
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise

    def handle(self, conn):
        if conn.deadline is not None:
            conn.deadline.arm()  # a connection from the poller: its next request starts
        return super().handle(conn)

    def handle_request(self, req, conn):
        # The head is read; the app reads the body (or not) under the same deadline.
        # Once answered, gunicorn drains an unread body with bounds of its own.
        try:
            return super().handle_request(req, conn)
        finally:
            if conn.deadline is not None:
                conn.deadline.disarm()

    def handle_error(self, req, client, addr, exc):
        if isinstance(exc, RequestTimeout):
            # A head that did not arrive in time: 408 and close (RFC 9110 15.5.9).
            self.log.info("Request timeout from %s: %s", (addr or ("",))[0], exc)
            _write_error(client, 408, "Request Timeout", str(exc))
            return
        super().handle_error(req, client, addr, exc)
