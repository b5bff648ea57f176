"""The gateway against odd spellings, long ids, invented methods and a flood of
readiness probes, through the app on the fake services (tests/e2e/test_attack_gateway.py
does the same through the real stack)."""

import threading
import time

import pytest
from falcon import testing

from services.gateway import pages
from services.gateway.app import create_app
from services.gateway.errors import ServiceUnavailable
from services.gateway.metrics import REQUESTS

pytestmark = pytest.mark.unit

# (method, path) spellings of routes that need a token.
SPELLINGS = [
    ("POST", "//api/v1/preview"),
    ("GET", "//api/v1/catalog"),
    ("GET", "//api/v1/tickets"),
    ("GET", "///api/v1/tickets/1"),
    ("POST", "//api/v1/tickets/1/close"),
    ("GET", "//api/v1/notifications"),
    ("POST", "//api/v1/notifications/read-all"),
    ("POST", "//api/v1/notifications/1/read"),
    ("GET", "//api/v1/admin/tickets"),
    ("GET", "/api//v1/tickets"),
    ("GET", "/api/v1//tickets"),
    ("GET", "/api/v1/tickets/"),
    ("GET", "//api/v1/tickets/"),
    ("GET", "/api/v1/nowhere"),
    ("GET", "//api/v1/nowhere"),
]


@pytest.mark.parametrize(("method", "path"), SPELLINGS)
def test_no_spelling_reaches_a_handler_without_a_token(client, clients, method, path):
    result = client.simulate_request(method, path, json={"text": "hi"})
    assert result.status_code in (401, 404), (path, result.status_code, result.text)
    if result.status_code == 401:
        assert result.headers["WWW-Authenticate"] == "Bearer"
    assert clients.calls == []


@pytest.mark.parametrize("path", ["//api/v1/admin/tickets", "///api/v1/admin/tickets/1"])
def test_admin_spellings_need_the_admin_role(client, auth, path):
    assert client.simulate_get(path, headers=auth()).status_code == 403
    assert client.simulate_get(path, headers=auth("sam", "admin")).status_code in (200, 404)


def test_a_spelling_with_a_token_is_the_canonical_route(client, auth, new_ticket):
    ticket = new_ticket()
    result = client.simulate_get(f"//api/v1/tickets/{ticket['id']}/", headers=auth())
    assert result.status_code == 200 and result.json["id"] == ticket["id"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/tickets/{}",
        "/api/v1/tickets/{}/messages",
        "/api/v1/admin/tickets/{}",
        "/api/v1/admin/tickets/{}/status",
        "/api/v1/notifications/{}/read",
        "/help-center/tickets/{}",
        "/help-center/admin/tickets/{}",
    ],
)
@pytest.mark.parametrize("ticket_id", ["9" * 5000, "1" * 19, "0" * 18 + "1", "0", "-1", "1e3"])
def test_an_id_that_is_not_up_to_18_digits_is_a_404(client, auth, path, ticket_id):
    url = path.format(ticket_id)
    admin = auth("sam", "admin")
    for method in ("GET", "POST"):
        result = client.simulate_request(method, url, headers=admin, json={})
        assert result.status_code == 404, (method, url[:60], result.status_code)


def test_an_id_of_18_digits_is_an_id(client, auth):
    result = client.simulate_get("/api/v1/tickets/" + "9" * 18, headers=auth())
    assert result.status_code == 404 and result.json["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("GET", "/api/v1/catalog", {"auth": True}),
        ("GET", "/api/v1/tickets", {}),  # 401
        ("GET", "/api/v1/admin/tickets", {"auth": True}),  # 403
        ("GET", "/api/v1/tickets/7", {"auth": True}),  # 404
        ("GET", "/api/v1/nowhere", {"auth": True}),  # 404, no route
        ("DELETE", "/api/v1/catalog", {"auth": True}),  # 405
        ("POST", "/api/v1/preview", {"auth": True, "body": b"x" * 70_000}),  # 413
        ("POST", "/api/v1/preview", {"auth": True, "body": b"text", "type": "text/plain"}),
        ("POST", "/api/v1/preview", {"auth": True, "body": b"{", "type": "application/json"}),
        ("POST", "/api/v1/preview", {"auth": True, "json": {"text": 5}}),  # 422
        ("GET", "/healthz", {}),
        ("GET", "/readyz", {}),
        ("GET", "/metrics", {}),
        ("GET", "/openapi.json", {}),
        ("GET", "/elsewhere", {}),
    ],
)
def test_every_api_answer_is_no_store_and_nosniff(client, auth, method, path, kwargs):
    headers = dict(auth()) if kwargs.get("auth") else {}
    if "type" in kwargs:
        headers["Content-Type"] = kwargs["type"]
    result = client.simulate_request(
        method, path, headers=headers, body=kwargs.get("body"), json=kwargs.get("json")
    )
    assert result.headers.get("Cache-Control") == "no-store", (path, result.status_code)
    assert result.headers.get("X-Content-Type-Options") == "nosniff", (path, result.status_code)


