"""In-process stand-ins for the tickets and notifications services.

They follow the RPC interfaces of ``docs/architecture.md``: same methods, same
return shapes, and they raise the real ``shared.errors`` classes, so the gateway's
mapping from remote errors to HTTP is exercised exactly as with nameko. Tickets and
canned replies are kept as the tickets repository reads them (rows, datetimes) and
shown through the service's own ``views``, so their JSON is the real one. Every call
is recorded with the request id bound at the time (what nameko would carry in the
call's context data). The ``idempotency`` argument of the commands is taken and
not acted on: replays are the services' own work, tested against them and end to end.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from services.gateway.errors import ServiceUnavailable
from services.tickets import views
from services.tickets.domain import can_transition
from shared.catalog import PRIORITY_BY_ISSUE_TYPE, VIEW_MESSAGES
from shared.errors import Conflict, Forbidden, NotFound, RateLimited, ValidationFailed
from shared.logging import current_request_id
from shared.rendering import render_markdown

# A valid ``POST /api/v1/tickets`` body (a high-priority bug on the dashboard).
NEW_TICKET = {
    "issue_type": "bug",
    "feature": "dashboard",
    "subject": "Charts do not load",
    "description": "The dashboard charts stay empty after login, on every browser I tried.",
}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _moment() -> datetime:
    # What a stored row holds; the views write it as the contract does.
    return datetime.now(UTC)


class FakeMacros:
    """The tickets service's canned replies, in memory (mixed into ``FakeTickets``)."""

    def _macros(self, actor):
        if actor["role"] != "admin":
            raise Forbidden("Admins only.")
        return self.__dict__.setdefault("macros", {})

    def _macro(self, actor, macro_id):
        macro = self._macros(actor).get(macro_id)
        if macro is None:
            raise NotFound("Macro not found.")
        return macro

    def list_macros(self, actor):
        macros = sorted(self._macros(actor).values(), key=lambda m: m["title"].lower())
        return {"items": [views.macro_view(m) for m in macros]}

    def get_macro(self, actor, macro_id):
        return views.macro_view(self._macro(actor, macro_id))

    def create_macro(self, actor, fields, idempotency=None):
        macros, now = self._macros(actor), _moment()
        macro = {"status": None, **fields, "id": len(macros) + 1, "created_at": now}
        macros[macro["id"]] = dict(macro, updated_at=now, updated_by_name=actor["name"])
        return views.macro_view(macros[macro["id"]])

    def change_macro(self, actor, macro_id, fields, idempotency=None):
        macro = self._macro(actor, macro_id)
        macro.update(fields, updated_at=_moment(), updated_by_name=actor["name"])
        return views.macro_view(macro)

    def delete_macro(self, actor, macro_id):
        self._macro(actor, macro_id)
        del self._macros(actor)[macro_id]


