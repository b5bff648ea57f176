"""Reading and writing tickets, messages and timeline entries (SQLAlchemy Core).

The repository is where text meets the at-rest cipher: descriptions, message
bodies (internal notes included), resolution and closing notes are sealed with the
keyring, bound to their table, column and row id, on the way in and opened on the
way out. Ids are allocated with ``nextval`` first so the binding can name the row.

A ticket with its messages and timeline is read with one statement (``view``): one
round trip, and one consistent snapshot even outside a transaction.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import aggregate_order_by

from services.tickets.tables import (
    ENCRYPTED_COLUMNS,
    messages,
    ticket_allowance,
    tickets,
    timeline,
)
from shared.crypto import Keyring, aad

ENCRYPTED_TICKET_COLUMNS = tuple(c for t, c, *_ in ENCRYPTED_COLUMNS if t == "tickets")


class TicketRepository:
    """Tickets and what hangs off them, through one unit of work's connection."""

    def __init__(self, connection: sa.Connection, keyring: Keyring):
        self.connection = connection
        self.keyring = keyring

    # --- ids and text ---------------------------------------------------------------
    def _next_id(self, table: sa.Table) -> int:
        return self.connection.execute(
            sa.select(sa.func.nextval(sa.literal(f"{table.name}_id_seq")))
        ).scalar_one()

    def _seal(self, table: str, column: str, row_id: int, text: str | None) -> str | None:
        return self.keyring.encrypt(text, aad(table, column, row_id))

    def _open(self, table: str, column: str, row_id: int, stored: str | None) -> str | None:
        return self.keyring.decrypt(stored, aad(table, column, row_id))

    def _open_ticket(self, row) -> dict:
        ticket = dict(row._mapping)
        for column in ENCRYPTED_TICKET_COLUMNS:
            if column in ticket:
                ticket[column] = self._open("tickets", column, ticket["id"], ticket[column])
        return ticket

    # --- the daily allowance ----------------------------------------------------------
    def take_allowance(self, owner_id: str, limit: int) -> tuple[bool, datetime]:
        """Spend one of today's (UTC, by the database clock) tickets for ``owner_id``.

        Returns (granted, database now). The conditional upsert holds the counter
        row's lock until the transaction ends, so racing requests across any number
        of instances are counted exactly; a rollback gives the ticket back.
        """
        row = self.connection.execute(
            sa.text(
                "INSERT INTO ticket_allowance AS a (owner_id, day, n) "
                "VALUES (:owner_id, (now() AT TIME ZONE 'UTC')::date, 1) "
                "ON CONFLICT (owner_id, day) DO UPDATE SET n = a.n + 1 WHERE a.n < :limit "
                "RETURNING n, clock_timestamp() AS now"
            ),
            {"owner_id": owner_id, "limit": limit},
        ).first()
        if row is not None:
            return True, row.now
        return False, self.connection.execute(sa.select(sa.func.clock_timestamp())).scalar_one()

    def allowance_used(self, owner_id: str) -> int:
        """How many tickets ``owner_id`` created today (UTC)."""
        return (
            self.connection.execute(
                sa.select(ticket_allowance.c.n).where(
                    ticket_allowance.c.owner_id == owner_id,
                    ticket_allowance.c.day == sa.text("(now() AT TIME ZONE 'UTC')::date"),
                )
            ).scalar()
            or 0
        )

    # --- tickets ----------------------------------------------------------------------
    def add(self, ticket: dict) -> dict:
        """Insert a new ticket (without ``id``); return it with its id."""
        ticket_id = self._next_id(tickets)
        row = dict(ticket, id=ticket_id)
        stored = dict(row)
        for column in ENCRYPTED_TICKET_COLUMNS:
            if column in stored:
                stored[column] = self._seal("tickets", column, ticket_id, stored[column])
        self.connection.execute(tickets.insert().values(**stored))
        return row

    def get(self, ticket_id: int, owner_id: str | None = None, for_update: bool = False):
        """The ticket with its text opened, or None (also when not ``owner_id``'s)."""
        query = sa.select(tickets).where(tickets.c.id == ticket_id)
        if owner_id is not None:
            query = query.where(tickets.c.owner_id == owner_id)
        if for_update:
            # Serialize concurrent commands on one ticket: each sees the other's status.
            query = query.with_for_update()
        row = self.connection.execute(query).first()
        return None if row is None else self._open_ticket(row)

    def view(
        self, ticket_id: int, include_internal: bool, owner_id: str | None = None
    ) -> dict | None:
        """The ticket with its ``messages`` and ``timeline``, oldest first, or None.

        Internal notes only when ``include_internal``; None also when the ticket is
        not ``owner_id``'s. One statement: the ticket and both lists come from the
        same snapshot.
        """
        message_rows = sa.select(
            sa.func.coalesce(
                sa.func.json_agg(
                    aggregate_order_by(
                        sa.func.json_build_object(
                            *_pairs(
                                messages,
                                "id",
                                "author",
                                "author_name",
                                "internal",
                                "body",
                                "created_at",
                            )
                        ),
                        messages.c.id,
                    )
                ),
                sa.text("'[]'::json"),
            )
        ).where(messages.c.ticket_id == tickets.c.id)
        if not include_internal:
            message_rows = message_rows.where(messages.c.internal.is_(False))
        timeline_rows = sa.select(
            sa.func.coalesce(
                sa.func.json_agg(
                    aggregate_order_by(
                        sa.func.json_build_object(*_pairs(timeline, "status", "at", "by")),
                        timeline.c.id,
                    )
                ),
                sa.text("'[]'::json"),
            )
        ).where(timeline.c.ticket_id == tickets.c.id)
        query = sa.select(
            tickets,
            message_rows.scalar_subquery().label("messages"),
            timeline_rows.scalar_subquery().label("timeline"),
        ).where(tickets.c.id == ticket_id)
        if owner_id is not None:
            query = query.where(tickets.c.owner_id == owner_id)
        row = self.connection.execute(query).first()
        if row is None:
            return None
        ticket = self._open_ticket(row)
        for message in ticket["messages"]:
            message["body"] = self._open("messages", "body", message["id"], message["body"])
            message["created_at"] = datetime.fromisoformat(message["created_at"])
        for entry in ticket["timeline"]:
            entry["at"] = datetime.fromisoformat(entry["at"])
        return ticket

    def update(self, ticket_id: int, **values) -> None:
        """Change columns of one ticket, sealing the encrypted ones."""
        for column in ENCRYPTED_TICKET_COLUMNS:
            if column in values:
                values[column] = self._seal("tickets", column, ticket_id, values[column])
        self.connection.execute(tickets.update().where(tickets.c.id == ticket_id).values(**values))

    def page(self, where: list, order_by: list, after, limit: int) -> list[dict]:
        """Up to ``limit`` list rows (no encrypted text) matching ``where`` after ``after``."""
        columns = [c for c in tickets.c if c.name not in ENCRYPTED_TICKET_COLUMNS]
        query = sa.select(*columns).where(*where)
        if after is not None:
            query = query.where(after)
        rows = self.connection.execute(query.order_by(*order_by).limit(limit)).all()
        return [dict(r._mapping) for r in rows]

    # --- messages and timeline --------------------------------------------------------
    def add_message(self, message: dict) -> dict:
        """Insert a message (public reply or internal note); return it with its id."""
        message_id = self._next_id(messages)
        row = dict(message, id=message_id)
        sealed = self._seal("messages", "body", message_id, message["body"])
        self.connection.execute(messages.insert().values(**dict(row, body=sealed)))
        return row

    def add_timeline(self, ticket_id: int, status: str, by: str, actor_id, at: datetime) -> None:
        """Record that the ticket entered ``status``, caused by ``by``."""
        self.connection.execute(
            timeline.insert().values(
                ticket_id=ticket_id, status=status, by=by, actor_id=actor_id, at=at
            )
        )


def _pairs(table: sa.Table, *columns: str) -> list:
    """``json_build_object`` arguments: each column's name, then its value."""
    # Keys as SQL literals, not bind parameters: the statement's text never changes.
    return [part for name in columns for part in (sa.literal_column(f"'{name}'"), table.c[name])]
