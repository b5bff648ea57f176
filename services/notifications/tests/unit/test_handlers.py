"""The handlers on the in-memory unit of work: commands built from RPC arguments by
``schemas``, no PostgreSQL or RabbitMQ (those are the integration tests')."""

import pytest

from services.notifications import handlers, schemas
from services.notifications.tests.support import ADMIN, OWNER, ticket_event
from services.notifications.tests.unit.fakes import FakeUnitOfWork
from shared.errors import NotFound, ValidationFailed
from shared.events import parse_event

pytestmark = pytest.mark.unit

KEY = {"key": "k-1", "fingerprint": "a" * 64}


def reply(body="Try again now.", **kw):
    """A public support reply on OWNER's ticket: one notice for OWNER."""
    return parse_event(ticket_event("message_added", body=body, **kw))


def record(uow, *events):
    announced = []
    counts = [handlers.record_notices(e, uow, announced.append) for e in events]
    return counts, announced


def test_an_event_is_stored_and_announced_once_whatever_its_redeliveries():
    uow = FakeUnitOfWork()
    event = reply()
    counts, announced = record(uow, event, event)
    assert counts == [1, 0]
    assert announced == [{"notice_id": 1, "recipient_id": OWNER}]


def test_an_event_that_tells_nobody_claims_nothing():
    uow = FakeUnitOfWork()
    counts, announced = record(uow, reply(internal=True, body=None))
    assert (counts, announced, uow.store.processed) == ([0], [], set())


def test_a_failed_announcement_leaves_the_notice_stored():
    def broken(_body):
        raise ConnectionError("broker gone")

    uow = FakeUnitOfWork()
    assert handlers.record_notices(reply(), uow, broken) == 1
    assert len(uow.store.notices) == 1


def test_a_list_pages_newest_first_with_a_cursor_and_the_unread_count():
    uow = FakeUnitOfWork()
    record(uow, *(reply(body=f"reply {n}") for n in range(3)))
    first = handlers.list_notices(schemas.list_notices_command(OWNER, {"limit": 2}), uow)
    assert [n["id"] for n in first["items"]] == [3, 2] and first["unread_count"] == 3
    params = {"limit": 2, "cursor": first["next_cursor"]}
    rest = handlers.list_notices(schemas.list_notices_command(OWNER, params), uow)
    assert [n["id"] for n in rest["items"]] == [1] and rest["next_cursor"] is None
    assert rest["items"][0]["body"].endswith("reply 0") and rest["items"][0]["read_at"] is None


def test_a_replay_gives_what_came_after_oldest_first():
    uow = FakeUnitOfWork()
    record(uow, *(reply(body=f"reply {n}") for n in range(3)))
    cmd = schemas.list_notices_after_command(OWNER, "1")
    assert cmd.limit == schemas.REPLAY_LIMIT
    answer = handlers.list_notices_after(cmd, uow)
    assert [n["id"] for n in answer["items"]] == [2, 3] and answer["unread_count"] == 3


def test_someone_elses_notice_is_not_found_and_stays_unread():
    uow = FakeUnitOfWork()
    record(uow, reply())
    with pytest.raises(NotFound):
        handlers.get_notice(schemas.get_notice_command(ADMIN, 1), uow)
    with pytest.raises(NotFound):
        handlers.mark_read(schemas.mark_read_command(ADMIN, 1, None), uow)
    assert handlers.count_unread(schemas.count_unread_command(OWNER), uow) == {"unread_count": 1}


def test_marking_read_keeps_the_first_read_time():
    uow = FakeUnitOfWork()
    record(uow, reply())
    first = handlers.mark_read(schemas.mark_read_command(OWNER, "1", None), uow)
    again = handlers.mark_read(schemas.mark_read_command(OWNER, 1, None), uow)
    assert first["read_at"] is not None and again["read_at"] == first["read_at"]
    assert handlers.get_notice(schemas.get_notice_command(OWNER, 1), uow) == first


def test_a_keyed_mark_all_read_answers_its_repeat_with_the_first_count():
    uow = FakeUnitOfWork()
    record(uow, reply(), reply())
    cmd = schemas.mark_all_read_command(OWNER, KEY)
    assert handlers.mark_all_read(cmd, uow) == {"updated": 2}
    record(uow, reply())  # a new unread notice: the repeat still answers 2, changes nothing
    assert handlers.mark_all_read(cmd, uow) == {"updated": 2}
    assert handlers.count_unread(schemas.count_unread_command(OWNER), uow) == {"unread_count": 1}
    assert uow.commits == 1


def test_a_key_reused_for_another_request_changes_nothing():
    uow = FakeUnitOfWork()
    record(uow, reply(), reply())
    handlers.mark_read(schemas.mark_read_command(OWNER, 1, KEY), uow)
    other = {"key": KEY["key"], "fingerprint": "b" * 64}
    with pytest.raises(ValidationFailed):
        handlers.mark_read(schemas.mark_read_command(OWNER, 2, other), uow)
    assert uow.store.notices[2]["read_at"] is None


def test_commands_are_checked_before_any_handler_runs():
    with pytest.raises(ValidationFailed) as raised:
        schemas.mark_read_command("", "x", {"key": ""})
    assert "recipient_id" in raised.value.details  # the recipient is checked first
    with pytest.raises(ValidationFailed):
        schemas.mark_all_read_command(OWNER, {"key": "k", "fingerprint": "short"})
    with pytest.raises(ValidationFailed):
        schemas.list_notices_command(OWNER, {"limit": 0})
    cmd = schemas.list_notices_command(OWNER, None)
    assert (cmd.unread, cmd.limit, cmd.after) == (False, schemas.DEFAULT_LIMIT, None)
    assert schemas.list_notices_after_command(OWNER, 0).after_id == 0