class FakeTickets(FakeMacros):
    def get_stats(self, actor, params=None):
        """The dashboard's shape, counted from the tickets in memory (no clocks here)."""
        if actor["role"] != "admin":
            raise Forbidden("Admins only.")
        days = int((params or {}).get("days") or 14)
        opened = [
            t
            for t in self.tickets.values()
            if t["status"] in ("open", "in_review", "awaiting_user")
        ]
        today = datetime.now(UTC).date()
        count = lambda key, value: sum(1 for t in opened if t[key] == value)  # noqa: E731
        statuses, priorities = (
            ("open", "in_review", "awaiting_user"),
            PRIORITY_BY_ISSUE_TYPE.values(),
        )
        first = {"median_seconds": None, "p90_seconds": None, "answered": 0, "met": 0}
        return {
            "days": days,
            "since": _now(),
            "generated_at": _now(),
            "open": {
                "total": len(opened),
                "by_status": {s: count("status", s) for s in statuses},
                "by_priority": {p: count("priority", p) for p in priorities},
            },
            "unassigned": sum(1 for t in opened if t["assignee_id"] is None),
            "at_risk": 0,
            "breached": 0,
            "first_response": {**first, "missed": 0, "met_share": None},
            "per_day": [
                {"date": (today - timedelta(days=n)).isoformat(), "created": 0, "resolved": 0}
                for n in reversed(range(days))
            ],
        }

    """The tickets service's contract, in memory."""

    def __init__(self, per_day: int = 5):
        self.per_day = per_day
        self.tickets = {}
        self.ids = itertools.count(1)
        self.message_ids = itertools.count(1)
        self.staff = {}  # id -> name
        self.teams = {}  # key -> team

    def ping(self):
        return "pong"

    # -- views

    def _item(self, t, admin=False):
        return views.admin_list_item(t) if admin else views.list_item(t)

    def _detail(self, t, admin=False):
        messages, earlier = self._messages_before(t, admin, {})
        follow_ups = [
            {"id": f["id"], "subject": f["subject"], "status": f["status"]}
            for f in self.tickets.values()
            if f["follows_up"] and f["follows_up"]["id"] == t["id"]
        ]
        row = dict(t, messages=messages, earlier_messages=earlier, follow_ups=follow_ups)
        return views.ticket_view(row, support=admin)

    def _messages_before(self, t, admin, params):
        # The page of messages (rows) and how many come before it.
        before = params.get("before") or float("inf")
        limit = int(params.get("limit") or VIEW_MESSAGES)
        shown = [m for m in t["messages"] if (admin or not m["internal"]) and m["id"] < before]
        page = shown[-limit:]
        return page, len(shown) - len(page)

    def _message_page(self, t, admin, params):
        page, earlier = self._messages_before(t, admin, params)
        return {
            "items": [views.message_view(m, admin) for m in page],
            "earlier_messages": earlier,
        }

    def list_messages(self, actor, ticket_id, params=None):
        return self._message_page(self._own(actor, ticket_id), False, params or {})

    def admin_list_messages(self, actor, ticket_id, params=None):
        return self._message_page(self._any(actor, ticket_id), True, params or {})

    def _own(self, actor, ticket_id):
        t = self.tickets.get(ticket_id)
        if t is None or t["owner_id"] != actor["id"]:
            raise NotFound("Ticket not found.")
        return t

    def _any(self, actor, ticket_id):
        if actor["role"] != "admin":
            raise Forbidden("Admins only.")
        t = self.tickets.get(ticket_id)
        if t is None:
            raise NotFound("Ticket not found.")
        return t

    def _move(self, t, status, by):
        t["status"] = status
        t["updated_at"] = _moment()
        t["timeline"].append({"status": status, "at": t["updated_at"], "by": by})

    # -- a user's tickets

    def create_ticket(self, actor, fields, idempotency=None):
        unknown = set(fields) - {"issue_type", "feature", "subject", "description", "follows_up"}
        if unknown:
            raise ValidationFailed("Invalid.", {k: ["Unknown field."] for k in unknown})
        fields = dict(fields)
        earlier = fields.pop("follows_up", None)
        if earlier is not None:
            earlier = self.tickets.get(earlier)
            if earlier is None or earlier["owner_id"] != actor["id"]:
                raise ValidationFailed("Invalid.", {"follows_up": ["Must be one of your tickets."]})
            earlier = {"id": earlier["id"], "subject": earlier["subject"]}
        today = datetime.now(UTC).date()
        mine = [
            t
            for t in self.tickets.values()
            if t["owner_id"] == actor["id"] and t["created_at"].date() == today
        ]
        if len(mine) >= self.per_day:
            midnight = datetime.combine(
                datetime.now(UTC).date() + timedelta(days=1), datetime.min.time(), UTC
            )
            retry = int((midnight - datetime.now(UTC)).total_seconds()) + 1
            raise RateLimited(
                "Daily limit reached.",
                {
                    "reset_at": midnight.isoformat().replace("+00:00", "Z"),
                    "retry_after": str(retry),
                },
            )
        now = _moment()
        t = {
            "id": next(self.ids),
            **fields,
            "description_html": render_markdown(fields["description"]),
            "status": "open",
            "priority": PRIORITY_BY_ISSUE_TYPE[fields["issue_type"]],
            "created_at": now,
            "updated_at": now,
            "last_message_at": None,
            "owner_id": actor["id"],
            "owner_name": actor["name"],
            "assignee_id": None,
            "assignee_name": None,
            "resolution_note": None,
            "closed_note": None,
            # No response clocks and no teams here: nothing is owed, none took it.
            "sla_due_at": None,
            "sla_warn_at": None,
            "first_response_due_at": None,
            "first_response_at": None,
            "team_key": None,
            "resolutions": [],
            "priority_changes": [],
            "follows_up": earlier,
            "messages": [],
            "timeline": [{"status": "open", "at": now, "by": "user"}],
        }
        self.tickets[t["id"]] = t
        return self._detail(t)

    def _page(self, tickets, params, admin=False):
        limit = params.get("limit", 20)
        cursor = params.get("cursor") or "0"
        if not cursor.isdigit():
            raise ValidationFailed("Invalid.", {"cursor": ["Not a valid cursor."]})
        start = int(cursor)
        page = tickets[start : start + limit]
        more = start + limit < len(tickets)
        return {
            "items": [self._item(t, admin) for t in page],
            "next_cursor": str(start + limit) if more else None,
        }

    def _search(self, tickets, params):
        if params.get("status"):
            tickets = [t for t in tickets if t["status"] == params["status"]]
        q = (params.get("q") or "").strip()
        if q:
            digits = q.removeprefix("#")
            if digits.isdigit():
                tickets = [t for t in tickets if t["id"] == int(digits)]
            else:
                tickets = [t for t in tickets if q.lower() in t["subject"].lower()]
        return sorted(tickets, key=lambda t: t["id"], reverse=True)

    def list_tickets(self, actor, params):
        mine = [t for t in self.tickets.values() if t["owner_id"] == actor["id"]]
        return self._page(self._search(mine, params), params)

    def get_ticket(self, actor, ticket_id):
        return self._detail(self._own(actor, ticket_id))

    def add_reply(self, actor, ticket_id, fields, idempotency=None):
        t = self._own(actor, ticket_id)
        if t["status"] == "closed":
            raise Conflict("The ticket is closed.")
        m = self._add(t, "user", actor, fields["body"], False)
        if t["status"] in ("awaiting_user", "resolved"):
            self._move(t, "in_review", "user")
        return views.message_view(m, False)

    def _add(self, t, author, actor, body, internal):
        m = {
            "id": next(self.message_ids),
            "author": author,
            "author_name": actor["name"],
            "body": body,
            "body_html": render_markdown(body),
            "created_at": _moment(),
            "internal": internal,
        }
        t["messages"].append(m)
        if not internal:
            t["last_message_at"] = m["created_at"]
        return m

    def close_ticket(self, actor, ticket_id, fields, idempotency=None):
        t = self._own(actor, ticket_id)
        if t["status"] == "closed":
            raise Conflict("The ticket is already closed.")
        t["closed_note"] = fields.get("note")
        self._move(t, "closed", "user")
        return self._detail(t)

    # -- support

    def admin_list_tickets(self, actor, params):
        if actor["role"] != "admin":
            raise Forbidden("Admins only.")
        tickets = self._search(list(self.tickets.values()), params)
        for name in ("priority", "issue_type", "feature"):
            if params.get(name):
                tickets = [t for t in tickets if t[name] == params[name]]
        if params.get("owner"):
            tickets = [t for t in tickets if t["owner_id"] == params["owner"]]
        assignee = params.get("assignee")
        if assignee == "none":
            tickets = [t for t in tickets if t["assignee_id"] is None]
        elif assignee:
            wanted = actor["id"] if assignee == "me" else assignee
            tickets = [t for t in tickets if t["assignee_id"] == wanted]
        return self._page(tickets, params, admin=True)

    def admin_get_ticket(self, actor, ticket_id):
        return self._detail(self._any(actor, ticket_id), admin=True)

    def admin_add_message(self, actor, ticket_id, fields, idempotency=None):
        t = self._any(actor, ticket_id)
        if t["status"] == "closed":
            raise Conflict("The ticket is closed.")
        status = fields.get("status")
        if status is not None and not can_transition(t["status"], status):
            raise Conflict(f"Cannot move from {t['status']} to {status}.")
        m = self._add(t, "support", actor, fields["body"], fields.get("internal", False))
        if status is not None:
            self._resolve_or_move(t, actor, fields)
        elif not m["internal"] and t["status"] == "open":
            self._move(t, "in_review", "support")
        return views.message_view(m, True)

    def _resolve_or_move(self, t, actor, fields):
        if fields["status"] == "resolved":
            t["resolution_note"] = fields["resolution_note"]
            t["resolutions"].append(
                {"note": fields["resolution_note"], "at": _moment(), "by_name": actor["name"]}
            )
        self._move(t, fields["status"], "support")

    def change_status(self, actor, ticket_id, fields, idempotency=None):
        t = self._any(actor, ticket_id)
        if not can_transition(t["status"], fields["status"]):  # the service's own table
            raise Conflict(f"Cannot move from {t['status']} to {fields['status']}.")
        self._resolve_or_move(t, actor, fields)
        return self._detail(t, admin=True)

    def change_priority(self, actor, ticket_id, fields, idempotency=None):
        t = self._any(actor, ticket_id)
        if t["status"] == "closed":
            raise Conflict("The ticket is closed.")
        if fields["priority"] != t["priority"]:
            t["priority_changes"].append(
                {
                    "from_priority": t["priority"],
                    "to_priority": fields["priority"],
                    "reason": fields["reason"],
                    "at": _moment(),
                    "by_name": actor["name"],
                }
            )
            t["priority"] = fields["priority"]
        return self._detail(t, admin=True)

    def assign_ticket(self, actor, ticket_id, fields, idempotency=None):
        t = self._any(actor, ticket_id)
        aid = fields["assignee_id"]
        if aid is not None and aid not in self.staff:
            raise ValidationFailed("Not known staff.", {"assignee_id": ["Not known staff."]})
        if t["status"] == "closed":
            raise Conflict("The ticket is closed.")
        t["assignee_id"], t["assignee_name"] = aid, self.staff.get(aid)
        return self._detail(t, admin=True)

    # -- staff and teams

    def record_staff(self, actor):
        self._admin(actor)
        if actor["name"] is not None or actor["id"] not in self.staff:
            self.staff[actor["id"]] = actor["name"]
        return {"id": actor["id"], "name": actor["name"]}

    def list_staff(self, actor):
        self._admin(actor)
        return {
            "items": [
                {
                    "id": sid,
                    "name": name,
                    "teams": [k for k, team in self.teams.items() if sid in team["members"]],
                    "open_assigned": 0,
                }
                for sid, name in sorted(self.staff.items())
            ]
        }

    def _admin(self, actor):
        if actor["role"] != "admin":
            raise Forbidden("Admins only.")

    def _team(self, key):
        if key not in self.teams:
            raise NotFound("Team not found.")
        return self.teams[key]

    def list_teams(self, actor):
        self._admin(actor)
        return {"items": list(self.teams.values())}

    def get_team(self, actor, key):
        self._admin(actor)
        return self._team(key)

    def create_team(self, actor, fields, idempotency=None):
        self._admin(actor)
        if fields["key"] in self.teams:
            raise Conflict("A team with this key exists.")
        for member in fields["members"]:
            self.staff.setdefault(member, None)
        self.teams[fields["key"]] = dict(fields)
        return self.teams[fields["key"]]

    def change_team(self, actor, key, fields, idempotency=None):
        self._admin(actor)
        self._team(key).update(fields)
        return self.teams[key]

    def delete_team(self, actor, key):
        self._admin(actor)
        self._team(key)
        del self.teams[key]


