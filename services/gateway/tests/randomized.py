"""Random requests for robustness tests: paths, bodies, query strings, headers."""

import json

PATHS = [
    "/api/v1/tickets",
    "/api/v1/tickets/1",
    "/api/v1/tickets/1/messages",
    "/api/v1/tickets/1/close",
    "/api/v1/preview",
    "/api/v1/catalog",
    "/api/v1/notifications",
    "/api/v1/notifications/1/read",
    "/api/v1/notifications/read-all",
    "/api/v1/notifications/unread-count",
    "/api/v1/admin/tickets",
    "/api/v1/admin/tickets/1",
    "/api/v1/admin/tickets/1/messages",
    "/api/v1/admin/tickets/1/status",
    "/api/v1/admin/tickets/1/assign",
    "/api/v1/tickets/%00",
    "/api/v1/tickets/1e3",
    "/api/v1/../etc/passwd",
]
FIELDS = [
    "issue_type",
    "feature",
    "subject",
    "description",
    "body",
    "internal",
    "note",
    "status",
    "resolution_note",
    "assignee_id",
    "text",
    "owner",
    "",
]


# Characters that are easy to send and hard to store: NUL (PostgreSQL refuses it in
# text), lone surrogates (no UTF-8 encoding), a BOM, right-to-left override, an emoji.
AWKWARD = ["\x00", "\ud800", "\udfff", "\ufeff", "\u202e", "\U0001f600", "\u200b"]
# Cursors a client could forge: past a bigint, unrepresentable floats, wrong shapes.
FORGED_CURSORS = [
    "Wzk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5XQ",  # [99999999999999999999999]
    "WzFlNDAwXQ",  # [1e400]
    "W0luZmluaXR5XQ",  # [Infinity]
    "WyIyMDI2LTExLTI3VDEyOjQzOjEwWiIsIDFlNDAwXQ",  # ["2026-11-27T12:43:10Z", 1e400]
    "WyJ4IiwgMV0",  # ["x", 1]
    "WzEsIDJd",  # [1, 2]
]
DESCRIPTION = "Every time I open the dashboard the totals are wrong by a few cents."


def awkward_text(rng, length=30):
    """Text of about ``length`` characters with awkward characters mixed in."""
    text = list("Totals look wrong today " * (length // 24 + 1))[:length]
    for _ in range(rng.randint(1, 3)):
        text.insert(rng.randint(0, len(text)), rng.choice(AWKWARD))
    return "".join(text)


def near_valid_body(rng, path):
    """A body that is valid for ``path`` but for awkward text in one of its fields."""
    bodies = {
        "/messages": {"body": "Any news?", "internal": False},
        "/close": {"note": "Solved on my side."},
        "/status": {"status": "resolved", "resolution_note": "Fixed in release 4.2."},
        "/assign": {"assignee_id": "sam"},
        "/preview": {"text": "*Preview* me"},
    }
    body = next(
        (dict(b) for end, b in bodies.items() if path.endswith(end)),
        {
            "issue_type": "bug",
            "feature": "dashboard",
            "subject": "Totals are off",
            "description": DESCRIPTION,
        },
    )
    if "/admin/" not in path:
        body.pop("internal", None)
    field = rng.choice([k for k, v in body.items() if isinstance(v, str) and k != "status"])
    body[field] = awkward_text(rng, len(body[field]) + 10)
    return body


def random_value(rng, depth=0):
    choices = [
        lambda: None,
        lambda: rng.choice([True, False]),
        lambda: rng.randint(-(2**70), 2**70),
        lambda: rng.random() * 1e300,
        lambda: "".join(chr(rng.randint(0, 0x2FFF)) for _ in range(rng.randint(0, 80))),
        lambda: awkward_text(rng, rng.randint(0, 60)),
        lambda: rng.choice(["bug", "dashboard", "resolved", "open", " " * 20, "x" * 5001]),
    ]
    if depth < 3:
        choices.append(lambda: [random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))])
        choices.append(
            lambda: {
                rng.choice(FIELDS): random_value(rng, depth + 1) for _ in range(rng.randint(0, 5))
            }
        )
    return rng.choice(choices)()


def random_query(rng):
    keys = ["status", "q", "limit", "cursor", "unread", "priority", "assignee", "sort", "x"]
    values = [
        "",
        "0",
        "-5",
        "abc",
        "open",
        "%FF",
        "%00",
        "a%00b",
        "%ED%A0%80",
        "true",
        "1e9",
        "#12",
        "99999999999999999999",
        "me",
        "none",
        *FORGED_CURSORS,
    ]
    return "&".join(f"{rng.choice(keys)}={rng.choice(values)}" for _ in range(rng.randint(0, 4)))


def random_request(rng, auth_headers, ticket_id=1):
    """(method, path, query string, headers, body) for one random request; paths name
    ``ticket_id`` where they name a ticket."""
    path = rng.choice(PATHS).replace("/tickets/1", f"/tickets/{ticket_id}")
    if rng.random() < 0.3 and (
        path.endswith(("/messages", "/close", "/status", "/assign", "/preview"))
        or path == "/api/v1/tickets"
    ):
        # Valid but for awkward text, so it passes every check before the one for text.
        body = json.dumps(near_valid_body(rng, path)).encode()
        return "POST", path, "", dict(auth_headers) | {"Content-Type": "application/json"}, body
    method = rng.choice(["GET", "POST", "POST", "PUT", "DELETE", "PATCH"])
    headers = dict(auth_headers)
    if rng.random() < 0.1:
        headers = {"Authorization": rng.choice(["Bearer x", "", "Basic", "Bearer " + "a." * 3])}
    kind = rng.random()
    if kind < 0.6:
        body = json.dumps(random_value(rng)).encode()
    elif kind < 0.8:
        body = bytes(rng.randint(0, 255) for _ in range(rng.randint(0, 200)))
    else:
        body = b""
    headers["Content-Type"] = rng.choice(
        ["application/json", "application/json; charset=utf-8", "text/plain", ""]
    )
    return method, path, random_query(rng), headers, body
