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
    "assignee_name",
    "text",
    "owner",
    "",
]


def random_value(rng, depth=0):
    choices = [
        lambda: None,
        lambda: rng.choice([True, False]),
        lambda: rng.randint(-(2**70), 2**70),
        lambda: rng.random() * 1e300,
        lambda: "".join(chr(rng.randint(0, 0x2FFF)) for _ in range(rng.randint(0, 80))),
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
    values = ["", "0", "-5", "abc", "open", "%FF", "true", "1e9", "#12", "99999999999999999999"]
    return "&".join(f"{rng.choice(keys)}={rng.choice(values)}" for _ in range(rng.randint(0, 4)))


def random_request(rng, auth_headers):
    """(method, path, query string, headers, body) for one random request."""
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
    return method, rng.choice(PATHS), random_query(rng), headers, body
