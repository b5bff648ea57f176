"""One rule for writing a moment: ISO 8601 in UTC with ``Z``, at the precision asked for."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from shared.timestamps import iso_utc

pytestmark = pytest.mark.unit

WHOLE = datetime(2026, 3, 1, 23, 30, tzinfo=timezone(timedelta(hours=-2)))
FRACTION = datetime(2026, 3, 1, 23, 30, 5, 120, tzinfo=UTC)


def test_a_moment_is_written_in_utc_with_z():
    assert iso_utc(WHOLE) == "2026-03-02T01:30:00.000000Z"
    assert iso_utc(FRACTION) == "2026-03-01T23:30:05.000120Z"


def test_nothing_stays_nothing():
    assert iso_utc(None) is None
    assert iso_utc(None, timespec="auto") is None


def test_auto_leaves_out_microseconds_only_when_they_are_zero():
    assert iso_utc(WHOLE, timespec="auto") == "2026-03-02T01:30:00Z"
    assert iso_utc(FRACTION, timespec="auto") == "2026-03-01T23:30:05.000120Z"
