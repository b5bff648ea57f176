"""Paging a list: its page sizes and its cursors, the same for every list the API serves.

A cursor is opaque to callers: base64url (unpadded) of the JSON list of the last
item's keyset, so paging stays correct while new items arrive. Each list decodes
it against the shape of its own keyset.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime

from shared.errors import INVALID_REQUEST, ValidationFailed
from shared.ids import MAX_ROW_ID

DEFAULT_LIMIT, MAX_LIMIT = 20, 100
# Far more than any of our cursors takes; a longer one is refused before decoding.
MAX_CURSOR_LENGTH = 512


def encode_cursor(key: list) -> str:
    """An opaque keyset cursor for the last item of a page (``key``: ints and ISO-8601 text)."""
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")


def keyset_page(rows: list, limit: int, item, cursor) -> dict:
    """A page from up to ``limit`` + 1 rows in the list's order (the one more than
    shown tells whether a next page exists): ``item`` of each row shown, and
    ``cursor`` of the last one shown (its ``encode_cursor``), None on the last page."""
    shown = rows[:limit]
    more = len(rows) > limit
    return {
        "items": [item(row) for row in shown],
        "next_cursor": cursor(shown[-1]) if more else None,
    }


# A ``decode_cursor`` shape entry: a moment, or null (a key column that may be NULL).
OPTIONAL_DATETIME = (datetime, None)


def _key_part(kind, value):
    # A cursor is only base64 of JSON, easily edited: every part is checked for the
    # type and range its column takes, so a forged one is a 422, never a database error.
    if kind == OPTIONAL_DATETIME:
        return None if value is None else _key_part(datetime, value)
    if kind is int:
        if type(value) is not int or not 0 <= value <= MAX_ROW_ID:
            raise ValueError(value)
        return value
    moment = datetime.fromisoformat(value)  # TypeError unless a string
    if moment.tzinfo is None:
        raise ValueError(value)
    return moment


def decode_cursor(cursor: str | None, shape: tuple) -> list | None:
    """The keyset position in ``cursor``, one value per ``shape`` entry (``int``,
    ``datetime`` or ``OPTIONAL_DATETIME``); None for no cursor; ``ValidationFailed`` naming ``cursor`` if it
    is not one of ours."""
    if cursor is None or cursor == "":
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(key, list) or len(key) != len(shape):
            raise ValueError(key)
        return [_key_part(kind, value) for kind, value in zip(shape, key, strict=True)]
    except (ValueError, TypeError, RecursionError):
        raise ValidationFailed(INVALID_REQUEST, {"cursor": ["Not a valid cursor."]}) from None
