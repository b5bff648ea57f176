"""The contract's JSON bodies for tickets, and keyset paging of the lists.

Pure functions of what the repository reads (rows as dicts) and of the page
parameters: no database, no framework, so every shape is unit-tested on its own.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from services.tickets import clocks, domain
from shared import paging
from shared.catalog import PRIORITIES, STATUS_KEYS
from shared.rendering import render_markdown
from shared.timestamps import iso_utc

# --- views ---------------------------------------------------------------------------


def _person(person_id, name) -> dict | None:
    return None if person_id is None else {"id": person_id, "name": name}


def list_item(ticket: dict) -> dict:
    """A ticket as a user's list shows it."""
    return {
        "id": ticket["id"],
        "subject": ticket["subject"],
        "issue_type": ticket["issue_type"],
        "feature": ticket["feature"],
        "status": ticket["status"],
        "priority": ticket["priority"],
        "created_at": iso_utc(ticket["created_at"]),
        "updated_at": iso_utc(ticket["updated_at"]),
        "last_message_at": iso_utc(ticket["last_message_at"]),
    }


def _team(ticket: dict) -> dict | None:
    key = ticket.get("team_key")
    return None if key is None else {"key": key, "label": ticket["team_label"]}


def sla_view(ticket: dict, now: datetime) -> dict:
    """The ticket's response clock as support sees it at ``now``: its state, when
    the owed response is due (null when none is owed), and the first response's
    due time and moment."""
    state = clocks.sla_state(ticket["sla_due_at"], ticket["sla_warn_at"], now)
    return {
        "state": state,
        "due_at": None if state == clocks.NONE else iso_utc(ticket["sla_due_at"]),
        "first_response_due_at": iso_utc(ticket["first_response_due_at"]),
        "first_response_at": iso_utc(ticket["first_response_at"]),
    }


def admin_list_item(ticket: dict, now: datetime | None = None) -> dict:
    """A ticket as the support queue shows it: with owner, assignee and its response
    clock at ``now`` (the list's one moment; the current time when not given)."""
    item = list_item(ticket)
    item["owner"] = _person(ticket["owner_id"], ticket["owner_name"])
    item["assignee"] = _person(ticket["assignee_id"], ticket["assignee_name"])
    item["sla"] = sla_view(ticket, now or datetime.now(UTC))
    item["team"] = _team(ticket)
    return item


def staff_view(member: dict) -> dict:
    """A staff directory entry: id, latest name, team keys, open tickets held."""
    return {
        "id": member["id"],
        "name": member["name"],
        "teams": list(member["teams"]),
        "open_assigned": member["open_assigned"],
    }


def team_view(team: domain.Team) -> dict:
    """A team as ``/api/v1/admin/teams`` shows it."""
    return {
        "key": team.key,
        "label": team.label,
        "members": list(team.members),
        "features": list(team.features),
        "issue_types": list(team.issue_types),
        "assignment": team.assignment,
    }


def macro_view(macro: dict) -> dict:
    """A canned reply as ``/api/v1/admin/macros`` shows it."""
    return {
        "id": macro["id"],
        "title": macro["title"],
        "body": macro["body"],
        "status": macro["status"],
        "created_at": iso_utc(macro["created_at"]),
        "updated_at": iso_utc(macro["updated_at"]),
        "updated_by_name": macro["updated_by_name"],
    }


def _html(text: str, stored: str | None) -> str:
    # Stored when the text was written; only rows older than that (until
    # services.tickets.fill_html has run) are rendered here, on read.
    return render_markdown(text) if stored is None else stored


def message_view(message: dict, support: bool) -> dict:
    """A message; support views also say whether it is an internal note."""
    view = {
        "id": message["id"],
        "author": message["author"],
        "author_name": message["author_name"],
        "body": message["body"],
        "body_html": _html(message["body"], message["body_html"]),
        "created_at": iso_utc(message["created_at"]),
    }
    if support:
        view["internal"] = message["internal"]
    return view


def resolutions_view(ticket: dict) -> list[dict]:
    """Every resolution note the ticket has had, oldest first. A ticket resolved
    before the history was kept, and not yet copied into it (fill_html), shows its
    current note, at the last time it was resolved."""
    kept = ticket["resolutions"]
    if not kept and ticket["resolution_note"] is not None:
        resolved = [t["at"] for t in ticket["timeline"] if t["status"] == domain.RESOLVED]
        at = resolved[-1] if resolved else ticket["updated_at"]
        kept = [{"note": ticket["resolution_note"], "at": at, "by_name": None}]
    return [{"note": r["note"], "at": iso_utc(r["at"]), "by_name": r["by_name"]} for r in kept]


def priority_changes_view(changes: list[dict]) -> list[dict]:
    """Support's priority changes, oldest first, each with its reason."""
    return [
        {
            "from_priority": c["from_priority"],
            "to_priority": c["to_priority"],
            "reason": c["reason"],
            "at": iso_utc(c["at"]),
            "by_name": c["by_name"],
        }
        for c in changes
    ]


