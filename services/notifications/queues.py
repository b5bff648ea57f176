"""The queues the notifications service consumes: the ticket events its rules hear of."""

from services.notifications.domain import HEARD_EVENT_TYPES
from shared.events import consumer_queues

TICKET_EVENTS, TICKET_EVENTS_DEAD = consumer_queues(
    "notifications.ticket-events", HEARD_EVENT_TYPES
)
# Declared by the service before it consumes, and by helpdesk-setup before anything runs.
QUEUES = (TICKET_EVENTS, TICKET_EVENTS_DEAD)
