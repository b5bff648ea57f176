"""The RPC interface over real RabbitMQ, on notices made from real events."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from services.notifications.schemas import encode_cursor
from services.notifications.tests.support import (
    ADMIN,
    OTHER_ADMIN,
    OWNER,
    scalar,
    ticket_event,
    wait_for,
)
from shared.errors import NotFound, ValidationFailed

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("clean")]


@pytest.fixture
def seed(service, publish, engine):
    """Make ``n`` support-reply notices for ``recipient`` (tickets 1..n, oldest first)."""

    def make(n, recipient=OWNER):
        before = scalar(engine, "SELECT count(*) FROM notices")
        for ticket in range(1, n + 1):
            publish(ticket_event("message_added", ticket_id=ticket, owner_id=recipient))
        wait_for(lambda: scalar(engine, "SELECT count(*) FROM notices") == before + n)

    return make


def test_ping(service, rpc_call):
    assert rpc_call("ping") == "pong"


def test_list_is_newest_first_and_pages_by_cursor(seed, rpc_call):
    seed(25)
    first = rpc_call("list_notices", OWNER, {"limit": 10})
    assert first["unread_count"] == 25
    assert [n["ticket_id"] for n in first["items"]] == list(range(25, 15, -1))
    item = first["items"][0]
    assert set(item) == {"id", "kind", "ticket_id", "title", "body", "created_at", "read_at"}
    assert item["title"] == "Support replied to #25" and item["kind"] == "support_reply"
    assert item["body"] == "Cannot export my invoices\n\nTry again now."
    assert item["created_at"].endswith("Z") and item["read_at"] is None
    second = rpc_call("list_notices", OWNER, {"limit": 10, "cursor": first["next_cursor"]})
    third = rpc_call("list_notices", OWNER, {"limit": 10, "cursor": second["next_cursor"]})
    seen = [n["ticket_id"] for page in (first, second, third) for n in page["items"]]
    assert seen == list(range(25, 0, -1))
    assert third["next_cursor"] is None


def test_default_limit_is_twenty(seed, rpc_call):
    seed(21)
    page = rpc_call("list_notices", OWNER, {})
    assert len(page["items"]) == 20 and page["next_cursor"]
    assert len(rpc_call("list_notices", OWNER)["items"]) == 20


def test_each_recipient_sees_only_their_own(seed, rpc_call):
    seed(2)
    seed(3, recipient="user-2")
    assert len(rpc_call("list_notices", OWNER, {})["items"]) == 2
    assert rpc_call("unread_count", "user-2") == {"unread_count": 3}
    assert rpc_call("list_notices", "nobody", {}) == {
        "items": [],
        "next_cursor": None,
        "unread_count": 0,
    }


def test_mark_read_unread_filter_and_count(seed, rpc_call):
    seed(3)
    newest = rpc_call("list_notices", OWNER, {})["items"][0]
    marked = rpc_call("mark_read", OWNER, newest["id"])
    assert marked["id"] == newest["id"] and marked["read_at"].endswith("Z")
    assert rpc_call("unread_count", OWNER) == {"unread_count": 2}
    unread = rpc_call("list_notices", OWNER, {"unread": True})
    assert [n["ticket_id"] for n in unread["items"]] == [2, 1]
    assert unread["unread_count"] == 2
    # Marking again keeps the first read time.
    assert rpc_call("mark_read", OWNER, str(newest["id"]))["read_at"] == marked["read_at"]


def test_mark_read_of_someone_elses_notice_is_not_found(seed, rpc_call):
    seed(1)
    (notice,) = rpc_call("list_notices", OWNER, {})["items"]
    with pytest.raises(NotFound):
        rpc_call("mark_read", "user-2", notice["id"])
    with pytest.raises(NotFound):
        rpc_call("mark_read", OWNER, notice["id"] + 1000)
    assert rpc_call("unread_count", OWNER) == {"unread_count": 1}


def test_get_notice_reads_one_of_ones_own_and_changes_nothing(seed, rpc_call):
    seed(1)
    (notice,) = rpc_call("list_notices", OWNER, {})["items"]
    assert rpc_call("get_notice", OWNER, str(notice["id"])) == notice
    assert rpc_call("unread_count", OWNER) == {"unread_count": 1}
    for recipient, notice_id in (("user-2", notice["id"]), (OWNER, notice["id"] + 1000)):
        with pytest.raises(NotFound):
            rpc_call("get_notice", recipient, notice_id)
    with pytest.raises(ValidationFailed):
        rpc_call("get_notice", OWNER, 0)


def test_mark_all_read(seed, rpc_call):
    seed(4)
    seed(2, recipient="user-2")
    assert rpc_call("mark_all_read", OWNER) == {"updated": 4}
    assert rpc_call("unread_count", OWNER) == {"unread_count": 0}
    assert rpc_call("mark_all_read", OWNER) == {"updated": 0}
    assert rpc_call("unread_count", "user-2") == {"unread_count": 2}


@pytest.mark.parametrize(
    ("method", "args", "field"),
    [
        ("list_notices", (OWNER, {"limit": 0}), "limit"),
        ("list_notices", (OWNER, {"limit": 101}), "limit"),
        ("list_notices", (OWNER, {"limit": "many"}), "limit"),
        ("list_notices", (OWNER, {"unread": "perhaps"}), "unread"),
        ("list_notices", (OWNER, {"cursor": "not-a-cursor"}), "cursor"),
        ("list_notices", (OWNER, {"colour": "red"}), "colour"),
        ("list_notices", (OWNER, ["limit"]), "params"),
        ("list_notices", ("", {}), "recipient_id"),
        ("unread_count", (None,), "recipient_id"),
        ("mark_read", (OWNER, "abc"), "notice_id"),
        ("mark_read", (OWNER, 0), "notice_id"),
        ("mark_read", (OWNER, 2**63), "notice_id"),
        ("list_notices", (OWNER, {"cursor": encode_cursor(datetime.now(UTC), 2**63)}), "cursor"),
    ],
)
def test_bad_params_are_validation_failed(service, rpc_call, method, args, field):
    with pytest.raises(ValidationFailed) as err:
        rpc_call(method, *args)
    assert field in err.value.details


def test_unread_count_and_unread_list_read_only_the_partial_index(engine):
    """At scale neither the count nor the unread list visits read notices: both are
    served by the partial index on unread rows (200k read notices, 5k unread)."""
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                """
                INSERT INTO notices (id, recipient_id, kind, ticket_id, title, body,
                                     event_id, action_id, created_at, read_at)
                SELECT nextval('notices_id_seq'), 'user-' || (g % 5000), 'support_reply', g,
                       'Support replied to #' || g, 'hd2:t1:sealed', gen_random_uuid(),
                       gen_random_uuid(), now(), CASE WHEN g > 5000 THEN now() END
                FROM generate_series(1, 205000) AS g
                """
            )
        )
        conn.execute(sa.text("ANALYZE notices"))

        def plan(query):
            return "\n".join(conn.execute(sa.text("EXPLAIN " + query)).scalars())

        count = plan(
            "SELECT count(*) FROM notices WHERE recipient_id = 'user-42' AND read_at IS NULL"
        )
        unread_page = plan(
            "SELECT * FROM notices WHERE recipient_id = 'user-42' AND read_at IS NULL "
            "ORDER BY created_at DESC, id DESC LIMIT 21"
        )
    assert "notices_recipient_unread_newest" in count, count
    assert "notices_recipient_unread_newest" in unread_page, unread_page


def test_notices_of_one_ticket_for_two_people(service, publish, engine, rpc_call):
    # An owner reply tells the assignee; a later assignment tells the new assignee.
    reply = ticket_event(
        "message_added", author="user", actor_id=OWNER, actor_role="user", assignee_id=ADMIN
    )
    assigned = ticket_event("ticket_assigned", assignee_id=OTHER_ADMIN, action_id=str(uuid.uuid4()))
    publish(reply)
    publish(assigned)
    wait_for(lambda: scalar(engine, "SELECT count(*) FROM notices") == 2)
    assert [n["kind"] for n in rpc_call("list_notices", ADMIN, {})["items"]] == ["user_reply"]
    assert [n["kind"] for n in rpc_call("list_notices", OTHER_ADMIN, {})["items"]] == [
        "ticket_assigned"
    ]
    assert rpc_call("list_notices", OWNER, {})["items"] == []
