"""Prometheus metrics of a nameko service process, served on its own port.

Each service declares ``metrics = ServiceMetrics()``. The dependency

- times every RPC call in the service itself (``helpdesk_rpc_duration_seconds``,
  by service, method and outcome: ``ok``, ``refused`` for a typed error the caller
  caused, ``failed`` for anything else);
- serves ``/metrics`` on ``HELPDESK_METRICS_HOST``:``HELPDESK_METRICS_PORT`` (no
  endpoint while the port is unset, the local default) from a green thread of the
  service's own hub, one endpoint per process, so each instance is a scrape target
  (docs/decisions/0025-service-metrics-endpoint.md);
- on each scrape, asks every extension of its container that has a
  ``collect_metrics()`` method for its gauges (the outbox relay: its backlog; an
  event consumer: its queues' depths), so whoever owns a resource measures it and
  this module names no service.

Counters the event consumers and schedulers update (``observe_event``,
``record_scheduler_lag``) live here too, so every service names them one way.
``METRIC_NAMES`` lists every name a service process exports: the alert rules
(``deploy/prometheus/alerts.yml``) and the dashboard (``deploy/grafana/``) are
checked against it.
"""

from __future__ import annotations

import contextlib
import logging
import time
from datetime import datetime

import eventlet
import eventlet.wsgi
from nameko.extensions import DependencyProvider
from nameko.rpc import Rpc
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    make_wsgi_app,
)
from prometheus_client.core import GaugeMetricFamily

from shared.errors import DataIntegrityError, HelpdeskError, StorageUnavailable
from shared.latency import ANSWER_BUCKETS

log = logging.getLogger(__name__)

# Seconds from an event's occurrence to its handling: milliseconds when healthy,
# minutes when a consumer was down.
LAG_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)

RPC_DURATION = Histogram(
    "helpdesk_rpc_duration_seconds",
    "Time a service took to answer an RPC call, measured in the service, by method and "
    "outcome (ok; refused: a typed error the caller caused; failed: anything else).",
    ["service", "method", "outcome"],
    buckets=ANSWER_BUCKETS,
)
EVENTS_HANDLED = Counter(
    "helpdesk_events_handled_total",
    "Events a consumer handled, by queue and outcome (ok; retried: requeued after a "
    "failure; dead_lettered: rejected for good).",
    ["service", "queue", "outcome"],
)
EVENT_REDELIVERIES = Counter(
    "helpdesk_event_redeliveries_total",
    "Deliveries of an event the broker had delivered before (a failed or lost attempt).",
    ["service", "queue"],
)
EVENT_LAG = Histogram(
    "helpdesk_event_lag_seconds",
    "Seconds from an event's occurred_at (its command's commit) to a consumer taking it up.",
    ["service", "queue"],
    buckets=LAG_BUCKETS,
)
SCHEDULER_LAG = Gauge(
    "helpdesk_scheduler_lag_seconds",
    "How late a scheduled job's latest run started after its due time, by job.",
    ["service", "job"],
)

# The gauges extensions report from ``collect_metrics`` (see ``gauge``).
OUTBOX_UNPUBLISHED = "helpdesk_outbox_unpublished"
OUTBOX_OLDEST_AGE = "helpdesk_outbox_oldest_unpublished_age_seconds"
OUTBOX_SET_ASIDE = "helpdesk_outbox_set_aside"
QUEUE_MESSAGES = "helpdesk_queue_messages"
QUEUE_CONSUMERS = "helpdesk_queue_consumers"
DEAD_LETTER_MESSAGES = "helpdesk_dead_letter_messages"
COLLECTOR_UP = "helpdesk_collector_up"

GAUGES = {
    OUTBOX_UNPUBLISHED: "Outbox rows not yet published (set-aside rows excluded).",
    OUTBOX_OLDEST_AGE: "Age of the oldest unpublished outbox row, 0 when none waits.",
    OUTBOX_SET_ASIDE: "Unpublished outbox rows set aside because they cannot be opened.",
    QUEUE_MESSAGES: "Messages ready in a consumer's queue (the broker's count).",
    QUEUE_CONSUMERS: "Consumers attached to a consumer's queue (the broker's count).",
    DEAD_LETTER_MESSAGES: "Messages in a dead-letter queue: events no consumer could handle.",
    COLLECTOR_UP: "1 when a collector read its source at this scrape, 0 when it failed.",
}

# Every metric name a service process exports (histograms and counters by their base name).
METRIC_NAMES = frozenset(
    {
        "helpdesk_rpc_duration_seconds",
        "helpdesk_events_handled_total",
        "helpdesk_event_redeliveries_total",
        "helpdesk_event_lag_seconds",
        "helpdesk_scheduler_lag_seconds",
        *GAUGES,
    }
)

