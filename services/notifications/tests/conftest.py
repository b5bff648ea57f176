"""Fixtures for the notifications tests: settings against the session's real
PostgreSQL database and RabbitMQ vhost, a publisher of ticket events, and a clean
slate (tables emptied, queues purged) before every integration test."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from kombu import Connection, Producer

from services.notifications.queues import QUEUES, TICKET_EVENTS
from shared.events import EVENTS_EXCHANGE, declare_topology, routing_key
from tests.stack import open_engine


@pytest.fixture
def settings(make_settings, amqp_url, notifications_database_url, data_keys):
    """Settings of a notifications service on the session's database and vhost."""
    return make_settings(
        HELPDESK_AMQP_URL=amqp_url,
        HELPDESK_NOTIFICATIONS_DATABASE_URL=notifications_database_url,
        HELPDESK_DATA_KEYS=data_keys,
    )


@pytest.fixture
def config(settings):
    """The nameko config a container of the service takes."""
    return settings.nameko_config()


@pytest.fixture(scope="session")
def engine(notifications_database_url):
    """A plain engine on the service's database, for looking at rows directly."""
    with open_engine(notifications_database_url) as engine:
        yield engine


@pytest.fixture
def broker(amqp_url):
    """A kombu connection to the session's vhost, topology declared."""
    # confirm_publish: each publish returns only once the broker has the message.
    with Connection(amqp_url, transport_options={"confirm_publish": True}) as conn:
        declare_topology(conn, QUEUES)
        yield conn


@pytest.fixture
def clean(engine, broker):
    """An empty database and empty queues, before and after the test."""

    def wipe():
        with engine.begin() as conn:
            conn.execute(sa.text("TRUNCATE notices, processed_events, idempotency_keys"))
        channel = broker.channel()
        try:
            for queue in QUEUES:
                queue.bind(channel).purge()
        finally:
            channel.close()

    wipe()
    yield
    wipe()


@pytest.fixture
def publish(broker):
    """Publish an envelope (dict) as the tickets relay does: JSON, persistent, confirmed."""
    producer = Producer(broker.channel(), exchange=EVENTS_EXCHANGE)

    def send(envelope, *, body=None, content_type=None, key=None, direct=False):
        if direct:  # straight into the queue (the default exchange), whatever its bindings
            Producer(producer.channel).publish(
                envelope,
                routing_key=TICKET_EVENTS.name,
                serializer="json",
                delivery_mode=2,
            )
            return
        if body is not None:  # raw bytes, for malformed messages
            producer.publish(
                body,
                routing_key=key or routing_key("message_added"),
                content_type=content_type or "application/json",
                content_encoding="utf-8",
                delivery_mode=2,
            )
            return
        producer.publish(
            envelope,
            routing_key=routing_key(envelope["type"]),
            serializer="json",
            delivery_mode=2,
        )

    yield send
    producer.channel.close()


@pytest.fixture
def rpc_call(config):
    """Call the notifications service over real RPC: ``rpc_call("ping")``."""
    from nameko.standalone.rpc import ServiceRpcProxy

    with ServiceRpcProxy("notifications", config, timeout=10) as proxy:
        yield lambda method, *args: getattr(proxy, method)(*args)


@pytest.fixture
def service(container_factory, config):
    """A running notifications service container."""
    from services.notifications.service import NotificationsService

    container = container_factory(NotificationsService, config)
    container.start()
    return container
