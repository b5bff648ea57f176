"""Scheduled work through the running stack, with durations of seconds.

Auto-close of a ticket left resolved, with its ``closing_soon`` reminder; an owner's
reply cancelling both; one ``awaiting_reminder`` per stay in ``awaiting_user``; two
tickets-service instances ticking over the same due work (each notice once); and
every process stopped past the due times, then started again: the work is caught
up on, once.
"""

from __future__ import annotations

import time
from collections import Counter

import pytest

from tests.e2e.conftest import Api, poll, unique

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

RESOLVE = {"status": "resolved", "resolution_note": "Cleared the stale cache for you."}


@pytest.fixture(scope="module")
def quick(make_stack):
    """A stack whose scheduled work falls due within seconds, looked at every second."""
    return make_stack(
        HELPDESK_AUTO_CLOSE_AFTER="4s",
        HELPDESK_AUTO_CLOSE_REMINDER="2s",
        HELPDESK_AWAITING_REMINDER_AFTER="2s",
        HELPDESK_SCHEDULER_INTERVAL="1s",
    )


def people(stack):
    owner = Api(stack, unique("owner"), "user", "Olive Owner")
    admin = Api(stack, unique("admin"), "admin", "Sam Support")
    return owner, admin


def notices(api) -> list[dict]:
    return api.get("/api/v1/notifications", params={"limit": 100}).json()["items"]


def kinds(api, ticket_id) -> Counter:
    return Counter(n["kind"] for n in notices(api) if n["ticket_id"] == ticket_id)


def move(admin, ticket_id, fields):
    moved = admin.post(f"/api/v1/admin/tickets/{ticket_id}/status", fields)
    assert moved.status_code == 200, moved.text
    return moved.json()


def closed_by_system(owner, ticket_id) -> bool:
    ticket = owner.get(f"/api/v1/tickets/{ticket_id}").json()
    return ticket["status"] == "closed" and ticket["timeline"][-1]["by"] == "system"


def test_a_resolved_ticket_is_reminded_then_closed_by_the_system(quick):
    owner, admin = people(quick)
    ticket = owner.create()
    move(admin, ticket["id"], RESOLVE)
    reminded = poll(lambda: kinds(owner, ticket["id"]), lambda k: k["closing_soon"], timeout=15)
    assert reminded["closing_soon"] == 1
    [notice] = [n for n in notices(owner) if n["kind"] == "closing_soon"]
    assert notice["title"].startswith(f"#{ticket['id']} will close in")
    assert ticket["subject"] in notice["body"]
    assert owner.get(f"/api/v1/tickets/{ticket['id']}").json()["status"] == "resolved"

    assert poll(lambda: closed_by_system(owner, ticket["id"]), bool, timeout=15)
    told = poll(lambda: kinds(owner, ticket["id"]), lambda k: k["status_changed"], timeout=10)
    assert told == {"ticket_resolved": 1, "closing_soon": 1, "status_changed": 1}
    closed = [n for n in notices(owner) if n["kind"] == "status_changed"][0]
    assert closed["title"] == f"#{ticket['id']} was closed"
    view = owner.get(f"/api/v1/tickets/{ticket['id']}").json()
    assert [(e["status"], e["by"]) for e in view["timeline"]][-2:] == [
        ("resolved", "support"),
        ("closed", "system"),
    ]
    time.sleep(2.5)  # a few more ticks: nothing more
    assert kinds(owner, ticket["id"]) == told


def test_an_owner_reply_cancels_the_auto_close_and_its_reminder(quick):
    owner, admin = people(quick)
    ticket = owner.create()
    move(admin, ticket["id"], RESOLVE)
    reply = owner.post(f"/api/v1/tickets/{ticket['id']}/messages", {"body": "Still broken."})
    assert reply.status_code == 201, reply.text
    time.sleep(6)  # past both due times, several ticks
    view = owner.get(f"/api/v1/tickets/{ticket['id']}").json()
    assert view["status"] == "in_review"
    assert kinds(owner, ticket["id"]) == {"ticket_resolved": 1}


