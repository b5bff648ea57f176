"""Attacks on the gateway through the real stack (gunicorn, services, broker, databases):
odd spellings of API paths, long ids, invented methods, slow clients.

Requests are written by hand (``http.client`` or a raw socket): ``requests`` would
tidy some of these paths before sending them.
"""

import http.client
import json
import re
import socket
import threading
import time
from urllib.parse import urlsplit

import pytest

from tests.e2e.conftest import unique

pytestmark = pytest.mark.e2e

READ_TIMEOUT = 2.0  # HELPDESK_REQUEST_READ_TIMEOUT of the slow-client stack


def send(stack, method, path, body=None, headers=None):
    """One request exactly as written; (status, headers, parsed JSON or text)."""
    url = urlsplit(stack.base_url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=15)
    try:
        conn.putrequest(method, path, skip_host=False, skip_accept_encoding=True)
        data = json.dumps(body).encode() if body is not None else b""
        sent = {"Content-Type": "application/json", **(headers or {})}
        for name, value in sent.items():
            conn.putheader(name, value)
        conn.putheader("Content-Length", str(len(data)))
        conn.endheaders(data)
        response = conn.getresponse()
        raw = response.read()
        try:
            payload = json.loads(raw)
        except ValueError:
            payload = raw.decode("utf-8", "replace")
        return response.status, response.headers, payload
    finally:
        conn.close()


def bearer(stack, sub, role="user"):
    return {"Authorization": f"Bearer {stack.token(sub, role, sub)}"}


SPELLINGS = [
    ("POST", "//api/v1/preview", {"text": "hi"}),
    ("GET", "//api/v1/catalog", None),
    ("GET", "//api/v1/tickets", None),
    ("POST", "//api/v1/tickets", {"subject": "x"}),
    ("GET", "///api/v1/tickets/1", None),
    ("POST", "//api/v1/tickets/1/messages", {"body": "x"}),
    ("POST", "//api/v1/tickets/1/close", {}),
    ("GET", "//api/v1/notifications", None),
    ("GET", "//api/v1/notifications/unread-count", None),
    ("POST", "//api/v1/notifications/read-all", {}),
    ("POST", "//api/v1/notifications/1/read", {}),
    ("GET", "//api/v1/admin/tickets", None),
    ("GET", "//api/v1/admin/tickets/1", None),
    ("POST", "//api/v1/admin/tickets/1/status", {"status": "resolved"}),
    ("GET", "/api//v1/tickets", None),
    ("GET", "/api/v1//tickets", None),
    ("GET", "/api/v1/tickets/", None),
    ("GET", "//api/v1/tickets/", None),
    ("GET", "/%2Fapi/v1/tickets", None),
    ("GET", "/%61pi/v1/tickets", None),
    ("GET", "/api/v1/./tickets", None),
    ("GET", "/help-center/../api/v1/tickets", None),
]


@pytest.mark.parametrize(("method", "path", "body"), SPELLINGS)
def test_no_spelling_of_an_api_path_answers_without_a_token(stack, method, path, body):
    status, headers, payload = send(stack, method, path, body)
    assert status in (401, 404), (path, status, payload)
    assert isinstance(payload, dict) or path.startswith("/help-center"), payload
    if status == 401:
        assert headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize("path", ["//api/v1/admin/tickets", "///api/v1/admin/tickets"])
def test_an_admin_spelling_needs_the_admin_role(stack, path):
    assert send(stack, "GET", path, headers=bearer(stack, unique("u")))[0] == 403
    assert send(stack, "GET", path, headers=bearer(stack, unique("a"), "admin"))[0] == 200


def test_a_spelling_with_a_token_is_the_canonical_route(stack, user):
    ticket = user.create()
    status, _, payload = send(
        stack,
        "GET",
        f"//api/v1/tickets/{ticket['id']}/",
        headers={"Authorization": f"Bearer {user.token}"},
    )
    assert status == 200 and payload["id"] == ticket["id"]


@pytest.mark.parametrize(
    ("method", "template"),
    [
        ("GET", "/api/v1/tickets/{}"),
        ("POST", "/api/v1/tickets/{}/messages"),
        ("POST", "/api/v1/tickets/{}/close"),
        ("GET", "/api/v1/admin/tickets/{}"),
        ("POST", "/api/v1/admin/tickets/{}/assign"),
        ("POST", "/api/v1/notifications/{}/read"),
        ("GET", "/help-center/tickets/{}"),
    ],
)
def test_an_id_over_18_digits_is_a_404(stack, method, template):
    headers = bearer(stack, unique("a"), "admin")
    for ticket_id in ("9" * 5000, "1" * 19, "0" * 18 + "7"):
        status, _, payload = send(stack, method, template.format(ticket_id), {}, headers)
        assert status == 404, (template, len(ticket_id), status, payload)


