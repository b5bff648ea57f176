"""An owner posts at most HELPDESK_MESSAGES_PER_HOUR messages per ticket per rolling hour."""

from datetime import UTC, datetime, timedelta

import eventlet
import pytest
from nameko.testing.utils import get_container

from services.tickets.service import TicketsService
from services.tickets.tests.integration.conftest import (
    ADMIN,
    USER,
    new_ticket_fields,
    run_entrypoint,
)
from shared.errors import Conflict, RateLimited, ValidationFailed

pytestmark = pytest.mark.integration


def _reply_in(container, actor, ticket_id, body="one more thing"):
    try:
        return run_entrypoint(container, "add_reply", actor, ticket_id, {"body": body})
    except RateLimited as exc:
        return exc


def test_thirty_racing_replies_across_two_instances_exactly_twenty_succeed(
    runner_factory, settings, db
):
    assert settings.messages_per_hour == 20  # the default
    containers = []
    for _ in range(2):
        runner = runner_factory(settings.nameko_config(), TicketsService)
        runner.start()
        containers.append(get_container(runner, TicketsService))
    ticket = run_entrypoint(containers[0], "create_ticket", USER, new_ticket_fields())
    pool = eventlet.GreenPool(30)
    results = list(pool.imap(lambda i: _reply_in(containers[i % 2], USER, ticket["id"]), range(30)))
    posted = [r for r in results if isinstance(r, dict)]
    limited = [r for r in results if isinstance(r, RateLimited)]
    assert (len(posted), len(limited)) == (20, 10)
    assert db.execute("SELECT count(*) FROM messages").fetchone()[0] == 20

    # Allowed again when the oldest message in the window leaves it.
    oldest = db.execute("SELECT min(created_at) FROM messages").fetchone()[0]
    details = limited[-1].details
    assert datetime.fromisoformat(details["reset_at"]) == oldest + timedelta(hours=1)
    expected = (oldest + timedelta(hours=1) - datetime.now(UTC)).total_seconds()
    assert abs(int(details["retry_after"]) - expected) < 5
    assert "20 messages" in limited[-1].message


def test_the_window_rolls(call, db, settings):
    ticket = call("create_ticket", USER, new_ticket_fields())
    for _ in range(settings.messages_per_hour):
        call("add_reply", USER, ticket["id"], {"body": "again"})
    with pytest.raises(RateLimited):
        call("add_reply", USER, ticket["id"], {"body": "again"})
    # The oldest one is now 59 minutes old: one more is allowed in a minute.
    db.execute(
        "UPDATE messages SET created_at = clock_timestamp() - interval '59 minutes' "
        "WHERE id = (SELECT min(id) FROM messages)"
    )
    with pytest.raises(RateLimited) as err:
        call("add_reply", USER, ticket["id"], {"body": "again"})
    assert 55 <= int(err.value.details["retry_after"]) <= 60
    # Once it has left the window, the owner may post exactly one more.
    db.execute(
        "UPDATE messages SET created_at = clock_timestamp() - interval '61 minutes' "
        "WHERE id = (SELECT min(id) FROM messages)"
    )
    call("add_reply", USER, ticket["id"], {"body": "again"})
    with pytest.raises(RateLimited):
        call("add_reply", USER, ticket["id"], {"body": "again"})


def test_support_is_not_limited_and_does_not_count(call, settings):
    ticket = call("create_ticket", USER, new_ticket_fields())
    for i in range(settings.messages_per_hour + 5):
        call(
            "admin_add_message", ADMIN, ticket["id"], {"body": f"note {i}", "internal": i % 2 == 1}
        )
    # Support's messages spend none of the owner's.
    for _ in range(settings.messages_per_hour):
        call("add_reply", USER, ticket["id"], {"body": "mine"})
    with pytest.raises(RateLimited):
        call("add_reply", USER, ticket["id"], {"body": "mine"})
    # An admin replying as the owner of their own ticket is support staff: not limited.
    own = call("create_ticket", ADMIN, new_ticket_fields())
    for _ in range(settings.messages_per_hour + 2):
        call("add_reply", ADMIN, own["id"], {"body": "mine"})


def test_the_limit_is_per_ticket_configurable_and_last_in_the_error_order(
    container_factory, make_settings, amqp_url, tickets_database_url, data_keys
):
    settings = make_settings(
        HELPDESK_AMQP_URL=amqp_url,
        HELPDESK_TICKETS_DATABASE_URL=tickets_database_url,
        HELPDESK_DATA_KEYS=data_keys,
        HELPDESK_MESSAGES_PER_HOUR=2,
    )
    container = container_factory(TicketsService, settings.nameko_config())
    container.start()
    first = run_entrypoint(container, "create_ticket", USER, new_ticket_fields())
    second = run_entrypoint(container, "create_ticket", USER, new_ticket_fields())
    results = [_reply_in(container, USER, first["id"]) for _ in range(3)]
    assert [isinstance(r, dict) for r in results] == [True, True, False]
    assert isinstance(_reply_in(container, USER, second["id"]), dict)  # per ticket
    catalog = run_entrypoint(container, "get_catalog")
    assert catalog["limits"]["messages_per_hour"] == 2
    # ValidationFailed, then Conflict, win over RateLimited.
    with pytest.raises(ValidationFailed):
        run_entrypoint(container, "add_reply", USER, first["id"], {"body": ""})
    run_entrypoint(container, "close_ticket", USER, first["id"], {})
    with pytest.raises(Conflict):
        run_entrypoint(container, "add_reply", USER, first["id"], {"body": "late"})