class FakeNotifications:
    """The notifications service's contract, in memory."""

    def __init__(self):
        self.notices = []
        self.ids = itertools.count(1)

    def ping(self):
        return "pong"

    def add(self, recipient_id, kind="support_reply", ticket_id=1, title="Support replied"):
        """Test helper: a notice as the event consumer would store it."""
        notice = {
            "id": next(self.ids),
            "recipient_id": recipient_id,
            "kind": kind,
            "ticket_id": ticket_id,
            "title": title,
            "body": "A reply.",
            "created_at": _now(),
            "read_at": None,
        }
        self.notices.append(notice)
        return notice

    def _view(self, n):
        return {k: v for k, v in n.items() if k != "recipient_id"}

    def _mine(self, recipient_id):
        return [n for n in reversed(self.notices) if n["recipient_id"] == recipient_id]

    def list_notices(self, recipient_id, params):
        mine = self._mine(recipient_id)
        items = [n for n in mine if not params.get("unread") or n["read_at"] is None]
        return {
            "items": [self._view(n) for n in items[: params.get("limit", 20)]],
            "next_cursor": None,
            "unread_count": sum(1 for n in mine if n["read_at"] is None),
        }

    def unread_count(self, recipient_id):
        return {"unread_count": sum(1 for n in self._mine(recipient_id) if n["read_at"] is None)}

    def get_notice(self, recipient_id, notice_id):
        for n in self._mine(recipient_id):
            if n["id"] == notice_id:
                return self._view(n)
        raise NotFound("Notice not found.")

    def mark_read(self, recipient_id, notice_id, idempotency=None):
        for n in self._mine(recipient_id):
            if n["id"] == notice_id:
                n["read_at"] = n["read_at"] or _now()
                return self._view(n)
        raise NotFound("Notice not found.")

    def mark_all_read(self, recipient_id, idempotency=None):
        unread = [n for n in self._mine(recipient_id) if n["read_at"] is None]
        for n in unread:
            n["read_at"] = _now()
        return {"updated": len(unread)}


class FakeClients:
    """What ``create_app`` needs from ``RpcClients``, backed by the fakes above."""

    def __init__(self, per_day: int = 5):
        self.services = {"tickets": FakeTickets(per_day), "notifications": FakeNotifications()}
        self.down = set()
        self.broker_down = False
        self.calls = []

    def call(self, service, method, *args):
        self.calls.append((service, method, args, current_request_id()))
        if service in self.down or self.broker_down:
            raise ServiceUnavailable(service, "is not running")
        return getattr(self.services[service], method)(*args)

    def ping(self, service):
        if self.call(service, "ping") != "pong":
            raise ServiceUnavailable(service, "answered ping wrongly")

    def check_broker(self):
        if self.broker_down:
            raise ServiceUnavailable("broker", "cannot be reached")
