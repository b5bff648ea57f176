"""Events: written with the change, published once, with the right payloads."""

import signal
import subprocess
import sys
import time

import eventlet
import pytest

from services.tickets.service import TicketsService
from services.tickets.tests.integration.conftest import (
    ADMIN,
    OTHER_USER,
    USER,
    drain,
    new_ticket_fields,
    run_entrypoint,
)
from shared.events import parse_event
from shared.outbox import OutboxRelay

pytestmark = pytest.mark.integration

SECRET = "internal-secret-7f3a: customer is on the watch list"


def test_every_change_publishes_its_events_with_the_right_payloads(call, amqp_url, db):
    ticket = call("create_ticket", USER, new_ticket_fields(), request_id="req-create")
    tid = ticket["id"]
    note = call("admin_add_message", ADMIN, tid, {"body": SECRET, "internal": True})
    reply = call("admin_add_message", ADMIN, tid, {"body": "On it"}, request_id="req-reply")
    call("change_status", ADMIN, tid, {"status": "awaiting_user"})
    own = call("add_reply", USER, tid, {"body": "More details"})
    call(
        "change_status", ADMIN, tid, {"status": "resolved", "resolution_note": "Fixed it for you."}
    )
    call("record_staff", {"id": "a-2", "name": "Kim", "role": "admin"})
    call("assign_ticket", ADMIN, tid, {"assignee_id": "a-2"})
    call("assign_ticket", ADMIN, tid, {"assignee_id": "a-2"})  # no event
    call("close_ticket", USER, tid, {"note": "All good"})

    events = [parse_event(body) for body in drain(amqp_url, timeout=5, expect=10)]
    summary = [(e["type"], e["payload"]["actor_role"]) for e in events]
    assert summary == [
        ("ticket_created", "user"),
        ("message_added", "support"),  # the internal note
        ("message_added", "support"),  # the first public reply ...
        ("status_changed", "support"),  # ... moves open -> in_review
        ("status_changed", "support"),
        ("message_added", "user"),
        ("status_changed", "user"),  # owner reply on awaiting_user
        ("status_changed", "support"),  # resolved
        ("ticket_assigned", "support"),
        ("ticket_closed", "user"),
    ]
    created, internal, public, auto, _, owner_msg, owner_auto, resolved, assigned, closed = events
    assert created["request_id"] == "req-create" and created["source"] == "tickets"
    assert created["payload"]["priority"] == "high"
    assert created["payload"]["owner_id"] == USER["id"]
    assert internal["payload"]["internal"] is True and internal["payload"]["body"] is None
    assert internal["payload"]["message_id"] == note["id"]
    assert public["payload"]["body"] == "On it" and public["request_id"] == "req-reply"
    # One command, one action_id; the automatic move names the message that caused it.
    assert public["action_id"] == auto["action_id"] != internal["action_id"]
    assert auto["payload"]["caused_by_message_id"] == reply["id"]
    assert (auto["payload"]["from_status"], auto["payload"]["to_status"]) == ("open", "in_review")
    assert owner_auto["payload"]["caused_by_message_id"] == own["id"]
    assert owner_msg["action_id"] == owner_auto["action_id"]
    assert resolved["payload"]["resolution_note"] == "Fixed it for you."
    assert resolved["payload"]["caused_by_message_id"] is None
    assert assigned["payload"]["assignee_id"] == "a-2"
    assert assigned["payload"]["previous_assignee_id"] is None
    assert (
        closed["payload"]["from_status"] == "resolved" and closed["payload"]["note"] == "All good"
    )
    assert len({e["event_id"] for e in events}) == len(events)
    # The internal note's text never travels in any event.
    assert all("internal-secret" not in str(e) for e in events)
    unpublished = db.execute("SELECT count(*) FROM outbox WHERE published_at IS NULL").fetchone()
    assert unpublished[0] == 0


def test_commit_wakes_the_relay_at_once(call, amqp_url):
    started = time.monotonic()
    call("create_ticket", USER, new_ticket_fields())
    assert len(drain(amqp_url, timeout=2, expect=1)) == 1
    # Far below the relay's 1 s poll interval: the commit woke it.
    assert time.monotonic() - started < 0.9


def test_two_instances_never_publish_an_event_twice(two_instances, amqp_url):
    containers = two_instances
    for i in range(10):
        run_entrypoint(
            containers[i % 2], "create_ticket", {**USER, "id": f"u-{i}"}, new_ticket_fields()
        )
    bodies = drain(amqp_url, timeout=5, expect=10)
    assert len(bodies) == 10
    assert len({b["event_id"] for b in bodies}) == 10


