"""The notifications service: ticket events in, in-app notices out (see docs/notifications.md).

Thin on purpose: entrypoints and dependencies only; ``schemas.py`` turns each call's
arguments into a command, ``handlers.py`` carries it out.
"""

from nameko.events import EventDispatcher
from nameko.timer import timer

from services.notifications import handlers, schemas
from services.notifications.extensions import ticket_events
from services.notifications.tables import ENCRYPTED_COLUMNS
from services.notifications.unit_of_work import NotificationsUnitOfWork
from shared.announcements import NOTICE_STORED
from shared.context import RequestId
from shared.data_keyring import DataKeyring
from shared.db import Database
from shared.errors import HelpdeskError
from shared.idempotency import PRUNE_INTERVAL, prune
from shared.metrics import ServiceMetrics
from shared.rpc import rpc


class NotificationsService:
    """Store notices from ticket events and serve each recipient their own."""

    name = "notifications"

    db = Database("notifications_database_url")
    # Refuses to start without the data keys, or if stored notices need a missing one.
    keyring = DataKeyring("notifications_database_url", ENCRYPTED_COLUMNS)
    request_id = RequestId()
    # Times every call and serves the service's metrics (HELPDESK_METRICS_PORT).
    metrics = ServiceMetrics()
    # Announces each stored notice to the stream servers (shared.announcements).
    dispatch = EventDispatcher()

    def _uow(self) -> NotificationsUnitOfWork:
        return NotificationsUnitOfWork(self.db, self.keyring)

    @ticket_events
    def handle_ticket_event(self, event):
        """Store the notices one ticket event causes, exactly once per event."""
        return handlers.record_notices(event, self._uow(), self._announce)

    def _announce(self, body: dict) -> None:
        self.dispatch(NOTICE_STORED, body)

    @rpc(expected_exceptions=HelpdeskError)
    def ping(self):
        """Answer ``pong``: the gateway's readiness check."""
        return "pong"

    @rpc(expected_exceptions=HelpdeskError)
    def list_notices(self, recipient_id, params=None):
        """A page of the recipient's notices, newest first, with their unread count."""
        cmd = schemas.list_notices_command(recipient_id, params)
        return handlers.list_notices(cmd, self._uow())

    @rpc(expected_exceptions=HelpdeskError)
    def list_notices_after(self, recipient_id, after_id):
        """The recipient's notices stored after notice ``after_id``, oldest first (at
        most ``REPLAY_LIMIT``), with the unread count: a reconnecting stream's replay."""
        cmd = schemas.list_notices_after_command(recipient_id, after_id)
        return handlers.list_notices_after(cmd, self._uow())

    @rpc(expected_exceptions=HelpdeskError)
    def unread_count(self, recipient_id):
        """How many of the recipient's notices are unread."""
        return handlers.count_unread(schemas.count_unread_command(recipient_id), self._uow())

    @rpc(expected_exceptions=HelpdeskError)
    def get_notice(self, recipient_id, notice_id):
        """One of the recipient's notices; NotFound if not theirs."""
        cmd = schemas.get_notice_command(recipient_id, notice_id)
        return handlers.get_notice(cmd, self._uow())

    @rpc(expected_exceptions=HelpdeskError)
    def mark_read(self, recipient_id, notice_id, idempotency=None):
        """Mark one of the recipient's notices read (idempotent); the notice.

        ``idempotency`` (``{"key", "fingerprint"}``, see ``shared/idempotency.py``):
        a repeat of a keyed request gets the first answer again.
        """
        cmd = schemas.mark_read_command(recipient_id, notice_id, idempotency)
        return handlers.mark_read(cmd, self._uow())

    @rpc(expected_exceptions=HelpdeskError)
    def mark_all_read(self, recipient_id, idempotency=None):
        """Mark every notice of the recipient read; how many changed (a keyed repeat
        gets the first count again)."""
        cmd = schemas.mark_all_read_command(recipient_id, idempotency)
        return handlers.mark_all_read(cmd, self._uow())

    @timer(interval=PRUNE_INTERVAL)
    def prune_idempotency_keys(self):
        """Delete idempotency keys past their 24 hours, a bounded batch at a time."""
        return prune(self._uow())
