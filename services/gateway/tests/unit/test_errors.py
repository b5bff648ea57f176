"""Every error in the contract's shape, and the contract's precedence between them."""

import json
import logging

import pytest

from services.gateway.body import MAX_BODY_BYTES
from services.gateway.tests.fakes import NEW_TICKET
from shared.errors import StorageUnavailable

pytestmark = pytest.mark.unit


def _error(result, status, code):
    assert result.status_code == status, result.text
    body = result.json
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert result.headers["X-Request-Id"]
    return body["error"]


def test_unknown_routes_are_404_json(client, auth):
    _error(client.simulate_get("/api/v1/nothing", headers=auth()), 404, "not_found")
    _error(client.simulate_get("/nothing"), 404, "not_found")
    _error(client.simulate_get("/api/v1/tickets/abc", headers=auth()), 404, "not_found")
    _error(client.simulate_get("/api/v1/tickets/0", headers=auth()), 404, "not_found")
    _error(
        client.simulate_get("/api/v1/tickets/99999999999999999999", headers=auth()),
        404,
        "not_found",
    )


def test_a_ticket_or_notice_has_one_name_in_a_path(client, clients, auth, new_ticket):
    """ASCII digits only: Falcon's int converter also read "+7" and "٧" as 7."""
    ticket_id = new_ticket()["id"]
    notice_id = clients.services["notifications"].add("alice")["id"]
    assert client.simulate_get(f"/api/v1/tickets/{ticket_id}", headers=auth()).status_code == 200
    for other_name in (
        f"+{ticket_id}",
        str(ticket_id).translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")),
    ):
        _error(
            client.simulate_get(f"/api/v1/tickets/{other_name}", headers=auth()), 404, "not_found"
        )
    notice = f"/api/v1/notifications/+{notice_id}/read"
    _error(client.simulate_post(notice, headers=auth()), 404, "not_found")


def test_405_carries_allow_and_tickets_are_never_deleted(client, auth, new_ticket):
    ticket = new_ticket()
    result = client.simulate_delete(f"/api/v1/tickets/{ticket['id']}", headers=auth())
    _error(result, 405, "method_not_allowed")
    assert "GET" in result.headers["Allow"] and "DELETE" not in result.headers["Allow"]
    result = client.simulate_put("/api/v1/tickets", headers=auth(), json={})
    _error(result, 405, "method_not_allowed")
    assert set(result.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "POST"}


def test_head_is_answered_wherever_get_is_without_a_body(client, auth, new_ticket):
    ticket = new_ticket()
    for path, headers in (
        ("/healthz", {}),
        ("/openapi.json", {}),
        ("/api/v1/tickets", auth()),
        (f"/api/v1/tickets/{ticket['id']}", auth()),
        ("/help-center", {}),
        ("/help-center/assets/css/app.css", {}),
        ("/help-center/no-such-page", {}),
    ):
        got = client.simulate_get(path, headers=headers)
        head = client.simulate_head(path, headers=headers)
        assert head.status_code == got.status_code, path
        assert head.content == b"" and head.headers["Content-Type"] == got.headers["Content-Type"]
        assert head.headers["Content-Length"] == str(len(got.content)), path
    # Not where there is no GET, and authorization and existence are checked as for GET.
    result = client.simulate_head("/api/v1/notifications/read-all", headers=auth())
    assert result.status_code == 405 and "HEAD" not in result.headers["Allow"]
    assert client.simulate_head("/api/v1/tickets").status_code == 401
    assert client.simulate_head("/api/v1/tickets/777", headers=auth()).status_code == 404
    assert client.simulate_head("/api/v1/admin/tickets", headers=auth()).status_code == 403


def test_404_outranks_405_for_a_ticket_that_is_not_the_callers(client, auth, new_ticket):
    ticket = new_ticket("bob")
    for path in (f"/api/v1/tickets/{ticket['id']}", "/api/v1/tickets/777"):
        _error(client.simulate_delete(path, headers=auth("alice")), 404, "not_found")
    admin = auth("root", "admin")
    _error(client.simulate_delete("/api/v1/admin/tickets/777", headers=admin), 404, "not_found")
    result = client.simulate_delete(f"/api/v1/admin/tickets/{ticket['id']}", headers=admin)
    _error(result, 405, "method_not_allowed")


