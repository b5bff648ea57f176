"""Each route of the contract, end to end through the app, on the fake services."""

import re

import pytest

from services.gateway import schemas
from services.gateway.errors import ApiError
from services.gateway.openapi import request_body_schema
from services.gateway.routes import by_path
from services.gateway.tests.fakes import NEW_TICKET

pytestmark = pytest.mark.unit


def test_create_returns_201_with_location_and_owner_comes_from_the_token(client, clients, auth):
    body = {
        "issue_type": "access",
        "feature": "account",
        "subject": "  Locked out of my account  ",
        "description": "I cannot sign in since this morning; the password reset mail never arrives.",
    }
    result = client.simulate_post("/api/v1/tickets", json=body, headers=auth("alice", name="Alice"))
    assert result.status_code == 201
    ticket = result.json
    assert result.headers["Location"] == f"/api/v1/tickets/{ticket['id']}"
    assert ticket["subject"] == "Locked out of my account"  # trimmed before the call
    assert ticket["priority"] == "critical" and ticket["status"] == "open"
    _, method, (actor, fields, key), _ = clients.calls[-1]
    assert method == "create_ticket" and actor["id"] == "alice" and key is None
    assert set(fields) == {"issue_type", "feature", "subject", "description"}


def test_list_search_and_paging(client, auth, new_ticket):
    first = new_ticket(subject="Export to CSV is broken")
    second = new_ticket(subject="Invoice total looks wrong")
    new_ticket("bob", subject="Bob's own ticket here")
    items = client.simulate_get("/api/v1/tickets", headers=auth()).json["items"]
    assert [t["id"] for t in items] == [second["id"], first["id"]]
    for q in (str(first["id"]), f"#{first['id']}", "csv"):
        found = client.simulate_get("/api/v1/tickets", params={"q": q}, headers=auth()).json
        assert [t["id"] for t in found["items"]] == [first["id"]]
    page = client.simulate_get("/api/v1/tickets", params={"limit": 1}, headers=auth()).json
    assert len(page["items"]) == 1 and page["next_cursor"]
    rest = client.simulate_get(
        "/api/v1/tickets", params={"limit": 1, "cursor": page["next_cursor"]}, headers=auth()
    ).json
    assert rest["items"][0]["id"] == first["id"]
    empty = client.simulate_get("/api/v1/tickets", query_string="status=&q=", headers=auth())
    assert empty.status_code == 200 and len(empty.json["items"]) == 2


def test_detail_reply_and_close(client, auth, new_ticket):
    ticket = new_ticket()
    url = f"/api/v1/tickets/{ticket['id']}"
    detail = client.simulate_get(url, headers=auth()).json
    assert detail["description_html"].startswith("<p>")
    reply = client.simulate_post(f"{url}/messages", json={"body": "**more** info"}, headers=auth())
    assert (
        reply.status_code == 201 and reply.json["body_html"] == "<p><strong>more</strong> info</p>"
    )
    closed = client.simulate_post(f"{url}/close", json={"note": "made in error"}, headers=auth())
    assert closed.status_code == 200 and closed.json["status"] == "closed"
    assert closed.json["closed_note"] == "made in error"
    listed = client.simulate_get("/api/v1/tickets", headers=auth()).json["items"]
    assert listed[0]["status"] == "closed"


def test_close_accepts_an_empty_body_or_an_empty_object(client, auth, new_ticket):
    for body in (None, {}):
        ticket = new_ticket()
        result = client.simulate_post(
            f"/api/v1/tickets/{ticket['id']}/close", json=body, headers=auth()
        )
        assert result.status_code == 200, result.json
    ticket = new_ticket()
    result = client.simulate_post(
        f"/api/v1/tickets/{ticket['id']}/close", json={"status": "open"}, headers=auth()
    )
    assert result.status_code == 422 and "status" in result.json["error"]["details"]


