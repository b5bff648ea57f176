"""Settling an event's message when the broker's connection drops under it: logged,
never raised (raised, it would kill the whole container)."""

from types import SimpleNamespace

import pytest
from amqp.exceptions import ConnectionForced

from services.notifications.extensions import TicketEvents

pytestmark = pytest.mark.unit


class Message:
    """A delivered message whose settling fails with ``error`` (None: it succeeds)."""

    def __init__(self, error=None, connected=True):
        self.channel = SimpleNamespace(connection=object() if connected else None)
        self.error = error
        self.settled = []
        self.headers = {}

    def ack(self):
        if self.error:
            raise self.error
        self.settled.append("ack")


def _handled(message):
    counted = []
    entrypoint = SimpleNamespace(_count=counted.append)
    answer = TicketEvents.handle_result(entrypoint, message, {}, 0, None, "done", None)
    return answer, counted


@pytest.mark.parametrize(
    "error",
    [ConnectionResetError(104, "Connection reset by peer"), ConnectionForced("broker stopping")],
    ids=["reset", "forced"],
)
def test_an_ack_the_connection_drops_under_is_logged_not_raised(error, caplog):
    answer, counted = _handled(Message(error))
    assert answer == ("done", None)
    assert counted == []  # not counted as handled: the broker delivers it again
    assert "event not settled" in caplog.text


def test_a_handled_event_is_acked_and_counted():
    message = Message()
    assert _handled(message) == (("done", None), ["ok"])
    assert message.settled == ["ack"]


def test_a_message_whose_channel_is_gone_is_left_to_the_broker():
    message = Message(connected=False)
    assert _handled(message) == (("done", None), [])
    assert message.settled == []
