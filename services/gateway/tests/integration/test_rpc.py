"""The gateway's RPC layer against the real RabbitMQ and a real nameko service."""

import contextlib
import json
import socket
import subprocess
import threading
import time

import amqp
import eventlet
import pytest
from kombu import Connection
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
    broken._amqp.transport.sock.shutdown(socket.SHUT_RDWR)
    assert clients.call("tickets", "echo", 2)["value"] == 2
    assert clients.pool._idle and clients.pool._idle[0] is not broken


def _reply_queue(amqp_url, name):
    """'missing', or 'held' when it exists exclusive to another connection (a client's)."""
    with Connection(amqp_url) as conn:
        try:
            conn.default_channel.queue_declare(queue=name, passive=True)
        except amqp.exceptions.NotFound:
            return "missing"
        except amqp.exceptions.ResourceLocked:
            return "held"
    return "shared"


def test_a_closed_client_leaves_no_reply_queue(service, clients, settings):
    clients.call("tickets", "echo", 1)
    name = f"rpc.reply-gateway-{clients.pool._idle[0].reply_to}"
    assert _reply_queue(settings.amqp_url, name) == "held"
    clients.close()
    assert _reply_queue(settings.amqp_url, name) == "missing"


def test_a_connection_the_broker_closed_is_replaced_before_the_call(service, clients):
    clients.call("tickets", "echo", 1)
    client = clients.pool._idle[0]
    port = str(client._amqp.transport.sock.getsockname()[1])
    listed = subprocess.run(
        ["rabbitmqctl", "-q", "--no-table-headers", "list_connections", "pid", "peer_port"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    pid = next(line.split()[0] for line in listed.splitlines() if line.split()[1:2] == [port])
    # What a broker restart does to every idle client: close its connection.
    subprocess.run(
        ["rabbitmqctl", "-q", "close_connection", pid, "as in a broker restart"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    deadline = time.monotonic() + 5
    while client.usable and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not client.usable
    assert clients.call("tickets", "echo", 2)["value"] == 2  # no 503 for the dead client
    assert clients.pool._idle == [clients.pool._idle[0]] and clients.pool._idle[0] is not client


class Wiretap:
    """A raw AMQP stand-in for a service ``wiretap``: records requests, answers each.

    Before answering a request it also replays a reply to every earlier request,
    as a redelivered request would: the client must ignore those.
    """

    def __init__(self, amqp_url):
        self.requests = []
        self.conn = Connection(amqp_url)
        self.conn.ensure_connection()
        self.channel = self.conn.channel()
        self.channel.exchange_declare("nameko-rpc", "topic", durable=True, auto_delete=False)
        self.channel.queue_declare("rpc-wiretap", exclusive=True, auto_delete=True)
        self.channel.queue_bind("rpc-wiretap", "nameko-rpc", routing_key="wiretap.*")
        self.channel.basic_consume("rpc-wiretap", callback=self.on_request, no_ack=True)
        self.running = True
        self.thread = threading.Thread(target=self.serve)
        self.thread.start()

    def serve(self):
        while self.running:
            with contextlib.suppress(TimeoutError):  # nothing came: look at `running` again
                self.conn.drain_events(timeout=0.1)

    def _answer(self, request, correlation_id, payload):
        self.channel.basic_publish(
            amqp.Message(
                json.dumps(payload).encode(),
                content_type="application/json",
                content_encoding="utf-8",
                correlation_id=correlation_id,
            ),
            "nameko-rpc",
            request.properties["reply_to"],
        )

    def on_request(self, request):
        self.requests.append(request)
        for earlier in self.requests[:-1]:
            self._answer(request, earlier.properties["correlation_id"], {"result": "stale"})
        body = json.loads(request.body)
        result = {"args": body["args"], "n": len(self.requests)}
        self._answer(request, request.properties["correlation_id"], {"result": result})

    def close(self):
        self.running = False
        self.thread.join()
        self.conn.release()


@pytest.fixture
def wiretap(settings):
    tap = Wiretap(settings.amqp_url)
    yield tap
    tap.close()


def test_requests_are_transient_expire_with_the_timeout_and_carry_the_context(wiretap, clients):
    token = bind_request_id("req-7")
    try:
        assert clients.call("wiretap", "look", 1, "two") == {"args": [1, "two"], "n": 1}
    finally:
        reset_request_id(token)
    request = wiretap.requests[0]
    props = request.properties
    assert props["delivery_mode"] == 1  # transient: it expires with the caller's wait anyway
    assert props["expiration"] == "1000"  # HELPDESK_RPC_TIMEOUT=1
    assert props["content_type"] == "application/json"
    assert props["reply_to"] == clients.pool._idle[0].reply_to
    assert request.delivery_info["routing_key"] == "wiretap.look"
    headers = props["application_headers"]
    assert headers["nameko.request_id"] == "req-7"
    assert headers["nameko.call_id_stack"] == [f"gateway.call.{props['correlation_id']}"]
    assert json.loads(request.body) == {"args": [1, "two"], "kwargs": {}}


def test_a_reply_to_an_earlier_call_is_ignored(wiretap, clients):
    assert clients.call("wiretap", "look", "a")["n"] == 1
    # The tap answers the first request again before the second: that reply is dropped.
    assert clients.call("wiretap", "look", "b") == {"args": ["b"], "n": 2}
    assert clients.call("wiretap", "look", "c") == {"args": ["c"], "n": 3}
    assert "nameko.request_id" not in wiretap.requests[0].properties["application_headers"]