def test_admin_queue_message_status_and_assign(client, clients, auth, new_ticket):
    ticket = new_ticket("alice")
    admin = auth("sam", "admin", "Sam")
    url = f"/api/v1/admin/tickets/{ticket['id']}"
    queue = client.simulate_get(
        "/api/v1/admin/tickets",
        params={"priority": "high", "sort": "priority", "assignee": "none"},
        headers=admin,
    )
    assert queue.status_code == 200 and queue.json["items"][0]["owner"]["id"] == "alice"
    _, _, (actor, params), _ = clients.calls[-1]
    assert actor["role"] == "admin"
    assert params == {"priority": "high", "sort": "priority", "assignee": "none"}
    note = client.simulate_post(
        f"{url}/messages", json={"body": "internal only", "internal": True}, headers=admin
    )
    assert note.status_code == 201 and note.json["internal"] is True
    user_view = client.simulate_get(f"/api/v1/tickets/{ticket['id']}", headers=auth("alice")).json
    assert user_view["messages"] == []
    assigned = client.simulate_post(f"{url}/assign", json={"assignee_id": "sam"}, headers=admin)
    assert assigned.json["assignee"] == {"id": "sam", "name": "Sam"}
    mine = client.simulate_get(
        "/api/v1/admin/tickets", params={"assignee": "me"}, headers=admin
    ).json
    assert [t["id"] for t in mine["items"]] == [ticket["id"]]
    resolved = client.simulate_post(
        f"{url}/status",
        json={"status": "resolved", "resolution_note": "Fixed in 2.3.1"},
        headers=admin,
    )
    assert resolved.status_code == 200 and resolved.json["resolution_note"] == "Fixed in 2.3.1"
    illegal = client.simulate_post(f"{url}/status", json={"status": "awaiting_user"}, headers=admin)
    assert illegal.status_code == 409
    unassigned = client.simulate_post(f"{url}/assign", json={"assignee_id": None}, headers=admin)
    assert unassigned.json["assignee"] is None


@pytest.mark.parametrize(
    "body, field",
    [
        ({"status": "resolved"}, "resolution_note"),
        ({"status": "in_review", "resolution_note": "Not allowed here"}, "resolution_note"),
        ({"status": "resolved", "resolution_note": "short"}, "resolution_note"),
        ({"status": "gone"}, "status"),
        ({"status": "closed", "priority": "low"}, "priority"),
    ],
)
def test_status_changes_are_validated(client, auth, new_ticket, body, field):
    ticket = new_ticket()
    result = client.simulate_post(
        f"/api/v1/admin/tickets/{ticket['id']}/status", json=body, headers=auth("sam", "admin")
    )
    assert result.status_code == 422 and field in result.json["error"]["details"]


def test_admin_message_and_assign_bodies_are_validated(client, auth, new_ticket):
    ticket = new_ticket()
    admin = auth("sam", "admin")
    url = f"/api/v1/admin/tickets/{ticket['id']}"
    for body, field in [
        ({"body": "x", "internal": "yes"}, "internal"),
        ({"body": "   "}, "body"),
        ({"body": "x" * 5001}, "body"),
        ({"body": "x", "author": "user"}, "author"),
    ]:
        result = client.simulate_post(f"{url}/messages", json=body, headers=admin)
        assert result.status_code == 422 and field in result.json["error"]["details"], body
    for body, field in [
        ({}, "assignee_id"),
        ({"assignee_id": ""}, "assignee_id"),
        ({"assignee_id": 5}, "assignee_id"),
    ]:
        result = client.simulate_post(f"{url}/assign", json=body, headers=admin)
        assert result.status_code == 422 and field in result.json["error"]["details"], body


def test_admins_may_use_the_user_endpoints_for_their_own_tickets(client, auth, new_ticket):
    ticket = new_ticket("sam")
    assert (
        client.simulate_get(
            f"/api/v1/tickets/{ticket['id']}", headers=auth("sam", "admin")
        ).status_code
        == 200
    )


