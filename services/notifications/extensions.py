"""The event entrypoint, the one nameko extension this service adds to ``shared``.

``ticket_events`` consumes ``services.notifications.queues.TICKET_EVENTS`` with an
acknowledgement discipline nameko's own ``@consume`` lacks (it acks a failing
handler's message, losing it):

- a message is acked only after its handler returned, i.e. after the handler's
  transaction committed;
- while the database is unreachable (a connection-level error), the event is
  retried in place, the message held unacked, with a growing pause: an outage
  does not spend the queue's delivery limit, so a database restart does not
  send every waiting event to the dead-letter queue;
- any other failure rejects the message *with* requeue (after a short, growing
  pause) and the quorum queue counts the delivery; past ``x-delivery-limit`` the
  broker dead-letters it, so nothing loops forever and nothing is lost;
- a message that is not a valid event (undecodable, or failing
  ``shared.events.parse_event``) can never succeed: it is rejected without
  requeue, straight to the dead-letter queue.

It also measures its queue (``shared/metrics.py``): each event's lag since it
occurred and whether it was redelivered, how each ended, and at every scrape the
broker's count of the queue's and its dead-letter queue's messages.
"""

from __future__ import annotations

import copy
import logging
from functools import partial

import eventlet
from amqp.exceptions import AMQPError
from kombu import Connection
from kombu.exceptions import KombuError
from marshmallow import ValidationError
from nameko.constants import AMQP_SSL_CONFIG_KEY, AMQP_URI_CONFIG_KEY
from nameko.exceptions import ContainerBeingKilled
from nameko.extensions import Entrypoint
from nameko.messaging import QueueConsumer

from services.notifications.queues import QUEUES, TICKET_EVENTS, TICKET_EVENTS_DEAD
from shared import metrics
from shared.context import CONTEXT_KEY
from shared.db import database_unreachable
from shared.events import ensure_topology, parse_event, queue_depth

log = logging.getLogger(__name__)

# Pauses grow as RETRY_BASE * 2**n, capped at RETRY_CAP.
RETRY_BASE = 0.2
RETRY_CAP = 5.0
# In-place retries while the database is unreachable (about five minutes) before
# the delivery is given back to the queue, well inside RabbitMQ's consumer timeout.
OUTAGE_RETRIES = 60


def backoff(n: int) -> float:
    """The pause before the ``n``-th retry (0-based), in seconds."""
    return min(RETRY_BASE * 2**n, RETRY_CAP)


def deliveries_before(message) -> int:
    """How many times the broker delivered this message before (quorum queues count)."""
    return int((message.headers or {}).get("x-delivery-count") or 0)


def _still_connected(message) -> bool:
    # If the channel is gone the broker has already taken the message back.
    return bool(message.channel and message.channel.connection)


# What settling a message raises when the broker's connection drops as it is written.
_BROKER_GONE = (OSError, KombuError, AMQPError)


def _settle(message, action: str, **options) -> bool:
    """``message.ack()``, ``requeue()`` or ``reject()``; False when the connection is
    gone, before or while it is written. The broker then holds the message, never
    settled, and delivers it again (the handler's ledger makes that second delivery
    change nothing). Raised, the error would kill the whole container: a broker
    restart during an ack did, in a fault test."""
    if not _still_connected(message):
        return False
    try:
        getattr(message, action)(**options)
    except _BROKER_GONE as exc:
        log.warning(
            "event not settled: broker connection lost; it will be delivered again",
            extra={"action": action, "error": str(exc)},
        )
        return False
    return True


def _requeue(message) -> None:
    _settle(message, "requeue")


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
        _settle(message, "reject", requeue=False)