def test_404_outranks_405_and_body_errors_for_a_notice_that_is_not_the_callers(
    client, clients, auth
):
    notices = clients.services["notifications"]
    mine, theirs = notices.add("alice"), notices.add("bob")
    json_headers = auth() | {"Content-Type": "application/json"}
    for notice_id in (theirs["id"], 9999):
        path = f"/api/v1/notifications/{notice_id}/read"
        _error(client.simulate_get(path, headers=auth()), 404, "not_found")
        _error(client.simulate_delete(path, headers=auth()), 404, "not_found")
        _error(client.simulate_post(path, json={"x": 1}, headers=auth()), 404, "not_found")
        _error(client.simulate_post(path, body=b"{", headers=json_headers), 404, "not_found")
    # On one's own notice the other errors stand, and nothing was marked read.
    path = f"/api/v1/notifications/{mine['id']}/read"
    result = client.simulate_get(path, headers=auth())
    _error(result, 405, "method_not_allowed")
    assert "POST" in result.headers["Allow"]
    _error(client.simulate_post(path, json={"x": 1}, headers=auth()), 422, "validation_failed")
    _error(client.simulate_post(path, body=b"{", headers=json_headers), 400, "malformed_request")
    assert mine["read_at"] is None and theirs["read_at"] is None


def test_someone_elses_ticket_looks_exactly_like_a_missing_one(client, auth, new_ticket):
    ticket = new_ticket("bob")
    theirs = client.simulate_get(f"/api/v1/tickets/{ticket['id']}", headers=auth("alice"))
    missing = client.simulate_get("/api/v1/tickets/424242", headers=auth("alice"))
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json == missing.json
    for path in ("messages", "close"):
        result = client.simulate_post(
            f"/api/v1/tickets/{ticket['id']}/{path}", headers=auth("alice"), json={"body": "hello"}
        )
        _error(result, 404, "not_found")


def test_413_from_content_length_before_the_body_is_read(client, auth):
    big = b'{"text": "' + b"a" * MAX_BODY_BYTES + b'"}'
    headers = auth() | {"Content-Type": "application/json"}
    error = _error(
        client.simulate_post("/api/v1/preview", body=big, headers=headers), 413, "payload_too_large"
    )
    assert error["details"]["max_bytes"] == MAX_BODY_BYTES


def test_413_outranks_415_and_404_outranks_413(client, auth, new_ticket):
    big = b"x" * (MAX_BODY_BYTES + 1)
    headers = auth() | {"Content-Type": "text/plain"}
    _error(
        client.simulate_post("/api/v1/tickets", body=big, headers=headers), 413, "payload_too_large"
    )
    _error(
        client.simulate_post("/api/v1/tickets/999/messages", body=big, headers=headers),
        404,
        "not_found",
    )
    mine = new_ticket()
    _error(
        client.simulate_post(f"/api/v1/tickets/{mine['id']}/messages", body=big, headers=headers),
        413,
        "payload_too_large",
    )


def test_415_for_a_body_that_is_not_json_and_it_outranks_400(client, auth):
    for content_type in (
        "text/plain",
        "application/x-www-form-urlencoded",
        None,
        # JSON is UTF-8 only: a body declared in another charset is not JSON as we read it.
        "application/json; charset=utf-16",
        'application/json; charset="iso-8859-1"',
    ):
        headers = auth() | ({"Content-Type": content_type} if content_type else {})
        result = client.simulate_post("/api/v1/tickets", body=b"not json at all", headers=headers)
        _error(result, 415, "unsupported_media_type")
    headers = auth() | {"Content-Type": "application/json; charset=utf-8"}
    assert (
        client.simulate_post("/api/v1/preview", body=b'{"text": "x"}', headers=headers).status_code
        == 200
    )