def test_notices_list_count_read_and_read_all(client, clients, auth):
    notices = clients.services["notifications"]
    mine = [notices.add("alice"), notices.add("alice", kind="ticket_resolved")]
    theirs = notices.add("bob")
    page = client.simulate_get("/api/v1/notifications", headers=auth()).json
    assert [n["id"] for n in page["items"]] == [mine[1]["id"], mine[0]["id"]]
    assert page["unread_count"] == 2
    assert client.simulate_get("/api/v1/notifications/unread-count", headers=auth()).json == {
        "unread_count": 2
    }
    read = client.simulate_post(f"/api/v1/notifications/{mine[0]['id']}/read", headers=auth())
    assert read.status_code == 200 and read.json["read_at"]
    unread = client.simulate_get(
        "/api/v1/notifications", params={"unread": "true"}, headers=auth()
    ).json
    assert [n["id"] for n in unread["items"]] == [mine[1]["id"]]
    other = client.simulate_post(f"/api/v1/notifications/{theirs['id']}/read", headers=auth())
    missing = client.simulate_post("/api/v1/notifications/9999/read", headers=auth())
    assert other.status_code == missing.status_code == 404 and other.json == missing.json
    for bad in ("abc", "0", "-1", "99999999999999999999"):
        path = f"/api/v1/notifications/{bad}/read"
        assert client.simulate_post(path, headers=auth()).status_code == 404
    result = client.simulate_post("/api/v1/notifications/read-all", json={}, headers=auth())
    assert result.json == {"updated": 1}
    assert (
        client.simulate_post(
            "/api/v1/notifications/read-all", json={"all": True}, headers=auth()
        ).status_code
        == 422
    )
    _, method, args, _ = clients.calls[-1]
    assert method == "mark_all_read" and args == ("alice", None)


def test_catalog_comes_from_the_configuration(make_settings, clients, auth):
    from falcon import testing

    from services.gateway.app import create_app
    from services.gateway.tests.unit.conftest import SECRET

    settings = make_settings(
        HELPDESK_JWT_SECRET=SECRET,
        HELPDESK_FEATURES="alpha:Alpha,beta:Beta",
        HELPDESK_TICKETS_PER_DAY=7,
    )
    client = testing.TestClient(create_app(settings, clients))
    catalog = client.simulate_get("/api/v1/catalog", headers=auth()).json
    assert [f["key"] for f in catalog["features"]] == ["alpha", "beta"]
    assert catalog["limits"]["tickets_per_day"] == 7
    assert [t["priority"] for t in catalog["issue_types"]] == [
        "critical",
        "high",
        "high",
        "medium",
        "low",
    ]
    body = NEW_TICKET
    result = client.simulate_post("/api/v1/tickets", json=body, headers=auth())
    assert result.status_code == 422 and "feature" in result.json["error"]["details"]
    assert (
        client.simulate_post(
            "/api/v1/tickets", json=body | {"feature": "beta"}, headers=auth()
        ).status_code
        == 201
    )


def test_preview_uses_the_one_renderer_and_escapes_html(client, auth):
    text = (
        "# Title\n<script>alert(1)</script> [x](javascript:alert(1)) <img src=x onerror=alert(1)>"
    )
    html = client.simulate_post("/api/v1/preview", json={"text": text}, headers=auth()).json["html"]
    assert "<h1>Title</h1>" in html
    assert "<script" not in html and "<img" not in html and "href" not in html
    assert "&lt;script&gt;" in html  # shown as text
    assert client.simulate_post("/api/v1/preview", json={"text": ""}, headers=auth()).json == {
        "html": ""
    }
    assert (
        client.simulate_post("/api/v1/preview", json={"text": 5}, headers=auth()).status_code == 422
    )


def test_healthz_readyz_and_metrics(client, clients, auth, monkeypatch):
    monkeypatch.setattr("services.gateway.operations.READY_MAX_AGE", 0.0)  # no shared result here
    assert client.simulate_get("/healthz").json == {"status": "ok"}
    assert client.simulate_get("/readyz").json == {"status": "ok"}
    clients.down.add("tickets")
    result = client.simulate_get("/readyz")
    assert result.status_code == 503 and set(result.json["error"]["details"]) == {"tickets"}
    assert "tickets" in result.json["error"]["message"] and result.headers["Retry-After"]
    clients.broker_down = True
    assert set(client.simulate_get("/readyz").json["error"]["details"]) == {"broker"}
    client.simulate_get("/api/v1/catalog", headers=auth())
    metrics = client.simulate_get("/metrics")
    assert metrics.headers["Content-Type"].startswith("text/plain")
    assert (
        'helpdesk_http_requests_total{method="GET",route="/api/v1/catalog",status="200"}'
        in metrics.text
    )
    assert "helpdesk_http_request_duration_seconds_bucket" in metrics.text


