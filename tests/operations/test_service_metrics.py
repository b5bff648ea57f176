"""Each service process serves its metrics: RPC latency per method, the outbox's
backlog, the consumer's queue and dead letters, event lag (a real stack)."""

from __future__ import annotations

import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from shared.metrics import METRIC_NAMES
from tests.e2e.conftest import Api, poll, unique
from tools.localrun import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def scrape(port: int) -> dict:
    """``{(name, frozenset(labels)): value}`` of every sample on a metrics endpoint,
    and under ``"names"`` every family's and sample's name (a gauge with labels but
    no sample yet, the scheduler's, shows as a family only)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    samples, families = {}, set()
    for family in text_string_to_metric_families(text):
        # The parser names a counter's family without its "_total"; queries use it.
        families.add(family.name + ("_total" if family.type == "counter" else ""))
        for sample in family.samples:
            families.add(sample.name)
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    samples["names"] = families
    return samples


def value(samples: dict, name: str, **labels) -> float | None:
    return samples.get((name, frozenset(labels.items())))


@pytest.fixture(scope="module")
def metered_stack(make_stack):
    """A stack whose tickets and notifications processes serve metrics (ports from the base)."""
    base = free_port()
    stack = make_stack(HELPDESK_METRICS_PORT=str(base))
    ports = {
        spec.service: int(dict(spec.env)["HELPDESK_METRICS_PORT"])
        for spec in stack.specs
        if spec.service in ("tickets", "notifications")
    }
    return stack, ports


def test_every_process_reports_its_work(metered_stack):
    stack, ports = metered_stack
    user = Api(stack, unique("user"), "user", "Alice Example")
    admin = Api(stack, unique("admin"), "admin", "Sam Support")
    ticket = user.create()
    assert user.get("/api/v1/tickets/999999999").status_code == 404
    reply = admin.post(f"/api/v1/admin/tickets/{ticket['id']}/messages", {"body": "On it."})
    assert reply.status_code == 201, reply.text
    # The support reply becomes the owner's notice: the event went through the queue.
    poll(
        lambda: user.get("/api/v1/notifications").json()["items"],
        lambda items: len(items) >= 1,
    )

    tickets = scrape(ports["tickets"])
    ok = {"service": "tickets", "method": "create_ticket", "outcome": "ok"}
    assert value(tickets, "helpdesk_rpc_duration_seconds_count", **ok) == 1
    refused = {"service": "tickets", "method": "get_ticket", "outcome": "refused"}
    assert value(tickets, "helpdesk_rpc_duration_seconds_count", **refused) == 1
    assert value(tickets, "helpdesk_collector_up", collector="OutboxRelay") == 1
    outbox = {"service": "tickets", "table": "outbox"}
    assert value(tickets, "helpdesk_outbox_unpublished", **outbox) == 0
    assert value(tickets, "helpdesk_outbox_oldest_unpublished_age_seconds", **outbox) == 0
    assert value(tickets, "helpdesk_outbox_set_aside", **outbox) == 0

    notifications = poll(
        lambda: scrape(ports["notifications"]),
        lambda s: (
            (
                value(
                    s,
                    "helpdesk_events_handled_total",
                    service="notifications",
                    queue="notifications.ticket-events",
                    outcome="ok",
                )
                or 0
            )
            >= 1
        ),
    )
    queue = {"service": "notifications", "queue": "notifications.ticket-events"}
    assert value(notifications, "helpdesk_event_lag_seconds_count", **queue) >= 1
    assert value(notifications, "helpdesk_queue_consumers", **queue) == 1
    assert value(notifications, "helpdesk_queue_messages", **queue) == 0
    dead = {"service": "notifications", "queue": "notifications.ticket-events.dead"}
    assert value(notifications, "helpdesk_dead_letter_messages", **dead) == 0
    assert value(notifications, "helpdesk_collector_up", collector="TicketEvents") == 1
    assert (
        value(
            notifications,
            "helpdesk_rpc_duration_seconds_count",
            service="notifications",
            method="list_notices",
            outcome="ok",
        )
        >= 1
    )

    # Every name the alerts and the dashboard may use is served by one process or the other.
    served = tickets["names"] | notifications["names"]
    assert served >= METRIC_NAMES, METRIC_NAMES - served
