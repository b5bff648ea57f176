"""Validation of RPC parameters into commands; every bad input becomes ``ValidationFailed``.

The service class passes each RPC call's arguments to one of the ``*_command``
functions at the end and hands the command (``commands.py``) to its handler.

The list cursor is ``shared.paging``'s, of the last notice's keyset
(``created_at`` and ``id``), so paging stays correct while new notices arrive.
"""

from __future__ import annotations

from datetime import datetime

from marshmallow import Schema, ValidationError, fields, validate

from services.notifications import commands
from shared import paging
from shared.errors import INVALID_REQUEST, ValidationFailed
from shared.fields import Text
from shared.idempotency import IdempotentRequest
from shared.ids import MAX_ID_LENGTH, MAX_ROW_ID
from shared.paging import DEFAULT_LIMIT, MAX_LIMIT

# A reconnecting stream replays at most this many notices; a client that missed
# more reloads its list anyway.
REPLAY_LIMIT = 100


class ListNoticesParams(Schema):
    """``list_notices`` params: ``unread`` (bool), ``limit`` (1-100), ``cursor``."""

    unread = fields.Boolean(load_default=False)
    limit = fields.Integer(
        load_default=DEFAULT_LIMIT, strict=False, validate=validate.Range(1, MAX_LIMIT)
    )
    cursor = Text(load_default=None, allow_none=True)


class RecipientParams(Schema):
    recipient_id = Text(required=True, validate=validate.Length(min=1, max=MAX_ID_LENGTH))


class NoticeIdParams(Schema):
    notice_id = fields.Integer(
        required=True, strict=False, validate=validate.Range(min=1, max=MAX_ROW_ID)
    )


# Instantiated once: instantiating a marshmallow schema deep-copies its fields,
# which cost more than validating the parameters.
_LIST_PARAMS = ListNoticesParams()
_RECIPIENT = RecipientParams()
_NOTICE_ID = NoticeIdParams()


def _load(schema: Schema, data) -> dict:
    if not isinstance(data, dict):
        raise ValidationFailed(INVALID_REQUEST, {"params": ["Must be an object."]})
    try:
        return schema.load(data)
    except ValidationError as exc:
        raise ValidationFailed(INVALID_REQUEST, exc.normalized_messages()) from None


def load_recipient(recipient_id) -> str:
    """The recipient id, checked to be a non-empty string."""
    return _load(_RECIPIENT, {"recipient_id": recipient_id})["recipient_id"]


def load_notice_id(notice_id) -> int:
    """A notice id as a positive integer (``"42"`` is accepted, as a URL gives it)."""
    return _load(_NOTICE_ID, {"notice_id": notice_id})["notice_id"]


def load_after_id(after_id) -> int:
    """A replay's starting point: a notice id, or 0 for the first notice."""
    if after_id in (0, "0"):
        return 0
    return load_notice_id(after_id)


def load_list_params(params) -> dict:
    """Validated list params; the cursor decoded to its keyset (or None)."""
    loaded = _load(_LIST_PARAMS, {} if params is None else params)
    loaded["after"] = decode_cursor(loaded.pop("cursor"))
    return loaded


def encode_cursor(created_at: datetime, notice_id: int) -> str:
    """The opaque cursor that continues a list after this notice (``shared.paging``)."""
    return paging.encode_cursor([created_at.isoformat(), notice_id])


def decode_cursor(cursor: str | None) -> tuple[datetime, int] | None:
    """The keyset a cursor names; ``ValidationFailed`` if it is not one of ours."""
    after = paging.decode_cursor(cursor, (datetime, int))
    return None if after is None else tuple(after)


# --- commands, from an RPC call's arguments (checked in the order given) --------------


def list_notices_command(recipient_id, params) -> commands.ListNotices:
    """``list_notices(recipient_id, params)`` as a command."""
    recipient = load_recipient(recipient_id)
    return commands.ListNotices(recipient_id=recipient, **load_list_params(params))


def list_notices_after_command(recipient_id, after_id) -> commands.ListNoticesAfter:
    """``list_notices_after(recipient_id, after_id)``: at most ``REPLAY_LIMIT`` notices."""
    recipient = load_recipient(recipient_id)
    return commands.ListNoticesAfter(recipient, load_after_id(after_id), REPLAY_LIMIT)


def count_unread_command(recipient_id) -> commands.CountUnread:
    """``unread_count(recipient_id)`` as a command."""
    return commands.CountUnread(load_recipient(recipient_id))


def get_notice_command(recipient_id, notice_id) -> commands.GetNotice:
    """``get_notice(recipient_id, notice_id)`` as a command."""
    recipient = load_recipient(recipient_id)
    return commands.GetNotice(recipient, load_notice_id(notice_id))


def mark_read_command(recipient_id, notice_id, idempotency) -> commands.MarkRead:
    """``mark_read(recipient_id, notice_id, idempotency)``; the key is the recipient's."""
    recipient = load_recipient(recipient_id)
    notice = load_notice_id(notice_id)
    return commands.MarkRead(recipient, notice, IdempotentRequest.from_rpc(recipient, idempotency))


def mark_all_read_command(recipient_id, idempotency) -> commands.MarkAllRead:
    """``mark_all_read(recipient_id, idempotency)``; the key is the recipient's."""
    recipient = load_recipient(recipient_id)
    return commands.MarkAllRead(recipient, IdempotentRequest.from_rpc(recipient, idempotency))
