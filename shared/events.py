"""The event contract between the service that owns tickets and its consumers.

Every event is an envelope (``EventEnvelope``): ``event_id`` (UUID, the consumer's
idempotency key), ``type``, ``version``, ``occurred_at``, ``source``, ``request_id``,
``action_id`` (shared by every event one command produced) and a ``payload`` whose
schema depends on ``type`` (``PAYLOAD_SCHEMAS``). The events' one source (``SOURCE``)
writes envelopes to its outbox in the same transaction as the change; the relay publishes
them, persistent and confirmed, to the ``helpdesk.events`` topic exchange with the
routing key ``<source>.<type>``.

Privacy rule: an internal note's text never travels in an event; ``message_added``
for an internal note has ``internal: true`` and ``body: null``.

The exchanges are declared here (``declare_topology``); each consumer builds its
queues with ``consumer_queues`` and declares them itself, and ``helpdesk-setup``
declares every consumer's queues before any service starts, so an event committed
before its consumer ever ran still waits in its durable queue. A service whose own
broker user may not configure them (``tools/access.py``) calls ``ensure_topology``,
which then only checks that ``helpdesk-setup`` declared them.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from amqp.exceptions import AccessRefused, NotFound
from kombu import Exchange, Queue, binding
from marshmallow import Schema, fields, validate

from shared.catalog import ACTORS, AUTHORS, PRIORITIES, RESPONSES, STATUS_KEYS
from shared.timestamps import iso_utc

EVENT_VERSION = 1
SOURCE = "tickets"

TICKET_CREATED = "ticket_created"
MESSAGE_ADDED = "message_added"
STATUS_CHANGED = "status_changed"
TICKET_ASSIGNED = "ticket_assigned"
TICKET_CLOSED = "ticket_closed"
# A ticket's owed response reached 80% of its target / passed its due time.
SLA_WARNING = "sla_warning"
SLA_BREACHED = "sla_breached"
PRIORITY_CHANGED = "priority_changed"
# Scheduled work's reminders to a ticket's owner (actor_role "system").
CLOSING_SOON = "closing_soon"
AWAITING_REMINDER = "awaiting_reminder"
EVENT_TYPES = (
    TICKET_CREATED,
    MESSAGE_ADDED,
    STATUS_CHANGED,
    TICKET_ASSIGNED,
    TICKET_CLOSED,
    SLA_WARNING,
    SLA_BREACHED,
    PRIORITY_CHANGED,
    CLOSING_SOON,
    AWAITING_REMINDER,
)

# --- broker topology -------------------------------------------------------------
EVENTS_EXCHANGE = Exchange("helpdesk.events", type="topic", durable=True)
DEAD_LETTER_EXCHANGE = Exchange("helpdesk.dead", type="direct", durable=True)
# After this many deliveries a message is dead-lettered instead of looping forever.
DELIVERY_LIMIT = 5


def routing_key(event_type: str) -> str:
    """The routing key an event of ``event_type`` is published with."""
    return f"{SOURCE}.{event_type}"


def consumer_queues(name: str, event_types) -> tuple[Queue, Queue]:
    """A consumer's durable queue for ``event_types``, and the queue its dead letters go to.

    Bound to those types only: an event the consumer never acts on is never written to
    the replicated queue, delivered, parsed and acked. Quorum queues replicate across
    a RabbitMQ cluster and count redeliveries; past ``DELIVERY_LIMIT`` a message goes
    to ``<name>.dead``.
    """
    queue = Queue(
        name,
        bindings=[binding(EVENTS_EXCHANGE, routing_key=routing_key(t)) for t in event_types],
        durable=True,
        queue_arguments={
            "x-queue-type": "quorum",
            "x-delivery-limit": DELIVERY_LIMIT,
            "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE.name,
            "x-dead-letter-routing-key": name,
        },
    )
    dead = Queue(
        f"{name}.dead",
        exchange=DEAD_LETTER_EXCHANGE,
        routing_key=name,
        durable=True,
        queue_arguments={"x-queue-type": "quorum"},
    )
    return queue, dead


def declare_topology(connection, queues=()) -> None:
    """Declare both exchanges and ``queues`` with their bindings (idempotent).

    The relay declares the exchanges it publishes to; each consumer declares its own
    queues; ``helpdesk-setup`` declares every service's queues before any service
    starts, so an event committed before its consumer first ran still waits for it.
    """
    channel = connection.channel()
    try:
        for exchange in (EVENTS_EXCHANGE, DEAD_LETTER_EXCHANGE):
            exchange.bind(channel).declare()
        for queue in queues:
            queue.bind(channel).declare()
    finally:
        channel.close()


class TopologyMissing(RuntimeError):
    """The broker lacks part of the topology and this user may not declare it."""


def ensure_topology(connection, queues=()) -> None:
    """``declare_topology`` where this broker user may configure it (local runs,
    ``helpdesk-setup``); a service's own, restricted user instead checks, with passive
    declares (which need no permission), that ``helpdesk-setup`` declared it all."""
    try:
        declare_topology(connection, queues)
        return
    except AccessRefused:
        pass
    for kind, name in (
        *(("exchange", exchange.name) for exchange in (EVENTS_EXCHANGE, DEAD_LETTER_EXCHANGE)),
        *(("queue", queue.name) for queue in queues),
    ):
        channel = connection.channel()  # a refused or missing name closes the channel
        try:
            if kind == "exchange":
                channel.exchange_declare(name, "topic", passive=True)
            else:
                channel.queue_declare(name, passive=True)
        except NotFound:
            raise TopologyMissing(
                f"the broker has no {kind} {name!r}: run helpdesk-setup first"
            ) from None
        finally:
            channel.close()


def queue_depth(connection, name: str) -> tuple[int, int]:
    """``(messages ready, consumers)`` of queue ``name``, as the broker counts them.

    A passive declare: it needs no permission, changes nothing, and works without
    the management plugin.
    """
    channel = connection.channel()
    try:
        _, messages, consumers = channel.queue_declare(name, passive=True)
        return messages, consumers
    finally:
        channel.close()


# --- schemas ----------------------------------------------------------------------
class _Strict(Schema):
    class Meta:
        ordered = True


class TicketRef(_Strict):
    """Who and what every ticket event is about, so consumers need no lookup."""

    ticket_id = fields.Integer(required=True, validate=validate.Range(min=1))
    subject = fields.String(required=True)
    owner_id = fields.String(required=True)
    owner_name = fields.String(allow_none=True, load_default=None)
    assignee_id = fields.String(allow_none=True, load_default=None)
    status = fields.String(required=True, validate=validate.OneOf(STATUS_KEYS))
    actor_id = fields.String(allow_none=True, load_default=None)  # None for the system
    actor_name = fields.String(allow_none=True, load_default=None)
    actor_role = fields.String(required=True, validate=validate.OneOf(ACTORS))


# Who hears of work nobody holds (the team's members, or every known staff member
# when no team is routed), computed by the events' source when the action happens:
# consumers read none of its tables.
def _team_member_ids():
    return fields.List(fields.String(), load_default=list)


class TicketCreatedPayload(TicketRef):
    issue_type = fields.String(required=True)
    feature = fields.String(required=True)
    priority = fields.String(required=True, validate=validate.OneOf(PRIORITIES))
    team_key = fields.String(allow_none=True, load_default=None)
    # Empty when someone holds it on arrival (round robin, fewest open).
    team_member_ids = _team_member_ids()


class MessageAddedPayload(TicketRef):
    message_id = fields.Integer(required=True)
    author = fields.String(required=True, validate=validate.OneOf(AUTHORS))
    internal = fields.Boolean(required=True)
    # None whenever ``internal`` is true: internal notes' text never leaves the service.
    body = fields.String(allow_none=True, required=True)
    # An owner's reply on a ticket nobody holds: its team hears (empty otherwise).
    team_member_ids = _team_member_ids()
    # Set when the reply resolved the ticket in the same action (its one notice says so).
    resolution_note = fields.String(allow_none=True, load_default=None)


class StatusChangedPayload(TicketRef):
    from_status = fields.String(required=True, validate=validate.OneOf(STATUS_KEYS))
    to_status = fields.String(required=True, validate=validate.OneOf(STATUS_KEYS))
    resolution_note = fields.String(allow_none=True, load_default=None)
    # Set when a message caused the move (owner reply, first support reply): the
    # message's own event already tells everyone who should hear of it.
    caused_by_message_id = fields.Integer(allow_none=True, load_default=None)


class TicketAssignedPayload(TicketRef):
    assignee_name = fields.String(allow_none=True, load_default=None)
    previous_assignee_id = fields.String(allow_none=True, load_default=None)


class TicketClosedPayload(TicketRef):
    from_status = fields.String(required=True, validate=validate.OneOf(STATUS_KEYS))
    note = fields.String(allow_none=True, load_default=None)


class SlaPayload(TicketRef):
    """A response clock's warning or breach (``actor_role`` system). Support hears of
    it: the assignee, or ``team_member_ids`` (computed by the events' source when the
    event is made) when nobody holds the ticket."""

    response = fields.String(required=True, validate=validate.OneOf(RESPONSES))
    priority = fields.String(required=True, validate=validate.OneOf(PRIORITIES))
    due_at = fields.String(required=True)
    at = fields.String(required=True)  # when the clock was judged at risk / past due
    team_member_ids = fields.List(fields.String(), load_default=list)


class PriorityChangedPayload(TicketRef):
    from_priority = fields.String(required=True, validate=validate.OneOf(PRIORITIES))
    to_priority = fields.String(required=True, validate=validate.OneOf(PRIORITIES))
    reason = fields.String(required=True)


class ClosingSoonPayload(TicketRef):
    """A resolved ticket the system will close at ``closes_at`` unless its owner
    writes; ``reminded_at``: when this reminder was sent."""

    closes_at = fields.String(required=True)  # ISO 8601 UTC
    reminded_at = fields.String(required=True)  # ISO 8601 UTC


class AwaitingReminderPayload(TicketRef):
    """A ticket that has waited for its owner's answer since ``waiting_since``."""

    waiting_since = fields.String(required=True)  # ISO 8601 UTC