@pytest.mark.parametrize(
    "body",
    [
        b"{",
        b"not json",
        b'{"a": NaN}',
        b"\xff\xfe",
        b'{"text": "x"} trailing',
        b"[" * 60000,
        b'{"text": "x", "text": "y"}',
        b'{"text": "x", "more": {"a": 1, "a": 1}}',
    ],
    ids=["open", "text", "nan", "not-utf8", "trailing", "deep", "duplicate", "nested-duplicate"],
)
def test_400_for_a_body_that_is_not_valid_json(client, auth, body):
    headers = auth() | {"Content-Type": "application/json"}
    _error(
        client.simulate_post("/api/v1/preview", body=body, headers=headers),
        400,
        "malformed_request",
    )


def test_400_for_a_missing_body_where_one_is_required(client, auth):
    _error(client.simulate_post("/api/v1/tickets", headers=auth()), 400, "malformed_request")


@pytest.mark.parametrize("body", [b"[]", b'"text"', b"42", b"null", b"true"])
def test_422_for_json_that_is_not_an_object(client, auth, body):
    headers = auth() | {"Content-Type": "application/json"}
    error = _error(
        client.simulate_post("/api/v1/tickets", body=body, headers=headers),
        422,
        "validation_failed",
    )
    assert error["details"] == {"_schema": ["Must be a JSON object."]}


def test_422_names_every_bad_field(client, auth, clients):
    body = {
        "issue_type": "nonsense",
        "feature": "nope",
        "subject": "   short   ",
        "description": 5,
        "status": "resolved",
        "priority": "critical",
        "user_id": "mallory",
    }
    error = _error(
        client.simulate_post("/api/v1/tickets", json=body, headers=auth()), 422, "validation_failed"
    )
    # Every field sent is refused by its name.
    assert set(error["details"]) == set(body)
    assert all(isinstance(v, list) and v for v in error["details"].values())
    assert not [c for c in clients.calls if c[1] == "create_ticket"]


def test_422_for_missing_fields_and_lengths_counted_after_trimming(client, auth):
    error = _error(
        client.simulate_post("/api/v1/tickets", json={}, headers=auth()), 422, "validation_failed"
    )
    assert set(error["details"]) == {"issue_type", "feature", "subject", "description"}
    body = NEW_TICKET | {"subject": " " * 20 + "tiny" + " " * 20, "description": "é" * 50}
    error = _error(
        client.simulate_post("/api/v1/tickets", json=body, headers=auth()), 422, "validation_failed"
    )
    assert set(error["details"]) == {"subject"}  # 50 characters, not 100 bytes


def test_400_outranks_422_and_404_outranks_422(client, auth):
    headers = auth() | {"Content-Type": "application/json"}
    _error(
        client.simulate_post("/api/v1/tickets", body=b'{"status": ', headers=headers),
        400,
        "malformed_request",
    )
    _error(
        client.simulate_post("/api/v1/tickets/31337/messages", json={"x": 1}, headers=auth()),
        404,
        "not_found",
    )


def test_409_on_a_closed_ticket_but_422_outranks_it(client, auth, new_ticket):
    ticket = new_ticket()
    url = f"/api/v1/tickets/{ticket['id']}"
    assert client.simulate_post(f"{url}/close", headers=auth()).status_code == 200
    _error(
        client.simulate_post(f"{url}/messages", json={"body": "hi"}, headers=auth()),
        409,
        "conflict",
    )
    _error(client.simulate_post(f"{url}/close", headers=auth()), 409, "conflict")
    _error(
        client.simulate_post(f"{url}/messages", json={"body": ""}, headers=auth()),
        422,
        "validation_failed",
    )


def test_429_with_retry_after_and_reset_at_but_422_outranks_it(client, auth, new_ticket):
    for _ in range(5):
        new_ticket("carol")
    result = client.simulate_post("/api/v1/tickets", json=NEW_TICKET, headers=auth("carol"))
    error = _error(result, 429, "rate_limited")
    assert error["details"]["reset_at"].endswith("Z")
    assert 0 < int(result.headers["Retry-After"]) <= 86400
    assert error["details"]["retry_after"] == int(result.headers["Retry-After"])
    bad = NEW_TICKET | {"subject": "x"}
    _error(
        client.simulate_post("/api/v1/tickets", json=bad, headers=auth("carol")),
        422,
        "validation_failed",
    )


