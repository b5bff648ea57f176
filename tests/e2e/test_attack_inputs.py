"""Oversized and odd inputs through the running gateway: each gets its clear 4xx.

The corpus: bodies just over 64 KiB, deep JSON nesting, huge numbers, duplicate
keys, wrong content types and charsets, NULs and unpaired surrogates in every text
field and query parameter, overlong headers and query strings, and Unicode edge
cases in ``q``. Each answer must be the contract's error for it (or, for a search
that is merely odd, a plain answer), and afterwards the stack still serves, with
no ERROR line and no unexpected traceback in any service's log.

(Path spellings and ids, rendering bounds, message limits and Idempotency-Key
have their own tests.)
"""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
import requests

from tests.e2e.conftest import Api, faults_logged_since, log_marks, raw_http, unique

pytestmark = pytest.mark.e2e

JSON = {"Content-Type": "application/json"}
LIMIT = 64 * 1024
NUL = "a\u0000b"
SURROGATE = "a\ud800b"


def _error(result, status, code):
    assert result.status_code == status, (result.status_code, result.text[:500])
    assert result.headers["Content-Type"].startswith("application/json")
    error = result.json()["error"]
    assert error["code"] == code, error
    assert isinstance(error["details"], dict) and error["message"]
    return error


@pytest.fixture(autouse=True)
def stack_keeps_serving(stack):
    """After each test the stack answers as before and logged no fault."""
    marks = log_marks(stack)
    yield
    assert requests.get(f"{stack.base_url}/readyz", timeout=10).status_code == 200
    faults = faults_logged_since(stack, marks)
    assert not faults, "\n".join(faults)


@pytest.fixture
def ticket(user):
    return user.create()


def _raw_json(api: Api, path: str, text: str | bytes, headers=None):
    """POST ``text`` as it is (not re-encoded by requests' json=)."""
    data = text.encode() if isinstance(text, str) else text
    return api.post(path, data=data, headers={**JSON, **(headers or {})})


# --- size -------------------------------------------------------------------------


def test_a_body_one_byte_over_64_kib_is_413_and_one_at_the_limit_is_read(user):
    # {"text": "xxx..."} of exactly LIMIT bytes, then LIMIT + 1.
    at_limit = '{"text": "' + "x" * (LIMIT - 12) + '"}'
    assert len(at_limit.encode()) == LIMIT
    # Read and validated: the text is over the preview's limit, not the body over 64 KiB.
    _error(_raw_json(user, "/api/v1/preview", at_limit), 422, "validation_failed")
    over = '{"text": "' + "x" * (LIMIT - 11) + '"}'
    assert len(over.encode()) == LIMIT + 1
    error = _error(_raw_json(user, "/api/v1/preview", over), 413, "payload_too_large")
    assert error["details"] == {"max_bytes": LIMIT}


def test_a_body_over_64_kib_is_413_before_anything_else_is_checked(user, ticket):
    huge = "x" * (LIMIT + 1)
    # Not JSON and not even JSON's media type: 413 outranks 415 and 400.
    _error(
        user.post("/api/v1/preview", data=huge, headers={"Content-Type": "text/plain"}),
        413,
        "payload_too_large",
    )
    _error(
        _raw_json(user, f"/api/v1/tickets/{ticket['id']}/messages", huge),
        413,
        "payload_too_large",
    )


# --- JSON shapes ---------------------------------------------------------------------


@pytest.mark.parametrize("depth", [1_000, 10_000])
def test_json_nested_deeper_than_the_parser_goes_is_400(user, depth):
    _error(_raw_json(user, "/api/v1/preview", "[" * depth + "]" * depth), 400, "malformed_request")
    _error(
        _raw_json(user, "/api/v1/preview", '{"a":' * depth + "1" + "}" * depth),
        400,
        "malformed_request",
    )


def test_a_nested_value_where_text_belongs_is_422(user):
    nested = '{"text": ' + "[" * 200 + "]" * 200 + "}"
    _error(_raw_json(user, "/api/v1/preview", nested), 422, "validation_failed")


