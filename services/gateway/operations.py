"""The operations routes' resources: ``/healthz``, ``/readyz``, ``/metrics``
(``/openapi.json`` is a ``resources.Document``)."""

from __future__ import annotations

import threading
import time

import falcon

from services.gateway import metrics
from services.gateway.errors import CODE_BY_STATUS, UNAVAILABLE_RETRY_AFTER, error_body
from services.gateway.rpc import SERVICES


class Health:
    """``GET /healthz``: the process is up."""

    def on_get(self, req, resp):
        resp.media = {"status": "ok"}


# How old an answer of /readyz may be: a burst of callers (or of probes from many
# load balancers) costs one check of the broker and services a second, not one each.
READY_MAX_AGE = 1.0


class Ready:
    """``GET /readyz``: the broker and each service answer; else 503 naming what failed.

    One check at a time: a caller that finds the last result older than
    ``READY_MAX_AGE`` runs the check while the others wait for it and share its
    result. The answer names what failed, never an exception's text (it may carry
    addresses or credentials of the broker).
    """

    def __init__(self, clients):
        self.clients = clients
        self._lock = threading.Lock()
        self._checked_at = None
        self._failed: tuple = ()

    def _check(self) -> tuple:
        try:
            self.clients.check_broker()
        except Exception:  # any fault means not ready; what it was goes to no one
            return ("broker",)
        failed = []
        for service in SERVICES:
            try:
                self.clients.ping(service)
            except Exception:
                failed.append(service)
        return tuple(failed)

    def failed(self) -> tuple:
        """What failed in a check at most ``READY_MAX_AGE`` old (empty when ready)."""
        with self._lock:
            now = time.monotonic()
            if self._checked_at is None or now - self._checked_at >= READY_MAX_AGE:
                self._failed = self._check()
                self._checked_at = now
            return self._failed

    def on_get(self, req, resp):
        failed = self.failed()
        if failed:
            resp.status = falcon.HTTP_503
            resp.set_header("Retry-After", str(UNAVAILABLE_RETRY_AFTER))
            resp.media = error_body(
                CODE_BY_STATUS[503],
                "Not ready: " + ", ".join(failed),
                dict.fromkeys(failed, "unavailable"),
            )
            return
        resp.media = {"status": "ok"}


class Metrics:
    """``GET /metrics``: Prometheus text exposition."""

    def on_get(self, req, resp):
        resp.data, resp.content_type = metrics.exposition()