def test_requests_refused_before_routing_count_under_their_route(client, auth):
    client.simulate_get("/api/v1/tickets/7")  # no token: 401 before routing
    client.simulate_get("/api/v1/admin/tickets", headers=auth())  # a user: 403
    client.simulate_get("/api/v1/nowhere", headers=auth())  # no such route: 404
    text = client.simulate_get("/metrics").text
    assert (
        'helpdesk_http_requests_total{method="GET",route="/api/v1/tickets/{ticket_id}",status="401"}'
        in text
    )
    assert 'route="/api/v1/admin/tickets",status="403"' in text
    assert 'helpdesk_http_requests_total{method="GET",route="unmatched",status="404"}' in text


def test_openapi_describes_every_route_and_error(client, settings):
    doc = client.simulate_get("/openapi.json").json
    assert doc["openapi"].startswith("3.1")
    routes = {re.sub(r"\{[^}]*\}", "{id}", route.uri_template) for route in _routes(client.app)}
    documented = set(doc["paths"])
    assert {
        r for r in routes if r.startswith(("/api", "/healthz", "/readyz", "/openapi", "/metrics"))
    } <= documented
    assert set(by_path()) == documented
    create = doc["paths"]["/api/v1/tickets"]["post"]
    body = create["requestBody"]["content"]["application/json"]["schema"]
    assert body["additionalProperties"] is False
    assert body["properties"]["feature"]["enum"] == [k for k, _ in settings.features]
    assert body["properties"]["subject"]["minLength"] == 10
    assert set(create["responses"]) >= {"201", "400", "401", "413", "415", "422", "429", "503"}
    status_codes = {
        code for path in doc["paths"].values() for op in path.values() for code in op["responses"]
    }
    assert status_codes >= {
        "200",
        "201",
        "400",
        "401",
        "403",
        "404",
        "405",
        "409",
        "413",
        "415",
        "422",
        "429",
        "500",
        "503",
    }
    refs = _refs(doc)
    assert refs and all(_component(doc, ref) for ref in refs)


def _component(doc, ref):
    """The component ``ref`` (``#/components/<section>/<name>``) points at, or None."""
    _, _, section, name = ref.split("/")
    return doc["components"].get(section, {}).get(name)


HTTP_METHODS = ("get", "post", "put", "patch", "delete")


def test_openapi_405_and_allow_are_what_each_path_answers(client, clients, auth, new_ticket):
    """Every operation lists 405, and each method a path does not offer gets exactly that."""
    doc = client.simulate_get("/openapi.json").json
    # An id the caller can reach: for anyone else's (or a missing) one 404 outranks 405.
    ticket_id = new_ticket("sam")["id"]
    notice_id = clients.services["notifications"].add("sam")["id"]
    team_key = _a_team(clients)
    macro_id = _a_macro(clients)
    for path, methods in doc["paths"].items():
        for method, operation in methods.items():
            assert "Allow" in operation["responses"]["405"]["headers"], (method, path)
        url = path.replace("{id}", _path_id(path, ticket_id, notice_id, team_key, macro_id))
        role = "admin" if path.startswith("/api/v1/admin") else "user"
        for method in set(HTTP_METHODS) - set(methods):
            result = client.simulate_request(method.upper(), url, headers=auth("sam", role))
            assert result.status_code == 405, (method, path, result.status_code)
            allowed = {m.strip().lower() for m in result.headers["Allow"].split(",")}
            assert set(methods) <= allowed, (path, allowed)


def _a_team(clients) -> str:
    team = {"key": "desk", "label": "Desk", "members": [], "features": [], "issue_types": []}
    clients.services["tickets"].create_team({"id": "root", "role": "admin", "name": None}, team)
    return team["key"]


def _a_macro(clients) -> int:
    macro = {"title": "Thanks", "body": "Thanks, {owner_name}."}
    admin = {"id": "root", "role": "admin", "name": None}
    return clients.services["tickets"].create_macro(admin, macro)["id"]


def _path_id(path, ticket_id, notice_id, team_key, macro_id=None) -> str:
    """What a documented ``{id}`` stands for on ``path``: something the caller can reach."""
    if "/teams/" in path:
        return team_key
    if "/macros/" in path:
        return str(macro_id)
    return str(notice_id if "/notifications/" in path else ticket_id)


