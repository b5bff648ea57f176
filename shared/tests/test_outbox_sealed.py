"""The outbox keeps event text sealed at rest and publishes it opened (real PG + RabbitMQ)."""

import json
import uuid

import pytest
import sqlalchemy as sa
from amqp.exceptions import MessageNacked
from kombu import Connection

from shared.crypto import Binding, Keyring, generate_key, key_id_of
from shared.events import MESSAGE_ADDED, consumer_queues, declare_topology, make_event
from shared.outbox import EventPublisher, publish_pending, relay_connection, write_event
from shared.tests.sealed_before import seal_as_before
from tests.stack import fresh_vhost, open_engine

pytestmark = pytest.mark.integration

KEYRING = Keyring.from_spec(f"k1={generate_key()}")
# Where these tests read what the relay published.
QUEUES = consumer_queues("tests.outbox-sealed", [MESSAGE_ADDED])


@pytest.fixture(scope="module")
def vhost_url(run_id):
    with fresh_vhost(f"t{run_id}o") as url:
        yield url


@pytest.fixture
def engine(own_tickets_database_url):
    with open_engine(own_tickets_database_url, truncate=("outbox",)) as engine:
        yield engine


def event(marker: str) -> dict:
    return make_event(
        MESSAGE_ADDED,
        {
            "ticket_id": 1,
            "subject": "Cannot sign in",
            "owner_id": "u1",
            "status": "in_review",
            "actor_id": "a1",
            "actor_role": "support",
            "message_id": 7,
            "author": "support",
            "internal": False,
            "body": f"Try resetting it {marker}",
        },
        action_id=str(uuid.uuid4()),
    )


def stored_bodies(engine) -> list:
    with engine.connect() as db:
        return db.execute(sa.text("SELECT body FROM outbox ORDER BY id")).scalars().all()


def drain(vhost_url) -> list:
    with Connection(vhost_url) as conn:
        queue = QUEUES[0].bind(conn.channel())
        bodies = []
        while (message := queue.get(no_ack=True)) is not None:
            bodies.append(json.loads(message.body))
        return bodies


def test_event_text_is_sealed_at_rest_and_published_intact(engine, vhost_url):
    marker = uuid.uuid4().hex
    envelope = event(marker)
    with engine.begin() as db:
        write_event(db, envelope, keyring=KEYRING)
    (stored,) = stored_bodies(engine)
    assert marker not in json.dumps(stored)
    assert stored["event_id"] == envelope["event_id"] and stored["type"] == MESSAGE_ADDED
    assert key_id_of(stored["sealed"]) == "k1"

    with relay_connection(vhost_url) as amqp:
        declare_topology(amqp, QUEUES)
        assert publish_pending(engine, EventPublisher(amqp), "outbox", keyring=KEYRING) == 1
    assert drain(vhost_url) == [envelope]
    # Once the broker has it, the row keeps no text at all, sealed or not.
    (published,) = stored_bodies(engine)
    assert published == {"event_id": envelope["event_id"], "type": MESSAGE_ADDED}


def test_a_sealed_event_moved_to_another_row_is_set_aside_not_published(engine, vhost_url):
    """A tampered row is never published, and never holds back the events after it."""
    first, second, third = event("one"), event("two"), event("three")
    with engine.begin() as db:
        for envelope in (first, second, third):
            write_event(db, envelope, keyring=KEYRING)
        db.execute(
            sa.text(
                "UPDATE outbox SET body = jsonb_set(body, '{sealed}', "
                "(SELECT body -> 'sealed' FROM outbox WHERE event_id = CAST(:a AS uuid))) "
                "WHERE event_id = CAST(:b AS uuid)"
            ),
            {"a": first["event_id"], "b": second["event_id"]},
        )
    with relay_connection(vhost_url) as amqp:
        publisher = EventPublisher(amqp)
        assert publish_pending(engine, publisher, "outbox", keyring=KEYRING) == 3
        assert publish_pending(engine, publisher, "outbox", keyring=KEYRING) == 0
    assert drain(vhost_url) == [first, third]
    with engine.connect() as db:
        aside = db.execute(
            sa.text("SELECT event_id, body FROM outbox WHERE published_at IS NULL")
        ).all()
    assert [str(r.event_id) for r in aside] == [second["event_id"]]
    assert aside[0].body["set_aside"] is True and "sealed" in aside[0].body  # kept for inspection


