"""The notice rules: which ticket event tells whom what. Plain Python, no I/O.

``notices_for(event)`` turns one parsed event envelope (``shared.events.parse_event``)
into the notices it causes. The rules (``docs/architecture.md``, "Notice rules"):
the owner hears of public support replies, of status changes made by support or
the system, and of resolutions (with the resolution note); an assigned admin hears
of owner replies and of assignments to them; work nobody holds (a new ticket not
assigned on arrival, an owner's reply on an unassigned ticket) is heard by the team
the tickets service named in the event (``team_member_ids``). Nobody hears of their own action,
internal notes reach nobody, and one action gives each recipient at most one
notice: a status move caused by a message is told by the message's notice, and a
resolution is one ``ticket_resolved``, never also a ``status_changed``. Scheduled
work tells the owner too: ``closing_soon`` before the system closes a resolved
ticket, ``awaiting_reminder`` when a ticket has long waited for their answer, and
the system's closing itself as a ``status_changed``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.catalog import NOTICE_KINDS, STATUSES

(
    SUPPORT_REPLY,
    STATUS_CHANGED,
    TICKET_RESOLVED,
    USER_REPLY,
    TICKET_ASSIGNED,
    SLA_WARNING,
    SLA_BREACHED,
    NEW_TICKET,
    CLOSING_SOON,
    AWAITING_REMINDER,
) = NOTICE_KINDS

# How much of a message a notice body quotes; the ticket page shows the rest.
EXCERPT_LENGTH = 200

_STATUS_LABELS = {s["key"]: s["label"] for s in STATUSES}


@dataclass(frozen=True)
class Notice:
    """One in-app notice for one recipient.

    ``title`` names only the ticket number (it is stored in clear); everything
    taken from the ticket's text goes in ``body``, which is encrypted at rest.
    """

    recipient_id: str
    kind: str
    ticket_id: int
    title: str
    body: str


def excerpt(text: str, length: int = EXCERPT_LENGTH) -> str:
    """``text`` on one line, cut at a word boundary to at most ``length`` characters."""
    flat = " ".join(text.split())
    if len(flat) <= length:
        return flat
    cut = flat[: length - 1]
    space = cut.rfind(" ")
    if space > length // 2:
        cut = cut[:space]
    return cut.rstrip() + "…"


def _is_own_action(payload: dict, recipient_id: str | None) -> bool:
    return payload.get("actor_id") is not None and payload["actor_id"] == recipient_id


def _team_notices(p: dict, kind: str, title: str, body: str) -> list[Notice]:
    """One notice per member of the team that hears of work nobody holds (the ids
    the tickets service put in the event), but the one who acted."""
    return [
        Notice(member, kind, p["ticket_id"], title, body)
        for member in dict.fromkeys(p["team_member_ids"])
        if not _is_own_action(p, member)
    ]


def _created_notices(p: dict) -> list[Notice]:
    # Assigned on arrival: the assignment's own notice tells the one who holds it.
    if p["assignee_id"] is not None:
        return []
    ticket = p["ticket_id"]
    return _team_notices(p, NEW_TICKET, f"New ticket #{ticket}", p["subject"])


def _resolved_notice(p: dict, note: str | None) -> Notice:
    ticket = p["ticket_id"]
    body = f"{p['subject']}\n\nResolution: {note or ''}".rstrip()
    return Notice(p["owner_id"], TICKET_RESOLVED, ticket, f"#{ticket} was resolved", body)


def _message_notices(p: dict) -> list[Notice]:
    if p["internal"]:
        return []
    ticket = p["ticket_id"]
    body = f"{p['subject']}\n\n{excerpt(p['body'] or '')}".rstrip()
    if p["author"] == "support" and p.get("resolution_note") is not None:
        # A reply that resolved the ticket: one notice, the resolution.
        return (
            [] if _is_own_action(p, p["owner_id"]) else [_resolved_notice(p, p["resolution_note"])]
        )
    if p["author"] == "support":
        recipient, kind, title = p["owner_id"], SUPPORT_REPLY, f"Support replied to #{ticket}"
    else:
        recipient, kind, title = p["assignee_id"], USER_REPLY, f"New reply on #{ticket}"
        if recipient is None:  # nobody holds it: its team hears
            return _team_notices(p, kind, title, body)
    if _is_own_action(p, recipient):
        return []
    return [Notice(recipient, kind, ticket, title, body)]


def _status_notices(p: dict) -> list[Notice]:
    # A move caused by a message is told by that message's notice; the owner's own
    # moves are their own action.
    if p["caused_by_message_id"] is not None or p["actor_role"] == "user":
        return []
    if p["from_status"] == p["to_status"] or _is_own_action(p, p["owner_id"]):
        return []
    ticket = p["ticket_id"]
    if p["actor_role"] == "system" and p["to_status"] == "closed":
        body = (
            f"{p['subject']}\n\nIt was resolved and had no reply from you since, so it was "
            "closed. If the problem comes back, open a new ticket."
        )
        return [Notice(p["owner_id"], STATUS_CHANGED, ticket, f"#{ticket} was closed", body)]
    if p["to_status"] == "resolved":
        return [_resolved_notice(p, p["resolution_note"])]
    label = _STATUS_LABELS[p["to_status"]]
    body = f"{p['subject']}\n\nStatus: {_STATUS_LABELS[p['from_status']]} → {label}"
    return [Notice(p["owner_id"], STATUS_CHANGED, ticket, f"#{ticket} is now {label}", body)]


def _assignment_notices(p: dict) -> list[Notice]:
    assignee = p["assignee_id"]
    if assignee is None or assignee == p["previous_assignee_id"]:
        return []
    if _is_own_action(p, assignee):
        return []
    ticket = p["ticket_id"]
    return [
        Notice(assignee, TICKET_ASSIGNED, ticket, f"#{ticket} was assigned to you", p["subject"])
    ]


def time_left(seconds: float) -> str:
    """A span as a support agent reads it at a glance: ``48 min``, ``3 h 12 min``, ``2 days``."""
    minutes = max(0, round(seconds / 60))
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{round(hours / 24)} days"


def _clock_recipients(p: dict) -> list[str]:
    # The assignee, else the team the tickets service named (it owns who that is).
    if p["assignee_id"] is not None:
        return [p["assignee_id"]]
    return list(dict.fromkeys(p["team_member_ids"]))


def _clock_notices(p: dict, kind: str, title: str) -> list[Notice]:
    due = datetime.fromisoformat(p["due_at"]).strftime("%Y-%m-%d %H:%M UTC")
    body = (
        f"{p['subject']}\n\nPriority: {p['priority']}. The {p['response']} response is due {due}."
    )
    return [Notice(r, kind, p["ticket_id"], title, body) for r in _clock_recipients(p)]


def _seconds_left(p: dict) -> float:
    # From the moment the clock was judged, so a notice stored late says the same.
    return (datetime.fromisoformat(p["due_at"]) - datetime.fromisoformat(p["at"])).total_seconds()


def _warning_notices(p: dict) -> list[Notice]:
    left, what = _seconds_left(p), f"#{p['ticket_id']}: {p['response']} response"
    title = f"{what} due in {time_left(left)}" if left >= 60 else f"{what} due now"
    return _clock_notices(p, SLA_WARNING, title)


def _breach_notices(p: dict) -> list[Notice]:
    late, title = -_seconds_left(p), f"#{p['ticket_id']}: {p['response']} response overdue"
    if late >= 60:
        title += f" by {time_left(late)}"
    return _clock_notices(p, SLA_BREACHED, title)


def closes_in(left: timedelta) -> str:
    """When something happens, as an owner reads it: ``tomorrow``, ``in 3 days``,
    ``in 5 hours``, ``in 10 minutes``, ``in a moment``."""
    hours = left.total_seconds() / 3600
    if 20 <= hours < 36:
        return "tomorrow"
    if hours >= 36:
        return f"in {round(hours / 24)} days"
    if hours >= 1.5:
        return f"in {round(hours)} hours"
    if hours >= 55 / 60:
        return "in an hour"
    minutes = round(hours * 60)
    return f"in {minutes} minutes" if minutes > 1 else "in a moment"


def _closing_soon_notices(p: dict) -> list[Notice]:
    ticket = p["ticket_id"]
    closes_at = datetime.fromisoformat(p["closes_at"])
    when = closes_in(closes_at - datetime.fromisoformat(p["reminded_at"]))
    body = (
        f"{p['subject']}\n\nThis ticket was resolved and will be closed {when} "
        f"({closes_at:%Y-%m-%d %H:%M} UTC). If the problem is not solved, reply on the "
        "ticket and it goes back to support."
    )
    return [Notice(p["owner_id"], CLOSING_SOON, ticket, f"#{ticket} will close {when}", body)]


def _awaiting_reminder_notices(p: dict) -> list[Notice]:
    ticket = p["ticket_id"]
    body = (
        f"{p['subject']}\n\nSupport asked you for more information and is waiting for "
        "your answer. Reply on the ticket so they can go on."
    )
    title = f"#{ticket} is waiting for your reply"
    return [Notice(p["owner_id"], AWAITING_REMINDER, ticket, title, body)]


_RULES = {
    "ticket_created": _created_notices,
    "message_added": _message_notices,
    "status_changed": _status_notices,
    "ticket_assigned": _assignment_notices,
    SLA_WARNING: _warning_notices,
    SLA_BREACHED: _breach_notices,
    "closing_soon": _closing_soon_notices,
    "awaiting_reminder": _awaiting_reminder_notices,
}
# The ticket events a notice can come of: the service's queue is bound to these only.
HEARD_EVENT_TYPES = tuple(_RULES)


def notices_for(event: dict) -> list[Notice]:
    """The notices one parsed event causes (none for events nobody hears of)."""
    rule = _RULES.get(event["type"])
    return rule(event["payload"]) if rule is not None else []
