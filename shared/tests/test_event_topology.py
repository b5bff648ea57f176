"""The event topology on the real broker: the queue, its bindings, dead-lettering."""

import time
import uuid

import amqp
import pytest
from kombu import Connection

from shared import events

pytestmark = pytest.mark.integration


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