def test_query_type_errors_are_400_and_range_errors_422(client, auth):
    def get(path, query):
        return client.simulate_get(path, query_string=query, headers=auth())

    _error(get("/api/v1/tickets", "limit=abc"), 400, "malformed_request")
    _error(get("/api/v1/tickets", "limit=1.5"), 400, "malformed_request")
    _error(get("/api/v1/tickets", "limit=5&limit=6"), 400, "malformed_request")
    _error(get("/api/v1/notifications", "unread=maybe"), 400, "malformed_request")
    for query, field in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=-1", "limit"),
        ("status=pending", "status"),
        ("q=" + "x" * 201, "q"),
    ]:
        assert field in _error(get("/api/v1/tickets", query), 422, "validation_failed")["details"]
    admin = auth("root", "admin")
    for query in ("sort=random", "priority=urgent", "status=nope"):
        result = client.simulate_get("/api/v1/admin/tickets", query_string=query, headers=admin)
        _error(result, 422, "validation_failed")
    # a type error outranks a range error elsewhere in the same query
    _error(get("/api/v1/tickets", "status=pending&limit=abc"), 400, "malformed_request")


def test_a_dead_service_is_a_503_with_retry_after(client, clients, auth):
    clients.down.add("notifications")
    result = client.simulate_get("/api/v1/notifications", headers=auth())
    error = _error(result, 503, "service_unavailable")
    assert error["details"] == {"service": "notifications"}
    assert int(result.headers["Retry-After"]) > 0
    assert client.simulate_get("/api/v1/tickets", headers=auth()).status_code == 200


def test_a_service_whose_database_is_down_is_a_503_with_retry_after(client, clients, auth):
    def database_down(*args):
        raise StorageUnavailable("The service's database is unavailable; try again shortly.")

    clients.services["tickets"].list_tickets = database_down
    result = client.simulate_get("/api/v1/tickets", headers=auth())
    _error(result, 503, "service_unavailable")
    assert int(result.headers["Retry-After"]) > 0


def test_an_unexpected_fault_is_a_json_500_logged_with_the_request_id(
    client, clients, auth, caplog
):
    def explode(*args):
        raise RuntimeError("secret internals")

    clients.services["tickets"].list_tickets = explode
    with caplog.at_level(logging.ERROR, logger="gateway.errors"):
        result = client.simulate_get(
            "/api/v1/tickets", headers=auth() | {"X-Request-Id": "req-500"}
        )
    error = _error(result, 500, "internal_error")
    assert "secret internals" not in result.text and "Traceback" not in result.text
    assert error["details"] == {}
    records = [r for r in caplog.records if r.name == "gateway.errors"]
    assert records and records[-1].request_id == "req-500" and records[-1].exc_info


def test_request_ids_are_echoed_sanitized_or_made_and_reach_the_services(client, clients, auth):
    result = client.simulate_get("/api/v1/tickets", headers=auth() | {"X-Request-Id": "abc-123"})
    assert result.headers["X-Request-Id"] == "abc-123"
    assert clients.calls[-1][3] == "abc-123"
    result = client.simulate_get(
        "/api/v1/tickets", headers=auth() | {"X-Request-Id": "a b<script>" + "x" * 500}
    )
    echoed = result.headers["X-Request-Id"]
    assert echoed.startswith("abscript") and len(echoed) <= 128
    made = client.simulate_get("/api/v1/tickets", headers=auth()).headers["X-Request-Id"]
    assert len(made) == 32 and made != echoed
    for result in (client.simulate_get("/nothing"), client.simulate_get("/api/v1/tickets")):
        assert result.headers["X-Request-Id"]


NOT_TEXT = ["\x00", "\ud800", "\udfff"]