def test_a_sealed_event_rerouted_or_sealed_the_old_way_is_set_aside(engine, vhost_url):
    """Its routing key decides who gets it: bound, so a changed one is refused. A row
    sealed before that binding (hd1) goes out only while the old binding is accepted."""
    rerouted, old, fine = event("rerouted"), event("old"), event("fine")
    with engine.begin() as db:
        for envelope in (rerouted, old, fine):
            write_event(db, envelope, keyring=KEYRING)
        db.execute(
            sa.text("UPDATE outbox SET routing_key = 'ticket.elsewhere' WHERE event_id = :e"),
            {"e": rerouted["event_id"]},
        )
        binding = Binding("outbox", "body", old["event_id"])
        db.execute(
            sa.text(
                "UPDATE outbox SET body = jsonb_set(body, '{sealed}', to_jsonb(CAST(:s AS text))) "
                "WHERE event_id = :e"
            ),
            {"e": old["event_id"], "s": seal_as_before(KEYRING, json.dumps(old), binding)},
        )
    with relay_connection(vhost_url) as amqp:
        declare_topology(amqp)
        assert publish_pending(engine, EventPublisher(amqp), "outbox", keyring=KEYRING) == 3
    assert drain(vhost_url) == [fine]
    accepting = Keyring(KEYRING.keys, KEYRING.active, accept_legacy=True)
    with engine.begin() as db:  # an operator puts the old row back after the upgrade
        db.execute(
            sa.text("UPDATE outbox SET body = body - 'set_aside' WHERE event_id = :e"),
            {"e": old["event_id"]},
        )
    with relay_connection(vhost_url) as amqp:
        assert publish_pending(engine, EventPublisher(amqp), "outbox", keyring=accepting) == 1
    assert drain(vhost_url) == [old]


def test_plain_rows_still_publish_without_a_keyring(engine, vhost_url):
    envelope = event("plain")
    with engine.begin() as db:
        write_event(db, envelope)
    with relay_connection(vhost_url) as amqp:
        assert publish_pending(engine, EventPublisher(amqp), "outbox") == 1
    assert drain(vhost_url) == [envelope]


def test_a_batch_the_broker_refuses_stays_unpublished(engine, vhost_url):
    """A nacked event rolls its whole batch back: nothing is marked, nothing is lost."""
    # A queue that refuses publishes once it holds one message: the broker nacks.
    full = f"full-{uuid.uuid4().hex[:8]}"
    with relay_connection(vhost_url) as amqp:
        declare_topology(amqp, QUEUES)
        channel = amqp.channel()
        channel.queue_declare(
            full, auto_delete=True, arguments={"x-max-length": 1, "x-overflow": "reject-publish"}
        )
        channel.queue_bind(full, "helpdesk.events", routing_key="tickets.#")
        envelopes = [event("first"), event("second")]
        with engine.begin() as db:
            for envelope in envelopes:
                write_event(db, envelope, keyring=KEYRING)
        with pytest.raises(MessageNacked):
            publish_pending(engine, EventPublisher(amqp), "outbox", keyring=KEYRING)
        channel.queue_delete(full)
    with engine.connect() as db:
        waiting = db.execute(sa.text("SELECT count(*) FROM outbox WHERE published_at IS NULL"))
        assert waiting.scalar() == 2
    assert all("sealed" in body for body in stored_bodies(engine))  # text kept for the retry
    drain(vhost_url)


def test_confirms_are_awaited_once_for_a_whole_batch(vhost_url):
    with relay_connection(vhost_url) as amqp:
        declare_topology(amqp, QUEUES)
        publisher = EventPublisher(amqp)
        for i in range(50):
            envelope = event(f"batch {i}")
            publisher.publish(
                json.dumps(envelope), "tickets.message_added", envelope["event_id"], MESSAGE_ADDED
            )
        assert publisher._sent == 50
        publisher.wait_for_confirms()
        assert not publisher._unconfirmed
    assert len(drain(vhost_url)) == 50
