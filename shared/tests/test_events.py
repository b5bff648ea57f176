"""The event contract: envelopes validate, payloads are strict, topology is declared."""

import pytest
from marshmallow import ValidationError

from shared import events

pytestmark = pytest.mark.unit

REF = {
    "ticket_id": 1042,
    "subject": "Cannot export the report",
    "owner_id": "u1",
    "owner_name": "Alice",
    "assignee_id": None,
    "status": "open",
    "actor_id": "u1",
    "actor_name": "Alice",
    "actor_role": "user",
}


def test_make_event_builds_a_valid_envelope():
    event = events.make_event(
        events.TICKET_CREATED,
        {**REF, "issue_type": "bug", "feature": "reports", "priority": "high"},
        action_id="0b6f5d8c-6f0c-4a8e-9f60-1d5e6f0c4a8e",
        request_id="req-1",
    )
    assert event["type"] == "ticket_created" and event["version"] == events.EVENT_VERSION
    assert event["occurred_at"].endswith("Z")
    parsed = events.parse_event(event)
    assert parsed["payload"]["ticket_id"] == 1042


def test_payloads_are_strict():
    with pytest.raises(ValidationError):
        events.make_event(events.MESSAGE_ADDED, {**REF, "surprise": 1}, action_id="x")
    with pytest.raises(ValidationError):
        events.make_event(
            events.STATUS_CHANGED,
            {**REF, "from_status": "open", "to_status": "reopened"},
            action_id="0b6f5d8c-6f0c-4a8e-9f60-1d5e6f0c4a8e",
        )


def test_parse_rejects_unknown_types_and_versions():
    good = events.make_event(
        events.TICKET_ASSIGNED,
        {**REF, "assignee_id": "a1", "assignee_name": "Sam"},
        action_id="0b6f5d8c-6f0c-4a8e-9f60-1d5e6f0c4a8e",
    )
    with pytest.raises(ValidationError):
        events.parse_event({**good, "type": "ticket_deleted"})
    with pytest.raises(ValidationError):
        events.parse_event({**good, "version": 99})


def test_a_consumer_queue_is_bound_to_the_routing_keys_of_its_event_types():
    queue, dead = events.consumer_queues("q", (events.STATUS_CHANGED, events.MESSAGE_ADDED))
    assert events.routing_key(events.STATUS_CHANGED) == "tickets.status_changed"
    assert {b.routing_key for b in queue.bindings} == {
        "tickets.status_changed",
        "tickets.message_added",
    }
    assert (dead.name, dead.exchange.name) == ("q.dead", events.DEAD_LETTER_EXCHANGE.name)
