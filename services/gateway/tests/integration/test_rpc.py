"""The gateway's RPC layer against the real RabbitMQ and a real nameko service."""

import threading
import time

import eventlet
import pytest
from nameko.rpc import rpc

from services.gateway.errors import ServiceUnavailable
from services.gateway.rpc import RpcClients
from shared.context import RequestId
from shared.errors import Conflict, NotFound
from shared.logging import bind_request_id, reset_request_id

pytestmark = pytest.mark.integration


class EchoService:
    """A stand-in service with the shapes the gateway relies on."""

    name = "tickets"
    request_id = RequestId()

    @rpc
    def ping(self):
        return "pong"

    @rpc
    def echo(self, value):
        return {"value": value, "request_id": self.request_id}

    @rpc
    def missing(self):
        raise NotFound("Ticket not found.")

    @rpc
    def conflict(self):
        raise Conflict("Closed.", {"status": ["closed"]})

    @rpc
    def slow(self, seconds):
        eventlet.sleep(seconds)
        return "late"


@pytest.fixture
def settings(make_settings, amqp_url):
    return make_settings(
        HELPDESK_AMQP_URL=amqp_url, HELPDESK_RPC_TIMEOUT=1, HELPDESK_RPC_POOL_SIZE=4
    )


@pytest.fixture
def service(container_factory, settings):
    container = container_factory(EchoService, settings.nameko_config())
    container.start()
    return container


@pytest.fixture
def clients(settings):
    clients = RpcClients(settings)
    yield clients
    clients.close()


def test_calls_return_results_and_carry_the_request_id(service, clients):
    token = bind_request_id("req-42")
    try:
        assert clients.call("tickets", "echo", [1, "two"]) == {
            "value": [1, "two"],
            "request_id": "req-42",
        }
    finally:
        reset_request_id(token)
    assert clients.call("tickets", "echo", None)["request_id"] is None


def test_clients_are_reused_not_made_per_call(service, clients):
    for _ in range(20):
        clients.call("tickets", "echo", 1)
    assert len(clients.pool._idle) == 1


def test_remote_errors_come_back_as_the_shared_classes(service, clients):
    with pytest.raises(NotFound):
        clients.call("tickets", "missing")
    with pytest.raises(Conflict) as raised:
        clients.call("tickets", "conflict")
    assert raised.value.details == {"status": ["closed"]}
    assert len(clients.pool._idle) == 1  # an answered call keeps its client


def test_a_slow_call_is_a_503_after_the_timeout_and_its_client_is_discarded(service, clients):
    clients.call("tickets", "echo", 1)
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable) as raised:
        clients.call("tickets", "slow", 3)
    assert 0.9 <= time.monotonic() - started < 2.5
    assert raised.value.status == 503 and raised.value.headers["Retry-After"]
    assert clients.pool._idle == []
    assert clients.call("tickets", "echo", 2)["value"] == 2


def test_a_stopped_service_is_a_fast_503(service, clients):
    clients.call("tickets", "ping")
    service.stop()
    time.sleep(0.6)  # let the cached probe expire
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable) as raised:
        clients.call("tickets", "echo", 1)
    assert time.monotonic() - started < 0.5
    assert "not running" in raised.value.message


def test_a_service_that_never_ran_is_a_503(clients):
    with pytest.raises(ServiceUnavailable):
        clients.call("notifications", "ping")


def test_an_unreachable_broker_is_a_503(make_settings):
    settings = make_settings(
        HELPDESK_AMQP_URL="amqp://guest:guest@127.0.0.1:1/", HELPDESK_RPC_TIMEOUT=1
    )
    clients = RpcClients(settings)
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable):
        clients.call("tickets", "ping")
    with pytest.raises(ServiceUnavailable):
        clients.check_broker()
    assert time.monotonic() - started < 10


def test_threads_share_the_pool_safely(service, clients):
    results, errors = [], []

    def work(n):
        try:
            for i in range(10):
                results.append(clients.call("tickets", "echo", n * 100 + i)["value"])
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(results) == sorted(n * 100 + i for n in range(8) for i in range(10))
    assert 1 <= len(clients.pool._idle) <= 4


def test_a_forked_process_starts_a_fresh_pool(service, clients):
    clients.call("tickets", "echo", 1)
    inherited = list(clients.pool._idle)
    clients.pool._pid = -1  # as if this were the child after fork
    clients.call("tickets", "echo", 2)
    assert clients.pool._idle and clients.pool._idle[0] is not inherited[0]
    for client in inherited:
        client.close()


def test_readiness_pings_and_checks_the_broker(service, clients):
    clients.check_broker()
    clients.ping("tickets")
    with pytest.raises(ServiceUnavailable):
        clients.ping("notifications")


def test_a_client_that_lost_its_connection_is_replaced(service, clients):
    clients.call("tickets", "echo", 1)
    broken = clients.pool._idle[0]
    broken.reply_listener.queue_consumer.connection.close()
    assert clients.call("tickets", "echo", 2)["value"] == 2
    assert clients.pool._idle and clients.pool._idle[0] is not broken
