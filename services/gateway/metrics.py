"""Prometheus metrics: requests by route template and status, and latency histograms.

With several gunicorn workers, ``gunicorn_conf`` points ``PROMETHEUS_MULTIPROC_DIR``
at a fresh directory before any worker imports this module, and ``/metrics``
aggregates every worker's samples (prometheus_client's multiprocess mode).
Without it (tests, a single process) the metrics are this process's own.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client import REGISTRY as DEFAULT_REGISTRY

from shared.latency import ANSWER_BUCKETS

# Methods labelled as they are; any other (gunicorn passes any token, "FOO" or
# "X123") is counted as "other", so invented methods cannot add series without end.
METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"))
OTHER_METHOD = "other"

REQUESTS = Counter(
    "helpdesk_http_requests_total",
    "HTTP requests answered, by method, route template and status "
    "(method 'other': any but GET HEAD POST PUT PATCH DELETE OPTIONS; "
    "route 'unmatched': unknown paths).",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "helpdesk_http_request_duration_seconds",
    "Time to answer an HTTP request, by method and route template.",
    ["method", "route"],
    buckets=ANSWER_BUCKETS,
)


def method_label(method: str) -> str:
    """``method`` when it is one of ``METHODS``, else ``"other"``."""
    return method if method in METHODS else OTHER_METHOD


def observe(method: str, route: str, status: int, seconds: float) -> None:
    """Count one answered request and its latency (``route`` is a template: bounded)."""
    method = method_label(method)
    REQUESTS.labels(method, route, str(status)).inc()
    LATENCY.labels(method, route).observe(seconds)


def exposition() -> tuple[bytes, str]:
    """The text exposition of every worker's metrics (or this process's)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = DEFAULT_REGISTRY
    return generate_latest(registry), CONTENT_TYPE_LATEST
