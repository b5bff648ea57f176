"""The service metrics' rules that need no running service."""

import pytest
from prometheus_client import REGISTRY

from shared import metrics
from shared.errors import NotFound, StorageUnavailable, ValidationFailed

pytestmark = pytest.mark.unit


def _exc_info(error):
    return (type(error), error, None)


def test_a_call_is_ok_refused_or_failed():
    assert metrics.outcome_of(None) == "ok"
    assert metrics.outcome_of(_exc_info(NotFound("no"))) == "refused"
    assert metrics.outcome_of(_exc_info(ValidationFailed("bad"))) == "refused"
    # The service's own trouble, though typed: failed, as is anything untyped.
    assert metrics.outcome_of(_exc_info(StorageUnavailable("down"))) == "failed"
    assert metrics.outcome_of(_exc_info(RuntimeError("bug"))) == "failed"


def test_an_events_lag_and_redelivery_are_recorded():
    labels = {"service": "svc-test", "queue": "q-test"}
    before = REGISTRY.get_sample_value(
        "helpdesk_event_lag_seconds_bucket", {**labels, "le": "30.0"}
    )
    metrics.observe_event("svc-test", "q-test", "2000-01-01T00:00:00.000000Z", redelivered=True)
    metrics.observe_event("svc-test", "q-test", "not a time", redelivered=False)
    assert REGISTRY.get_sample_value("helpdesk_event_redeliveries_total", labels) == 1
    # One observation (the unreadable time is skipped), decades late: past every bucket.
    assert REGISTRY.get_sample_value("helpdesk_event_lag_seconds_count", labels) == 1
    assert (before or 0) == REGISTRY.get_sample_value(
        "helpdesk_event_lag_seconds_bucket", {**labels, "le": "3600.0"}
    )


def test_scheduler_lag_is_never_negative():
    metrics.record_scheduler_lag("svc-test", "job", -3.0)
    assert (
        REGISTRY.get_sample_value(
            "helpdesk_scheduler_lag_seconds", {"service": "svc-test", "job": "job"}
        )
        == 0
    )
    metrics.record_scheduler_lag("svc-test", "job", 42.5)
    assert (
        REGISTRY.get_sample_value(
            "helpdesk_scheduler_lag_seconds", {"service": "svc-test", "job": "job"}
        )
        == 42.5
    )


def test_every_gauge_has_help_and_is_listed():
    assert set(metrics.GAUGES) <= metrics.METRIC_NAMES
    family = metrics.gauge(metrics.QUEUE_MESSAGES, {"queue": "q"}, 3)
    assert family.documentation and family.samples[0].value == 3
