"""A unit of work in memory, for testing the handlers without PostgreSQL or RabbitMQ.

``FakeUnitOfWork`` has what the handlers use of ``NotificationsUnitOfWork``:
``notices`` (a ``FakeNoticeRepository``: the repository's methods over a dict),
``idempotency`` (keys kept in a dict), and a transaction that is rolled back unless
committed (the stored state is copied on entry and restored on rollback). What
needs the real parts (SQL, sealing, concurrent claims, the broker) stays with the
integration tests.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from shared.tests.fakes import FakeIdempotencyKeys, FakeTransactions


@dataclass
class Store:
    """What the database would hold."""

    notices: dict = field(default_factory=dict)  # id -> row
    processed: set = field(default_factory=set)  # event ids
    keys: dict = field(default_factory=dict)  # (caller, key) -> (fingerprint, answer)


def _newest_first(row: dict) -> tuple:
    return (row["created_at"], row["id"])


class FakeNoticeRepository:
    """``NoticeRepository``'s methods, on a ``Store`` (bodies kept in clear)."""

    def __init__(self, store: Store, ids):
        self.store, self.ids = store, ids

    def record_event(self, event_id, event_type, told, *, action_id, created_at):
        if event_id in self.store.processed:
            return None
        self.store.processed.add(event_id)
        added = []
        for notice in told:
            # One notice per recipient per action, as the unique constraint keeps it.
            if any(
                r["action_id"] == action_id and r["recipient_id"] == notice.recipient_id
                for r in self.store.notices.values()
            ):
                continue
            notice_id = next(self.ids)
            self.store.notices[notice_id] = {
                "id": notice_id, **vars(notice), "event_id": event_id, "action_id": action_id,
                "created_at": created_at, "read_at": None,
            }  # fmt: skip
            added.append((notice_id, notice.recipient_id))
        return added

    def _mine(self, recipient_id):
        return [r for r in self.store.notices.values() if r["recipient_id"] == recipient_id]

    def page(self, recipient_id, *, unread, limit, after):
        rows = [
            r
            for r in self._mine(recipient_id)
            if (not unread or r["read_at"] is None)
            and (after is None or _newest_first(r) < tuple(after))
        ]
        rows.sort(key=_newest_first, reverse=True)
        return [dict(r) for r in rows[:limit]], self.count_unread(recipient_id)

    def after(self, recipient_id, after_id, limit):
        rows = sorted(
            (r for r in self._mine(recipient_id) if r["id"] > after_id), key=lambda r: r["id"]
        )
        return [dict(r) for r in rows[:limit]]

    def count_unread(self, recipient_id):
        return sum(r["read_at"] is None for r in self._mine(recipient_id))

    def get(self, recipient_id, notice_id):
        row = self.store.notices.get(notice_id)
        return dict(row) if row is not None and row["recipient_id"] == recipient_id else None

    def mark_read(self, recipient_id, notice_id, now):
        row = self.store.notices.get(notice_id)
        if row is None or row["recipient_id"] != recipient_id:
            return None
        row["read_at"] = row["read_at"] or now
        return dict(row)

    def mark_all_read(self, recipient_id, now):
        unread = [r for r in self._mine(recipient_id) if r["read_at"] is None]
        for row in unread:
            row["read_at"] = now
        return len(unread)


class FakeUnitOfWork(FakeTransactions):
    """``NotificationsUnitOfWork`` in memory: ``with uow: ...; uow.commit()``, or
    ``with uow.autocommit(): ...``."""

    def __init__(self):
        super().__init__(Store())
        self._ids = itertools.count(1)
        self.notices = self.idempotency = None

    def attach(self, live: bool) -> None:
        if not live:
            self.notices = self.idempotency = None
            return
        self.notices = FakeNoticeRepository(self.store, self._ids)
        self.idempotency = FakeIdempotencyKeys(self.store.keys)
