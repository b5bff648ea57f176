"""Two instances of each nameko service on one broker and one database pair.

What ``HELPDESK_TICKETS_INSTANCES=2 HELPDESK_NOTIFICATIONS_INSTANCES=2 make run`` starts (and what
``docker compose up --scale`` does on containers), driven through the gateway:

- the work is shared: both tickets instances answer RPC calls and both
  notifications instances handle events, as their own JSON log lines show (each
  instance logs to its own file, with the request or event id);
- nothing is done twice: every call and every event is handled by exactly one
  instance, and each action yields exactly one notice;
- the daily limit stays exact: of 20 concurrent creates by one user, exactly 5 succeed.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.e2e.conftest import DESCRIPTION, Api, poll, unique
from tests.scaling.instances import assert_shared_and_once, ids_in, json_lines

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
INSTANCES = ("1", "2")


@pytest.fixture(scope="module")
def scaled(make_stack):
    """A stack with two tickets and two notifications processes."""
    stack = make_stack(HELPDESK_TICKETS_INSTANCES=2, HELPDESK_NOTIFICATIONS_INSTANCES=2)
    labels = sorted(stack.procs)
    assert labels == [
        "gateway.1",
        "notifications.1",
        "notifications.2",
        "stream.1",
        "tickets.1",
        "tickets.2",
    ]
    return stack


def handled_by(stack, service: str, wanted: set, key: str = "request_id") -> dict:
    """For each instance of ``service``, which ``wanted`` ids (``key``) its log lines name."""
    return {n: ids_in(stack.log_path(f"{service}.{n}"), wanted, key) for n in INSTANCES}


def tagged(api, method: str, path: str, request_id: str, **kwargs):
    """A call as ``api``'s identity carrying our own request id (one session per call:
    ``requests.Session`` is not thread-safe)."""
    return lambda: requests.request(
        method,
        api.stack.base_url + path,
        headers={"Authorization": f"Bearer {api.token}", "X-Request-Id": request_id},
        timeout=30,
        **kwargs,
    )


def wait_handled(stack, service: str, ids: set) -> dict:
    """``handled_by`` once every id has reached a log (lines are flushed as written)."""
    return poll(
        lambda: handled_by(stack, service, ids),
        lambda found: set().union(*found.values()) == ids,
        timeout=5,
    )


def concurrently(calls, workers=20):
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda call: call(), calls))


def test_rpc_calls_are_shared_between_the_tickets_instances(scaled):
    user = Api(scaled, unique("user"), "user", "Pat Example")
    ids = {f"scale-rpc-{uuid.uuid4().hex}" for _ in range(30)}

    # A ticket nobody has: the handling instance logs the NotFound with the request id.
    responses = concurrently(
        [tagged(user, "GET", "/api/v1/tickets/987654321", request_id) for request_id in ids]
    )
    assert {r.status_code for r in responses} == {404}
    assert {r.headers["X-Request-Id"] for r in responses} == ids
    assert_shared_and_once(wait_handled(scaled, "tickets", ids), ids)


def test_the_daily_limit_stays_exact_across_instances(scaled):
    user = Api(scaled, unique("racer"), "user", "Quinn Racer")
    ids = [f"scale-limit-{uuid.uuid4().hex}" for _ in range(20)]

    body = {"issue_type": "bug", "feature": "dashboard", "description": DESCRIPTION}
    responses = concurrently(
        [
            tagged(
                user, "POST", "/api/v1/tickets", rid, json={**body, "subject": f"Race {rid[-6:]}"}
            )
            for rid in ids
        ]
    )
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: 5, 429: 15}, statuses
    for r in responses:
        if r.status_code == 429:
            assert r.json()["error"]["code"] == "rate_limited"
            assert int(r.headers["Retry-After"]) > 0
    listed = user.get("/api/v1/tickets", params={"limit": 100}).json()["items"]
    assert sorted(t["id"] for t in listed) == sorted(
        r.json()["id"] for r in responses if r.status_code == 201
    )
    # The refusals were decided by both instances, each refusal by one of them.
    refused = {r.headers["X-Request-Id"] for r in responses if r.status_code == 429}
    assert_shared_and_once(wait_handled(scaled, "tickets", refused), refused)


def test_events_are_shared_and_every_action_notifies_exactly_once(scaled):
    admin = Api(scaled, unique("admin"), "admin", "Sam Support")
    users = [Api(scaled, unique("owner"), "user", f"Owner {n}") for n in range(6)]
    # Two tickets each (the daily limit is per user), created concurrently.
    tickets = concurrently([user.create for user in users for _ in range(2)])
    owner_of = {}
    for user in users:
        for ticket in user.get("/api/v1/tickets").json()["items"]:
            owner_of[ticket["id"]] = user
    assert sorted(owner_of) == sorted(t["id"] for t in tickets)

    def reply(ticket_id):
        return lambda: admin.post(
            f"/api/v1/admin/tickets/{ticket_id}/messages",
            {"body": "Thanks, we can reproduce it.", "internal": False},
        )

    def note(ticket_id):
        return lambda: admin.post(
            f"/api/v1/admin/tickets/{ticket_id}/messages",
            {"body": "Internal: caused by the cache.", "internal": True},
        )

    def resolve(ticket_id):
        return lambda: admin.post(
            f"/api/v1/admin/tickets/{ticket_id}/status",
            {"status": "resolved", "resolution_note": "Fixed in the release of today."},
        )

    # A public reply (which also moves open -> in_review), an internal note, a resolution.
    for step in (reply, note, resolve):
        results = concurrently([step(ticket_id) for ticket_id in owner_of])
        assert all(r.status_code in (200, 201) for r in results), [r.text for r in results]

    # Each owner: per ticket one support_reply and one ticket_resolved, nothing else.
    expected = 2 * 2
    for user in users:
        notices = poll(
            lambda user=user: user.get("/api/v1/notifications", params={"limit": 100}).json(),
            lambda body: len(body["items"]) >= expected,
            timeout=15,
        )
        kinds = Counter((n["ticket_id"], n["kind"]) for n in notices["items"])
        mine = [ticket_id for ticket_id, owner in owner_of.items() if owner is user]
        assert kinds == Counter(
            {(t, kind): 1 for t in mine for kind in ("support_reply", "ticket_resolved")}
        ), kinds
        assert notices["unread_count"] == expected
    assert admin.get("/api/v1/notifications").json()["items"] == []
    # Nothing more arrives later: a redelivered or republished event adds no notice.
    time.sleep(1.0)
    for user in users:
        assert user.get("/api/v1/notifications/unread-count").json() == {"unread_count": expected}

    # Every event was handled by one notifications instance only, and both took some.
    handled = {
        n: {
            line["event_id"]
            for line in json_lines(scaled.log_path(f"notifications.{n}"))
            if line["message"] == "event handled"
        }
        for n in INSTANCES
    }
    assert_shared_and_once(handled, set().union(*handled.values()))
    # Two outbox relays, yet no event was published twice (no duplicate ever arrived).
    duplicates = [
        line
        for n in INSTANCES
        for line in json_lines(scaled.log_path(f"notifications.{n}"))
        if line["message"] == "duplicate event skipped"
    ]
    assert duplicates == []
