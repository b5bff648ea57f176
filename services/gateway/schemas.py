"""Marshmallow schemas for every request and response of the HTTP contract.

Request schemas validate query strings and JSON bodies before any RPC call (the
tickets service validates again); response schemas describe what the services
return. ``openapi.py`` generates the OpenAPI document from these same classes,
so the document cannot drift from what is enforced.

Query strings: a value of the wrong type (``limit=abc``, ``unread=maybe``, a
parameter given twice) is a 400 ``malformed_request``; a well-typed value out of
range (``limit=0``, an unknown ``status``) is a 422 with per-field details.
"""

from __future__ import annotations

import re

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from services.gateway.auth import MAX_NAME_LENGTH
from services.gateway.errors import ApiError
from shared import commands
from shared.catalog import (
    ACTORS,
    AUTHORS,
    DEFAULT_SORT,
    DEFAULT_STATS_DAYS,
    DESCRIPTION_LENGTH,
    KEY_PATTERN,
    KEY_RULE,
    MAX_MESSAGES_PAGE,
    MESSAGE_LENGTH,
    NOTICE_KINDS,
    OPEN_STATUSES,
    PRIORITIES,
    ROLES,
    SLA_FILTERS,
    SLA_STATES,
    SORTS,
    STATS_DAYS,
    STATUS_KEYS,
    TEAM_ASSIGNMENTS,
    USER_ROLE,
    VIEW_MESSAGES,
)
from shared.errors import INVALID_REQUEST
from shared.fields import Text, Trimmed
from shared.ids import MAX_ID_LENGTH, MAX_ROW_ID, MAX_ROW_ID_DIGITS
from shared.paging import DEFAULT_LIMIT, MAX_CURSOR_LENGTH, MAX_LIMIT

ISSUE_TYPE_KEYS = commands.ISSUE_TYPE_KEYS
MAX_QUERY_LENGTH = 200
PREVIEW_LENGTH = (0, max(DESCRIPTION_LENGTH[1], MESSAGE_LENGTH[1]))


# ---------------------------------------------------------------- fields


def _malformed(name: str, expected: str) -> ApiError:
    return ApiError(
        400,
        f"Query parameter '{name}' must be {expected}.",
        details={name: [f"Must be {expected}."]},
    )


_INTEGER = re.compile(r"-?[0-9]+")
# Beyond any range a parameter has (a row id's is the widest); keeps int() off a
# thousand-digit string.
_HUGE = MAX_ROW_ID + 1


