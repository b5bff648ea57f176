"""The unit of work and the notice repository (the only code that touches tables).

``UnitOfWork`` gives a handler one transaction: leaving the ``with`` block rolls
back whatever was not committed, so a handler that fails half-way stores nothing.
Queries use ``reading()`` instead: an autocommit connection, no BEGIN/ROLLBACK.
``Notices`` seals bodies on the way in and opens them on the way out, so the rest
of the service only ever sees plaintext.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from services.notifications.domain import Notice
from services.notifications.tables import notice_id_seq, notices, processed_events
from shared.crypto import Keyring, aad
from shared.db import Connections
from shared.db import UnitOfWork as BaseUnitOfWork


def seal_aad(notice_id: int) -> bytes:
    """The associated data binding a notice body to its row."""
    return aad("notices", "body", notice_id)


class Notices:
    """Stored notices and processed events, read and written through one connection."""

    def __init__(self, connection: sa.Connection, keyring: Keyring):
        self.connection = connection
        self.keyring = keyring

    def claim_event(self, event_id, event_type: str) -> bool:
        """Record ``event_id`` as handled; False if it already was (a redelivery).

        The primary key decides, not a prior SELECT: a concurrent transaction
        claiming the same id waits for this one and then finds the row.
        """
        stmt = (
            insert(processed_events)
            .values(event_id=event_id, event_type=event_type)
            .on_conflict_do_nothing()
            .returning(processed_events.c.event_id)
        )
        return self.connection.execute(stmt).first() is not None

    def add(self, notice: Notice, *, event_id, action_id, created_at: datetime) -> int | None:
        """Store ``notice``; its id, or None if this action already told this recipient."""
        notice_id = self.connection.execute(sa.select(notice_id_seq.next_value())).scalar_one()
        stmt = (
            insert(notices)
            .values(
                id=notice_id,
                recipient_id=notice.recipient_id,
                kind=notice.kind,
                ticket_id=notice.ticket_id,
                title=notice.title,
                body=self.keyring.encrypt(notice.body, seal_aad(notice_id)),
                event_id=event_id,
                action_id=action_id,
                created_at=created_at,
            )
            .on_conflict_do_nothing(constraint="notices_action_recipient_key")
            .returning(notices.c.id)
        )
        return self.connection.execute(stmt).scalar_one_or_none()

    def _open(self, row) -> dict:
        notice = dict(row._mapping)
        notice["body"] = self.keyring.decrypt(notice["body"], seal_aad(notice["id"]))
        return notice

    def page(
        self, recipient_id: str, *, unread: bool, limit: int, after: tuple | None
    ) -> list[dict]:
        """Up to ``limit`` notices, newest first, strictly after the keyset ``after``."""
        query = sa.select(notices).where(notices.c.recipient_id == recipient_id)
        if unread:
            query = query.where(notices.c.read_at.is_(None))
        if after is not None:
            query = query.where(sa.tuple_(notices.c.created_at, notices.c.id) < sa.tuple_(*after))
        query = query.order_by(notices.c.created_at.desc(), notices.c.id.desc()).limit(limit)
        return [self._open(row) for row in self.connection.execute(query)]

    def count_unread(self, recipient_id: str) -> int:
        """How many of the recipient's notices are unread (an index-only scan of a partial index)."""
        query = sa.select(sa.func.count()).where(
            notices.c.recipient_id == recipient_id, notices.c.read_at.is_(None)
        )
        return self.connection.execute(query).scalar_one()

    def mark_read(self, recipient_id: str, notice_id: int, now: datetime) -> dict | None:
        """Mark one of the recipient's notices read (kept if already); None if not theirs."""
        self.connection.execute(
            sa.update(notices)
            .where(
                notices.c.id == notice_id,
                notices.c.recipient_id == recipient_id,
                notices.c.read_at.is_(None),
            )
            .values(read_at=now)
        )
        row = self.connection.execute(
            sa.select(notices).where(
                notices.c.id == notice_id, notices.c.recipient_id == recipient_id
            )
        ).first()
        return self._open(row) if row is not None else None

    def mark_all_read(self, recipient_id: str, now: datetime) -> int:
        """Mark every unread notice of the recipient read; how many were."""
        result = self.connection.execute(
            sa.update(notices)
            .where(notices.c.recipient_id == recipient_id, notices.c.read_at.is_(None))
            .values(read_at=now)
        )
        return result.rowcount


class UnitOfWork(BaseUnitOfWork):
    """The notices of one transaction (``with uow``) or of reads (``uow.reading()``)."""

    def __init__(self, connections: Connections, keyring: Keyring):
        super().__init__(connections)
        self.keyring = keyring
        self.notices: Notices | None = None

    def attach(self, connection: sa.Connection | None) -> None:
        self.notices = None if connection is None else Notices(connection, self.keyring)
