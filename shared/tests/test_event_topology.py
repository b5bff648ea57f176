"""The event topology on the real broker: a consumer's queue, its bindings, dead-lettering."""

import time
import uuid

import amqp
import pytest
from kombu import Connection

from shared import events

pytestmark = pytest.mark.integration

HEARD = (events.MESSAGE_ADDED, events.TICKET_ASSIGNED)


def test_a_consumer_queue_receives_only_the_event_types_it_is_bound_to():
    from tests.stack import create_vhost, delete_vhost

    url = create_vhost(f"routing_{uuid.uuid4().hex[:8]}")
    queue, _dead = events.consumer_queues("tests.routing", HEARD)
    try:
        with Connection(url) as conn:
            events.declare_topology(conn, [queue])
            channel = conn.channel()
            channel.confirm_select()  # each publish is in its queue before the next line
            for event_type in events.EVENT_TYPES:
                channel.basic_publish(
                    amqp.Message(event_type),
                    exchange=events.EVENTS_EXCHANGE.name,
                    routing_key=events.routing_key(event_type),
                )
            # Until the ones that should arrive have, then a moment for any extra.
            received, deadline = [], time.monotonic() + 5
            while time.monotonic() < deadline:
                message = channel.basic_get(queue.name)
                if message is not None:
                    received.append(message.body)
                    channel.basic_ack(message.delivery_tag)
                elif len(received) >= len(HEARD):
                    deadline = min(deadline, time.monotonic() + 0.3)
                    time.sleep(0.05)
                else:
                    time.sleep(0.05)
            assert sorted(received) == sorted(HEARD)
    finally:
        delete_vhost(url)


def test_topology_declares_a_quorum_queue_with_dead_lettering(amqp_url):
    queues = events.consumer_queues(f"tests.quorum-{uuid.uuid4().hex[:8]}", HEARD)
    with Connection(amqp_url) as conn:
        events.declare_topology(conn, queues)
        events.declare_topology(conn, queues)  # idempotent
        channel = conn.channel()
        # Passive: raises unless the queue exists.
        for queue in queues:
            name, _count, _ = channel.queue_declare(queue.name, passive=True)
            assert name == queue.name
            channel.queue_delete(queue.name)
        channel.close()
    queue, dead = queues
    assert queue.queue_arguments["x-queue-type"] == "quorum"
    assert queue.queue_arguments["x-delivery-limit"] == events.DELIVERY_LIMIT
    assert queue.queue_arguments["x-dead-letter-routing-key"] == dead.routing_key == queue.name
    assert dead.name == f"{queue.name}.dead"
