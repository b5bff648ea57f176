"""One function per command, ``verb_noun(cmd, uow)``.

Every write here is one statement, atomic by itself (an event's claim with its
notices, a read mark), so each handler runs on ``uow.autocommit()``: its work is
stored whole or not at all, with no transaction to commit. The one exception is a
keyed read mark (``Idempotency-Key``): its key is held and its answer stored in the
same transaction as the mark (``shared/idempotency.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from services.notifications import commands, domain
from services.notifications.schemas import encode_cursor
from services.notifications.unit_of_work import NotificationsUnitOfWork
from services.notifications.views import notice_view
from shared import paging
from shared.announcements import announcement
from shared.errors import NotFound

log = logging.getLogger(__name__)


def _occurred_at(event: dict) -> datetime:
    # A notice is dated by the action it tells of, not by when a backlog drained.
    try:
        moment = datetime.fromisoformat(event["occurred_at"])
    except (TypeError, ValueError):
        return datetime.now(UTC)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def record_notices(
    event: dict, uow: NotificationsUnitOfWork, announce: Callable[[dict], None] | None = None
) -> int:
    """Store the notices one parsed event causes, once per ``event_id``; how many.

    An event that causes none touches no table: handling it again would change
    nothing, so it needs no claim (many do: an internal note, a ticket assigned on
    arrival's ``ticket_created``). Each stored notice is then passed to ``announce`` (after the
    commit: only stored notices are announced), best-effort: a failed announcement
    is logged, never retried, since a stream replays what it missed
    (``Last-Event-ID``) and the pages poll.
    """
    told = domain.notices_for(event)
    stored = _store(event, told, uow) if told else []
    if stored is None:
        log.info("duplicate event skipped", extra={"event_id": str(event["event_id"])})
        return 0
    log.info(
        "event handled",
        extra={
            "event_id": str(event["event_id"]),
            "event_type": event["type"],
            "notices": len(stored),
        },
    )
    if announce is not None:
        for notice_id, recipient_id in stored:
            try:
                announce(announcement(notice_id, recipient_id))
            except Exception:  # the notice is stored; streams catch up on their own
                log.warning("notice not announced", extra={"notice_id": notice_id}, exc_info=True)
    return len(stored)


def _store(
    event: dict, told: list[domain.Notice], uow: NotificationsUnitOfWork
) -> list[tuple[int, str]] | None:
    # None: the event was handled before (a redelivery or a duplicate). The claim
    # and the notices are one statement, atomic by itself.
    with uow.autocommit():
        return uow.notices.record_event(
            event["event_id"],
            event["type"],
            told,
            action_id=event["action_id"],
            created_at=_occurred_at(event),
        )


def list_notices(cmd: commands.ListNotices, uow: NotificationsUnitOfWork) -> dict:
    """A page of the recipient's notices, newest first, with the unread count."""
    with uow.autocommit():
        rows, unread = uow.notices.page(
            cmd.recipient_id, unread=cmd.unread, limit=cmd.limit + 1, after=cmd.after
        )
    page = paging.keyset_page(
        rows, cmd.limit, notice_view, lambda last: encode_cursor(last["created_at"], last["id"])
    )
    return {**page, "unread_count": unread}


def list_notices_after(cmd: commands.ListNoticesAfter, uow: NotificationsUnitOfWork) -> dict:
    """The recipient's notices stored after ``after_id``, oldest first (a stream's replay)."""
    with uow.autocommit():
        rows = uow.notices.after(cmd.recipient_id, cmd.after_id, cmd.limit)
        unread = uow.notices.count_unread(cmd.recipient_id)
    return {"items": [notice_view(n) for n in rows], "unread_count": unread}


def count_unread(cmd: commands.CountUnread, uow: NotificationsUnitOfWork) -> dict:
    """``{"unread_count": n}`` for the recipient."""
    with uow.autocommit():
        return {"unread_count": uow.notices.count_unread(cmd.recipient_id)}


def get_notice(cmd: commands.GetNotice, uow: NotificationsUnitOfWork) -> dict:
    """One of the recipient's notices, unchanged; ``NotFound`` if it is not theirs."""
    with uow.autocommit():
        notice = uow.notices.get(cmd.recipient_id, cmd.notice_id)
    if notice is None:
        raise NotFound("Notice not found.")
    return notice_view(notice)


def _writing(uow: NotificationsUnitOfWork, request):
    """Where a read mark is written: unkeyed, one statement on autocommit; keyed, a
    transaction that also holds the key and stores the answer with the change."""
    return uow if request is not None else uow.autocommit()


def _answer(uow: NotificationsUnitOfWork, claim, response: dict) -> dict:
    """Store a keyed command's answer with its change, commit, and return it."""
    uow.idempotency.remember(claim, response)
    uow.commit()
    return response


def mark_read(cmd: commands.MarkRead, uow: NotificationsUnitOfWork) -> dict:
    """Mark one of the recipient's notices read; ``NotFound`` if it is not theirs."""
    with _writing(uow, cmd.idempotency):
        claim = uow.idempotency.claim(cmd.idempotency)
        if claim.replay is not None:
            return claim.replay
        notice = uow.notices.mark_read(cmd.recipient_id, cmd.notice_id, datetime.now(UTC))
        if notice is None:
            raise NotFound("Notice not found.")
        claim.check()
        return _answer(uow, claim, notice_view(notice))


def mark_all_read(cmd: commands.MarkAllRead, uow: NotificationsUnitOfWork) -> dict:
    """Mark every unread notice of the recipient read: ``{"updated": n}``."""
    with _writing(uow, cmd.idempotency):
        claim = uow.idempotency.claim(cmd.idempotency)
        if claim.replay is not None:
            return claim.replay
        claim.check()
        updated = uow.notices.mark_all_read(cmd.recipient_id, datetime.now(UTC))
        return _answer(uow, claim, {"updated": updated})