def test_pages_keep_their_own_cache_policy(client):
    result = client.simulate_get("/help-center/assets/css/app.css")
    assert result.headers["Cache-Control"] == "no-cache"
    assert result.headers["X-Content-Type-Options"] == "nosniff"


def _asset_files(app):
    for route in app._router._roots:  # noqa: SLF001 - the one resource to look into
        for node in _walk(route):
            if isinstance(node.resource, pages.AssetResource):
                return node.resource._files  # noqa: SLF001
    raise AssertionError("no asset route")


def _walk(node):
    yield node
    for child in node.children:
        yield from _walk(child)


def test_odd_spellings_of_an_asset_hold_no_new_copy(client, settings):
    assert not settings.development  # assets are held in memory, not read per request
    files = _asset_files(client.app)
    held = len(files)
    on_disk = sum(
        1
        for p in (pages.PAGES_DIR / "assets").rglob("*")
        if p.is_file() and p.suffix in pages.ASSET_TYPES
    )
    assert held == on_disk
    assert client.simulate_get("/help-center/assets/css/app.css").status_code == 200
    spellings = ["css/" + "./" * n + "app.css" for n in range(1, 200)] + [
        "css//app.css",
        "js/../css/app.css",
        "css/app.css/.",
        "./css/app.css",
        "../pages.py",
        "css/%2e/app.css",
    ]
    for spelling in spellings:
        result = client.simulate_get(f"/help-center/assets/{spelling}")
        assert result.status_code == 404, spelling
    assert len(files) == held


@pytest.mark.filterwarnings("ignore::wsgiref.validate.WSGIWarning")
def test_invented_methods_add_no_metric_series(client):
    def series():
        return {
            labels
            for metric in REQUESTS.collect()
            for sample in metric.samples
            for labels in [tuple(sorted(sample.labels.items()))]
        }

    client.simulate_request("BREW", "/api/v1/catalog")  # "other" exists from here on
    before = series()
    for n in range(300):
        client.simulate_request(f"X{n}METHOD", "/api/v1/catalog")
        client.simulate_request(f"Y{n}", "/healthz")
    after = series()
    # At most the one series of "other" on /healthz (however Falcon answers it).
    assert len(after - before) <= 1, after - before
    methods = {dict(labels)["method"] for labels in after}
    assert methods <= {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"}


class CountingClients:
    """Fake clients that count readiness checks and can fail with revealing text."""

    def __init__(self, fault=None, delay=0.0):
        self.broker_checks = 0
        self.pings = 0
        self.fault = fault
        self.delay = delay
        self._lock = threading.Lock()

    def check_broker(self):
        with self._lock:
            self.broker_checks += 1
        time.sleep(self.delay)

    def ping(self, service):
        with self._lock:
            self.pings += 1
        if self.fault is not None:
            raise self.fault


def test_readyz_shares_one_check_among_concurrent_callers(settings):
    clients = CountingClients(delay=0.3)
    client = testing.TestClient(create_app(settings, clients))
    statuses = []

    def probe():
        statuses.append(client.simulate_get("/readyz").status_code)

    threads = [threading.Thread(target=probe) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 20
    assert clients.broker_checks == 1
    time.sleep(1.05)  # the result is at most a second old
    client.simulate_get("/readyz")
    assert clients.broker_checks == 2


@pytest.mark.parametrize(
    "fault",
    [
        RuntimeError("connect to amqp://guest:hunter2@10.0.0.7:5672 failed"),
        ServiceUnavailable("tickets", "cannot be reached (amqp://guest:hunter2@10.0.0.7)"),
    ],
)
def test_readyz_names_what_failed_and_no_exception_text(settings, fault):
    client = testing.TestClient(create_app(settings, CountingClients(fault=fault)))
    result = client.simulate_get("/readyz")
    assert result.status_code == 503
    assert result.json["error"]["details"] == {
        "tickets": "unavailable",
        "notifications": "unavailable",
    }
    assert "hunter2" not in result.text and "10.0.0.7" not in result.text
    assert "RuntimeError" not in result.text
