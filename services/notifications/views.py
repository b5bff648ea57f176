"""The contract's JSON body of a notice: a pure function of the row the repository opened."""

from __future__ import annotations

from shared.timestamps import iso_utc


def notice_view(notice: dict) -> dict:
    """A notice as the API shows it (dates in UTC ISO 8601)."""
    return {
        "id": notice["id"],
        "kind": notice["kind"],
        "ticket_id": notice["ticket_id"],
        "title": notice["title"],
        "body": notice["body"],
        "created_at": iso_utc(notice["created_at"]),
        "read_at": iso_utc(notice["read_at"]),
    }