@pytest.mark.parametrize(
    ("number", "status"),
    [
        ("1e400", 422),  # Python reads it as inf: a number, refused by the field
        ("-1e400", 422),
        ("1" + "0" * 20, 422),
        ("1.5e308", 422),
        ("0.1e-400", 422),
        ("1" * 4_301, 400),  # past Python's digit limit for int(): not readable
    ],
    ids=["inf", "-inf", "1e20", "big-float", "tiny", "4301-digits"],
)
def test_huge_and_odd_numbers_are_refused_cleanly(user, admin, ticket, number, status):
    code = {400: "malformed_request", 422: "validation_failed"}[status]
    path = f"/api/v1/admin/tickets/{ticket['id']}/messages"
    _error(_raw_json(admin, path, '{"body": "A reply", "internal": ' + number + "}"), status, code)
    _error(_raw_json(user, "/api/v1/preview", '{"text": ' + number + "}"), status, code)
    _error(_raw_json(user, "/api/v1/tickets", '{"subject": ' + number + "}"), status, code)
    assert user.get(f"/api/v1/tickets/{ticket['id']}").json()["messages"] == []


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_json_number_literals_are_400(user, literal):
    _error(
        _raw_json(user, "/api/v1/preview", '{"text": ' + literal + "}"), 400, "malformed_request"
    )


def test_duplicate_keys_are_400_not_last_one_wins(user, ticket):
    # Two readers of one body must never disagree on what it says.
    _error(
        _raw_json(user, "/api/v1/preview", '{"text": "shown", "text": "hidden"}'),
        400,
        "malformed_request",
    )
    _error(
        _raw_json(
            user,
            f"/api/v1/tickets/{ticket['id']}/messages",
            '{"body": "first", "body": "second"}',
        ),
        400,
        "malformed_request",
    )
    # Nested objects too.
    _error(
        _raw_json(user, "/api/v1/preview", '{"text": "x", "extra": {"a": 1, "a": 2}}'),
        400,
        "malformed_request",
    )
    assert len(user.get(f"/api/v1/tickets/{ticket['id']}").json()["messages"]) == 0


@pytest.mark.parametrize("body", ["[]", '"text"', "null", "1", "true"])
def test_a_body_that_is_json_but_not_an_object_is_422(user, body):
    _error(_raw_json(user, "/api/v1/preview", body), 422, "validation_failed")


# --- media types and charsets --------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "status"),
    [
        ("application/json", 200),
        ("Application/JSON", 200),
        ("application/json; charset=UTF-8", 200),
        ("application/json;charset=utf-8", 200),
        ("text/plain", 415),
        ("application/x-www-form-urlencoded", 415),
        ("multipart/form-data; boundary=x", 415),
        ("application/jsonx", 415),
        ("application/json-patch+json", 415),
        ("text/json", 415),
        ("application/xml", 415),
        ("", 415),
        ("application/json; charset=utf-16", 415),
        ("application/json; charset=iso-8859-1", 415),
    ],
)
def test_only_utf8_application_json_is_read_however_it_is_spelled(user, content_type, status):
    result = user.post(
        "/api/v1/preview", data=b'{"text": "hi"}', headers={"Content-Type": content_type}
    )
    if status == 200:
        assert result.status_code == 200, result.text
    else:
        _error(result, 415, "unsupported_media_type")


@pytest.mark.parametrize(
    "raw",
    [
        '{"text": "caf\u00e9"}'.encode("latin-1"),
        '{"text": "hi"}'.encode("utf-16"),
        b'\xef\xbb\xbf{"text": "hi"}',
        b'{"text": "\xed\xa0\x80"}',  # a surrogate encoded as UTF-8: not UTF-8
        b'{"text": "\xc0\xaf"}',  # an overlong encoding of "/"
    ],
    ids=["latin-1", "utf-16", "bom", "encoded-surrogate", "overlong"],
)
def test_bytes_that_are_not_utf8_json_are_400(user, raw):
    _error(_raw_json(user, "/api/v1/preview", raw), 400, "malformed_request")


# --- NULs and surrogates in every text field -----------------------------------------

TEXT_FIELDS = [
    ("user", "/api/v1/preview", "text", {}),
    (
        "user",
        "/api/v1/tickets",
        "subject",
        {"issue_type": "bug", "feature": "dashboard", "description": "d" * 60},
    ),
    (
        "user",
        "/api/v1/tickets",
        "description",
        {"issue_type": "bug", "feature": "dashboard", "subject": "A fine subject"},
    ),
    (
        "user",
        "/api/v1/tickets",
        "issue_type",
        {"feature": "dashboard", "subject": "A fine subject", "description": "d" * 60},
    ),
    (
        "user",
        "/api/v1/tickets",
        "feature",
        {"issue_type": "bug", "subject": "A fine subject", "description": "d" * 60},
    ),
    ("user", "/api/v1/tickets/{id}/messages", "body", {}),
    ("user", "/api/v1/tickets/{id}/close", "note", {}),
    ("admin", "/api/v1/admin/tickets/{id}/messages", "body", {}),
    ("admin", "/api/v1/admin/tickets/{id}/status", "status", {}),
    ("admin", "/api/v1/admin/tickets/{id}/status", "resolution_note", {"status": "resolved"}),
    ("admin", "/api/v1/admin/tickets/{id}/assign", "assignee_id", {}),
]


