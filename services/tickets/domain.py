"""The ticket rules: priorities, the lifecycle, automatic moves and searches.

Plain Python, no framework or I/O, so every rule is unit-tested on its own.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from shared.catalog import PRIORITIES, PRIORITY_BY_ISSUE_TYPE, ROLES
from shared.ids import MAX_ROW_ID
from shared.text import is_text

OPEN, IN_REVIEW, AWAITING_USER, RESOLVED, CLOSED = (
    "open",
    "in_review",
    "awaiting_user",
    "resolved",
    "closed",
)

# The contract's transition table: which status support may move a ticket to.
TRANSITIONS: dict[str, frozenset[str]] = {
    OPEN: frozenset({IN_REVIEW, AWAITING_USER, RESOLVED, CLOSED}),
    IN_REVIEW: frozenset({AWAITING_USER, RESOLVED, CLOSED}),
    AWAITING_USER: frozenset({IN_REVIEW, RESOLVED, CLOSED}),
    RESOLVED: frozenset({IN_REVIEW, CLOSED}),
    CLOSED: frozenset(),
}

# Who caused a timeline entry or event.
BY_USER, BY_SUPPORT, BY_SYSTEM = "user", "support", "system"

PRIORITY_RANK = {p: rank for rank, p in enumerate(PRIORITIES)}


class ConflictError(Exception):
    """The ticket's state forbids the action (closed, illegal transition)."""


def priority_for(issue_type: str) -> str:
    """The priority a new ticket of ``issue_type`` gets."""
    return PRIORITY_BY_ISSUE_TYPE[issue_type]


def can_transition(current: str, target: str) -> bool:
    """Whether support may move a ticket from ``current`` to ``target``."""
    return target in TRANSITIONS.get(current, frozenset())


def check_transition(current: str, target: str) -> None:
    """Raise ``ConflictError`` unless ``current`` -> ``target`` is allowed."""
    if not can_transition(current, target):
        raise ConflictError(f"A ticket cannot move from {current} to {target}.")


def check_open_for_messages(status: str) -> None:
    """Closed is final: no replies, notes, assignment or transitions."""
    if status == CLOSED:
        raise ConflictError("The ticket is closed.")


def check_closable(status: str) -> None:
    """The owner may close from any status but closed."""
    if status == CLOSED:
        raise ConflictError("The ticket is already closed.")


def status_after_owner_reply(status: str) -> str | None:
    """An owner reply on awaiting_user or resolved sends the ticket back to review."""
    return IN_REVIEW if status in (AWAITING_USER, RESOLVED) else None


def status_after_support_message(status: str, internal: bool) -> str | None:
    """The first public support reply on an open ticket puts it in review; notes move nothing."""
    return IN_REVIEW if status == OPEN and not internal else None


# An owner's messages on one ticket are limited per rolling window of this length.
REPLY_WINDOW = timedelta(hours=1)


def reply_allowed_at(nth_latest_at: datetime | None, now: datetime) -> datetime | None:
    """When the owner may reply again, or None if they may now.

    ``nth_latest_at`` is when their n-th latest message on the ticket was written, n
    being the limit (None: fewer than n). While it is inside the window the limit is
    reached; once it leaves, at most n - 1 of theirs remain in it.
    """
    if nth_latest_at is None or nth_latest_at + REPLY_WINDOW <= now:
        return None
    return nth_latest_at + REPLY_WINDOW


# ASCII digits only: str.isdigit and \d take any script's digits ("١٢", "１２").
_ID_QUERY = re.compile(r"#?([0-9]+)")


def parse_search(q: str | None) -> tuple[str, object] | None:
    """``1042`` / ``#1042`` -> ("id", 1042); other text -> ("subject", text); blank -> None.

    An id beyond any ticket's is ("id", None): it still matches only by id, so nothing.
    """
    if q is None:
        return None
    q = q.strip()
    if not q:
        return None
    match = _ID_QUERY.fullmatch(q)
    if match:
        number = int(match.group(1))
        # Larger numbers cannot be ticket ids (bigint): such a query matches nothing.
        return ("id", number if number <= MAX_ROW_ID else None)
    return ("subject", q)


def like_pattern(text: str) -> str:
    """A LIKE pattern matching ``text`` anywhere, with LIKE's wildcards taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class Actor:
    """Who is calling: ``id`` and ``name`` from the verified token, ``role`` user or admin."""

    __slots__ = ("id", "name", "role")

    def __init__(self, id: str, name: str | None, role: str):
        self.id, self.name, self.role = id, name, role

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def actor_problems(actor) -> list[str]:
    """What is wrong with an RPC ``actor`` value (empty when it is well formed)."""
    if not isinstance(actor, dict):
        return ["Must be an object with id, name and role."]
    problems = []
    actor_id, name = actor.get("id"), actor.get("name")
    if not isinstance(actor_id, str) or not actor_id or not is_text(actor_id):
        problems.append("id must be a non-empty string.")
    if name is not None and (not isinstance(name, str) or not is_text(name)):
        problems.append("name must be a string or null.")
    if actor.get("role") not in ROLES:
        problems.append(f"role must be one of {', '.join(ROLES)}.")
    return problems
