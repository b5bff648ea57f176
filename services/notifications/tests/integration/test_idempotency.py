"""Keyed read marks: a repeat gets the first answer again (real RPC, real PostgreSQL)."""

from __future__ import annotations

import pytest

from services.notifications.tests.support import OWNER, scalar, ticket_event, wait_for
from shared.errors import NotFound, ValidationFailed
from shared.idempotency import HEADER, fingerprint

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("clean")]


def keyed(key, route, path_ids=None):
    return {"key": key, "fingerprint": fingerprint("POST", route, path_ids or {}, {})}


@pytest.fixture
def notices(service, publish, engine, rpc_call):
    """Three unread support-reply notices of OWNER, newest first."""
    for ticket in (1, 2, 3):
        publish(ticket_event("message_added", ticket_id=ticket, owner_id=OWNER))
    wait_for(lambda: scalar(engine, "SELECT count(*) FROM notices") == 3)
    return rpc_call("list_notices", OWNER, {})["items"]


def test_read_all_repeated_answers_with_the_first_count(notices, rpc_call, publish, engine):
    key = keyed("all-1", "/api/v1/notifications/read-all")
    assert rpc_call("mark_all_read", OWNER, key) == {"updated": 3}
    publish(ticket_event("message_added", ticket_id=4, owner_id=OWNER))
    wait_for(lambda: scalar(engine, "SELECT count(*) FROM notices") == 4)
    # The repeat changes nothing: the first answer, and the new notice stays unread.
    assert rpc_call("mark_all_read", OWNER, key) == {"updated": 3}
    assert rpc_call("unread_count", OWNER) == {"unread_count": 1}
    assert rpc_call("mark_all_read", OWNER, None) == {"updated": 1}
    assert rpc_call("mark_all_read", "someone-else", key) == {"updated": 0}  # per caller


def test_mark_read_repeated_answers_with_the_first_notice(notices, rpc_call):
    notice = notices[0]
    route = "/api/v1/notifications/{notice_id}/read"
    key = keyed("one-1", route, {"notice_id": notice["id"]})
    first = rpc_call("mark_read", OWNER, notice["id"], key)
    assert first["read_at"] is not None
    assert rpc_call("mark_read", OWNER, notice["id"], key) == first
    other = notices[1]
    with pytest.raises(ValidationFailed) as refused:  # the same key for another notice
        rpc_call("mark_read", OWNER, other["id"], keyed("one-1", route, {"notice_id": other["id"]}))
    assert list(refused.value.details) == [HEADER]
    with pytest.raises(NotFound):  # not the caller's: 404 first, nothing stored
        rpc_call("mark_read", "someone-else", notice["id"], key)
    assert rpc_call("unread_count", OWNER) == {"unread_count": 2}
