"""Every error code of the contract, and refused tokens, through the running gateway."""

import base64
import http.client
import json
import socket
import time
from urllib.parse import urlsplit

import jwt
import pytest
import requests

from services.gateway.settings import DEV_JWT_SECRET
from tests.e2e.conftest import Api, raw_http, unique

pytestmark = pytest.mark.e2e


def _error(result, status, code):
    assert result.status_code == status, result.text
    assert result.headers["Content-Type"].startswith("application/json")
    body = result.json()
    assert body["error"]["code"] == code and body["error"]["message"]
    assert isinstance(body["error"]["details"], dict)
    assert result.headers["X-Request-Id"]
    return body["error"]


def _raw(stack, token, path="/api/v1/tickets"):
    return requests.get(
        stack.base_url + path, headers={"Authorization": f"Bearer {token}"}, timeout=10
    )


def _chunked_post_without_end(stack, token, path, kib=80):
    """POST ``kib`` 1 KiB chunks, never the last chunk; return (status, headers, body).

    A gateway that read the whole body before answering would wait for its end
    until this socket times out.
    """
    url = urlsplit(stack.base_url)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {url.netloc}\r\nAuthorization: Bearer {token}\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"400\r\n" + b"x" * 1024 + b"\r\n"
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(head.encode() + chunk * kib)  # fits the socket buffers: nothing blocks
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, response.headers, response.read()


@pytest.mark.parametrize(
    ("request_bytes", "status", "code"),
    [
        (
            b"GET /api/v1/tickets HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n",
            400,
            "malformed_request",
        ),
        (b"GET /api/v1/tickets HTTP/9.9\r\nHost: x\r\n\r\n", 400, "malformed_request"),
        (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, "uri_too_long"),
        (
            b"GET / HTTP/1.1\r\nHost: x\r\n"
            + b"".join(b"X-H%d: 1\r\n" % n for n in range(120))
            + b"\r\n",
            431,
            "header_fields_too_large",
        ),
        (
            b"POST /api/v1/preview HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %(token)s\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            400,
            "malformed_request",
        ),
    ],
    ids=["header-name", "http-version", "request-line", "header-count", "chunk-size"],
)
def test_what_gunicorn_cannot_parse_still_gets_the_contracts_error(
    stack, user, request_bytes, status, code
):
    request_bytes = request_bytes.replace(b"%(token)s", user.token.encode())
    got, headers, body = raw_http(stack, request_bytes)
    assert got == status, body
    assert headers["Content-Type"] == "application/json" and headers["X-Request-Id"]
    error = json.loads(body)["error"]
    assert error["code"] == code and error["message"] and isinstance(error["details"], dict)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.mark.filterwarnings("ignore:The HMAC key")
def test_tokens_that_must_be_refused(stack):
    now = int(time.time())
    good = {"sub": unique("u"), "role": "user", "exp": now + 300}
    refused = {
        "expired": jwt.encode(good | {"exp": now - 120}, DEV_JWT_SECRET, "HS256"),
        "wrong key": jwt.encode(good, "another-secret-entirely-" * 3, "HS256"),
        "wrong algorithm": jwt.encode(good, DEV_JWT_SECRET, "HS512"),
        "none": f"{_b64(json.dumps({'alg': 'none', 'typ': 'JWT'}).encode())}.{_b64(json.dumps(good).encode())}.",
        "no sub": jwt.encode(
            {k: v for k, v in good.items() if k != "sub"}, DEV_JWT_SECRET, "HS256"
        ),
        "no role": jwt.encode(
            {k: v for k, v in good.items() if k != "role"}, DEV_JWT_SECRET, "HS256"
        ),
        "no exp": jwt.encode(
            {k: v for k, v in good.items() if k != "exp"}, DEV_JWT_SECRET, "HS256"
        ),
        "unknown role": jwt.encode(good | {"role": "owner"}, DEV_JWT_SECRET, "HS256"),
        "garbage": "abc.def.ghi",
    }
    assert _raw(stack, jwt.encode(good, DEV_JWT_SECRET, "HS256")).status_code == 200
    for name, token in refused.items():
        result = _raw(stack, token)
        assert result.status_code == 401, name
        assert result.headers["WWW-Authenticate"] == "Bearer", name
        _error(result, 401, "unauthorized")
    _error(requests.get(stack.base_url + "/api/v1/tickets", timeout=10), 401, "unauthorized")