def ticket_view(ticket: dict, support: bool, now: datetime | None = None) -> dict:
    """The full ticket (as ``TicketRepository.view`` reads it): the owner's view, or
    support's with the owner, internal notes, priority changes, the statuses it may
    move to and the response clock at ``now`` (the current time when not given). Its
    latest ``VIEW_MESSAGES`` messages only, and how many it has before them
    (``list_messages`` pages back)."""
    view = list_item(ticket)
    view.update(
        description=ticket["description"],
        description_html=_html(ticket["description"], ticket["description_html"]),
        assignee=_person(ticket["assignee_id"], ticket["assignee_name"]),
        resolution_note=ticket["resolution_note"],
        closed_note=ticket["closed_note"],
        messages=[message_view(m, support) for m in ticket["messages"]],
        earlier_messages=ticket["earlier_messages"],
        timeline=[
            {"status": t["status"], "at": iso_utc(t["at"]), "by": t["by"]}
            for t in ticket["timeline"]
        ],
        resolutions=resolutions_view(ticket),
        follows_up=ticket["follows_up"],
        follow_ups=ticket["follow_ups"],
    )
    if support:
        view["owner"] = _person(ticket["owner_id"], ticket["owner_name"])
        view["sla"] = sla_view(ticket, now or datetime.now(UTC))
        view["team"] = _team(ticket)
        view["priority_changes"] = priority_changes_view(ticket["priority_changes"])
        # The transition table's moves from here, so a client never keeps a copy of it.
        allowed = domain.TRANSITIONS[ticket["status"]]
        view["next_statuses"] = [key for key in STATUS_KEYS if key in allowed]
    return view


def new_ticket_view(ticket: domain.Ticket, follows_up_subject: str | None = None) -> dict:
    """The owner's view of a ticket just opened, known without reading it back: no
    messages, resolutions or follow-ups yet, its one timeline entry, and the ticket it
    follows up (``follows_up_subject``: that ticket's subject)."""
    opened = {"status": domain.OPEN, "at": ticket.created_at, "by": domain.BY_USER}
    follows_up = None
    if ticket.follows_up_id is not None:
        follows_up = {"id": ticket.follows_up_id, "subject": follows_up_subject}
    return ticket_view(
        dict(
            vars(ticket),
            messages=[],
            earlier_messages=0,
            timeline=[opened],
            resolutions=[],
            follows_up=follows_up,
            follow_ups=[],
        ),
        support=False,
    )


def rate_limit_details(limit: domain.LimitReached) -> dict:
    """``RateLimited`` details: when the limit resets and the seconds until then (a
    string: nameko sends an error's details as text)."""
    return {
        "reset_at": iso_utc(limit.reset_at, timespec="auto"),
        "retry_after": str(limit.retry_after),
    }


# --- search and keyset paging ---------------------------------------------------------


def search_filter(q) -> dict | None:
    """The list filter for the search box; None when the search can match nothing."""
    search = domain.parse_search(q)
    if search is None:
        return {}
    kind, value = search
    if kind == "id":
        return None if value is None else {"id": value}
    return {"subject_like": domain.like_pattern(value)}


def after_key(sort: str, cursor: str | None) -> dict | None:
    """The repository's ``after_*`` key for a page cursor (None: the first page)."""
    if sort == "priority":  # critical first, then oldest
        key = paging.decode_cursor(cursor, (int, int))
        return key and {"after_rank": key[0], "after_id": key[1]}
    if sort == "updated":  # newest change first
        key = paging.decode_cursor(cursor, (datetime, int))
        return key and {"after_updated": key[0], "after_id": key[1]}
    if sort == "due":  # soonest owed response first, none owed (null) last
        key = paging.decode_cursor(cursor, (paging.OPTIONAL_DATETIME, int))
        return key and {"after_due": key[0], "after_id": key[1]}
    key = paging.decode_cursor(cursor, (int,))  # created: newest first
    return key and {"after_id": key[0]}


_CURSOR_KEY = {
    "priority": lambda t: [t["priority_rank"], t["id"]],
    "updated": lambda t: [iso_utc(t["updated_at"]), t["id"]],
    "created": lambda t: [t["id"]],
    "due": lambda t: [iso_utc(t["sla_due_at"]), t["id"]],
}

EMPTY_PAGE = {"items": [], "next_cursor": None}


def page(rows: list[dict], limit: int, sort: str, item) -> dict:
    """A list page from up to ``limit`` + 1 rows in ``sort`` order (one more than
    shown tells whether a next page exists): ``item`` of each, and the next cursor."""
    key = _CURSOR_KEY[sort]
    return paging.keyset_page(rows, limit, item, lambda last: paging.encode_cursor(key(last)))


def stats_view(stats: dict, now: datetime, first_day, days: int) -> dict:
    """``GET /api/v1/admin/stats``: what ``StatsRepository.read`` counted, with every
    status, priority and day present (zeros included), days oldest first."""
    by_status = {key: stats["open_by_status"].get(key, 0) for key in domain.OPEN_STATUSES}
    by_priority = {key: stats["open_by_priority"].get(key, 0) for key in PRIORITIES}
    first = stats["first_response"]
    judged = first["met"] + first["missed"]
    dates = [first_day + timedelta(days=n) for n in range(days)]
    return {
        "days": days,
        "since": iso_utc(datetime.combine(first_day, time.min, UTC)),
        "generated_at": iso_utc(now),
        "open": {
            "total": sum(by_status.values()),
            "by_status": by_status,
            "by_priority": by_priority,
        },
        "unassigned": stats["unassigned"],
        "at_risk": stats["at_risk"],
        "breached": stats["breached"],
        "first_response": {
            "median_seconds": _seconds(first["median"]),
            "p90_seconds": _seconds(first["p90"]),
            "answered": first["answered"],
            "met": first["met"],
            "missed": first["missed"],
            "met_share": round(first["met"] / judged, 4) if judged else None,
        },
        "per_day": [
            {
                "date": day.isoformat(),
                "created": stats["created_per_day"].get(day, 0),
                "resolved": stats["resolved_per_day"].get(day, 0),
            }
            for day in dates
        ],
    }


def _seconds(value) -> float | None:
    return None if value is None else round(float(value), 1)
