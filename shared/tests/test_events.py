"""The event contract: envelopes validate, payloads are strict, topology is declared."""

import time
import uuid

import amqp
import pytest
from kombu import Connection
from marshmallow import ValidationError

from shared import events

pytestmark = pytest.mark.unit

REF = {
    "ticket_id": 1042,
    "subject": "Cannot export the report",
    "owner_id": "u1",
    "owner_name": "Alice",
    "assignee_id": None,
    "status": "open",
    "actor_id": "u1",
    "actor_name": "Alice",
    "actor_role": "user",
}


def test_make_event_builds_a_valid_envelope():
    event = events.make_event(
        events.TICKET_CREATED,
        {**REF, "issue_type": "bug", "feature": "reports", "priority": "high"},
        action_id="0b6f5d8c-6f0c-4a8e-9f60-1d5e6f0c4a8e",
        request_id="req-1",
    )
    assert event["type"] == "ticket_created" and event["version"] == events.EVENT_VERSION
    assert event["occurred_at"].endswith("Z")
    parsed = events.parse_event(event)
    assert parsed["payload"]["ticket_id"] == 1042


def test_payloads_are_strict():
    with pytest.raises(ValidationError):
        events.make_event(events.MESSAGE_ADDED, {**REF, "surprise": 1}, action_id="x")
    with pytest.raises(ValidationError):
        events.make_event(
            events.STATUS_CHANGED,
            {**REF, "from_status": "open", "to_status": "reopened"},
            action_id="0b6f5d8c-6f0c-4a8e-9f60-1d5e6f0c4a8e",
        )


def test_parse_rejects_unknown_types_and_versions():
    good = events.make_event(
        events.TICKET_ASSIGNED,
        {**REF, "assignee_id": "a1", "assignee_name": "Sam"},
        action_id="0b6f5d8c-6f0c-4a8e-9f60-1d5e6f0c4a8e",
    )
    with pytest.raises(ValidationError):
        events.parse_event({**good, "type": "ticket_deleted"})
    with pytest.raises(ValidationError):
        events.parse_event({**good, "version": 99})


def test_the_notifications_queue_is_bound_to_the_events_that_can_make_a_notice():
    assert events.routing_key(events.STATUS_CHANGED) == "tickets.status_changed"
    assert {b.routing_key for b in events.NOTIFICATIONS_QUEUE.bindings} == {
        "tickets.message_added",
        "tickets.status_changed",
        "tickets.ticket_assigned",
    }


@pytest.mark.integration
def test_events_no_notice_comes_of_never_reach_the_queue_even_on_an_old_broker():
    from tests.stack import create_vhost, delete_vhost

    url = create_vhost(f"routing_{uuid.uuid4().hex[:8]}")
    try:
        with Connection(url) as conn:
            channel = conn.channel()
            # As an earlier version left it: the queue took every ticket event.
            events.declare_topology(conn)
            channel.queue_bind(
                events.NOTIFICATIONS_QUEUE_NAME, events.EVENTS_EXCHANGE.name, "tickets.#"
            )
            events.declare_topology(conn)  # removes that binding
            channel.confirm_select()  # each publish is in its queue before the next line
            for event_type in events.EVENT_TYPES:
                channel.basic_publish(
                    amqp.Message(event_type),
                    exchange=events.EVENTS_EXCHANGE.name,
                    routing_key=events.routing_key(event_type),
                )
            # Until the three that should arrive have, then a moment for any extra.
            received, deadline = [], time.monotonic() + 5
            while time.monotonic() < deadline:
                message = channel.basic_get(events.NOTIFICATIONS_QUEUE_NAME)
                if message is not None:
                    received.append(message.body)
                    channel.basic_ack(message.delivery_tag)
                elif len(received) >= len(events.NOTICE_EVENT_TYPES):
                    deadline = min(deadline, time.monotonic() + 0.3)
                    time.sleep(0.05)
                else:
                    time.sleep(0.05)
            assert sorted(received) == sorted(events.NOTICE_EVENT_TYPES)
    finally:
        delete_vhost(url)


@pytest.mark.integration
def test_topology_declares_a_quorum_queue_with_dead_lettering(amqp_url):
    with Connection(amqp_url) as conn:
        events.declare_topology(conn)
        events.declare_topology(conn)  # idempotent
        channel = conn.channel()
        # Passive: raises unless the queue exists (other tests may have left messages in it).
        name, _count, _ = channel.queue_declare(events.NOTIFICATIONS_QUEUE_NAME, passive=True)
        assert name == events.NOTIFICATIONS_QUEUE_NAME
        channel.queue_declare(events.NOTIFICATIONS_DEAD_QUEUE.name, passive=True)
        channel.close()