def test_each_error_code(stack, user, admin):
    ticket = user.create()
    tid = ticket["id"]
    _error(user.get("/api/v1/admin/tickets"), 403, "forbidden")
    _error(user.get("/api/v1/nope"), 404, "not_found")
    _error(requests.get(stack.base_url + "/nope", timeout=10), 404, "not_found")
    deleted = user.request("DELETE", f"/api/v1/tickets/{tid}")
    _error(deleted, 405, "method_not_allowed")
    assert "GET" in deleted.headers["Allow"]
    _error(user.request("DELETE", "/api/v1/tickets/999999999"), 404, "not_found")
    head = user.request("HEAD", f"/api/v1/tickets/{tid}")
    assert head.status_code == 200 and head.content == b"" and head.headers["X-Request-Id"]
    big = json.dumps({"text": "x" * (64 * 1024)})
    too_big = user.post("/api/v1/preview", data=big, headers={"Content-Type": "application/json"})
    _error(too_big, 413, "payload_too_large")
    # The body is refused unread and the connection closed: said up front, so the
    # session does not send its next request into the closing connection.
    assert too_big.headers["Connection"] == "close"

    def chunks():
        for _ in range(100):
            yield b"x" * 1024

    # No Content-Length (chunked): the capped read still refuses it.
    _error(
        user.post("/api/v1/preview", data=chunks(), headers={"Content-Type": "application/json"}),
        413,
        "payload_too_large",
    )
    # ... as soon as the cap is passed, without waiting for the body's end.
    status, headers, body = _chunked_post_without_end(stack, user.token, "/api/v1/preview")
    assert status == 413 and headers["X-Request-Id"], body
    assert json.loads(body)["error"]["code"] == "payload_too_large"
    _error(
        user.post("/api/v1/tickets", data="subject=x", headers={"Content-Type": "text/plain"}),
        415,
        "unsupported_media_type",
    )
    _error(
        user.post("/api/v1/tickets", data="{oops", headers={"Content-Type": "application/json"}),
        400,
        "malformed_request",
    )
    _error(user.get("/api/v1/tickets", params={"limit": "ten"}), 400, "malformed_request")
    _error(user.get("/api/v1/tickets", params={"limit": "0"}), 422, "validation_failed")
    _error(user.get("/api/v1/tickets", params={"status": "pending"}), 422, "validation_failed")
    details = _error(
        user.post(
            "/api/v1/tickets",
            {
                "issue_type": "bug",
                "feature": "dashboard",
                "subject": "Short",
                "description": "x" * 60,
                "status": "resolved",
                "priority": "critical",
                "user_id": "mallory",
            },
        ),
        422,
        "validation_failed",
    )["details"]
    assert set(details) == {"subject", "status", "priority", "user_id"}
    assert user.post(f"/api/v1/tickets/{tid}/close").status_code == 200
    _error(user.post(f"/api/v1/tickets/{tid}/messages", {"body": "hi"}), 409, "conflict")
    _error(
        admin.post(f"/api/v1/admin/tickets/{tid}/assign", {"assignee_id": admin.sub}),
        409,
        "conflict",
    )


def test_the_sixth_ticket_of_the_day_is_429(stack):
    api = Api(stack, unique("limit"))
    for _ in range(5):
        api.create()
    result = api.post(
        "/api/v1/tickets",
        {
            "issue_type": "other",
            "feature": "other",
            "subject": "One too many today",
            "description": "This is the sixth ticket of the day and must be refused by the limit.",
        },
    )
    error = _error(result, 429, "rate_limited")
    assert error["details"]["reset_at"].endswith("Z")
    assert 0 < int(result.headers["Retry-After"]) <= 86400
    assert error["details"]["retry_after"] == int(result.headers["Retry-After"])
    assert len(api.get("/api/v1/tickets").json()["items"]) == 5