class TicketEvents(Entrypoint):
    """Entrypoint: call the method with each parsed ticket event (see module doc)."""

    queue_consumer = EventQueueConsumer()

    def __init__(self, queue=TICKET_EVENTS, **kwargs):
        # Declared (with its bindings) by ensure_topology in setup, not by the consumer:
        # kombu would also declare the events exchange, which the notifications
        # service's broker user may not configure (tools/access.py).
        self.queue = copy.copy(queue)
        self.queue.no_declare = True
        self.stopping = False
        self._scrape_connection: Connection | None = None
        super().__init__(**kwargs)

    def _connection(self) -> Connection:
        config = self.container.config
        # amqps:// needs the TLS options (CA, host name check) nameko itself uses.
        ssl = config.get(AMQP_SSL_CONFIG_KEY) or False
        return Connection(config[AMQP_URI_CONFIG_KEY], connect_timeout=10, ssl=ssl)

    def setup(self):
        # Declare the dead-letter side too, not just the queue the consumer declares,
        # so a fresh broker is complete before we consume.
        with self._connection() as conn:
            ensure_topology(conn, QUEUES)
        self.queue_consumer.register_provider(self)

    def stop(self):
        self.stopping = True
        self.queue_consumer.unregister_provider(self)
        self._drop_scrape_connection()

    def _drop_scrape_connection(self) -> None:
        connection, self._scrape_connection = self._scrape_connection, None
        if connection is not None:
            connection.collect()

    def collect_metrics(self):
        """The broker's counts of the queue and its dead letters (``shared.metrics``)."""
        if self._scrape_connection is None:
            self._scrape_connection = self._connection()
        service = self.container.service_name
        try:
            messages, consumers = queue_depth(self._scrape_connection, self.queue.name)
            dead, _ = queue_depth(self._scrape_connection, TICKET_EVENTS_DEAD.name)
        except Exception:
            self._drop_scrape_connection()  # a fresh one at the next scrape
            raise
        labels = {"service": service, "queue": self.queue.name}
        yield metrics.gauge(metrics.QUEUE_MESSAGES, labels, messages)
        yield metrics.gauge(metrics.QUEUE_CONSUMERS, labels, consumers)
        yield metrics.gauge(
            metrics.DEAD_LETTER_MESSAGES,
            {"service": service, "queue": TICKET_EVENTS_DEAD.name},
            dead,
        )

    def _count(self, outcome: str) -> None:
        metrics.count_event(self.container.service_name, self.queue.name, outcome)

    def handle_message(self, body, message):
        try:
            event = parse_event(body)
        except Exception as exc:  # whatever the cause, this message can never be handled
            # (and an error escaping here would kill the whole container)
            log.error(
                "malformed event dead-lettered",
                extra={"error": str(exc), "invalid": isinstance(exc, ValidationError)},
            )
            if _settle(message, "reject", requeue=False):
                self._count("dead_lettered")
            return
        metrics.observe_event(
            self.container.service_name,
            self.queue.name,
            event["occurred_at"],
            redelivered=bool(message.delivery_info.get("redelivered"))
            or deliveries_before(message) > 0,
        )
        self._run(event, message, attempt=0)

    def _run(self, event, message, attempt):
        try:
            self.container.spawn_worker(
                self,
                (event,),
                {},
                # The request id travels in the envelope; shared.context.RequestId binds it.
                context_data={CONTEXT_KEY: event["request_id"]},
                handle_result=partial(self.handle_result, message, event, attempt),
            )
        except ContainerBeingKilled:
            _requeue(message)

    def handle_result(self, message, event, attempt, worker_ctx, result=None, exc_info=None):
        if not _still_connected(message):
            return result, exc_info
        if exc_info is None:
            if _settle(message, "ack"):
                self._count("ok")
            return result, exc_info
        error = exc_info[1]
        if database_unreachable(error) and attempt < OUTAGE_RETRIES and not self.stopping:
            delay = backoff(attempt)
            log.warning(
                "database unreachable; retrying event in place",
                extra={"retry_in": delay, "attempt": attempt + 1, "error": str(error)},
            )
            # From a managed thread, so this worker's pool slot is free meanwhile.
            self.container.spawn_managed_thread(
                partial(self._retry_later, event, message, attempt + 1, delay),
                identifier="ticket_events.retry",
            )
            return result, exc_info
        delay = backoff(deliveries_before(message))
        log.warning(
            "event handler failed; requeueing", extra={"retry_in": delay, "error": str(error)}
        )
        eventlet.sleep(delay)
        _requeue(message)
        self._count("retried")
        return result, exc_info

    def _retry_later(self, event, message, attempt, delay):
        eventlet.sleep(delay)
        if self.stopping:
            _requeue(message)
        else:
            self._run(event, message, attempt)


ticket_events = TicketEvents.decorator
