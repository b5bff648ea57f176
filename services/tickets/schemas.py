"""Marshmallow schemas that validate every command and query before it touches data.

Unknown fields are rejected (marshmallow's ``RAISE``), wrong types fail, text is
trimmed before its length is counted. ``load`` turns a failure into the typed
``ValidationFailed`` whose ``details`` map each field to its messages.

Each schema is instantiated once, here: a marshmallow schema deep-copies its
fields when instantiated, which cost more than validating a command.
"""

from __future__ import annotations

import functools

from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    validate,
)

from shared.catalog import (
    DEFAULT_SORT,
    DEFAULT_STATS_DAYS,
    KEY_PATTERN,
    KEY_RULE,
    MAX_MESSAGES_PAGE,
    PRIORITIES,
    SLA_FILTERS,
    SORTS,
    STATS_DAYS,
    STATUS_KEYS,
    VIEW_MESSAGES,
)
from shared.commands import (
    ISSUE_TYPE_KEYS,
    AddReply,
    AdminAddMessage,
    AssignTicket,
    ChangeMacro,
    ChangePriority,
    ChangeStatus,
    ChangeTeam,  # noqa: F401 - for for_features' callers
    CloseTicket,
    CreateMacro,
    CreateTeam,  # noqa: F401 - for for_features' callers
    CreateTicket,  # noqa: F401 - for for_features' callers
)
from shared.errors import INVALID_REQUEST, ValidationFailed
from shared.fields import Text
from shared.ids import MAX_ROW_ID
from shared.paging import DEFAULT_LIMIT, MAX_LIMIT


class StrictInteger(fields.Integer):
    """An integer, or a string of digits (query parameters); never a bool or a float."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class _Command(Schema):
    class Meta:
        unknown = RAISE


class ListTickets(_Command):
    status = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(STATUS_KEYS))
    q = Text(load_default=None, allow_none=True)
    limit = StrictInteger(load_default=DEFAULT_LIMIT, validate=validate.Range(min=1, max=MAX_LIMIT))
    cursor = Text(load_default=None, allow_none=True)


class AdminListTickets(ListTickets):
    priority = fields.String(
        load_default=None, allow_none=True, validate=validate.OneOf(PRIORITIES)
    )
    assignee = Text(load_default=None, allow_none=True, validate=validate.Length(min=1))
    # A team's key, or "none": tickets no team took.
    team = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Regexp(KEY_PATTERN, error=f"A team key or 'none'. {KEY_RULE}"),
    )
    owner = Text(load_default=None, allow_none=True, validate=validate.Length(min=1))
    issue_type = fields.String(
        load_default=None, allow_none=True, validate=validate.OneOf(ISSUE_TYPE_KEYS)
    )
    feature = Text(load_default=None, allow_none=True, validate=validate.Length(min=1))
    sort = fields.String(
        load_default=DEFAULT_SORT, allow_none=False, validate=validate.OneOf(SORTS)
    )
    sla = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(SLA_FILTERS))


class ListMessages(_Command):
    # A message id: the page holds the latest messages before it (absent: the latest).
    before = StrictInteger(
        load_default=None, allow_none=True, validate=validate.Range(min=1, max=MAX_ROW_ID)
    )
    limit = StrictInteger(
        load_default=VIEW_MESSAGES, validate=validate.Range(min=1, max=MAX_MESSAGES_PAGE)
    )


class Stats(_Command):
    days = StrictInteger(
        load_default=DEFAULT_STATS_DAYS,
        validate=validate.Range(min=STATS_DAYS[0], max=STATS_DAYS[1]),
    )


STATS = Stats()
LIST_TICKETS = ListTickets()
LIST_MESSAGES = ListMessages()
ADMIN_LIST_TICKETS = AdminListTickets()
ADD_REPLY = AddReply()
ADMIN_ADD_MESSAGE = AdminAddMessage()
CLOSE_TICKET = CloseTicket()
CHANGE_STATUS = ChangeStatus()
CHANGE_PRIORITY = ChangePriority()
CREATE_MACRO = CreateMacro()
CHANGE_MACRO = ChangeMacro()
ASSIGN_TICKET = AssignTicket()


@functools.lru_cache(maxsize=12)
def for_features(schema: type[Schema], feature_keys: tuple[str, ...]) -> Schema:
    """``schema`` (``CreateTicket``, ``CreateTeam``, ``ChangeTeam``: the ones that
    name features) for the configured features, made once per schema and set."""
    return schema(feature_keys)


def load(schema: Schema, data) -> dict:
    """Validate ``data`` with ``schema``; raise ``ValidationFailed`` naming each bad field."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ValidationFailed(INVALID_REQUEST, {"_schema": ["Must be an object."]})
    try:
        return schema.load(data)
    except ValidationError as exc:
        details = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        raise ValidationFailed(INVALID_REQUEST, _as_lists(details)) from None


def _as_lists(details: dict) -> dict:
    # The contract promises {field: [messages]}; marshmallow may nest dicts.
    flat = {}
    for key, value in details.items():
        flat[key] = value if isinstance(value, list) else [str(value)]
    return flat
