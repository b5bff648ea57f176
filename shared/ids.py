"""Row ids as every part of the Help Center accepts them: tickets, notices, cursors."""

from __future__ import annotations

# The contract: an id is a positive integer of at most 18 digits (so always within
# PostgreSQL's bigint); anything longer names no row. The length is checked before
# the text is turned into a number, so a 5,000-digit id costs nothing (and never
# meets ``int()``'s digit limit, a ValueError).
MAX_ROW_ID_DIGITS = 18
MAX_ROW_ID = 10**MAX_ROW_ID_DIGITS - 1
# A person's id (a token's ``sub``: a user or a staff member), or another id a
# request names: at most this many characters, wherever one is checked.
MAX_ID_LENGTH = 200


def row_id(value) -> int | None:
    """``value`` (an int, or text of at most 18 ASCII digits) as an id in 1..MAX_ROW_ID;
    else None.

    ASCII only: ``str.isdigit`` and ``int()`` also take other scripts' digits ("١٢",
    "１２") and ``int()`` a sign ("+12"), which would give one ticket many names.
    """
    if isinstance(value, str):
        if not (len(value) <= MAX_ROW_ID_DIGITS and value.isascii() and value.isdigit()):
            return None
        value = int(value)
    if type(value) is not int or not 0 < value <= MAX_ROW_ID:
        return None
    return value