@pytest.mark.parametrize(
    ("method", "path", "body", "role", "expected"),
    [
        ("GET", "/api/v1/catalog", None, "user", 200),
        ("GET", "/api/v1/tickets", None, None, 401),
        ("GET", "//api/v1/tickets", None, None, 401),
        ("GET", "/api/v1/admin/tickets", None, "user", 403),
        ("GET", "/api/v1/tickets/999999", None, "user", 404),
        ("GET", "/api/v1/nowhere", None, "user", 404),
        ("DELETE", "/api/v1/catalog", None, "user", 405),
        ("POST", "/api/v1/preview", {"text": "x" * 70_000}, "user", 413),
        ("POST", "/api/v1/preview", {"text": 5}, "user", 422),
        ("GET", "/healthz", None, None, 200),
        ("GET", "/nowhere", None, None, 404),
    ],
)
def test_every_api_answer_is_no_store_and_nosniff(stack, method, path, body, role, expected):
    headers = bearer(stack, unique("h"), role) if role else {}
    status, response_headers, _ = send(stack, method, path, body, headers)
    assert status == expected
    assert response_headers["Cache-Control"] == "no-store"
    assert response_headers["X-Content-Type-Options"] == "nosniff"


def raw_exchange(stack, data: bytes, timeout=10.0) -> bytes:
    url = urlsplit(stack.base_url)
    with socket.create_connection((url.hostname, url.port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_an_answer_gunicorn_writes_itself_is_no_store_and_nosniff(stack):
    answer = raw_exchange(stack, b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n")
    head = answer.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    assert head.startswith("HTTP/1.1 400")
    assert "Cache-Control: no-store" in head and "X-Content-Type-Options: nosniff" in head


def metric_methods(stack) -> set:
    status, _, text = send(stack, "GET", "/metrics")
    assert status == 200
    return set(re.findall(r'helpdesk_http_requests_total\{method="([^"]*)"', text))


def test_invented_methods_add_no_metric_series(stack):
    for n in range(60):
        send(stack, f"INVENTED{n}", "/api/v1/catalog")
        send(stack, f"X{n}", "/healthz")
    assert metric_methods(stack) <= {
        "GET",
        "HEAD",
        "POST",
        "PUT",
        "PATCH",
        "DELETE",
        "OPTIONS",
        "other",
    }


def test_odd_spellings_of_an_asset_are_not_found(stack):
    assert send(stack, "GET", "/help-center/assets/css/app.css")[0] == 200
    for spelling in ("css/./app.css", "css/././app.css", "css//app.css", "js/../css/app.css"):
        assert send(stack, "GET", f"/help-center/assets/{spelling}")[0] == 404, spelling


# ------------------------------------------------------------------ slow clients


@pytest.fixture(scope="module")
def slow_stack(make_stack):
    """One worker of two threads, and a 2 s bound on reading a request."""
    return make_stack(
        HELPDESK_REQUEST_READ_TIMEOUT=str(READ_TIMEOUT),
        HELPDESK_GATEWAY_WORKERS="1",
        HELPDESK_GATEWAY_THREADS="2",
    )


def trickle(stack, first: bytes, drip: bytes, every=0.3, give_up=10.0):
    """Send ``first``, then one byte of ``drip`` every ``every`` s; return (seconds until
    the gateway answered or closed, what it sent)."""
    url = urlsplit(stack.base_url)
    started = time.monotonic()
    with socket.create_connection((url.hostname, url.port), timeout=give_up) as sock:
        sock.sendall(first)
        sock.settimeout(every)
        received = b""
        for byte in drip:
            if time.monotonic() - started > give_up:
                break
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                try:
                    sock.sendall(bytes([byte]))
                except OSError:  # closed by the gateway
                    return time.monotonic() - started, received
                continue
            except OSError:
                return time.monotonic() - started, received
            if not chunk:
                return time.monotonic() - started, received
            received += chunk
    return time.monotonic() - started, received


SLOW_HEAD = (b"GET /healthz HTTP/1.1\r\nHost: x\r\n", b"X-Slow: " + b"a" * 200)
SLOW_BODY = (
    b"POST /api/v1/preview HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    b"Content-Length: 200\r\n",
    b'\r\n{"text": "' + b"a" * 200,
)


@pytest.mark.parametrize(("first", "drip"), [SLOW_HEAD, SLOW_BODY], ids=["head", "body"])
def test_a_slow_client_is_cut_within_the_bound(slow_stack, first, drip):
    if b"preview" in first:
        token = slow_stack.token(unique("slow"), "user")
        first += f"Authorization: Bearer {token}\r\n".encode()
    seconds, received = trickle(slow_stack, first, drip)
    assert seconds < READ_TIMEOUT + 1.5, seconds
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), received[:300]
    assert json.loads(body)["error"]["code"] == "request_timeout"


def test_others_are_served_while_slow_clients_hold_every_thread(slow_stack):
    results = []
    slow = [
        threading.Thread(target=lambda: results.append(trickle(slow_stack, *SLOW_HEAD)))
        for _ in range(4)  # twice the threads of the only worker
    ]
    for thread in slow:
        thread.start()
    time.sleep(0.5)
    started = time.monotonic()
    status, _, payload = send(slow_stack, "GET", "/healthz")
    waited = time.monotonic() - started
    for thread in slow:
        thread.join()
    assert status == 200 and payload == {"status": "ok"}
    assert waited < 2 * READ_TIMEOUT + 1.5, waited
    assert all(seconds < 2 * READ_TIMEOUT + 1.5 for seconds, _ in results), results
