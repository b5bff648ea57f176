"""Row ids as every part of the Help Center accepts them: tickets, notices, cursors."""

from __future__ import annotations

# Ids are PostgreSQL bigints: a larger number names no row.
MAX_ROW_ID = 2**63 - 1


def row_id(value) -> int | None:
    """``value`` (an int, or text of ASCII digits) as an id in 1..MAX_ROW_ID; else None.

    ASCII only: ``str.isdigit`` and ``int()`` also take other scripts' digits ("١٢",
    "１２") and ``int()`` a sign ("+12"), which would give one ticket many names.
    """
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if type(value) is not int or not 0 < value <= MAX_ROW_ID:
        return None
    return value
