"""The stream server's bookkeeping of open streams (services/gateway/stream.py)."""

import pytest

from services.gateway.stream import BACKLOG, Streams, last_event_id

pytestmark = pytest.mark.unit


def _drain(events):
    items = []
    while not events.empty():
        items.append(events.get_nowait())
    return items


def test_events_reach_every_stream_of_their_recipient_and_no_other():
    streams = Streams()
    first, second, other = streams.open("ann"), streams.open("ann"), streams.open("bob")
    streams.send("ann", ["notice", "count"])
    assert _drain(first) == _drain(second) == ["notice", "count"]
    assert _drain(other) == []
    streams.close("ann", first)
    streams.close("ann", second)
    assert not streams.connected("ann") and streams.count() == 1


def test_a_stream_too_far_behind_is_ended_not_grown():
    streams = Streams()
    slow = streams.open("ann")
    for _ in range(BACKLOG):
        streams.send("ann", ["notice", "count"])
    # Only the end marker is left (the client replays), and nothing is queued after it.
    assert _drain(slow) == [None]
    assert not streams.connected("ann")


def test_after_a_lost_broker_every_stream_ends():
    streams = Streams()
    opened = [streams.open(who) for who in ("ann", "ann", "bob")]
    streams.send("ann", ["notice"])
    streams.close_all()
    assert [_drain(events) for events in opened] == [[None], [None], [None]]
    assert streams.count() == 0


@pytest.mark.parametrize(
    ("header", "expected"),
    [(None, None), ("42", 42), (" 7 ", 7), ("0", 0), ("-1", None), ("x", None), ("9" * 19, None)],
)
def test_last_event_id_is_a_notice_id_or_nothing(header, expected):
    assert last_event_id(header) == expected
