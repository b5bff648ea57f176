"""The event entrypoint, the one nameko extension this service adds to ``shared``.

``ticket_events`` consumes ``shared.events.NOTIFICATIONS_QUEUE`` with an
acknowledgement discipline nameko's own ``@consume`` lacks:

- a message is acked only after its handler returned, i.e. after the handler's
  transaction committed;
- a handler that raises rejects the message *with* requeue (after a short, growing
  pause, so a brief database outage is ridden out), and the quorum queue counts the
  delivery; past ``x-delivery-limit`` the broker dead-letters it, so nothing loops
  forever and nothing is lost;
- a message that is not a valid event (undecodable, or failing
  ``shared.events.parse_event``) can never succeed: it is rejected without requeue,
  straight to the dead-letter queue.
"""

from __future__ import annotations

import logging
from functools import partial

import eventlet
from kombu import Connection
from marshmallow import ValidationError
from nameko.constants import AMQP_URI_CONFIG_KEY
from nameko.exceptions import ContainerBeingKilled
from nameko.extensions import Entrypoint
from nameko.messaging import QueueConsumer

from shared.context import CONTEXT_KEY
from shared.events import NOTIFICATIONS_QUEUE, declare_topology, parse_event

log = logging.getLogger(__name__)

# Pause before requeueing a failed event: RETRY_BASE * 2**deliveries, capped. With
# the queue's delivery limit of 5 this rides out roughly 6 seconds of outage.
RETRY_BASE = 0.2
RETRY_CAP = 5.0


def retry_delay(message) -> float:
    """How long to hold a failed message before requeueing it."""
    # Quorum queues count earlier deliveries in this header.
    deliveries = int((message.headers or {}).get("x-delivery-count") or 0)
    return min(RETRY_BASE * 2**deliveries, RETRY_CAP)


def _still_connected(message) -> bool:
    # If the channel is gone the broker has already taken the message back.
    return bool(message.channel and message.channel.connection)


class EventQueueConsumer(QueueConsumer):
    """nameko's queue consumer, except that an undecodable body is dead-lettered
    (by default kombu raises, which would stop the whole consumer)."""

    def get_consumers(self, consumer_cls, channel):
        consumers = super().get_consumers(consumer_cls, channel)
        for consumer in consumers:
            consumer.on_decode_error = self._dead_letter_undecodable
        return consumers

    def _dead_letter_undecodable(self, message, exc):
        log.error(
            "undecodable event dead-lettered",
            extra={"error": str(exc), "content_type": message.content_type},
        )
        message.reject(requeue=False)


class TicketEvents(Entrypoint):
    """Entrypoint: call the method with each parsed ticket event (see module doc)."""

    queue_consumer = EventQueueConsumer()

    def __init__(self, queue=NOTIFICATIONS_QUEUE, **kwargs):
        self.queue = queue
        super().__init__(**kwargs)

    def setup(self):
        # Declare the whole topology (dead-letter side included), not just the queue
        # the consumer declares, so a fresh broker is complete before we consume.
        with Connection(self.container.config[AMQP_URI_CONFIG_KEY], connect_timeout=10) as conn:
            declare_topology(conn)
        self.queue_consumer.register_provider(self)

    def stop(self):
        self.queue_consumer.unregister_provider(self)

    def handle_message(self, body, message):
        try:
            event = parse_event(body)
        except (ValidationError, TypeError, KeyError) as exc:
            log.error("malformed event dead-lettered", extra={"error": str(exc)})
            if _still_connected(message):
                message.reject(requeue=False)
            return
        # The request id travels in the envelope; shared.context.RequestId binds it.
        context_data = {CONTEXT_KEY: event["request_id"]}
        try:
            self.container.spawn_worker(
                self,
                (event,),
                {},
                context_data=context_data,
                handle_result=partial(self.handle_result, message),
            )
        except ContainerBeingKilled:
            if _still_connected(message):
                message.requeue()

    def handle_result(self, message, worker_ctx, result=None, exc_info=None):
        if not _still_connected(message):
            return result, exc_info
        if exc_info is None:
            message.ack()
        else:
            delay = retry_delay(message)
            log.warning(
                "event handler failed; requeueing",
                extra={"retry_in": delay, "error": str(exc_info[1])},
            )
            eventlet.sleep(delay)
            if _still_connected(message):
                message.requeue()
        return result, exc_info


ticket_events = TicketEvents.decorator