@pytest.mark.parametrize("bad", NOT_TEXT, ids=["nul", "high-surrogate", "low-surrogate"])
def test_text_that_cannot_be_stored_is_a_422_in_every_field(client, auth, new_ticket, bad):
    """NUL (PostgreSQL refuses it) and lone surrogates (no UTF-8 for them) in any text."""
    ticket = new_ticket()
    admin = auth("sam", "admin")
    tid = ticket["id"]
    cases = [
        (
            "/api/v1/tickets",
            auth(),
            NEW_TICKET | {"subject": f"Report {bad} totals off"},
            "subject",
        ),
        (
            "/api/v1/tickets",
            auth(),
            NEW_TICKET | {"description": NEW_TICKET["description"] + bad},
            "description",
        ),
        (f"/api/v1/tickets/{tid}/messages", auth(), {"body": f"hi {bad}"}, "body"),
        (f"/api/v1/tickets/{tid}/close", auth(), {"note": f"done {bad}"}, "note"),
        ("/api/v1/preview", auth(), {"text": bad}, "text"),
        (f"/api/v1/admin/tickets/{tid}/messages", admin, {"body": bad}, "body"),
        (
            f"/api/v1/admin/tickets/{tid}/status",
            admin,
            {"status": "resolved", "resolution_note": f"Fixed it {bad} for good"},
            "resolution_note",
        ),
        (f"/api/v1/admin/tickets/{tid}/assign", admin, {"assignee_id": f"s{bad}m"}, "assignee_id"),
    ]
    for path, headers, body, field in cases:
        # JSON escapes the surrogate ("\\ud800"), as a client's encoder would.
        headers = headers | {"Content-Type": "application/json"}
        result = client.simulate_post(path, body=json.dumps(body), headers=headers)
        error = _error(result, 422, "validation_failed")
        assert list(error["details"]) == [field], (path, error)
    # In a URL: %00 is a NUL; a surrogate has no UTF-8, so %ED%A0%80 is not UTF-8 at all.
    encoded = "%00" if bad == "\x00" else "%ED%A0%80"
    for path, headers, names in (
        ("/api/v1/tickets", auth(), ("q", "cursor")),
        ("/api/v1/admin/tickets", admin, ("q", "cursor", "assignee")),
    ):
        for name in names:
            result = client.simulate_get(path, query_string=f"{name}=a{encoded}", headers=headers)
            if bad == "\x00":
                assert list(_error(result, 422, "validation_failed")["details"]) == [name]
            else:
                assert result.status_code in (200, 422), result.text
    # Nothing was stored or changed on the way.
    assert client.simulate_get(f"/api/v1/tickets/{tid}", headers=auth()).json == ticket


def test_an_emoji_is_text_and_an_assignee_id_is_trimmed_and_never_a_filter_keyword(
    client, auth, new_ticket
):
    ticket = new_ticket()
    admin = auth("sam", "admin")
    reply = client.simulate_post(
        f"/api/v1/tickets/{ticket['id']}/messages", json={"body": "Thanks 😀"}, headers=auth()
    )
    assert reply.status_code == 201 and reply.json["body"] == "Thanks 😀"
    path = f"/api/v1/admin/tickets/{ticket['id']}/assign"
    for keyword in ("me", "none", " me "):
        error = _error(
            client.simulate_post(path, json={"assignee_id": keyword}, headers=admin),
            422,
            "validation_failed",
        )
        assert list(error["details"]) == ["assignee_id"]
    _error(
        client.simulate_post(path, json={"assignee_id": "   "}, headers=admin),
        422,
        "validation_failed",
    )
    assigned = client.simulate_post(path, json={"assignee_id": " sam "}, headers=admin)
    assert assigned.status_code == 200 and assigned.json["assignee"]["id"] == "sam"


@pytest.mark.parametrize(
    ("value", "status"),
    [
        ("99999999999999999999999", 422),
        ("-0", 422),
        ("0005", 200),
        ("\uff15", 400),  # a full-width digit is not an ASCII integer
        (" 5", 400),
        ("+5", 400),
    ],
)
def test_an_integer_of_any_size_is_a_range_error_and_anything_else_a_type_error(
    client, auth, value, status
):
    result = client.simulate_get("/api/v1/tickets", params={"limit": value}, headers=auth())
    assert result.status_code == status, result.text