def test_an_event_committed_by_a_killed_process_is_delivered_exactly_once(
    settings, amqp_url, service_env, db, runner_factory
):
    crashed = subprocess.run(
        [sys.executable, "-m", "services.tickets.tests.integration.crash_after_commit"],
        env=service_env,
        capture_output=True,
        timeout=60,
    )
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr.decode()[-2000:]
    rows = db.execute("SELECT event_id, published_at, body FROM outbox").fetchall()
    assert len(rows) == 1 and rows[0][1] is None  # committed, never published
    # Sealed at rest: no subject or other ticket text in the waiting row.
    assert set(rows[0][2]) == {"event_id", "type", "sealed"}
    assert "Charts" not in str(rows[0][2])
    assert db.execute("SELECT count(*) FROM tickets").fetchone()[0] == 1
    assert drain(amqp_url, timeout=0.5) == []

    # Restart (two instances at once): the relay finds the row and publishes it once.
    for _ in range(2):
        runner_factory(settings.nameko_config(), TicketsService).start()
    bodies = drain(amqp_url, timeout=5, expect=1)
    assert [b["event_id"] for b in bodies] == [str(rows[0][0])]
    assert bodies[0]["type"] == "ticket_created"
    assert db.execute("SELECT published_at FROM outbox").fetchone()[0] is not None


def test_published_rows_are_pruned_after_the_retention(call, settings, db):
    from shared.db import make_engine
    from shared.outbox import prune_published

    call("create_ticket", USER, new_ticket_fields())
    call("create_ticket", OTHER_USER, new_ticket_fields())
    deadline = time.monotonic() + 5
    while db.execute("SELECT count(*) FROM outbox WHERE published_at IS NULL").fetchone()[0]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    db.execute(
        "UPDATE outbox SET published_at = now() - interval '8 days' "
        "WHERE id = (SELECT min(id) FROM outbox)"
    )
    db.execute(
        "INSERT INTO outbox (event_id, type, routing_key, body) SELECT gen_random_uuid(), "
        "'ticket_created', 'tickets.ticket_created', '{}'::jsonb"
    )  # never published
    db.execute("UPDATE outbox SET created_at = now() - interval '30 days'")
    engine = make_engine(settings.tickets_database_url, pool_size=1)
    try:
        assert prune_published(engine, "outbox", older_than_days=7) == 1
    finally:
        engine.dispose()
    # The recent published row and the unpublished one stay.
    assert db.execute("SELECT count(*) FROM outbox").fetchone()[0] == 2


def test_published_rows_keep_no_event_text(call, db, amqp_url):
    ticket = call("create_ticket", USER, new_ticket_fields())
    call("admin_add_message", ADMIN, ticket["id"], {"body": "a public reply with words"})
    assert len(drain(amqp_url, timeout=5, expect=3)) == 3
    for (body,) in db.execute("SELECT body FROM outbox"):
        assert "sealed" not in body  # dropped once the broker confirmed
        assert "a public reply" not in str(body) and "Charts" not in str(body)


def test_the_relay_publishes_in_confirm_mode(amqp_url):
    from shared.outbox import EventPublisher, relay_connection

    with relay_connection(amqp_url) as conn:
        publisher = EventPublisher(conn)
        # Confirm mode is on: a publish leaves a delivery tag waiting for its ack.
        publisher.publish("{}", "tickets.test", "e-1", "test")
        assert publisher._unconfirmed == {1}
        publisher.wait_for_confirms()
        assert publisher._unconfirmed == set()


class StalledBrokerRelay(OutboxRelay):
    """A relay whose broker never answers (as a channel open or declare can wait)."""

    STOP_TIMEOUT = 0.5

    def _events(self):
        eventlet.sleep(3600)


class TicketsWithAStalledBroker(TicketsService):
    relay = StalledBrokerRelay("tickets_database_url")


def test_a_stalled_broker_does_not_keep_the_service_from_stopping(container_factory, settings, db):
    container = container_factory(TicketsWithAStalledBroker, settings.nameko_config())
    container.start()
    run_entrypoint(container, "create_ticket", USER, new_ticket_fields())
    eventlet.sleep(0.1)  # the relay is woken, and stuck
    started = time.monotonic()
    container.stop()
    assert time.monotonic() - started < 5
    # Nothing lost: the event waits in the outbox for the next start.
    assert db.execute("SELECT count(*) FROM outbox WHERE published_at IS NULL").fetchone()[0] == 1


def test_the_backlog_counts_unpublished_rows_and_the_oldest_ones_age(settings, db):
    """What the outbox alerts read (shared/metrics.py): rows waiting, the oldest's
    age, and the rows set aside, apart; published rows count for nothing."""
    from shared.db import make_engine
    from shared.outbox import outbox_backlog

    insert = (
        "INSERT INTO outbox (event_id, type, routing_key, body, created_at, published_at) "
        "VALUES (gen_random_uuid(), 'ticket_created', 'tickets.ticket_created', %s::jsonb, "
        "now() - %s::interval, %s)"
    )
    engine = make_engine(settings.tickets_database_url, pool_size=1)
    try:
        empty = outbox_backlog(engine, "outbox")
        assert (empty.unpublished, empty.set_aside, empty.oldest_age) == (0, 0, 0)
        db.execute(insert.replace("%s)", "now())"), ("{}", "2 hours"))  # published: not counted
        db.execute(insert, ("{}", "90 seconds", None))
        db.execute(insert, ("{}", "10 seconds", None))
        db.execute(insert, ('{"set_aside": true}', "1 day", None))  # apart, not "oldest"
        backlog = outbox_backlog(engine, "outbox")
    finally:
        engine.dispose()
    assert (backlog.unpublished, backlog.set_aside) == (2, 1)
    assert 90 <= backlog.oldest_age < 120
