"""The notifications service's commands, as the handlers take them.

Each is built from an RPC call's arguments by ``schemas.py`` (which validates them),
so a handler gets typed, checked values and the service class only passes them on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from shared.idempotency import IdempotentRequest


@dataclass(frozen=True)
class ListNotices:
    """A page of the recipient's notices, newest first, strictly after the keyset ``after``."""

    recipient_id: str
    unread: bool
    limit: int
    after: tuple[datetime, int] | None


@dataclass(frozen=True)
class ListNoticesAfter:
    """The recipient's notices stored after notice ``after_id`` (a stream's replay)."""

    recipient_id: str
    after_id: int
    limit: int


@dataclass(frozen=True)
class CountUnread:
    """How many of the recipient's notices are unread."""

    recipient_id: str


@dataclass(frozen=True)
class GetNotice:
    """One of the recipient's notices."""

    recipient_id: str
    notice_id: int


@dataclass(frozen=True)
class MarkRead:
    """Mark one of the recipient's notices read; ``idempotency`` None when unkeyed."""

    recipient_id: str
    notice_id: int
    idempotency: IdempotentRequest | None = None


@dataclass(frozen=True)
class MarkAllRead:
    """Mark every notice of the recipient read; ``idempotency`` None when unkeyed."""

    recipient_id: str
    idempotency: IdempotentRequest | None = None
