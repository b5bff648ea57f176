"""The tickets service: every ticket operation as an RPC method.

Thin on purpose: entrypoints and dependencies only; the rules live in
``domain.py`` and the commands in ``handlers.py``.
"""

from __future__ import annotations

from nameko.dependency_providers import Config
from nameko.timer import timer

from services.tickets import handlers
from services.tickets.handlers import Command
from services.tickets.tables import ENCRYPTED_COLUMNS
from services.tickets.unit_of_work import TicketsUnitOfWork
from shared.context import RequestId
from shared.data_keyring import DataKeyring
from shared.db import Database
from shared.errors import HelpdeskError
from shared.idempotency import PRUNE_INTERVAL, prune
from shared.metrics import ServiceMetrics, record_scheduler_lag
from shared.outbox import OutboxRelay
from shared.rpc import CallIdentity, rpc
from shared.timers import settings_timer

# The scheduler's job name in the metrics.
DUE_WORK_JOB = "due_work"


class TicketsService:
    """Owns every ticket from creation to closure."""

    name = "tickets"

    config = Config()
    db = Database("tickets_database_url")
    # Refuses to start without keys, or when stored text needs a key that is missing.
    keyring = DataKeyring("tickets_database_url", ENCRYPTED_COLUMNS)
    relay = OutboxRelay("tickets_database_url")
    request_id = RequestId()
    # Which RPC call a worker serves: its second delivery replays the first answer.
    call = CallIdentity()
    # Times every call and serves the service's metrics (HELPDESK_METRICS_PORT).
    metrics = ServiceMetrics()

    def _uow(self) -> TicketsUnitOfWork:
        return TicketsUnitOfWork(
            self.db,
            self.keyring,
            self.config["HELPDESK_SETTINGS"],
            wake_relay=self.relay,
            request_id=self.request_id,
            call=self.call,
        )

    @rpc(expected_exceptions=HelpdeskError)
    def ping(self):
        """Answer ``pong``: the gateway's readiness check."""
        return "pong"

    @rpc(expected_exceptions=HelpdeskError)
    def get_catalog(self):
        """Issue types, features, statuses and limits, as ``GET /api/v1/catalog`` shows them."""
        return handlers.get_catalog(self.config["HELPDESK_SETTINGS"])

    @rpc(expected_exceptions=HelpdeskError)
    def create_ticket(self, actor, fields, idempotency=None):
        """Open a ticket for ``actor`` from the contract's fields; the ticket.

        Every command takes ``idempotency`` (``{"key", "fingerprint"}``, see
        ``shared/idempotency.py``): a repeat of a keyed command answers as the first did,
        as does a second delivery of any command's RPC call.
        """
        return handlers.create_ticket(Command(actor, fields, idempotency=idempotency), self._uow())

    @rpc(expected_exceptions=HelpdeskError)
    def list_tickets(self, actor, params=None):
        """A page of ``actor``'s own tickets (``status``, ``q``, ``limit``, ``cursor``)."""
        return handlers.list_tickets(Command(actor, params), self._uow())

    @rpc(expected_exceptions=HelpdeskError)
    def get_ticket(self, actor, ticket_id):
        """One of ``actor``'s tickets, without internal notes; NotFound if not theirs."""
        return handlers.get_ticket(Command(actor, ticket_id=ticket_id), self._uow())

    @rpc(expected_exceptions=HelpdeskError)
    def add_reply(self, actor, ticket_id, fields, idempotency=None):
        """The owner's reply on their ticket; the message."""
        return handlers.add_reply(Command(actor, fields, ticket_id, idempotency), self._uow())

    @rpc(expected_exceptions=HelpdeskError)
    def close_ticket(self, actor, ticket_id, fields=None, idempotency=None):
        """The owner closes their ticket (an optional ``note``); the ticket."""
        return handlers.close_ticket(Command(actor, fields, ticket_id, idempotency), self._uow())

    @rpc(expected_exceptions=HelpdeskError)
    def admin_list_tickets(self, actor, params=None):
        """A page of every user's tickets, for support (filters, sorts)."""
        return handlers.admin_list_tickets(Command(actor, params), self._uow())

    @rpc(expected_exceptions=HelpdeskError)
    def admin_get_ticket(self, actor, ticket_id):
        """Any ticket with its owner and internal notes, for support."""
        return handlers.admin_get_ticket(Command(actor, ticket_id=ticket_id), self._uow())

    @rpc(expected_exceptions=HelpdeskError)
    def admin_add_message(self, actor, ticket_id, fields, idempotency=None):
        """A support reply or internal note on a ticket; the message."""
        return handlers.admin_add_message(
            Command(actor, fields, ticket_id, idempotency), self._uow()
        )

    @rpc(expected_exceptions=HelpdeskError)
    def change_status(self, actor, ticket_id, fields, idempotency=None):
        """Support moves a ticket along its lifecycle (a resolution note to resolve)."""
        return handlers.change_status(Command(actor, fields, ticket_id, idempotency), self._uow())

    @rpc(expected_exceptions=HelpdeskError)
    def assign_ticket(self, actor, ticket_id, fields, idempotency=None):
        """Support assigns a ticket to an admin, or unassigns it (``assignee_id`` null)."""
        return handlers.assign_ticket(Command(actor, fields, ticket_id, idempotency), self._uow())

    @rpc(expected_exceptions=HelpdeskError)
    def change_priority(self, actor, ticket_id, fields, idempotency=None):
        """Support changes a ticket's priority with a ``reason``; the ticket."""
        return handlers.change_priority(Command(actor, fields, ticket_id, idempotency), self._uow())

    @rpc(expected_exceptions=HelpdeskError)
    def get_stats(self, actor, params=None):
        """The dashboard's numbers (``days``: the window, 1-90, default 14)."""
        return handlers.get_stats(Command(actor, params), self._uow())

    @rpc(expected_exceptions=HelpdeskError)
    def list_macros(self, actor):
        """Every canned reply, by title: ``{"items": [macro]}``."""
        return handlers.MACROS.list(Command(actor), self._uow())

    @rpc(expected_exceptions=HelpdeskError)
    def get_macro(self, actor, macro_id):
        """One canned reply; NotFound if there is none with the id."""
        return handlers.MACROS.get(Command(actor, macro_id=macro_id), self._uow())

    @rpc(expected_exceptions=HelpdeskError)
    def create_macro(self, actor, fields, idempotency=None):
        """A new canned reply (``title``, ``body``, ``status``?); the macro."""
        return handlers.MACROS.create(Command(actor, fields, idempotency=idempotency), self._uow())

    @rpc(expected_exceptions=HelpdeskError)
    def change_macro(self, actor, macro_id, fields, idempotency=None):
        """Change the fields given of a canned reply; the macro."""
        return handlers.MACROS.change(
            Command(actor, fields, idempotency=idempotency, macro_id=macro_id), self._uow()
        )

    @rpc(expected_exceptions=HelpdeskError)
    def delete_macro(self, actor, macro_id):
        """Delete a canned reply; None. NotFound if there is none."""
        return handlers.MACROS.delete(Command(actor, macro_id=macro_id), self._uow())

    @rpc(expected_exceptions=HelpdeskError)
    def list_messages(self, actor, ticket_id, params=None):
        """Earlier messages of ``actor``'s ticket (``before``, ``limit``), oldest first."""
        return handlers.list_messages(Command(actor, params, ticket_id), self._uow())

    @rpc(expected_exceptions=HelpdeskError)
    def admin_list_messages(self, actor, ticket_id, params=None):
        """Earlier messages of any ticket, internal notes included, for support."""
        return handlers.admin_list_messages(Command(actor, params, ticket_id), self._uow())

    @rpc(expected_exceptions=HelpdeskError)
    def record_staff(self, actor):
        """Know the calling admin as staff, with their token's name; ``{"id", "name"}``."""
        return handlers.record_staff(Command(actor), self._uow())

    @rpc(expected_exceptions=HelpdeskError)
    def list_staff(self, actor):
        """The staff directory: ``{"items": [{"id", "name", "teams", "open_assigned"}]}``."""
        return handlers.list_staff(Command(actor), self._uow())

    @rpc(expected_exceptions=HelpdeskError)
    def list_teams(self, actor):
        """Every team, in creation order: ``{"items": [...]}``."""
        return handlers.TEAMS.list(Command(actor), self._uow())

    @rpc(expected_exceptions=HelpdeskError)
    def get_team(self, actor, team_key):
        """One team by its key; NotFound if there is none with the key."""
        return handlers.TEAMS.get(Command(actor, team_key=team_key), self._uow())

    @rpc(expected_exceptions=HelpdeskError)
    def create_team(self, actor, fields, idempotency=None):
        """A new team (``key``, ``label``, ``members``, ``features``, ``issue_types``,
        ``assignment``); the team."""
        return handlers.TEAMS.create(Command(actor, fields, idempotency=idempotency), self._uow())

    @rpc(expected_exceptions=HelpdeskError)
    def change_team(self, actor, team_key, fields, idempotency=None):
        """Change the given fields of a team (not its key); the team."""
        return handlers.TEAMS.change(
            Command(actor, fields, idempotency=idempotency, team_key=team_key), self._uow()
        )

    @rpc(expected_exceptions=HelpdeskError)
    def delete_team(self, actor, team_key):
        """Delete a team (its tickets keep no team); None. NotFound if there is none."""
        return handlers.TEAMS.delete(Command(actor, team_key=team_key), self._uow())

    @settings_timer("scheduler_interval")
    def run_due_work(self):
        """Do the scheduled work that has fallen due (auto-close, reminders), each piece
        once however many instances tick (``handlers.run_due_work``); first note how
        late the oldest of it is (``helpdesk_scheduler_lag_seconds{job="due_work"}``)."""
        record_scheduler_lag(self.name, DUE_WORK_JOB, handlers.scheduler_lag(self._uow()))
        return dict(handlers.run_due_work(self._uow()))

    @timer(interval=PRUNE_INTERVAL)
    def prune_idempotency_keys(self):
        """Delete idempotency keys past their 24 hours, and keyless calls' rows past
        their minutes (``CALL_TTL``), a bounded batch at a time."""
        return prune(self._uow(), calls=True)
