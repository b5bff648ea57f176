"""Crashes and restarts in the middle of a burst of replies lose and double no notice.

Each test drives a burst: several tickets, each worked by its own thread in
rounds of (support reply, status to awaiting_user, owner reply), and in the
middle of it kills a service with SIGKILL, or restarts the broker or the database
(the private ones of ``conftest.py``). Afterwards the tickets' own state (their
messages and timelines, read back through the API) says which actions happened,
and each must have exactly its notices (the rules of docs/architecture.md):

- a public support reply: one ``support_reply`` to the owner quoting it;
- an owner reply on a ticket the admin holds: one ``user_reply`` to the admin quoting it;
- a support move to ``awaiting_user``: one ``status_changed`` to the owner.

Every action the client got a 2xx for must be among them (nothing acknowledged is
lost), and no notice may exist twice or without its action. An action whose
request failed under the fault may or may not have happened; the state decides.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest
import requests

from tests.e2e.conftest import Api, unique

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TICKETS = 6
ROUNDS = 19  # per ticket at most: the owner's replies stay under the hourly message limit
PACE = 0.5  # seconds between a ticket's rounds: the burst outlasts the slowest fault
SETTLE = 45.0  # seconds for every notice to arrive after the stack is back


@dataclass
class Ledger:
    """What one ticket's worker did and what the client was told."""

    owner: Api
    ticket_id: int
    acknowledged: list = field(default_factory=list)  # (kind, token) of every 2xx
    failed: Counter = field(default_factory=Counter)  # status (or error) of every non-2xx


def _try(
    ledger: Ledger, kind: str, token: str | None, api: Api, path: str, body: dict, keyed: bool
) -> None:
    # With an Idempotency-Key (as a careful client sends) or without (as the pages
    # do): a tickets service killed after its commit and before its broker ack gets
    # the call again when it restarts, and that run replays the first answer either
    # way, under the key or under the call (shared/idempotency.py).
    headers = {"Idempotency-Key": uuid.uuid4().hex} if keyed else {}
    try:
        result = api.post(path, body, timeout=10, headers=headers)
    except requests.RequestException as exc:
        ledger.failed[type(exc).__name__] += 1
        return
    if 200 <= result.status_code < 300:
        ledger.acknowledged.append((kind, token))
    else:
        ledger.failed[result.status_code] += 1


def _work(ledger: Ledger, admin: Api, stop: threading.Event) -> None:
    admin_path = f"/api/v1/admin/tickets/{ledger.ticket_id}"
    for round_number in range(ROUNDS):
        if stop.is_set():
            return
        # Keyed and keyless commands of each kind, alternating round by round.
        keyed = round_number % 2 == 0
        token = uuid.uuid4().hex
        _try(
            ledger,
            "support_reply",
            token,
            admin,
            f"{admin_path}/messages",
            {"body": f"Support {token}"},
            keyed,
        )
        _try(
            ledger,
            "status_changed",
            None,
            admin,
            f"{admin_path}/status",
            {"status": "awaiting_user"},
            not keyed,
        )
        token = uuid.uuid4().hex
        _try(
            ledger,
            "user_reply",
            token,
            ledger.owner,
            f"/api/v1/tickets/{ledger.ticket_id}/messages",
            {"body": f"Owner {token}"},
            keyed,
        )
        stop.wait(PACE)


def _notices(api: Api) -> list[dict]:
    items, cursor = [], None
    while True:
        params = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        result = api.get("/api/v1/notifications", params=params)
        assert result.status_code == 200, result.text
        page = result.json()
        items += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return items


def _token(text: str) -> str | None:
    words = text.split()
    return words[-1] if words and len(words[-1]) == 32 else None


def _expected(ledger: Ledger, admin: Api) -> Counter:
    """The notices the ticket's state calls for, as (recipient, kind, ticket, token)."""
    result = admin.get(f"/api/v1/admin/tickets/{ledger.ticket_id}")
    assert result.status_code == 200, result.text
    ticket = result.json()
    expected = Counter()
    tid = ledger.ticket_id
    for message in ticket["messages"]:
        token = _token(message["body"])
        if message["author"] == "support":
            expected[(ledger.owner.sub, "support_reply", tid, token)] += 1
        else:
            expected[(admin.sub, "user_reply", tid, token)] += 1
    for entry in ticket["timeline"]:
        if entry["status"] == "awaiting_user" and entry["by"] == "support":
            expected[(ledger.owner.sub, "status_changed", tid, None)] += 1
    # Nothing acknowledged is missing from the ticket itself.
    told = Counter((kind, token) for kind, token in ledger.acknowledged)
    for (kind, token), count in told.items():
        if token is not None:
            recipient = ledger.owner.sub if kind == "support_reply" else admin.sub
            assert expected[(recipient, kind, tid, token)] == count, (kind, token)
        else:
            assert expected[(ledger.owner.sub, kind, tid, None)] >= count, ledger
    return expected