@pytest.mark.parametrize(
    "value",
    [NUL, SURROGATE, "\ud800", "\udfff" + "x" * 20],
    ids=["nul", "surrogate", "lone-high", "lone-low"],
)
@pytest.mark.parametrize(
    ("who", "path", "field", "rest"),
    TEXT_FIELDS,
    ids=[f"{path.rsplit('/', 1)[-1]}.{field}" for _, path, field, _ in TEXT_FIELDS],
)
def test_nul_and_unpaired_surrogates_in_a_text_field_are_422(
    user, admin, ticket, who, path, field, rest, value
):
    api = {"user": user, "admin": admin}[who]
    body = json.dumps({**rest, field: value + "x" * 20})  # \u escapes: valid JSON text
    result = _raw_json(api, path.format(id=ticket["id"]), body)
    error = _error(result, 422, "validation_failed")
    assert field in error["details"], error
    # Nothing was stored.
    assert user.get(f"/api/v1/tickets/{ticket['id']}").json()["status"] == "open"


QUERY = [
    ("user", "/api/v1/tickets", "q"),
    ("user", "/api/v1/tickets", "status"),
    ("user", "/api/v1/tickets", "limit"),
    ("user", "/api/v1/tickets", "cursor"),
    ("admin", "/api/v1/admin/tickets", "q"),
    ("admin", "/api/v1/admin/tickets", "status"),
    ("admin", "/api/v1/admin/tickets", "priority"),
    ("admin", "/api/v1/admin/tickets", "assignee"),
    ("admin", "/api/v1/admin/tickets", "sort"),
    ("admin", "/api/v1/admin/tickets", "limit"),
    ("admin", "/api/v1/admin/tickets", "cursor"),
    ("user", "/api/v1/notifications", "unread"),
    ("user", "/api/v1/notifications", "limit"),
    ("user", "/api/v1/notifications", "cursor"),
]


FREE_TEXT = ("q", "assignee")  # any text is a valid filter (it may match nothing)


@pytest.mark.parametrize(
    "encoded",
    ["a%00b", "%00", "a%ED%A0%80b", "%FF%FE"],
    ids=["nul", "only-nul", "encoded-surrogate", "not-utf8"],
)
@pytest.mark.parametrize(("who", "path", "param"), QUERY, ids=[f"{p}:{n}" for _, p, n in QUERY])
def test_nul_and_broken_utf8_in_a_query_parameter_are_refused(
    user, admin, who, path, param, encoded
):
    api = {"user": user, "admin": admin}[who]
    result = api.get(f"{path}?{param}={encoded}")
    if param in FREE_TEXT and "%00" not in encoded:
        # Bytes that are not UTF-8 reach a free-text filter as U+FFFD (Falcon decodes
        # so): an odd filter that matches nothing, not an error.
        assert result.status_code == 200 and result.json()["items"] == [], result.text
        return
    assert result.status_code in (400, 422), (result.status_code, result.text)
    code = {400: "malformed_request", 422: "validation_failed"}[result.status_code]
    error = _error(result, result.status_code, code)
    assert param in error["details"], error


def test_a_query_parameter_given_twice_is_400(user):
    _error(user.get("/api/v1/tickets?limit=1&limit=2"), 400, "malformed_request")
    _error(user.get("/api/v1/tickets?q=a&q=b"), 400, "malformed_request")


# --- headers and query strings -------------------------------------------------------


def test_an_overlong_header_is_431(stack, user):
    result = user.get("/api/v1/tickets", headers={"X-Padding": "a" * 9_000})
    _error(result, 431, "header_fields_too_large")
    # An overlong token is just a bad token.
    too_long = requests.get(
        f"{stack.base_url}/api/v1/tickets",
        headers={"Authorization": "Bearer " + "a" * 7_000},
        timeout=10,
    )
    _error(too_long, 401, "unauthorized")


