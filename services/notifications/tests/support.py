"""Helpers the notifications tests share (fixtures live in conftest.py)."""

from __future__ import annotations

import time
import uuid

import sqlalchemy as sa

from shared.events import make_event

OWNER, ADMIN, OTHER_ADMIN = "user-1", "admin-1", "admin-2"


def ticket_event(event_type, *, action_id=None, request_id=None, **payload):
    """A valid envelope: ticket #1042 of OWNER, acted on by ADMIN unless overridden
    (a ``ticket_created`` one: opened by OWNER)."""
    base = {
        "ticket_id": 1042,
        "subject": "Cannot export my invoices",
        "owner_id": OWNER,
        "assignee_id": None,
        "status": "in_review",
        "actor_id": ADMIN,
        "actor_role": "support",
    }
    if event_type == "message_added":
        base.update(message_id=7, author="support", internal=False, body="Try again now.")
    elif event_type == "ticket_created":
        # OWNER opened it: a high-priority bug on the dashboard.
        base.update(
            issue_type="bug",
            feature="dashboard",
            priority="high",
            status="open",
            actor_id=OWNER,
            actor_role="user",
        )
    base.update(payload)
    return make_event(
        event_type, base, action_id=action_id or str(uuid.uuid4()), request_id=request_id
    )


def wait_for(predicate, timeout=15.0, interval=0.05):
    """Poll ``predicate`` until truthy; its last value (fails the test on timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            assert value, f"timed out after {timeout}s waiting for {predicate.__name__}"
            return value
        time.sleep(interval)


def scalar(engine, query, **params):
    """One value from the service's database."""
    with engine.connect() as conn:
        return conn.execute(sa.text(query), params).scalar()
