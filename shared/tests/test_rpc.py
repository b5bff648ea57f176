"""The services' ``rpc`` entrypoint, over the real broker: what callers get back.

Replies are serialized once and published transient through the pooled producer;
these tests prove callers still see results, the services' typed errors, and a
clear error (not a crashed worker) for a result that cannot be serialized.
"""

import json
import time

import psycopg
import pytest
from kombu import Connection, Producer
from nameko.exceptions import RemoteError
from nameko.standalone.rpc import ClusterRpcProxy
from sqlalchemy import exc as sa_exc

from shared.errors import NotFound, StorageUnavailable
from shared.rpc import rpc

pytestmark = pytest.mark.integration


class EchoService:
    name = "rpc_test_echo"

    @rpc(expected_exceptions=NotFound)
    def echo(self, value):
        return value

    @rpc(expected_exceptions=NotFound)
    def missing(self):
        raise NotFound("Ticket not found.")

    @rpc
    def database_down(self):
        raise sa_exc.OperationalError("SELECT 1", {}, psycopg.OperationalError("refused"))

    @rpc
    def unserializable(self):
        return object()


@pytest.fixture
def echo(container_factory, make_settings, amqp_url):
    config = make_settings(HELPDESK_AMQP_URL=amqp_url).nameko_config()
    container = container_factory(EchoService, config)
    container.start()
    with ClusterRpcProxy(config, timeout=10) as proxy:
        yield proxy.rpc_test_echo


def test_results_come_back_whole(echo):
    value = {"text": "naïve café ✓", "items": list(range(50)), "none": None}
    assert echo.echo(value) == value
    assert [echo.echo(i) for i in range(20)] == list(range(20))  # the pooled producer reused


def test_typed_errors_reach_the_caller(echo):
    # shared.errors registers its types with nameko: they arrive as themselves.
    with pytest.raises(NotFound, match="Ticket not found."):
        echo.missing()


def test_a_database_outage_reaches_the_caller_as_storage_unavailable(echo):
    # The gateway answers it with 503 and Retry-After, not a 500.
    with pytest.raises(StorageUnavailable):
        echo.database_down()
    assert echo.echo(1) == 1  # and the service keeps serving


def test_an_unserializable_result_is_an_error_not_a_dead_worker(echo):
    with pytest.raises(RemoteError) as failure:
        echo.unserializable()
    assert failure.value.exc_type == "UnserializableValueError"
    assert echo.echo("still serving") == "still serving"


def test_replies_are_transient(echo, amqp_url):
    # Catch a reply on a queue of our own to look at its delivery mode.
    with Connection(amqp_url) as conn:
        channel = conn.channel()
        reply_queue, _, _ = channel.queue_declare(exclusive=True, auto_delete=True)
        channel.queue_bind(reply_queue, "nameko-rpc", routing_key=reply_queue)
        Producer(channel).publish(
            {"args": ["ping"], "kwargs": {}},
            exchange="nameko-rpc",
            routing_key="rpc_test_echo.echo",
            reply_to=reply_queue,
            correlation_id="c-1",
            serializer="json",
        )
        for _ in range(50):
            message = channel.basic_get(reply_queue, no_ack=True)
            if message is not None:
                break
            time.sleep(0.1)
        assert message is not None
        assert message.properties["correlation_id"] == "c-1"
        assert message.properties.get("delivery_mode", 1) == 1
        assert json.loads(message.body) == {"result": "ping", "error": None}