def test_openapi_documents_the_request_id_on_every_request_and_response(client, auth):
    doc = client.simulate_get("/openapi.json").json
    parameter = _component(doc, "#/components/parameters/X-Request-Id")
    assert parameter["in"] == "header" and parameter["required"] is False
    pattern = re.compile(_component(doc, "#/components/headers/X-Request-Id")["schema"]["pattern"])
    for path, methods in doc["paths"].items():
        for method, operation in methods.items():
            assert {"$ref": "#/components/parameters/X-Request-Id"} in operation["parameters"]
            for status, response in operation["responses"].items():
                assert "X-Request-Id" in response["headers"], (method, path, status)
    # The pattern holds for what the gateway really answers: kept, cleaned or made.
    for sent in ("abc-123", "a b<c>" + "x" * 300, "é", None):
        headers = auth() | ({"X-Request-Id": sent} if sent is not None else {})
        echoed = client.simulate_get("/api/v1/tickets", headers=headers).headers["X-Request-Id"]
        assert pattern.fullmatch(echoed), (sent, echoed)


def _routes(app):
    stack = list(app._router._roots)
    while stack:
        node = stack.pop()
        if node.resource is not None:
            yield node
        stack.extend(node.children)


def _refs(value):
    if isinstance(value, dict):
        found = [value["$ref"]] if "$ref" in value else []
        for v in value.values():
            found += _refs(v)
        return found
    if isinstance(value, list):
        return [r for v in value for r in _refs(v)]
    return []


def test_openapi_document_is_valid_openapi_3_1(client):
    from openapi_spec_validator import validate

    validate(client.simulate_get("/openapi.json").json)


# ---------------------------------------------------------------- the document against the schemas

UNKNOWN = "zz_not_a_field"


def _resolve(doc, schema):
    if "$ref" in schema:
        return doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _request_bodies(doc):
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            if "requestBody" in op:
                schema = op["requestBody"]["content"]["application/json"]["schema"]
                yield path, method, _resolve(doc, schema)


def _query_parameters(doc):
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            for param in op.get("parameters", []):
                if param.get("in") == "query":
                    yield path, method, param


def _refused(schema, data, query=False) -> dict:
    """The error details ``schema`` answers ``data`` with, as the gateway loads it ({} if valid)."""
    try:
        (schemas.load_query if query else schemas.load_body)(schema, data)
    except ApiError as exc:
        return exc.details
    return {}


def _limits(prop, query=False):
    """(values the document refuses, values it allows) by the constraints it states."""
    wrap = str if query else (lambda v: v)
    refused, allowed = [], []
    if "maxLength" in prop:
        high = prop["maxLength"]
        # One over the limit, by a trailing space: the limit must hold for the text as sent.
        refused.append("x" * high + " ")
        allowed.append("x" * high)
    if prop.get("minLength"):
        refused.append("x" * (prop["minLength"] - 1))
        allowed.append("x" * prop["minLength"])
    if "enum" in prop:
        refused.append("zz-not-listed")
        allowed += [v for v in prop["enum"] if not query or v is not None]
    refused += prop.get("not", {}).get("enum", [])
    for key, step in (("minimum", -1), ("maximum", 1)):
        if key in prop:
            refused.append(wrap(prop[key] + step))
            allowed.append(wrap(prop[key]))
    if not query:
        types = prop.get("type", [])
        (allowed if "null" in types else refused).append(None)
    return refused, allowed


def test_openapi_says_additional_properties_false_exactly_where_unknown_fields_are_a_422(
    client, clients, auth, new_ticket
):
    doc = client.simulate_get("/openapi.json").json
    ticket = new_ticket()
    notice = clients.services["notifications"].add("alice")
    team_key, macro_id = _a_team(clients), _a_macro(clients)
    seen = set()
    for path, method, body in _request_bodies(doc):
        url = path.replace("{id}", _path_id(path, ticket["id"], notice["id"], team_key, macro_id))
        headers = auth("root", "admin") if path.startswith("/api/v1/admin/") else auth()
        result = client.simulate_request(method.upper(), url, json={UNKNOWN: 1}, headers=headers)
        refused = result.status_code == 422 and UNKNOWN in result.json["error"]["details"]
        assert refused == (body.get("additionalProperties") is False), (method, path, result.json)
        seen.add(path)
    assert seen == {p for p, ops in by_path().items() if any(op["body"] for op in ops.values())}


