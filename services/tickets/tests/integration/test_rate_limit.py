"""The daily allowance is exact under races across service instances."""

from datetime import UTC, datetime

import pytest

from services.tickets.tests.integration.conftest import (
    OTHER_USER,
    USER,
    new_ticket_fields,
    race,
    run_entrypoint,
)
from shared.errors import RateLimited, ValidationFailed

pytestmark = pytest.mark.integration


def _create_in(container, actor, fields):
    try:
        return run_entrypoint(container, "create_ticket", actor, fields)
    except RateLimited as exc:
        return exc


def test_twenty_racing_creates_across_two_instances_exactly_five_succeed(two_instances, db):
    containers = two_instances
    created, limited = race(
        containers,
        20,
        lambda container: run_entrypoint(container, "create_ticket", USER, new_ticket_fields()),
    )
    assert (len(created), len(limited)) == (5, 15)
    assert db.execute("SELECT count(*) FROM tickets").fetchone()[0] == 5
    assert db.execute("SELECT n FROM ticket_allowance").fetchone()[0] == 5
    # Another user still has a full allowance.
    assert isinstance(_create_in(containers[0], OTHER_USER, new_ticket_fields()), dict)

    details = limited[0].details
    reset = datetime.fromisoformat(details["reset_at"])
    now = datetime.now(UTC)
    assert details["reset_at"].endswith("T00:00:00Z")
    assert reset.date() > now.date() and (reset - now).total_seconds() <= 86400
    assert abs(int(details["retry_after"]) - (reset - now).total_seconds()) < 5


def test_rejected_attempts_spend_nothing(call, settings, db):
    with pytest.raises(ValidationFailed):
        call("create_ticket", USER, new_ticket_fields(subject="short"))
    for _ in range(settings.tickets_per_day):
        call("create_ticket", USER, new_ticket_fields())
    with pytest.raises(RateLimited):
        call("create_ticket", USER, new_ticket_fields())
    assert db.execute("SELECT n FROM ticket_allowance").fetchone()[0] == settings.tickets_per_day
    # ValidationFailed wins over RateLimited.
    with pytest.raises(ValidationFailed):
        call("create_ticket", USER, new_ticket_fields(description="too short"))


def test_the_limit_is_configurable(tickets_with):
    container = tickets_with(HELPDESK_TICKETS_PER_DAY=2)
    results = [_create_in(container, USER, new_ticket_fields()) for _ in range(3)]
    assert [isinstance(r, dict) for r in results] == [True, True, False]
    assert "2 tickets" in results[2].message
