"""A keyless command whose process died between its commit and its ack runs once (real
PostgreSQL + RabbitMQ): the broker delivers the request again to the instance that
takes over, and that delivery answers with what the first one stored.

The first instance is ``crash_after_commit.py --serve``, killed (SIGKILL) by its own
commit, so it neither replies nor acks; the request is requeued, marked redelivered.
"""

import json
import signal
import subprocess
import sys
import time
import uuid

import pytest
from kombu import Connection, Producer, Queue
from nameko.rpc import get_rpc_exchange

from services.tickets.service import TicketsService
from services.tickets.tests.integration.conftest import (
    ADMIN,
    USER,
    new_ticket_fields,
    run_entrypoint,
)

pytestmark = pytest.mark.integration

RPC_QUEUE = "rpc-tickets"


def _consumers(amqp_url) -> int:
    with Connection(amqp_url) as conn:
        try:
            _name, _messages, consumers = conn.default_channel.queue_declare(
                RPC_QUEUE, passive=True
            )
        except Exception:  # not declared yet
            return 0
        return consumers


def _wait_for(condition, timeout=30.0, what="it"):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _crashing_instance(amqp_url, env):
    """Start ``crash_after_commit.py --serve`` and wait until it consumes requests."""
    process = subprocess.Popen(
        [sys.executable, "-m", "services.tickets.tests.integration.crash_after_commit", "--serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_for(lambda: _consumers(amqp_url) > 0, what="the crashing instance")
    except AssertionError:
        process.kill()
        raise
    return process


@pytest.mark.parametrize("command", ["create_ticket", "admin_add_message"])
def test_a_keyless_command_redelivered_after_a_crash_runs_once_and_answers_the_first_answer(
    command, settings, amqp_url, service_env, db, tickets, runner_factory
):
    if command == "create_ticket":
        args = [USER, new_ticket_fields()]
    else:
        ticket = run_entrypoint(tickets, "create_ticket", USER, new_ticket_fields())
        args = [ADMIN, ticket["id"], {"body": "We are looking into it."}]
    tickets.stop()  # from here on, only the instances below take requests
    before = db.execute("SELECT count(*) FROM outbox").fetchone()[0]

    crashing = _crashing_instance(amqp_url, service_env)
    correlation_id, reply_to = str(uuid.uuid4()), f"tests-redelivery-{uuid.uuid4()}"
    exchange = get_rpc_exchange(settings.nameko_config())
    with Connection(amqp_url) as conn:
        replies = Queue(reply_to, exchange, routing_key=reply_to, exclusive=True)
        replies = conn.SimpleQueue(replies)
        Producer(conn.default_channel).publish(
            {"args": args, "kwargs": {}},  # keyless: no idempotency argument
            exchange=exchange,
            routing_key=f"tickets.{command}",
            serializer="json",
            reply_to=reply_to,
            correlation_id=correlation_id,
            expiration=30,  # seconds, as the gateway's requests expire with its timeout
        )
        crashing.wait(timeout=30)
        assert crashing.returncode == -signal.SIGKILL, crashing.stderr.read().decode()[-2000:]
        crashing.stderr.close()
        # Committed, never answered.
        assert db.execute("SELECT count(*) FROM outbox").fetchone()[0] > before
        done = db.execute("SELECT count(*) FROM tickets").fetchone()[0], _messages(db)

        runner_factory(settings.nameko_config(), TicketsService).start()
        reply = replies.get(timeout=20)
        assert reply.properties["correlation_id"] == correlation_id
        reply.ack()
        body = json.loads(reply.body) if isinstance(reply.body, (bytes, str)) else reply.payload
        replies.close()

    assert body["error"] is None, body["error"]
    # Nothing was done again: no second ticket, message or event.
    assert (db.execute("SELECT count(*) FROM tickets").fetchone()[0], _messages(db)) == done
    if command == "create_ticket":
        assert body["result"]["id"] == db.execute("SELECT id FROM tickets").fetchone()[0]
    else:
        assert body["result"]["id"] == db.execute("SELECT id FROM messages").fetchone()[0]
    types = [t for (t,) in db.execute("SELECT type FROM outbox ORDER BY id")]
    assert types.count("ticket_created") == 1 and types.count("message_added") <= 1


def _messages(db) -> int:
    return db.execute("SELECT count(*) FROM messages").fetchone()[0]