def test_openapi_query_parameters_document_a_blank_value_as_absent(
    client, clients, auth, new_ticket
):
    doc = client.simulate_get("/openapi.json").json
    ticket = new_ticket()
    seen = set()
    for path, method, param in _query_parameters(doc):
        headers = auth("root", "admin") if path.startswith("/api/v1/admin/") else auth()
        url = path.replace("{id}", str(ticket["id"]))
        absent = client.simulate_request(method.upper(), url, headers=headers)
        absent_params = clients.calls[-1][2][-1]
        blank = client.simulate_request(
            method.upper(), url, query_string=f"{param['name']}=", headers=headers
        )
        assert blank.status_code == absent.status_code == 200, (path, param["name"], blank.json)
        assert clients.calls[-1][2][-1] == absent_params
        assert param["allowEmptyValue"] is True, (path, param)
        assert "empty value is treated as absent" in param["description"], (path, param)
        # A blank never reaches validation, so minLength 1 would refuse what is accepted.
        assert param["schema"].get("minLength", 2) > 1, (path, param)
        seen.add(path)
    assert seen == {p for p, ops in by_path().items() if any(op["query"] for op in ops.values())}


def test_openapi_request_constraints_are_exactly_what_the_schemas_enforce(client, settings):
    doc = client.simulate_get("/openapi.json").json
    checks = 0
    for path, method, body in _request_bodies(doc):
        schema = request_body_schema(by_path()[path][method]["body"], settings)
        assert set(body["properties"]) == set(schema.fields), path
        required = {name for name in schema.fields if name in _refused(schema, {})}
        assert set(body.get("required", [])) == required, path
        for name, prop in body["properties"].items():
            refused, allowed = _limits(prop)
            for value in refused:
                assert name in _refused(schema, {name: value}), (path, name, value)
                checks += 1
            for value in allowed:
                assert name not in _refused(schema, {name: value}), (path, name, value)
                checks += 1
    for path, method, param in _query_parameters(doc):
        schema = by_path()[path][method]["query"]()
        name = param["name"]
        assert param["required"] == (name in _refused(schema, {}, query=True)), (path, name)
        refused, allowed = _limits(param["schema"], query=True)
        for value in refused:
            assert name in _refused(schema, {name: value}, query=True), (path, name, value)
            checks += 1
        for value in allowed:
            assert name not in _refused(schema, {name: value}, query=True), (path, name, value)
            checks += 1
    assert checks > 50


def test_a_gateway_reached_for_the_stream_answers_204_so_clients_poll(client, auth):
    """Streams are the stream servers'; a gateway reached directly says "none here"
    with 204 (an SSE client stops reconnecting; a browser logs no error, as for 404)."""
    assert client.simulate_get("/api/v1/notifications/stream").status_code == 401
    answer = client.simulate_get("/api/v1/notifications/stream", headers=auth())
    assert answer.status_code == 204 and not answer.content
    doc = client.simulate_get("/openapi.json").json
    stream = doc["paths"]["/api/v1/notifications/stream"]["get"]
    assert set(stream["responses"]["200"]["content"]) == {"text/event-stream"}
    assert "204" in stream["responses"]
    assert any(p.get("name") == "Last-Event-ID" for p in stream["parameters"])


def test_the_app_serves_the_route_table_with_the_access_each_route_names(client, auth):
    """One table: every entry is routed, and answered without a token exactly when it
    is public; an admin route refuses a user (403) and is under the admin prefix."""
    from services.gateway.middleware import ADMIN_PREFIX
    from services.gateway.routes import ADMIN, PUBLIC, ROUTES

    served = {node.uri_template for node in _routes(client.app)}
    for route in ROUTES:
        assert route.template in served
        path = re.sub(r"\{[^}]*\}", "1", route.template)
        method = next(iter(route.operations)).upper()
        anonymous = client.simulate_request(method, path).status_code
        assert (anonymous != 401) is (route.auth == PUBLIC), route.template
        if route.auth != PUBLIC:
            as_user = client.simulate_request(method, path, headers=auth()).status_code
            assert (as_user == 403) is (route.auth == ADMIN), route.template
        assert route.template.startswith(ADMIN_PREFIX + "/") is (route.auth == ADMIN)