def test_one_awaiting_reminder_per_stay(quick):
    owner, admin = people(quick)
    ticket = owner.create()
    move(admin, ticket["id"], {"status": "awaiting_user"})
    told = poll(lambda: kinds(owner, ticket["id"]), lambda k: k["awaiting_reminder"], timeout=15)
    [notice] = [n for n in notices(owner) if n["kind"] == "awaiting_reminder"]
    assert notice["title"] == f"#{ticket['id']} is waiting for your reply"
    time.sleep(4)  # two reminder periods more: still one
    assert kinds(owner, ticket["id"])["awaiting_reminder"] == 1
    assert told["awaiting_reminder"] == 1
    # Back to review and to awaiting_user again: a new stay, a new reminder.
    move(admin, ticket["id"], {"status": "in_review"})
    move(admin, ticket["id"], {"status": "awaiting_user"})
    again = poll(
        lambda: kinds(owner, ticket["id"]), lambda k: k["awaiting_reminder"] == 2, timeout=15
    )
    assert again["awaiting_reminder"] == 2


@pytest.fixture(scope="module")
def scaled(make_stack):
    """Two tickets instances ticking every second over the same due work."""
    stack = make_stack(
        HELPDESK_TICKETS_INSTANCES=2,
        HELPDESK_AUTO_CLOSE_AFTER="6s",
        HELPDESK_AUTO_CLOSE_REMINDER="3s",
        HELPDESK_AWAITING_REMINDER_AFTER="3s",
        HELPDESK_SCHEDULER_INTERVAL="1s",
    )
    assert {"tickets.1", "tickets.2"} <= set(stack.procs)
    return stack


def test_two_instances_give_each_notice_once(scaled):
    admin = Api(scaled, unique("admin"), "admin", "Sam Support")
    cases = []
    for n in range(8):
        owner = Api(scaled, unique("owner"), "user", f"Owner {n}")
        ticket = owner.create()
        target = RESOLVE if n % 2 == 0 else {"status": "awaiting_user"}
        move(admin, ticket["id"], target)
        cases.append((owner, ticket["id"], target["status"]))
    for owner, ticket_id, status in cases:
        if status == "resolved":
            assert poll(lambda o=owner, t=ticket_id: closed_by_system(o, t), bool, timeout=20)
            expected = {"ticket_resolved": 1, "closing_soon": 1, "status_changed": 1}
        else:
            expected = {"status_changed": 1, "awaiting_reminder": 1}
        told = poll(
            lambda o=owner, t=ticket_id, e=expected: kinds(o, t),
            lambda k, e=expected: k == e,
            timeout=20,
        )
        assert told == expected, (ticket_id, status)
    time.sleep(3)  # more ticks on both instances: nothing twice
    for owner, ticket_id, _status in cases:
        assert max(kinds(owner, ticket_id).values()) == 1
    # Both instances ran the scheduler (each logs the ticks that did something).
    assert "due work done" in scaled.logs("tickets")


def test_work_due_while_everything_was_stopped_is_caught_up_once(scaled):
    owner, admin = people(scaled)
    resolved, waiting = owner.create(), owner.create()
    move(admin, resolved["id"], RESOLVE)
    move(admin, waiting["id"], {"status": "awaiting_user"})
    stopping = time.monotonic()
    scaled.stop()
    stopped_before_the_reminder = time.monotonic() - stopping < 2.5
    time.sleep(7)  # past every due time: the reminder, the auto-close, the awaiting reminder
    scaled.start()
    scaled.wait_ready()

    assert poll(lambda: closed_by_system(owner, resolved["id"]), bool, timeout=20)
    closed = poll(lambda: kinds(owner, resolved["id"]), lambda k: k["status_changed"], timeout=15)
    reminded = poll(
        lambda: kinds(owner, waiting["id"]), lambda k: k["awaiting_reminder"], timeout=15
    )
    time.sleep(3)  # more ticks after the catch-up: nothing twice
    assert kinds(owner, resolved["id"]) == closed
    assert kinds(owner, waiting["id"]) == reminded == {"status_changed": 1, "awaiting_reminder": 1}
    assert closed["status_changed"] == 1 and closed["ticket_resolved"] == 1
    # Caught up late, the "closes in ..." reminder would be false: it is not sent.
    if stopped_before_the_reminder:
        assert closed["closing_soon"] == 0
    assert closed["closing_soon"] <= 1