class QueryInteger(fields.Integer):
    """A query-string integer: anything but ASCII digits (after an optional minus) is a
    400; a well-formed integer of any size is the range rule's business (422)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str) or not _INTEGER.fullmatch(value):
            raise _malformed(attr, "an integer")
        digits = value.lstrip("-").lstrip("0") or "0"
        number = int(digits) if len(digits) <= MAX_ROW_ID_DIGITS else _HUGE
        return -number if value.startswith("-") else number


class QueryBoolean(fields.Boolean):
    """A query-string boolean: ``true``/``false``/``1``/``0``; anything else is a 400."""

    VALUES = {"true": True, "1": True, "false": False, "0": False}

    def _deserialize(self, value, attr, data, **kwargs):
        key = value.strip().lower() if isinstance(value, str) else None
        if key not in self.VALUES:
            raise _malformed(attr, "true or false")
        return self.VALUES[key]


# ---------------------------------------------------------------- requests


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class TicketListQuery(_Strict):
    """``GET /api/v1/tickets`` query parameters."""

    status = fields.String(
        validate=validate.OneOf(STATUS_KEYS),
        metadata={"description": "Only tickets in this status."},
    )
    q = Text(
        validate=validate.Length(max=MAX_QUERY_LENGTH),
        metadata={
            "description": "Digits (optionally after '#') match the ticket id; other text a case-insensitive substring of the subject."
        },
    )
    limit = QueryInteger(
        validate=validate.Range(min=1, max=MAX_LIMIT), metadata={"default": DEFAULT_LIMIT}
    )
    cursor = Text(
        validate=validate.Length(min=1, max=MAX_CURSOR_LENGTH),
        metadata={"description": "next_cursor of the previous page."},
    )


class AdminTicketListQuery(TicketListQuery):
    """``GET /api/v1/admin/tickets`` query parameters."""

    priority = fields.String(validate=validate.OneOf(PRIORITIES))
    assignee = Text(
        validate=validate.Length(min=1, max=MAX_ID_LENGTH),
        metadata={"description": "An admin id, 'me' or 'none'."},
    )
    sla = fields.String(
        validate=validate.OneOf(SLA_FILTERS),
        metadata={
            "description": "Only tickets whose response clock is in this state: due (a "
            "response is owed, on track), at_risk (80% of its target has passed) or "
            "breached (past due)."
        },
    )
    team = fields.String(
        validate=validate.Regexp(KEY_PATTERN, error=f"A team key or 'none'. {KEY_RULE}"),
        metadata={"description": "A team's key, or 'none': the tickets no team took."},
    )
    owner = Text(
        validate=validate.Length(min=1, max=MAX_ID_LENGTH),
        metadata={"description": "A user id: that customer's tickets."},
    )
    issue_type = fields.String(validate=validate.OneOf(ISSUE_TYPE_KEYS))
    feature = Text(
        validate=validate.Length(min=1, max=MAX_ID_LENGTH),
        metadata={
            "description": "A feature key (also one no longer configured: its tickets remain)."
        },
    )
    sort = fields.String(
        validate=validate.OneOf(SORTS),
        metadata={
            "default": DEFAULT_SORT,
            "description": "priority: critical first, then oldest; created/updated: newest "
            "first; due: the soonest owed response first, tickets that owe none last.",
        },
    )


class StatsQuery(_Strict):
    """``GET /api/v1/admin/stats`` query parameters."""

    days = QueryInteger(
        validate=validate.Range(min=STATS_DAYS[0], max=STATS_DAYS[1]),
        metadata={
            "default": DEFAULT_STATS_DAYS,
            "description": "The window of the per-day counts and of first responses: "
            "this many UTC days, today included.",
        },
    )


class MessageListQuery(_Strict):
    """``GET /api/v1/tickets/{id}/messages`` (and the admin one) query parameters."""

    before = QueryInteger(
        validate=validate.Range(min=1, max=MAX_ROW_ID),
        metadata={
            "description": "A message id: the page holds the latest messages before it "
            "(absent: the latest, as the ticket's view has them)."
        },
    )
    limit = QueryInteger(
        validate=validate.Range(min=1, max=MAX_MESSAGES_PAGE),
        metadata={"default": VIEW_MESSAGES},
    )


class NoticeListQuery(_Strict):
    """``GET /api/v1/notifications`` query parameters."""

    unread = QueryBoolean(metadata={"description": "true: only unread notices."})
    limit = QueryInteger(
        validate=validate.Range(min=1, max=MAX_LIMIT), metadata={"default": DEFAULT_LIMIT}
    )
    cursor = Text(validate=validate.Length(min=1, max=MAX_CURSOR_LENGTH))


# Ticket command bodies: the same classes the tickets service validates with.
CreateTicketBody = commands.CreateTicket
ReplyBody = commands.AddReply
CloseBody = commands.CloseTicket
AdminMessageBody = commands.AdminAddMessage
StatusBody = commands.ChangeStatus
PriorityBody = commands.ChangePriority
MacroBody = commands.CreateMacro
MacroChangeBody = commands.ChangeMacro
AssignBody = commands.AssignTicket
TeamBody = commands.CreateTeam
TeamChangeBody = commands.ChangeTeam


class PreviewBody(_Strict):
    """``POST /api/v1/preview``."""

    text = Text(required=True, validate=commands.text_length(PREVIEW_LENGTH, trimmed=False))


class EmptyBody(_Strict):
    """Endpoints that take no fields (an empty body or ``{}``)."""


class DevTokenBody(_Strict):
    """``POST /help-center/dev/token`` (development only): the claims of a local token,
    within the limits the gateway accepts in any token."""

    sub = Trimmed(required=True, validate=validate.Length(min=1, max=MAX_ID_LENGTH))
    role = fields.String(load_default=USER_ROLE, validate=validate.OneOf(ROLES))
    name = Trimmed(
        load_default=None, allow_none=True, validate=validate.Length(max=MAX_NAME_LENGTH)
    )


# ---------------------------------------------------------------- responses

_TS = {"format": "date-time"}


def _count(description: str | None = None) -> fields.Integer:
    """A count: a required whole number, never negative."""
    metadata = {"minimum": 0} if description is None else {"minimum": 0, "description": description}
    return fields.Integer(required=True, metadata=metadata)


def _items(schema, **metadata) -> fields.List:
    """A required list of ``schema`` objects (``metadata``: the description)."""
    return fields.List(fields.Nested(schema), required=True, metadata=metadata)


class Person(Schema):
    id = fields.String(required=True)
    name = fields.String(required=True, allow_none=True)


class TicketItem(Schema):
    id = fields.Integer(required=True, metadata={"minimum": 1})
    subject = fields.String(required=True)
    issue_type = fields.String(required=True, validate=validate.OneOf(ISSUE_TYPE_KEYS))
    feature = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(STATUS_KEYS))
    priority = fields.String(required=True, validate=validate.OneOf(PRIORITIES))
    created_at = fields.String(required=True, metadata=_TS)
    updated_at = fields.String(required=True, metadata=_TS)
    last_message_at = fields.String(required=True, allow_none=True, metadata=_TS)


class Message(Schema):
    id = fields.Integer(required=True)
    author = fields.String(required=True, validate=validate.OneOf(AUTHORS))
    author_name = fields.String(required=True, allow_none=True)
    body = fields.String(required=True)
    body_html = fields.String(required=True, metadata={"description": "Sanitized HTML of body."})
    created_at = fields.String(required=True, metadata=_TS)


class AdminMessage(Message):
    internal = fields.Boolean(required=True)


class TimelineEntry(Schema):
    status = fields.String(required=True, validate=validate.OneOf(STATUS_KEYS))
    at = fields.String(required=True, metadata=_TS)
    by = fields.String(required=True, validate=validate.OneOf(ACTORS))


class _Recorded(Schema):
    """A history entry: when, and the name of the admin who made it."""

    at = fields.String(required=True, metadata=_TS)
    by_name = fields.String(required=True, allow_none=True)


class Resolution(_Recorded):
    note = fields.String(required=True)


class TicketLink(Schema):
    id = fields.Integer(required=True, metadata={"minimum": 1})
    subject = fields.String(required=True)


class FollowUp(TicketLink):
    status = fields.String(required=True, validate=validate.OneOf(STATUS_KEYS))


class PriorityChange(_Recorded):
    from_priority = fields.String(required=True, validate=validate.OneOf(PRIORITIES))
    to_priority = fields.String(required=True, validate=validate.OneOf(PRIORITIES))
    reason = fields.String(required=True)


class Ticket(TicketItem):
    description = fields.String(required=True)
    description_html = fields.String(
        required=True, metadata={"description": "Sanitized HTML of description."}
    )
    assignee = fields.Nested(Person, required=True, allow_none=True)
    resolution_note = fields.String(required=True, allow_none=True)
    closed_note = fields.String(required=True, allow_none=True)
    messages = _items(
        Message,
        description=f"The latest {VIEW_MESSAGES} messages, oldest first; "
        "earlier ones from GET .../messages?before=",
    )
    earlier_messages = _count("How many messages the ticket has before these.")
    timeline = _items(TimelineEntry)
    resolutions = _items(
        Resolution,
        description="Every resolution note the ticket has had, oldest first; "
        "resolution_note is the latest and is never cleared.",
    )
    follows_up = fields.Nested(
        TicketLink,
        required=True,
        allow_none=True,
        metadata={"description": "The owner's earlier ticket this one follows up."},
    )
    follow_ups = _items(
        FollowUp,
        description="The owner's later tickets that follow this one up, oldest first (at most 50).",
    )


class Sla(Schema):
    """A ticket's response clock (support's views only)."""

    state = fields.String(
        required=True,
        validate=validate.OneOf(SLA_STATES),
        metadata={
            "description": "due: a response is owed, on track; at_risk: 80% of its target "
            "has passed; breached: past due_at; none: nothing is owed (also while the "
            "ticket is awaiting_user, resolved or closed)."
        },
    )
    due_at = fields.String(
        required=True,
        allow_none=True,
        metadata={**_TS, "description": "When the owed response is due; null when none."},
    )
    first_response_due_at = fields.String(
        required=True,
        allow_none=True,
        metadata={**_TS, "description": "When the first public support reply is (or was) due."},
    )
    first_response_at = fields.String(
        required=True,
        allow_none=True,
        metadata={**_TS, "description": "When support first replied publicly; null until then."},
    )


class TeamRef(Schema):
    key = fields.String(required=True)
    label = fields.String(required=True)


_TEAM_OF_TICKET = {
    "description": "The team the ticket was routed to on arrival (null: none took it)."
}


class AdminTicketItem(TicketItem):
    owner = fields.Nested(Person, required=True)
    assignee = fields.Nested(Person, required=True, allow_none=True)
    sla = fields.Nested(Sla, required=True)
    team = fields.Nested(TeamRef, required=True, allow_none=True, metadata=_TEAM_OF_TICKET)


class AdminTicket(Ticket):
    owner = fields.Nested(Person, required=True)
    sla = fields.Nested(Sla, required=True)
    messages = _items(AdminMessage)
    team = fields.Nested(TeamRef, required=True, allow_none=True, metadata=_TEAM_OF_TICKET)
    priority_changes = _items(
        PriorityChange, description="Support's priority changes and their reasons, oldest first."
    )
    next_statuses = fields.List(
        fields.String(validate=validate.OneOf(STATUS_KEYS)),
        required=True,
        metadata={"description": "The statuses support may move the ticket to now."},
    )


class StaffMember(Schema):
    id = fields.String(required=True)
    name = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "The latest name their token carried (null: none yet)."},
    )
    teams = fields.List(
        fields.String(), required=True, metadata={"description": "Keys of their teams."}
    )
    open_assigned = _count(
        "Tickets assigned to them still needing work (open, in_review, awaiting_user)."
    )


class StaffList(Schema):
    items = _items(StaffMember)


class Team(Schema):
    key = fields.String(required=True)
    label = fields.String(required=True)
    members = fields.List(fields.String(), required=True)
    features = fields.List(fields.String(), required=True)
    issue_types = fields.List(fields.String(), required=True)
    assignment = fields.String(required=True, validate=validate.OneOf(TEAM_ASSIGNMENTS))


class TeamList(Schema):
    items = _items(Team)


class Macro(Schema):
    id = fields.Integer(required=True, metadata={"minimum": 1})
    title = fields.String(required=True)
    body = fields.String(
        required=True,
        metadata={"description": "May hold {owner_name}, {ticket_id} and {agent_name}."},
    )
    status = fields.String(
        required=True,
        allow_none=True,
        validate=validate.OneOf(STATUS_KEYS),
        metadata={"description": "The status the reply box preselects with it."},
    )
    created_at = fields.String(required=True, metadata=_TS)
    updated_at = fields.String(required=True, metadata=_TS)
    updated_by_name = fields.String(required=True, allow_none=True)


def _counts(keys, what: str) -> fields.Dict:
    return fields.Dict(
        keys=fields.String(validate=validate.OneOf(keys)),
        values=fields.Integer(),
        required=True,
        metadata={"description": f"Open tickets per {what} (every one present, zeros too)."},
    )


class OpenCounts(Schema):
    total = _count()
    by_status = _counts(OPEN_STATUSES, "status")
    by_priority = _counts(PRIORITIES, "priority")


class FirstResponses(Schema):
    median_seconds = fields.Float(required=True, allow_none=True)
    p90_seconds = fields.Float(required=True, allow_none=True)
    answered = _count()
    met = _count("Answered by their due time.")
    missed = _count("Answered late, or overdue and still unanswered.")
    met_share = fields.Float(
        required=True,
        allow_none=True,
        metadata={"description": "met / (met + missed); null when there are none."},
    )


class DayCounts(Schema):
    date = fields.String(required=True, metadata={"format": "date"})
    created = _count()
    resolved = _count("Tickets resolved that UTC day.")


class Stats(Schema):
    days = fields.Integer(required=True)
    since = fields.String(required=True, metadata=_TS)
    generated_at = fields.String(required=True, metadata=_TS)
    open = fields.Nested(
        OpenCounts,
        required=True,
        metadata={"description": "Tickets open now (open, in_review, awaiting_user)."},
    )
    unassigned = fields.Integer(required=True, metadata={"description": "Open and held by nobody."})
    at_risk = fields.Integer(
        required=True, metadata={"description": "Open, response clock at risk."}
    )
    breached = fields.Integer(required=True, metadata={"description": "Open, response overdue."})
    first_response = fields.Nested(
        FirstResponses,
        required=True,
        metadata={"description": "Of the tickets opened since `since` (wall-clock time)."},
    )
    per_day = _items(DayCounts)


class MacroList(Schema):
    items = _items(Macro)


class MessagePage(Schema):
    items = _items(Message, description="The latest messages before `before`, oldest first.")
    earlier_messages = _count(
        "How many messages the ticket has before these; "
        "0: this page starts at the first. Next page: before = items[0].id."
    )


class AdminMessagePage(MessagePage):
    items = _items(AdminMessage)


class TicketPage(Schema):
    items = _items(TicketItem)
    next_cursor = fields.String(required=True, allow_none=True)


class AdminTicketPage(TicketPage):
    items = _items(AdminTicketItem)


class Notice(Schema):
    id = fields.Integer(required=True)
    kind = fields.String(
        required=True,
        validate=validate.OneOf(NOTICE_KINDS),
    )
    ticket_id = fields.Integer(required=True)
    title = fields.String(required=True)
    body = fields.String(required=True, allow_none=True)
    created_at = fields.String(required=True, metadata=_TS)
    read_at = fields.String(required=True, allow_none=True, metadata=_TS)


class NoticePage(Schema):
    items = _items(Notice)
    next_cursor = fields.String(required=True, allow_none=True)
    unread_count = fields.Integer(required=True)


class UnreadCount(Schema):
    unread_count = fields.Integer(required=True)


class Updated(Schema):
    updated = fields.Integer(required=True)


class IssueType(Schema):
    key = fields.String(required=True)
    label = fields.String(required=True)
    description = fields.String(required=True)
    priority = fields.String(required=True, validate=validate.OneOf(PRIORITIES))


class KeyLabel(Schema):
    key = fields.String(required=True)
    label = fields.String(required=True)


class Limits(Schema):
    subject = fields.List(fields.Integer(), required=True)
    description = fields.List(fields.Integer(), required=True)
    message = fields.List(fields.Integer(), required=True)
    resolution_note = fields.List(fields.Integer(), required=True)
    close_note = fields.List(fields.Integer(), required=True)
    priority_reason = fields.List(fields.Integer(), required=True)
    tickets_per_day = fields.Integer(required=True)
    messages_per_hour = fields.Integer(required=True)


FirstResponseTargets = Schema.from_dict(
    {p: fields.Integer(required=True, metadata={"minimum": 1}) for p in PRIORITIES},
    name="FirstResponseTargets",
)


class ResponseTargets(Schema):
    first = fields.Nested(
        FirstResponseTargets,
        required=True,
        metadata={"description": "Seconds to the first public support reply, per priority."},
    )
    next = fields.Integer(
        required=True,
        metadata={
            "minimum": 1,
            "description": "Seconds to the next support reply after the owner writes.",
        },
    )


class Catalog(Schema):
    issue_types = _items(IssueType)
    features = _items(KeyLabel)
    statuses = _items(KeyLabel)
    limits = fields.Nested(Limits, required=True)
    response_targets = fields.Nested(
        ResponseTargets,
        required=True,
        metadata={
            "description": "Response times support aims for (in business hours when the "
            "help desk counts them so)."
        },
    )


class PreviewResult(Schema):
    html = fields.String(required=True)


class ErrorDetail(Schema):
    code = fields.String(required=True)
    message = fields.String(required=True)
    details = fields.Dict(
        required=True,
        metadata={"description": "For 422: field -> list of messages; for 429: reset_at."},
    )


class Error(Schema):
    error = fields.Nested(ErrorDetail, required=True)


class Health(Schema):
    status = fields.String(required=True)


# ---------------------------------------------------------------- loading


def load_query(schema: Schema, params: dict) -> dict:
    """Validate query parameters: 400 for a wrong type or a repeated name, else 422."""
    for name, value in params.items():
        if isinstance(value, list):
            raise _malformed(name, "given once")
    known = {k: v for k, v in params.items() if k in schema.fields}
    return load_body(schema, known)


def load_body(schema: Schema, data) -> dict:
    """Validate a parsed JSON body: 422 with per-field details when it breaks a rule."""
    if not isinstance(data, dict):
        raise ApiError(
            422, "The request body must be a JSON object.", {"_schema": ["Must be a JSON object."]}
        )
    try:
        return schema.load(data)
    except ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        details = {k: v if isinstance(v, list) else [str(v)] for k, v in messages.items()}
        raise ApiError(422, INVALID_REQUEST, details) from None
