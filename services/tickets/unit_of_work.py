"""The unit of work: one transaction per command, rolled back unless committed.

It owns the connection, the repository and the events the command produces: on
commit, the events the saved tickets recorded (``domain.TicketEvent``) go into the
outbox in the same transaction as the change (one ``action_id`` per transaction:
a command, or one piece of due work), and the outbox relay is woken right after
the commit. Queries use
``autocommit()`` instead (``shared.db.UnitOfWork``): no transaction, which is why each
view is read with one statement.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import sqlalchemy as sa

from services.tickets import domain
from services.tickets.repository import (
    MacroRepository,
    StaffRepository,
    StatsRepository,
    TeamRepository,
    TicketRepository,
)
from services.tickets.settings import response_policy, timings
from shared.crypto import Keyring
from shared.db import Connections, UnitOfWork
from shared.events import (
    AWAITING_REMINDER,
    CLOSING_SOON,
    MESSAGE_ADDED,
    PRIORITY_CHANGED,
    SLA_BREACHED,
    SLA_WARNING,
    STATUS_CHANGED,
    TICKET_ASSIGNED,
    TICKET_CLOSED,
    TICKET_CREATED,
    make_event,
)
from shared.idempotency import IdempotencyKeys, RpcCall
from shared.outbox import write_events

# The contract's name for each of the domain's events.
EVENT_TYPES = {
    domain.TicketCreated: TICKET_CREATED,
    domain.MessageAdded: MESSAGE_ADDED,
    domain.StatusChanged: STATUS_CHANGED,
    domain.TicketAssigned: TICKET_ASSIGNED,
    domain.TicketClosed: TICKET_CLOSED,
    domain.SlaWarning: SLA_WARNING,
    domain.SlaBreached: SLA_BREACHED,
    domain.PriorityChanged: PRIORITY_CHANGED,
    domain.ClosingSoon: CLOSING_SOON,
    domain.AwaitingReminder: AWAITING_REMINDER,
}


class TicketsUnitOfWork(UnitOfWork):
    """Use as ``with uow: ...; uow.commit()``; leaving the block rolls back the rest."""

    def __init__(
        self,
        connections: Connections,
        keyring: Keyring,
        settings,
        wake_relay: Callable[[], None] | None = None,
        request_id: str | None = None,
        call: RpcCall | None = None,
    ):
        super().__init__(connections)
        self.settings = settings
        self.keyring = keyring
        self.wake_relay = wake_relay
        self.request_id = request_id
        # The RPC call the command came in: a keyless command is recorded under it.
        self.call = call
        self.action_id = str(uuid.uuid4())
        self.events: list[dict] = []
        self.tickets: TicketRepository | None = None
        self.staff: StaffRepository | None = None
        self.teams: TeamRepository | None = None
        self.macros: MacroRepository | None = None
        self.stats: StatsRepository | None = None
        self.idempotency: IdempotencyKeys | None = None

    def attach(self, connection: sa.Connection | None) -> None:
        self.tickets = (
            None
            if connection is None
            else TicketRepository(
                connection, self.keyring, response_policy(self.settings), timings(self.settings)
            )
        )
        self.staff = None if connection is None else StaffRepository(connection)
        self.teams = None if connection is None else TeamRepository(connection)
        self.macros = None if connection is None else MacroRepository(connection)
        self.stats = None if connection is None else StatsRepository(connection)
        self.idempotency = None if connection is None else IdempotencyKeys(connection, self.keyring)

    def __enter__(self):
        # Each transaction is one action (the scheduler runs several on one unit of work).
        self.action_id = str(uuid.uuid4())
        return super().__enter__()

    def commit(self) -> None:
        """Write the saved tickets' events to the outbox (validated, sealed, in one
        statement), make the change and its events durable, then wake the relay to
        publish them."""
        envelopes = [
            make_event(
                EVENT_TYPES[type(event)],
                dict(vars(event)),
                action_id=self.action_id,
                request_id=self.request_id,
            )
            for ticket in self.tickets.saved
            for event in ticket.events
        ]
        # Sealed at rest like all ticket text; the relay opens it to publish.
        write_events(self.connection, envelopes, keyring=self.keyring)
        self.events.extend(envelopes)
        for ticket in self.tickets.saved:
            ticket.events = []
        self.tickets.saved = []
        super().commit()
        if self.events and self.wake_relay is not None:
            self.wake_relay()
