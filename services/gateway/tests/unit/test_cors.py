"""CORS for the listed origins only: preflights answered without a token, no
headers at all for any other origin, never ``*``, no credentials."""

import pytest
from falcon import testing

from services.gateway.app import create_app
from services.gateway.tests.fakes import FakeClients
from services.gateway.tests.unit.conftest import SECRET
from shared.config import ConfigError

pytestmark = pytest.mark.unit

HOST = "https://app.example.com"
LOCAL_HOST = "http://127.0.0.1:3000"


@pytest.fixture
def cors_client(make_settings):
    settings = make_settings(
        HELPDESK_JWT_SECRET=SECRET, HELPDESK_CORS_ORIGINS=f"{HOST}, {LOCAL_HOST}"
    )
    return testing.TestClient(create_app(settings, FakeClients()))


def _preflight(client, origin, path="/api/v1/notifications/read-all", method="POST"):
    return client.simulate_options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "authorization,content-type,idempotency-key",
        },
    )


def _cors_headers(result):
    return {k.lower() for k in result.headers if k.lower().startswith("access-control-")}


@pytest.mark.parametrize("origin", [HOST, LOCAL_HOST])
def test_a_listed_origins_preflight_is_answered_without_a_token(cors_client, origin):
    result = _preflight(cors_client, origin)
    assert result.status_code == 204
    assert result.headers["Access-Control-Allow-Origin"] == origin
    methods = {m.strip() for m in result.headers["Access-Control-Allow-Methods"].split(",")}
    assert {"GET", "POST"} <= methods
    allowed = {h.strip().lower() for h in result.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type", "idempotency-key", "last-event-id"} <= allowed
    assert int(result.headers["Access-Control-Max-Age"]) > 0
    assert "Origin" in result.headers["Vary"]
    assert "Access-Control-Allow-Credentials" not in result.headers
    assert "X-Request-Id" in result.headers


def test_a_preflight_on_an_admin_route_needs_no_token_either(cors_client):
    result = _preflight(cors_client, HOST, "/api/v1/admin/tickets", "GET")
    assert result.status_code == 204
    assert result.headers["Access-Control-Allow-Origin"] == HOST


@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.example.com",
        "https://app.example.com.evil.com",
        "http://app.example.com",
        "https://app.example.com:8443",
        "null",
        "HTTPS://APP.EXAMPLE.COM/",
    ],
)
def test_another_origin_gets_no_cors_header(cors_client, origin, auth):
    assert _cors_headers(_preflight(cors_client, origin)) == set()
    result = cors_client.simulate_get(
        "/api/v1/notifications/unread-count", headers={"Origin": origin, **auth()}
    )
    assert result.status_code == 200
    assert _cors_headers(result) == set()


def test_a_listed_origins_answers_name_it_and_expose_the_headers(cors_client, auth):
    result = cors_client.simulate_get(
        "/api/v1/notifications/unread-count", headers={"Origin": HOST, **auth()}
    )
    assert result.status_code == 200
    assert result.headers["Access-Control-Allow-Origin"] == HOST
    exposed = {h.strip() for h in result.headers["Access-Control-Expose-Headers"].split(",")}
    assert {"Retry-After", "X-Request-Id"} <= exposed
    assert "Origin" in result.headers["Vary"]
    assert "Access-Control-Allow-Credentials" not in result.headers


def test_errors_carry_the_cors_headers_so_the_page_can_read_them(cors_client):
    # A 401 the page cannot read would look like a network failure to it.
    result = cors_client.simulate_get("/api/v1/notifications", headers={"Origin": HOST})
    assert result.status_code == 401
    assert result.headers["Access-Control-Allow-Origin"] == HOST


def test_an_options_request_that_is_no_preflight_still_needs_a_token(cors_client):
    result = cors_client.simulate_options("/api/v1/tickets", headers={"Origin": HOST})
    assert result.status_code == 401


def test_no_origin_listed_means_no_cors_at_all(client, auth):
    result = _preflight(client, HOST)
    assert result.status_code == 204
    assert _cors_headers(result) == set()
    got = client.simulate_get(
        "/api/v1/notifications/unread-count", headers={"Origin": HOST, **auth()}
    )
    assert _cors_headers(got) == set()


@pytest.mark.parametrize(
    "raw",
    [
        "*",
        "https://*.example.com",
        "https://app.example.com/path",
        "https://app.example.com/",
        "app.example.com",
        "ftp://app.example.com",
        "https://user@app.example.com",
        "https://app.example.com:99999",
        "https://app.example.com?x",
    ],
)
def test_the_origins_setting_is_validated(make_settings, raw):
    with pytest.raises(ConfigError, match="HELPDESK_CORS_ORIGINS"):
        make_settings(HELPDESK_CORS_ORIGINS=raw)


def test_origins_are_written_as_a_browser_sends_them(make_settings):
    settings = make_settings(
        HELPDESK_CORS_ORIGINS="HTTPS://App.Example.com:443, http://localhost:8000,,https://app.example.com"
    )
    assert settings.cors_origins == ("https://app.example.com", "http://localhost:8000")


def test_production_takes_https_origins_only(make_settings):
    with pytest.raises(ConfigError, match="https"):
        make_settings(
            HELPDESK_ENV="production",
            HELPDESK_JWT_SECRET=SECRET,
            HELPDESK_AMQP_URL="amqp://u:p@broker:5672/",
            HELPDESK_CORS_ORIGINS="http://app.example.com",
        )


def test_the_openapi_document_states_what_a_preflight_answers(cors_client):
    doc = cors_client.simulate_get("/openapi.json").json
    preflight = _preflight(cors_client, HOST)
    cors = doc["x-cors"]
    allowed = [h.strip() for h in preflight.headers["Access-Control-Allow-Headers"].split(",")]
    assert cors["allowHeaders"] == allowed
    assert cors["maxAge"] == int(preflight.headers["Access-Control-Max-Age"])
    assert cors["allowCredentials"] is False
    assert "HELPDESK_CORS_ORIGINS" in doc["info"]["description"]