PAYLOAD_SCHEMAS = {
    TICKET_CREATED: TicketCreatedPayload,
    MESSAGE_ADDED: MessageAddedPayload,
    STATUS_CHANGED: StatusChangedPayload,
    TICKET_ASSIGNED: TicketAssignedPayload,
    TICKET_CLOSED: TicketClosedPayload,
    SLA_WARNING: SlaPayload,
    SLA_BREACHED: SlaPayload,
    PRIORITY_CHANGED: PriorityChangedPayload,
    CLOSING_SOON: ClosingSoonPayload,
    AWAITING_REMINDER: AwaitingReminderPayload,
}


class EventEnvelope(_Strict):
    event_id = fields.UUID(required=True)
    type = fields.String(required=True, validate=validate.OneOf(EVENT_TYPES))
    version = fields.Integer(required=True, validate=validate.Equal(EVENT_VERSION))
    occurred_at = fields.String(required=True)
    source = fields.String(required=True)
    request_id = fields.String(allow_none=True, load_default=None)
    action_id = fields.UUID(required=True)
    payload = fields.Dict(required=True)


def utc_now_iso() -> str:
    """Now, as the contract writes timestamps: ISO 8601 UTC with ``Z``."""
    return iso_utc(datetime.now(UTC))


# Instantiated once: instantiating a marshmallow schema deep-copies its fields,
# which cost more than validating an event.
_ENVELOPE = EventEnvelope()
_PAYLOADS = {event_type: schema() for event_type, schema in PAYLOAD_SCHEMAS.items()}


def make_event(
    event_type: str, payload: dict, *, action_id: str, request_id: str | None = None
) -> dict:
    """Build a validated envelope (raises ``marshmallow.ValidationError`` if malformed)."""
    envelope = {
        "event_id": str(uuid.uuid4()),
        "type": event_type,
        "version": EVENT_VERSION,
        "occurred_at": utc_now_iso(),
        "source": SOURCE,
        "request_id": request_id,
        "action_id": str(action_id),
        "payload": _PAYLOADS[event_type].load(payload),
    }
    _ENVELOPE.load(envelope)
    return envelope


def parse_event(body: dict) -> dict:
    """Validate an incoming envelope and its payload; return it with the payload loaded."""
    envelope = _ENVELOPE.load(body)
    envelope["payload"] = _PAYLOADS[envelope["type"]].load(body["payload"])
    return envelope
