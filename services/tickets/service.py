"""The tickets service: every ticket operation as an RPC method.

Thin on purpose: entrypoints and dependencies only; the rules live in
``domain.py`` and the commands in ``handlers.py``.
"""

from __future__ import annotations

from nameko.dependency_providers import Config

from services.tickets import handlers
from services.tickets.handlers import Command
from services.tickets.tables import ENCRYPTED_COLUMNS
from services.tickets.unit_of_work import TicketsUnitOfWork
from shared.context import RequestId
from shared.crypto import DataKeyring
from shared.db import Database
from shared.errors import HelpdeskError
from shared.outbox import OutboxRelay
from shared.rpc import rpc


class TicketsService:
    """Owns every ticket from creation to closure."""

    name = "tickets"

    config = Config()
    db = Database("tickets_database_url")
    # Refuses to start without keys, or when stored text needs a key that is missing.
    keyring = DataKeyring("tickets_database_url", ENCRYPTED_COLUMNS)
    relay = OutboxRelay("tickets_database_url")
    request_id = RequestId()

    def _uow(self) -> TicketsUnitOfWork:
        return TicketsUnitOfWork(
            self.db,
            self.keyring,
            self.config["HELPDESK_SETTINGS"],
            wake_relay=self.relay,
            request_id=self.request_id,
        )

    @rpc(expected_exceptions=HelpdeskError)
    def ping(self):
        return "pong"

    @rpc(expected_exceptions=HelpdeskError)
    def get_catalog(self):
        return handlers.get_catalog(self.config["HELPDESK_SETTINGS"])

    @rpc(expected_exceptions=HelpdeskError)
    def create_ticket(self, actor, fields):
        return handlers.create_ticket(Command(actor, fields), self._uow())

    @rpc(expected_exceptions=HelpdeskError)
    def list_tickets(self, actor, params=None):
        return handlers.list_tickets(Command(actor, params), self._uow())

    @rpc(expected_exceptions=HelpdeskError)
    def get_ticket(self, actor, ticket_id):
        return handlers.get_ticket(Command(actor, ticket_id=ticket_id), self._uow())

    @rpc(expected_exceptions=HelpdeskError)
    def add_reply(self, actor, ticket_id, fields):
        return handlers.add_reply(Command(actor, fields, ticket_id), self._uow())

    @rpc(expected_exceptions=HelpdeskError)
    def close_ticket(self, actor, ticket_id, fields=None):
        return handlers.close_ticket(Command(actor, fields, ticket_id), self._uow())

    @rpc(expected_exceptions=HelpdeskError)
    def admin_list_tickets(self, actor, params=None):
        return handlers.admin_list_tickets(Command(actor, params), self._uow())

    @rpc(expected_exceptions=HelpdeskError)
    def admin_get_ticket(self, actor, ticket_id):
        return handlers.admin_get_ticket(Command(actor, ticket_id=ticket_id), self._uow())

    @rpc(expected_exceptions=HelpdeskError)
    def admin_add_message(self, actor, ticket_id, fields):
        return handlers.admin_add_message(Command(actor, fields, ticket_id), self._uow())

    @rpc(expected_exceptions=HelpdeskError)
    def change_status(self, actor, ticket_id, fields):
        return handlers.change_status(Command(actor, fields, ticket_id), self._uow())

    @rpc(expected_exceptions=HelpdeskError)
    def assign_ticket(self, actor, ticket_id, fields):
        return handlers.assign_ticket(Command(actor, fields, ticket_id), self._uow())
