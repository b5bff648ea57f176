"""Moments as the Help Center writes them: ISO 8601 in UTC with ``Z`` (no framework imports)."""

from __future__ import annotations

from datetime import UTC, datetime


def iso_utc(moment: datetime | None, timespec: str = "microseconds") -> str | None:
    """``moment`` as ISO 8601 text in UTC with ``Z`` (None stays None).

    ``timespec`` is ``datetime.isoformat``'s. The contract's JSON bodies and the
    envelope's ``occurred_at`` always carry microseconds (the default); the moments in
    event payloads and a limit's ``reset_at`` use ``"auto"``, which leaves them out
    when they are zero (``2026-05-05T00:00:00Z``).
    """
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec=timespec).replace("+00:00", "Z")
