#!/usr/bin/env python3
"""Measure notice latency: a change committed by tickets -> the notice readable.

Starts the real ``helpdesk-tickets`` and ``helpdesk-notifications`` processes (as
``make run`` starts them) on their own RabbitMQ vhost and databases, makes N
public support replies through the tickets RPC, and after each polls the owner's
unread count over the notifications RPC until the new notice is there. Prints the
median and p95 of

- ``call->notice``: from sending the tickets RPC call to the notice being readable
  (an upper bound: it includes the call's own round trip), and
- ``commit->notice``: from the call's return (its transaction has committed) to
  the notice being readable (outbox relay, broker, consumer, notice transaction,
  and one poll),

beside, measured in the same run, the floor any event-driven path pays on this
machine: one persistent, confirmed publish to a quorum queue consumed by another
connection, plus one notifications RPC round trip (the poll). Ratios are to that
floor. Everything talks to 127.0.0.1 only; the vhost and databases are dropped at
the end.

    .venv/bin/python scripts/measure_notice_latency.py [--changes 100] [--warmup 5]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
import uuid
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
# py-amqp warns about every late frame on a closing channel: noise for this report.
logging.getLogger("amqp").setLevel(logging.ERROR)

from kombu import Connection, Consumer, Exchange, Producer, Queue  # noqa: E402
from nameko.exceptions import UnknownService  # noqa: E402
from nameko.standalone.rpc import ServiceRpcProxy  # noqa: E402

from tests.stack import Stack, create_database, create_vhost, delete_vhost  # noqa: E402
from tools.migrate import drop_database  # noqa: E402

OWNER = {"id": "latency-owner", "name": "Owner", "role": "user"}
ADMIN = {"id": "latency-agent", "name": "Agent", "role": "admin"}
TICKET = {
    "issue_type": "bug",
    "feature": "dashboard",
    "subject": "Latency probe ticket",
    "description": "A ticket that support replies to many times, to time each notice.",
}
POLL_TIMEOUT = 30.0


def _wait_until_up(proxy, name: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            proxy.ping()
            return
        except UnknownService:  # its RPC queue does not exist yet: still starting
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start within {timeout}s") from None
            time.sleep(0.2)


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def measure_notices(tickets, notifications, changes: int, warmup: int) -> dict[str, list[float]]:
    """Make ``warmup + changes`` support replies; seconds per notice, warm-up dropped."""
    ticket = tickets.create_ticket(OWNER, TICKET)
    call_to_notice, commit_to_notice = [], []
    for i in range(warmup + changes):
        before = notifications.unread_count(OWNER["id"])["unread_count"]
        sent = time.perf_counter()
        tickets.admin_add_message(ADMIN, ticket["id"], {"body": f"Reply {i}", "internal": False})
        committed = time.perf_counter()
        while notifications.unread_count(OWNER["id"])["unread_count"] == before:
            if time.perf_counter() - committed > POLL_TIMEOUT:
                raise RuntimeError(f"notice {i} not readable after {POLL_TIMEOUT}s")
        readable = time.perf_counter()
        if i >= warmup:
            call_to_notice.append(readable - sent)
            commit_to_notice.append(readable - committed)
    return {"call->notice": call_to_notice, "commit->notice": commit_to_notice}


def measure_floor(amqp_url: str, notifications, rounds: int) -> dict[str, list[float]]:
    """The same run's floor: a confirmed persistent quorum-queue hop, and one RPC poll."""
    exchange = Exchange(f"latency.floor.{uuid.uuid4().hex[:6]}", type="direct", durable=False)
    queue = Queue(
        f"latency.floor.{uuid.uuid4().hex[:6]}",
        exchange=exchange,
        routing_key="floor",
        durable=True,
        queue_arguments={"x-queue-type": "quorum"},
    )
    hops, polls = [], []
    with (
        Connection(amqp_url, transport_options={"confirm_publish": True}) as pub_conn,
        Connection(amqp_url) as sub_conn,
    ):
        producer = Producer(pub_conn.channel(), exchange=exchange)
        received = []
        with Consumer(
            sub_conn.channel(),
            queues=[queue],
            callbacks=[lambda body, m: (received.append(body), m.ack())],
        ):
            for i in range(rounds):
                start = time.perf_counter()
                producer.publish({"n": i}, routing_key="floor", serializer="json", delivery_mode=2)
                while len(received) <= i:
                    sub_conn.drain_events(timeout=POLL_TIMEOUT)
                hops.append(time.perf_counter() - start)
                start = time.perf_counter()
                notifications.unread_count(OWNER["id"])
                polls.append(time.perf_counter() - start)
        queue.bind(sub_conn.channel()).delete()
        exchange.bind(sub_conn.channel()).delete()
    return {"broker hop": hops, "rpc poll": polls}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=100, help="replies to time (default 100)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed replies first (default 5)")
    args = parser.parse_args(argv)

    tag = f"lat{uuid.uuid4().hex[:8]}"
    amqp_url = create_vhost(tag)
    databases = []
    stack = None
    try:
        databases = [create_database(tag, "tickets"), create_database(tag, "notifications")]
        stack = Stack(
            tag,
            {
                "HELPDESK_AMQP_URL": amqp_url,
                "HELPDESK_TICKETS_DATABASE_URL": databases[0],
                "HELPDESK_NOTIFICATIONS_DATABASE_URL": databases[1],
                "HELPDESK_TICKETS_PER_DAY": "10000",
                "HELPDESK_LOG_LEVEL": "WARNING",
            },
        )
        stack.start("tickets")
        stack.start("notifications")
        config = {"AMQP_URI": amqp_url}
        with (
            ServiceRpcProxy("tickets", config, timeout=30) as tickets,
            ServiceRpcProxy("notifications", config, timeout=30) as notifications,
        ):
            _wait_until_up(tickets, "tickets")
            _wait_until_up(notifications, "notifications")
            results = measure_notices(tickets, notifications, args.changes, args.warmup)
            results.update(measure_floor(amqp_url, notifications, args.changes))
    finally:
        if stack is not None:
            stack.stop()
        for url in databases:
            drop_database(url)
        delete_vhost(amqp_url)

    floor = statistics.median(results["broker hop"]) + statistics.median(results["rpc poll"])
    print(f"notice latency over {args.changes} support replies (after {args.warmup} warm-up):")
    print(f"{'path':<16}{'median ms':>11}{'p95 ms':>9}{'x floor':>9}")
    for name, values in results.items():
        median = statistics.median(values)
        ratio = f"{median / floor:>9.1f}" if name.endswith("notice") else f"{'':>9}"
        print(f"{name:<16}{median * 1000:>11.1f}{_percentile(values, 0.95) * 1000:>9.1f}{ratio}")
    print(f"floor = broker hop + rpc poll medians = {floor * 1000:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
