"""An owner posts at most HELPDESK_MESSAGES_PER_HOUR messages per ticket per rolling hour."""

from datetime import UTC, datetime, timedelta

import pytest

from services.tickets.tests.integration.conftest import (
    ADMIN,
    USER,
    new_ticket_fields,
    race,
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
    two_instances, settings, db
):
    assert settings.messages_per_hour == 20  # the default
    ticket = run_entrypoint(two_instances[0], "create_ticket", USER, new_ticket_fields())
    posted, limited = race(
        two_instances,
        30,
        lambda container: run_entrypoint(
            container, "add_reply", USER, ticket["id"], {"body": "one more thing"}
        ),
    )
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


def test_the_limit_is_per_ticket_configurable_and_last_in_the_error_order(tickets_with):
    container = tickets_with(HELPDESK_MESSAGES_PER_HOUR=2)
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
