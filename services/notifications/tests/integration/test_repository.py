"""The notice repository's event record on the real database (its other statements
are exercised through the RPC and event tests)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from services.notifications.domain import Notice
from services.notifications.tests.support import ADMIN, OWNER, scalar
from services.notifications.unit_of_work import NotificationsUnitOfWork
from shared.crypto import Keyring
from shared.db import Connections

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("clean")]


@pytest.fixture
def uow(engine, data_keys):
    """A unit of work on the service's database."""
    return NotificationsUnitOfWork(Connections(engine), Keyring.from_spec(data_keys))


def _notice(recipient, body="Secret text"):
    return Notice(recipient, "support_reply", 1042, "Support replied to #1042", body)


def _record(uow, event_id, told, action_id=None):
    with uow.autocommit():
        stored = uow.notices.record_event(
            event_id,
            "message_added",
            told,
            action_id=action_id or uuid.uuid4(),
            created_at=datetime.now(UTC),
        )
    return None if stored is None else len(stored)


def test_an_event_is_recorded_with_all_its_notices_sealed_then_never_again(uow, engine):
    event_id = uuid.uuid4()
    told = [_notice(OWNER, "For the owner"), _notice(ADMIN, "For the admin")]
    assert _record(uow, event_id, told) == 2
    assert _record(uow, event_id, told) is None
    assert scalar(engine, "SELECT count(*) FROM processed_events") == 1
    assert scalar(engine, "SELECT count(*) FROM notices") == 2
    with uow.autocommit():
        (mine,), unread = uow.notices.page(OWNER, unread=True, limit=5, after=None)
    assert mine["body"] == "For the owner" and unread == 1
    stored = scalar(engine, "SELECT body FROM notices WHERE id = :id", id=mine["id"])
    assert stored.startswith("hd2:") and "owner" not in stored


def test_one_action_tells_a_recipient_once_across_its_events(uow, engine):
    action_id = uuid.uuid4()
    assert _record(uow, uuid.uuid4(), [_notice(OWNER)], action_id) == 1
    # Another event of the same action is recorded, but adds no second notice.
    assert _record(uow, uuid.uuid4(), [_notice(OWNER)], action_id) == 0
    assert scalar(engine, "SELECT count(*) FROM processed_events") == 2
    assert scalar(engine, "SELECT count(*) FROM notices") == 1


def test_a_page_of_nobody_s_notices_still_counts(uow):
    with uow.autocommit():
        assert uow.notices.page("nobody", unread=False, limit=5, after=None) == ([], 0)
