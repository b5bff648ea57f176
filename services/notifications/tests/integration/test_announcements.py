"""Each stored notice is announced to the stream servers, carrying no text."""

from __future__ import annotations

import contextlib
import queue

import pytest
from kombu import Consumer, Queue

from services.notifications.tests.support import OWNER, ticket_event, wait_for
from shared.announcements import ANNOUNCEMENTS, NOTICE_STORED

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("clean")]


@pytest.fixture
def announcements(broker, service):
    """What the service announces, as a stream server's own queue receives it."""
    received = queue.Queue()
    channel = broker.channel()
    listening = Queue(
        exchange=ANNOUNCEMENTS,
        routing_key=NOTICE_STORED,
        exclusive=True,
        auto_delete=True,
    )
    consumer = Consumer(channel, [listening], callbacks=[lambda body, m: received.put(body)])
    consumer.consume()

    def drain(count, timeout=10.0):
        got = []

        def enough():
            with contextlib.suppress(TimeoutError):
                broker.drain_events(timeout=0.2)
            while not received.empty():
                got.append(received.get())
            return len(got) >= count

        wait_for(enough, timeout=timeout)
        return got

    yield drain
    channel.close()


def test_a_stored_notice_is_announced_once_by_id_and_recipient(
    announcements, publish, engine, rpc_call
):
    envelope = ticket_event("message_added", body="The invoices export is fixed.")
    publish(envelope)
    (body,) = announcements(1)
    assert set(body) == {"notice_id", "recipient_id"}
    assert body["recipient_id"] == OWNER
    notice = rpc_call("get_notice", OWNER, body["notice_id"])
    assert notice["kind"] == "support_reply"
    # A redelivery stores nothing, so announces nothing.
    publish(envelope)
    with pytest.raises(AssertionError):
        announcements(1, timeout=1.5)


def test_replay_lists_what_came_after_an_id_oldest_first(service, publish, rpc_call, engine):
    sent = [ticket_event("message_added", ticket_id=1042 + i) for i in range(3)]
    for envelope in sent:
        publish(envelope)
    wait_for(lambda: rpc_call("unread_count", OWNER)["unread_count"] == 3)
    everything = rpc_call("list_notices_after", OWNER, 0)
    ids = [n["id"] for n in everything["items"]]
    assert ids == sorted(ids) and len(ids) == 3 and everything["unread_count"] == 3
    later = rpc_call("list_notices_after", OWNER, ids[0])
    assert [n["id"] for n in later["items"]] == ids[1:]
    assert rpc_call("list_notices_after", "someone-else", 0)["items"] == []
