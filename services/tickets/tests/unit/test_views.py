"""Pure helpers of the views: the rate-limit error's details."""

from datetime import UTC, datetime

import pytest

from services.tickets import domain, views

pytestmark = pytest.mark.unit


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


def test_an_hourly_reset_keeps_the_microseconds_of_the_message_it_waits_for():
    reset = datetime(2026, 5, 4, 13, 2, 3, 250000, tzinfo=UTC)
    reached = domain.LimitReached("hourly", reset, 60)
    assert views.rate_limit_details(reached)["reset_at"] == "2026-05-04T13:02:03.250000Z"
