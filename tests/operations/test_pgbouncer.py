"""The services behind PgBouncer in transaction pooling (HELPDESK_DB_TRANSACTION_POOLER):
tickets created, replied to, repeated with an idempotency key (its advisory lock is
transaction-scoped), events published by the outbox relay and turned into notices,
all through a handful of server connections."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from tests.e2e.conftest import DESCRIPTION, Api, faults_logged_since, log_marks, poll, unique
from tests.operations.pgbouncer import PgBouncer
from tests.stack import BASE_PG, delete_vhost, isolated_stack
from tools.migrate import drop_database

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SERVER_CONNECTIONS = 3


@pytest.fixture(scope="module")
def bouncer():
    bouncer = PgBouncer(server_connections=SERVER_CONNECTIONS)
    yield bouncer
    bouncer.close()


@pytest.fixture(scope="module")
def pooled_stack(run_id, bouncer):
    tag = f"pgb{run_id}"
    stack = isolated_stack(
        tag,
        {
            "HELPDESK_TICKETS_DATABASE_URL": bouncer.url(f"helpdesk_{tag}_tickets"),
            "HELPDESK_NOTIFICATIONS_DATABASE_URL": bouncer.url(f"helpdesk_{tag}_notifications"),
            "HELPDESK_DB_TRANSACTION_POOLER": "true",
        },
    )
    try:
        stack.start()
        stack.wait_ready()
        yield stack
    finally:
        stack.close()
        delete_vhost(stack.env["HELPDESK_AMQP_URL"])
        for service in ("tickets", "notifications"):
            drop_database(f"{BASE_PG}/helpdesk_{tag}_{service}")


def server_backends(database: str) -> int:
    with psycopg.connect(f"{BASE_PG}/postgres", autocommit=True) as conn:
        return conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (database,)
        ).fetchone()[0]


def test_the_ticket_flows_work_through_transaction_pooling(pooled_stack, bouncer):
    stack = pooled_stack
    marks = log_marks(stack)
    user = Api(stack, unique("user"), "user", "Alice Example")
    admin = Api(stack, unique("admin"), "admin", "Sam Support")

    # An idempotency key: the repeat is answered as the first was, nothing made twice.
    key = {"Idempotency-Key": uuid.uuid4().hex}
    ticket = user.create(headers=key, subject="Export fails again")
    again = user.create(headers=key, subject="Export fails again")
    assert again["id"] == ticket["id"]

    # The same key raced from several threads: one ticket, every answer that ticket's
    # or a 409 while the first is in progress (its transaction-scoped advisory lock).
    race_key = {"Idempotency-Key": uuid.uuid4().hex}
    body = {
        "issue_type": "bug",
        "feature": "dashboard",
        "subject": "Raced creation",
        "description": DESCRIPTION,
    }
    with ThreadPoolExecutor(6) as pool:
        answers = list(
            pool.map(lambda _: user.post("/api/v1/tickets", body, headers=race_key), range(6))
        )
    assert {a.status_code for a in answers} <= {201, 409}, answers[0].text
    ids = {a.json()["id"] for a in answers if a.status_code == 201}
    assert len(ids) == 1

    # Replies both ways, many statements run often enough for psycopg to prepare them
    # were it allowed to.
    for n in range(4):
        reply = admin.post(f"/api/v1/admin/tickets/{ticket['id']}/messages", {"body": f"Try {n}"})
        assert reply.status_code == 201, reply.text
        answer = user.post(f"/api/v1/tickets/{ticket['id']}/messages", {"body": f"Still {n}"})
        assert answer.status_code == 201, answer.text
    view = user.get(f"/api/v1/tickets/{ticket['id']}").json()
    assert [m["body"] for m in view["messages"]][-2:] == ["Try 3", "Still 3"]

    # The relay published the events through PgBouncer too: the owner has the notices.
    notices = poll(
        lambda: user.get("/api/v1/notifications").json()["items"],
        lambda items: len(items) >= 4,
        timeout=15,
    )
    assert len(notices) >= 4

    # However many connections the services hold, the database saw at most the pool's.
    tag = stack.tag
    assert server_backends(f"helpdesk_{tag}_tickets") <= SERVER_CONNECTIONS
    assert server_backends(f"helpdesk_{tag}_notifications") <= SERVER_CONNECTIONS
    assert faults_logged_since(stack, marks) == []
    assert "prepared statement" not in stack.logs("tickets") + stack.logs("notifications")
