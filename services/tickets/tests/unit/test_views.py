"""Pure helpers of the views: timestamps and the rate-limit error's details."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from services.tickets import domain, views
from shared.events import iso_utc as iso

pytestmark = pytest.mark.unit


def test_iso_is_utc_with_z():
    moment = datetime(2026, 3, 1, 23, 30, tzinfo=timezone(timedelta(hours=-2)))
    assert iso(moment) == "2026-03-02T01:30:00.000000Z"
    assert iso(None) is None


@pytest.mark.parametrize(
    "now,reset_at,retry_after",
    [
        (datetime(2026, 5, 4, 22, 0, 0, tzinfo=UTC), "2026-05-05T00:00:00Z", "7200"),
        (datetime(2026, 12, 31, 23, 59, 59, 500000, tzinfo=UTC), "2027-01-01T00:00:00Z", "1"),
        (datetime(2026, 5, 4, 0, 0, 0, tzinfo=UTC), "2026-05-05T00:00:00Z", "86400"),
    ],
)
def test_rate_limited_says_when_the_allowance_resets(now, reset_at, retry_after):
    reached = domain.daily_limit_reached(now, 5)
    assert views.rate_limit_details(reached) == {"reset_at": reset_at, "retry_after": retry_after}
    assert "5 tickets" in reached.message