# Typed errors that are the service's own failure, not the caller's.
_FAILURES = (StorageUnavailable, DataIntegrityError)


def outcome_of(exc_info) -> str:
    """``ok``, ``refused`` (a typed error the caller caused) or ``failed``."""
    if exc_info is None:
        return "ok"
    error = exc_info[1]
    if isinstance(error, HelpdeskError) and not isinstance(error, _FAILURES):
        return "refused"
    return "failed"


def gauge(name: str, labels: dict, value: float) -> GaugeMetricFamily:
    """One sample of one of ``GAUGES``, for an extension's ``collect_metrics``."""
    family = GaugeMetricFamily(name, GAUGES[name], labels=list(labels))
    family.add_metric([str(v) for v in labels.values()], value)
    return family


def observe_event(service: str, queue: str, occurred_at: str | None, redelivered: bool) -> None:
    """Note that a consumer took up an event: its lag since it occurred, and whether the
    broker had delivered it before."""
    if redelivered:
        EVENT_REDELIVERIES.labels(service, queue).inc()
    if occurred_at:
        with contextlib.suppress(ValueError):
            occurred = datetime.fromisoformat(occurred_at.replace("Z", "+00:00"))
            EVENT_LAG.labels(service, queue).observe(max(0.0, time.time() - occurred.timestamp()))


def count_event(service: str, queue: str, outcome: str) -> None:
    """Count a consumer's event by how it ended (``ok``, ``retried``, ``dead_lettered``)."""
    EVENTS_HANDLED.labels(service, queue, outcome).inc()


def record_scheduler_lag(service: str, job: str, seconds: float) -> None:
    """How late ``job``'s run started after it was due (0 when on time)."""
    SCHEDULER_LAG.labels(service, job).set(max(0.0, seconds))


class _ProcessMetrics:
    """The process-wide metrics (this module's, and prometheus_client's process ones)."""

    def collect(self):
        return REGISTRY.collect()


class _ContainerMetrics:
    """Whatever the container's extensions report at the time of the scrape."""

    def __init__(self, sources):
        self.sources = sources

    def collect(self):
        for source in self.sources:
            name = type(source).__name__
            try:
                families = list(source.collect_metrics())
            except Exception as exc:
                # A database or broker that cannot answer must not fail the whole
                # scrape: the other numbers matter most exactly then.
                log.warning(
                    "metrics collector failed", extra={"collector": name, "error": str(exc)}
                )
                yield gauge(COLLECTOR_UP, {"collector": name}, 0)
                continue
            yield gauge(COLLECTOR_UP, {"collector": name}, 1)
            yield from families


class ServiceMetrics(DependencyProvider):
    """Time the service's RPC calls; serve its metrics (see the module doc)."""

    def __init__(self):
        self.started: dict = {}
        self.registry: CollectorRegistry | None = None
        self.socket = None
        self.server = None

    def setup(self):
        settings = self.container.config["HELPDESK_SETTINGS"]
        self.host, self.port = settings.metrics_host, settings.metrics_port
        sources = [ext for ext in self.container.extensions if hasattr(ext, "collect_metrics")]
        # Sorted: the scrape's order does not change from one start to the next.
        sources.sort(key=lambda ext: type(ext).__name__)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_ProcessMetrics())
        self.registry.register(_ContainerMetrics(sources))

    def start(self):
        if not self.port:
            return
        # Listening before the container counts as started: a scrape never finds it closed.
        self.socket = eventlet.listen((self.host, self.port))
        self.server = self.container.spawn_managed_thread(self._serve, identifier="metrics")

    def _serve(self):
        eventlet.wsgi.server(self.socket, make_wsgi_app(self.registry), log_output=False)

    @property
    def address(self) -> tuple[str, int] | None:
        """Where the endpoint listens, or None when it does not."""
        return self.socket.getsockname()[:2] if self.socket is not None else None

    def stop(self):
        if self.server is not None:
            self.server.kill()
            self.server = None
        if self.socket is not None:
            self.socket.close()
            self.socket = None

    def kill(self):
        self.stop()

    def worker_setup(self, worker_ctx):
        if isinstance(worker_ctx.entrypoint, Rpc):
            self.started[worker_ctx] = time.perf_counter()

    def worker_result(self, worker_ctx, result=None, exc_info=None):
        started = self.started.pop(worker_ctx, None)
        if started is None:
            return
        RPC_DURATION.labels(
            self.container.service_name, worker_ctx.entrypoint.method_name, outcome_of(exc_info)
        ).observe(time.perf_counter() - started)

    def worker_teardown(self, worker_ctx):
        self.started.pop(worker_ctx, None)
