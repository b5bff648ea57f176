"""Reading and writing notices and processed events (SQLAlchemy Core): the only
code that touches this service's tables.

``NoticeRepository`` seals bodies on the way in and opens them on the way out, so
the rest of the service only ever sees plaintext; each body is bound to its row and
to its recipient and ticket (``SEALED_CONTEXT``), so a notice moved to another
recipient is refused, never shown.

Every statement is built once, at import, and run with a dict of parameters:
building one per call (and its cache key) cost more CPU than running it.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from services.notifications.domain import Notice
from services.notifications.tables import ENCRYPTED_COLUMNS, SEALED_CONTEXT, notices
from shared.crypto import Keyring, sealed_columns

_DRAW_IDS = sa.text("SELECT nextval('notices_id_seq') FROM generate_series(1, :count)").bindparams(
    sa.bindparam("count", type_=sa.Integer)
)
# The claim and the notices in one statement, so they commit together or not at
# all. The notices are inserted only if this statement claimed the event id; the
# primary key decides, not a prior SELECT: a concurrent claim of the same id waits
# for this one to commit, then finds the row and inserts nothing.
_RECORD = sa.text(
    """
WITH claimed AS (
    INSERT INTO processed_events (event_id, event_type)
    VALUES (CAST(:event_id AS uuid), :event_type)
    ON CONFLICT (event_id) DO NOTHING
    RETURNING event_id
), added AS (
    INSERT INTO notices
        (id, recipient_id, kind, ticket_id, title, body, event_id, action_id, created_at)
    SELECT n.id, n.recipient_id, n.kind, n.ticket_id, n.title, n.body, claimed.event_id,
        CAST(:action_id AS uuid), CAST(:created_at AS timestamptz)
    FROM claimed, unnest(
        CAST(:ids AS bigint[]), CAST(:recipient_ids AS text[]), CAST(:kinds AS text[]),
        CAST(:ticket_ids AS bigint[]), CAST(:titles AS text[]), CAST(:bodies AS text[])
    ) AS n (id, recipient_id, kind, ticket_id, title, body)
    ON CONFLICT ON CONSTRAINT notices_action_recipient_key DO NOTHING
    RETURNING id, recipient_id
)
SELECT (SELECT count(*) FROM claimed) AS claimed,
    (SELECT coalesce(json_agg(json_build_array(id, recipient_id) ORDER BY id), '[]') FROM added)
    AS added