def test_a_request_id_is_cleaned_and_bounded(user):
    result = user.get("/api/v1/catalog", headers={"X-Request-Id": "a" * 5_000})
    assert result.status_code == 200 and result.headers["X-Request-Id"] == "a" * 128
    # Only its safe characters are kept (no header or log injection).
    odd = user.get("/api/v1/catalog", headers={"X-Request-Id": "ab<script>\t;cd"})
    assert odd.status_code == 200 and odd.headers["X-Request-Id"] == "abscriptcd"


def test_nul_and_control_bytes_in_headers_are_400(stack, user):
    for header in (b"X-Request-Id: a\x00b", b"X-Other: a\x01b", b"Authorization: Bearer a\x00b"):
        status, headers, body = raw_http(
            stack,
            b"GET /api/v1/tickets HTTP/1.1\r\nHost: x\r\n"
            + header
            + b"\r\nConnection: close\r\n\r\n",
        )
        assert status in (400, 401), (header, status, body)
        assert json.loads(body)["error"]["code"] in ("malformed_request", "unauthorized")
        assert headers["X-Request-Id"]


def test_a_very_long_query_string_is_414_and_a_long_search_is_422(user):
    _error(user.get("/api/v1/tickets", params={"q": "a" * 9_000}), 414, "uri_too_long")
    # Within the request line, a search longer than any subject is refused by its field.
    result = user.get("/api/v1/tickets", params={"q": "a" * 2_000})
    assert result.status_code in (200, 422), result.text
    if result.status_code == 200:
        assert result.json()["items"] == []
    # A thousand parameters in a request line gunicorn accepts (unknown ones are ignored).
    many = "&".join(f"p{i}=1" for i in range(1_000))
    assert user.get(f"/api/v1/tickets?{many}").status_code == 200


# --- Unicode in q -----------------------------------------------------------------


@pytest.fixture
def searcher(stack):
    api = Api(stack, unique("searcher"))
    subjects = {
        "percent": "Fifty % off the billing page",
        "underscore": "Field user_id shows twice",
        "plain": "A plain subject for control",
        "accents": "Émile cannot open Straße settings",
        "emoji": "Charts 📈 stay empty on mobile",
    }
    api.tickets = {key: api.create(subject=subject)["id"] for key, subject in subjects.items()}
    return api


def _found(api, q) -> set[int]:
    result = api.get("/api/v1/tickets", params={"q": q, "limit": 100})
    assert result.status_code == 200, (q, result.text)
    return {item["id"] for item in result.json()["items"]}


def test_like_wildcards_in_q_are_literal(searcher):
    t = searcher.tickets
    assert _found(searcher, "%") == {t["percent"]}
    assert _found(searcher, "_") == {t["underscore"]}
    assert _found(searcher, "Fifty %") == {t["percent"]}
    assert _found(searcher, "user_id") == {t["underscore"]}
    assert _found(searcher, "\\") == set()
    assert _found(searcher, "%%%") == set()


def test_unicode_in_q_is_searched_as_text(searcher):
    t = searcher.tickets
    assert _found(searcher, "📈") == {t["emoji"]}
    assert _found(searcher, "Straße") == {t["accents"]}
    assert _found(searcher, "émile") == {t["accents"]}  # case-insensitive beyond ASCII
    # Odd text is searched like any other (a folding such as İ -> i may match; a q
    # of only whitespace, U+3000 included, is trimmed to none and lists everything).
    for odd in ["e\u0301", "ﬁ", "İ", "\U0010ffff", "\uffff", "a" * 200, "\u3000"]:
        _found(searcher, odd)
    for odd in ["\u202e", "\u200d", "\ufeff", "👩‍💻", "#", "# ", "#-1", "#0"]:
        assert _found(searcher, odd) == set(), odd
    # Digits that are not ASCII are text, not a ticket id.
    own = str(t["plain"])
    fullwidth = "".join(chr(ord(c) - ord("0") + ord("０")) for c in own)
    assert _found(searcher, own) == {t["plain"]}
    assert _found(searcher, f"#{own}") == {t["plain"]}
    assert _found(searcher, fullwidth) == set()
    assert _found(searcher, "٣") == set()  # an Arabic-Indic digit


def test_q_encoded_oddly_on_the_wire(searcher):
    t = searcher.tickets
    # '+' is a space in a query string; %2B is a plus.
    plus = searcher.get("/api/v1/tickets?q=Fifty+%25").json()["items"]
    assert {i["id"] for i in plus} == {t["percent"]}
    encoded = quote("Straße", safe="")
    assert {i["id"] for i in searcher.get(f"/api/v1/tickets?q={encoded}").json()["items"]} == {
        t["accents"]
    }
