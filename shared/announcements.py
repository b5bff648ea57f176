"""Announcements of stored notices: the service that stores them to the stream servers.

After a ticket event's notices are stored, that service (``SERVICE``) publishes one
message per notice to nameko's event exchange of the service
(``<SERVICE>.events``, topic) with the routing key ``notice_stored`` and the
body ``{"notice_id": int, "recipient_id": str}``: the notice's text stays in its
sealed row, and a stream server fetches the notice through the service's RPC only
for a recipient connected to it. Announcements are best-effort (no outbox): a
stream that missed one replays it with ``Last-Event-ID`` and the pages poll
anyway (docs/decisions/0012-best-effort-notice-announcements.md).
"""

from __future__ import annotations

from kombu import Exchange

SERVICE = "notifications"
# nameko's EventDispatcher names a service's event exchange "<service>.events".
EXCHANGE = f"{SERVICE}.events"
NOTICE_STORED = "notice_stored"
# As nameko's EventDispatcher declares it, so either may declare it first.
ANNOUNCEMENTS = Exchange(EXCHANGE, type="topic", durable=True)


def declare_announcements(connection) -> None:
    """Declare the announcement exchange (``helpdesk-setup`` does, before anything runs)."""
    channel = connection.channel()
    try:
        ANNOUNCEMENTS.bind(channel).declare()
    finally:
        channel.close()


def announcement(notice_id: int, recipient_id: str) -> dict:
    """The body announcing one stored notice."""
    return {"notice_id": int(notice_id), "recipient_id": recipient_id}


def parse_announcement(body) -> tuple[int, str] | None:
    """``(notice_id, recipient_id)`` of an announcement; None if it is not one."""
    if not isinstance(body, dict):
        return None
    notice_id, recipient_id = body.get("notice_id"), body.get("recipient_id")
    if type(notice_id) is not int or notice_id < 1 or not isinstance(recipient_id, str):
        return None
    return notice_id, recipient_id
