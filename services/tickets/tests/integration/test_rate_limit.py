"""The daily allowance is exact under races across service instances."""

from datetime import UTC, datetime

import eventlet
import pytest
from nameko.testing.utils import get_container

from services.tickets.service import TicketsService
from services.tickets.tests.integration.conftest import (
    OTHER_USER,
    USER,
    new_ticket_fields,
    run_entrypoint,
)
from shared.errors import RateLimited, ValidationFailed

pytestmark = pytest.mark.integration


def _create_in(container, actor, fields):
    try:
        return run_entrypoint(container, "create_ticket", actor, fields)
    except RateLimited as exc:
        return exc


def test_twenty_racing_creates_across_two_instances_exactly_five_succeed(
    runner_factory, settings, db
):
    containers = []
    for _ in range(2):
        runner = runner_factory(settings.nameko_config(), TicketsService)
        runner.start()
        containers.append(get_container(runner, TicketsService))
    pool = eventlet.GreenPool(20)
    results = list(
        pool.imap(
            lambda i: _create_in(containers[i % 2], USER, new_ticket_fields()),
            range(20),
        )
    )
    created = [r for r in results if isinstance(r, dict)]
    limited = [r for r in results if isinstance(r, RateLimited)]
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


def test_the_limit_is_configurable(
    container_factory, make_settings, amqp_url, tickets_database_url, data_keys
):
    settings = make_settings(
        HELPDESK_AMQP_URL=amqp_url,
        HELPDESK_TICKETS_DATABASE_URL=tickets_database_url,
        HELPDESK_DATA_KEYS=data_keys,
        HELPDESK_TICKETS_PER_DAY=2,
    )
    container = container_factory(TicketsService, settings.nameko_config())
    container.start()
    results = [_create_in(container, USER, new_ticket_fields()) for _ in range(3)]
    assert [isinstance(r, dict) for r in results] == [True, True, False]
    assert "2 tickets" in results[2].message