def _actual(api: Api, tickets: set[int]) -> Counter:
    found = Counter()
    for notice in _notices(api):
        # new_ticket tells staff of the set-up's creations, before the burst: not counted.
        if notice["ticket_id"] in tickets and notice["kind"] != "new_ticket":
            token = _token(notice["body"]) if notice["kind"] != "status_changed" else None
            found[(api.sub, notice["kind"], notice["ticket_id"], token)] += 1
    return found


def run_burst(stack, fault, before: float = 1.5, after: float = 2.0) -> list[Ledger]:
    """Work TICKETS tickets at once; ``fault()`` runs ``before`` seconds in.

    Once the fault returned (the stack ready again) the burst goes on for ``after``
    seconds; then every action's notices are checked (see the module doc).
    """
    # Each burst starts on a ready stack: the last test's fault may still be healing.
    stack.wait_ready()
    admin = Api(stack, unique("fault-admin"), "admin", "Sam Support")
    ledgers = []
    for _ in range(TICKETS):
        owner = Api(stack, unique("fault-owner"), "user", "Alice Example")
        ticket = owner.create()
        assigned = admin.post(
            f"/api/v1/admin/tickets/{ticket['id']}/assign", {"assignee_id": admin.sub}
        )
        assert assigned.status_code == 200, assigned.text
        ledgers.append(Ledger(owner, ticket["id"]))
    stop = threading.Event()
    with ThreadPoolExecutor(max_workers=TICKETS) as pool:
        workers = [pool.submit(_work, ledger, admin, stop) for ledger in ledgers]
        time.sleep(before)
        fault()
        stack.wait_ready()
        time.sleep(after)
        stop.set()
        for worker in workers:
            worker.result()
    acknowledged = sum(len(ledger.acknowledged) for ledger in ledgers)
    failed = sum((ledger.failed for ledger in ledgers), Counter())
    print(f"burst: {acknowledged} acknowledged, failed {dict(failed)}")
    assert acknowledged >= TICKETS * 3, "the burst hardly ran"
    assert_exact_notices(ledgers, admin)
    return ledgers


def assert_exact_notices(ledgers: list[Ledger], admin: Api) -> None:
    """Poll until every expected notice is there; then none may be missing or doubled."""
    expected = Counter()
    for ledger in ledgers:
        expected += _expected(ledger, admin)
    tickets = {ledger.ticket_id for ledger in ledgers}
    deadline = time.monotonic() + SETTLE
    while True:
        actual = _actual(admin, tickets)
        for ledger in ledgers:
            actual += _actual(ledger.owner, {ledger.ticket_id})
        if actual == expected or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    missing = expected - actual
    extra = actual - expected
    assert not missing and not extra, f"missing {dict(missing)}; extra or doubled {dict(extra)}"


def _kill_and_restart(stack, service: str, backlog: bool = False):
    def fault():
        if backlog:
            _pause(stack, service)
        stack.kill(service)
        time.sleep(0.5)
        stack.start(service)

    return fault


def _pause(stack, service: str, seconds: float = 1.0) -> None:
    """Freeze ``service`` (SIGSTOP) for ``seconds`` while the burst goes on, so that a
    backlog of events waits in its queue (and its prefetch, unacknowledged) when the
    fault strikes; the caller resumes or kills it."""
    for label, proc in stack.procs.items():
        if label.split(".")[0] == service:
            os.killpg(proc.pid, signal.SIGSTOP)
    time.sleep(seconds)


def _resume(stack, service: str) -> None:
    for label, proc in stack.procs.items():
        if label.split(".")[0] == service:
            os.killpg(proc.pid, signal.SIGCONT)


@pytest.mark.parametrize("service", ["tickets", "notifications", "gateway"])
def test_a_service_killed_mid_burst_loses_and_doubles_no_notice(fault_stack, service):
    # notifications dies with a backlog in hand: its prefetched events come again.
    fault = _kill_and_restart(fault_stack, service, backlog=service == "notifications")
    ledgers = run_burst(fault_stack, fault)
    if service == "gateway":
        # A killed gateway drops the connections it held. (A killed tickets service
        # need not fail anyone: its unacknowledged requests are delivered again to
        # the instance that replaces it, and answered within the caller's timeout;
        # notifications is not on the burst's request path at all.)
        assert any(ledger.failed for ledger in ledgers), "the kill struck no request"


def test_a_broker_restart_under_traffic_loses_and_doubles_no_notice(fault_stack, private_broker):
    def fault():
        # Events wait in the queue (and unacknowledged in the consumer) as the broker stops.
        _pause(fault_stack, "notifications")
        try:
            private_broker.restart(down_for=1.0)
        finally:
            _resume(fault_stack, "notifications")

    ledgers = run_burst(fault_stack, fault, after=3.0)
    assert any(ledger.failed for ledger in ledgers), "the restart struck no request"


def test_a_database_restart_under_traffic_loses_and_doubles_no_notice(
    fault_stack, private_postgres
):
    def fault():
        # A backlog of events reaches the consumer while the database is down.
        _pause(fault_stack, "notifications")
        private_postgres.stop_server()
        _resume(fault_stack, "notifications")
        time.sleep(2.0)
        private_postgres.start()

    ledgers = run_burst(fault_stack, fault, after=3.0)
    assert any(ledger.failed for ledger in ledgers), "the restart struck no request"
