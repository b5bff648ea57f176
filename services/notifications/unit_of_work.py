"""The unit of work: the notice repository and the idempotency keys on one connection.

``UnitOfWork`` (``shared.db``) offers a transaction that rolls back unless
committed, but this service rarely needs one: each of its writes is one statement,
atomic by itself (an event's claim with its notices, marking read). So queries and
writes alike use ``autocommit()`` and pay no BEGIN/COMMIT round trips; each round
trip cost this process more CPU than the statement. A keyed read mark is the
exception (see ``handlers.py``).
"""

from __future__ import annotations

import sqlalchemy as sa

from services.notifications.repository import NoticeRepository
from shared.crypto import Keyring
from shared.db import Connections, UnitOfWork
from shared.idempotency import IdempotencyKeys


class NotificationsUnitOfWork(UnitOfWork):
    """The notices of one transaction (``with uow``), or of reads and single-statement
    writes (``uow.autocommit()``)."""

    def __init__(self, connections: Connections, keyring: Keyring):
        super().__init__(connections)
        self.keyring = keyring
        self.notices: NoticeRepository | None = None
        self.idempotency: IdempotencyKeys | None = None

    def attach(self, connection: sa.Connection | None) -> None:
        self.notices = None if connection is None else NoticeRepository(connection, self.keyring)
        self.idempotency = None if connection is None else IdempotencyKeys(connection, self.keyring)
