"""A dead service gives a fast 503, and 20 racing creates give exactly 5 tickets."""

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.e2e.conftest import Api, poll, ticket_body, unique

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_a_stopped_service_is_a_fast_503_and_recovers(stack, user):
    assert user.get("/api/v1/notifications").status_code == 200
    stack.stop("notifications")
    try:
        started = time.monotonic()
        result = user.get("/api/v1/notifications")
        elapsed = time.monotonic() - started
        assert result.status_code == 503, result.text
        assert result.json()["error"]["code"] == "service_unavailable"
        assert result.json()["error"]["details"] == {"service": "notifications"}
        assert int(result.headers["Retry-After"]) > 0
        # Well under the RPC timeout (5 s): the gateway sees nobody consumes the queue.
        assert elapsed < 3.0, elapsed
        ready = requests.get(f"{stack.base_url}/readyz", timeout=10)
        assert ready.status_code == 503 and "notifications" in ready.json()["error"]["details"]
        # The other service keeps working.
        assert user.get("/api/v1/tickets").status_code == 200
    finally:
        stack.start("notifications")
    stack.wait_ready()
    recovered = poll(lambda: user.get("/api/v1/notifications"), lambda r: r.status_code == 200)
    assert recovered.status_code == 200


def test_twenty_concurrent_creates_give_exactly_five(stack):
    api = Api(stack, unique("racer"))
    body = ticket_body(subject="Racing to open tickets")
    url = f"{stack.base_url}/api/v1/tickets"
    headers = {"Authorization": f"Bearer {api.token}"}

    def create(_):
        return requests.post(url, json=body, headers=headers, timeout=30)

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(create, range(20)))
    statuses = sorted(r.status_code for r in results)
    assert statuses == [201] * 5 + [429] * 15, [r.text for r in results if r.status_code >= 500]
    assert all(int(r.headers["Retry-After"]) > 0 for r in results if r.status_code == 429)
    assert len(api.get("/api/v1/tickets").json()["items"]) == 5


def test_thirty_concurrent_replies_give_exactly_twenty(stack):
    api = Api(stack, unique("flood"))
    ticket = api.create()
    url = f"{stack.base_url}/api/v1/tickets/{ticket['id']}/messages"
    headers = {"Authorization": f"Bearer {api.token}"}

    def reply(i):
        return requests.post(url, json={"body": f"reply {i}"}, headers=headers, timeout=30)

    with ThreadPoolExecutor(max_workers=30) as pool:
        results = list(pool.map(reply, range(30)))
    statuses = sorted(r.status_code for r in results)
    assert statuses == [201] * 20 + [429] * 10, [r.text for r in results if r.status_code >= 500]
    limited = [r for r in results if r.status_code == 429]
    for result in limited:
        error = result.json()["error"]
        assert error["code"] == "rate_limited" and error["details"]["reset_at"].endswith("Z")
        assert 3500 < int(result.headers["Retry-After"]) <= 3600
    assert len(api.get(f"/api/v1/tickets/{ticket['id']}").json()["messages"]) == 20