"""
)
_UNREAD = notices.c.read_at.is_(None)
_NOW = sa.bindparam("now", type_=notices.c.read_at.type)
# Not named "recipient_id": an UPDATE reserves its columns' names for its SET clause.
_MINE = notices.c.recipient_id == sa.bindparam("recipient")
_AFTER = sa.tuple_(notices.c.created_at, notices.c.id) < sa.tuple_(
    sa.bindparam("after_created", type_=notices.c.created_at.type),
    sa.bindparam("after_id", type_=notices.c.id.type),
)
_COUNT_UNREAD = (
    sa.select(sa.func.count().label("unread_count")).select_from(notices).where(_MINE, _UNREAD)
)


def _page_statement(unread: bool, after: bool) -> sa.Select:
    page = sa.select(notices).where(_MINE)
    if unread:
        page = page.where(_UNREAD)
    if after:
        page = page.where(_AFTER)
    newest_first = (notices.c.created_at.desc(), notices.c.id.desc())
    page = page.order_by(*newest_first).limit(sa.bindparam("limit", type_=sa.Integer)).subquery()
    # The unread count rides along: one round trip, one snapshot. Its one row is
    # joined to each notice of the page, or stands alone (notice columns NULL).
    count = _COUNT_UNREAD.subquery()
    return (
        sa.select(count.c.unread_count, page)
        .select_from(count.outerjoin(page, sa.true()))
        .order_by(page.c.created_at.desc(), page.c.id.desc())
    )


# Keyed by (unread only, after a keyset).
_PAGE = {(u, a): _page_statement(u, a) for u in (False, True) for a in (False, True)}
# Ids are drawn in storage order: a stream's Last-Event-ID replays what came after it.
_AFTER_ID = (
    sa.select(notices)
    .where(_MINE, notices.c.id > sa.bindparam("after_id", type_=notices.c.id.type))
    .order_by(notices.c.id)
    .limit(sa.bindparam("limit", type_=sa.Integer))
)
_GET = sa.select(notices).where(notices.c.id == sa.bindparam("notice_id"), _MINE)
# One statement: a notice already read keeps its read_at, and the row comes back
# either way (none if it is missing or someone else's).
_MARK_READ = (
    sa.update(notices)
    .where(notices.c.id == sa.bindparam("notice_id"), _MINE)
    .values(read_at=sa.func.coalesce(notices.c.read_at, _NOW))
    .returning(*notices.c)
)
_MARK_ALL_READ = sa.update(notices).where(_MINE, _UNREAD).values(read_at=_NOW)


# The notice body's column (the kept idempotency answers are shared.idempotency's).
(_BODY,) = [c for c in sealed_columns(ENCRYPTED_COLUMNS, SEALED_CONTEXT) if c.table == "notices"]


class NoticeRepository:
    """Stored notices and processed events, read and written through one connection."""

    def __init__(self, connection: sa.Connection, keyring: Keyring):
        self.connection = connection
        self.keyring = keyring

    def record_event(
        self, event_id, event_type: str, told: list[Notice], *, action_id, created_at: datetime
    ) -> list[tuple[int, str]] | None:
        """Record ``event_id`` as handled together with the notices it ``told``: the
        ``(id, recipient_id)`` of each one stored (an action tells each recipient once,
        so a notice another event of the same action already gave is skipped), or None
        if the event was recorded before (a redelivery or a duplicate), and then
        nothing is stored.

        Ids are drawn first because each body is sealed bound to its row id.
        """
        ids = self.connection.execute(_DRAW_IDS, {"count": len(told)}).scalars().all()
        params = {
            "event_id": event_id,
            "event_type": event_type,
            "action_id": action_id,
            "created_at": created_at,
            "ids": ids,
            "recipient_ids": [n.recipient_id for n in told],
            "kinds": [n.kind for n in told],
            "ticket_ids": [n.ticket_id for n in told],
            "titles": [n.title for n in told],
            "bodies": [
                self.keyring.encrypt(n.body, _BODY.binding(i, vars(n)))
                for n, i in zip(told, ids, strict=True)
            ],
        }
        row = self.connection.execute(_RECORD, params).one()
        return [(i, r) for i, r in row.added] if row.claimed else None

    def _open(self, row) -> dict:
        notice = row._asdict()
        notice.pop("unread_count", None)  # a page row carries the count too
        notice["body"] = self.keyring.decrypt(notice["body"], _BODY.binding(notice["id"], notice))
        return notice

    def page(
        self, recipient_id: str, *, unread: bool, limit: int, after: tuple | None
    ) -> tuple[list[dict], int]:
        """Up to ``limit`` notices, newest first, strictly after the keyset ``after``,
        and the recipient's unread count, read in one statement."""
        params = {"recipient": recipient_id, "limit": limit}
        if after is not None:
            params["after_created"], params["after_id"] = after
        rows = self.connection.execute(_PAGE[unread, after is not None], params).all()
        page = [self._open(row) for row in rows if row.id is not None]
        return page, rows[0].unread_count

    def after(self, recipient_id: str, after_id: int, limit: int) -> list[dict]:
        """Up to ``limit`` of the recipient's notices with ids above ``after_id``, oldest first."""
        params = {"recipient": recipient_id, "after_id": after_id, "limit": limit}
        return [self._open(row) for row in self.connection.execute(_AFTER_ID, params).all()]

    def count_unread(self, recipient_id: str) -> int:
        """How many of the recipient's notices are unread (an index-only scan of a partial index)."""
        return self.connection.execute(_COUNT_UNREAD, {"recipient": recipient_id}).scalar_one()

    def get(self, recipient_id: str, notice_id: int) -> dict | None:
        """One of the recipient's notices; None if it is missing or someone else's."""
        params = {"recipient": recipient_id, "notice_id": notice_id}
        row = self.connection.execute(_GET, params).first()
        return self._open(row) if row is not None else None

    def mark_read(self, recipient_id: str, notice_id: int, now: datetime) -> dict | None:
        """Mark one of the recipient's notices read (kept if already); None if not theirs."""
        params = {"recipient": recipient_id, "notice_id": notice_id, "now": now}
        row = self.connection.execute(_MARK_READ, params).first()
        return self._open(row) if row is not None else None

    def mark_all_read(self, recipient_id: str, now: datetime) -> int:
        """Mark every unread notice of the recipient read; how many were."""
        params = {"recipient": recipient_id, "now": now}
        return self.connection.execute(_MARK_ALL_READ, params).rowcount
