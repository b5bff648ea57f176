"""Marshmallow schemas that validate every command and query before it touches data.

Unknown fields are rejected (marshmallow's ``RAISE``), wrong types fail, text is
trimmed before its length is counted. ``load`` turns a failure into the typed
``ValidationFailed`` whose ``details`` map each field to its messages.
"""

from __future__ import annotations

import base64
import json

from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    validate,
    validates,
    validates_schema,
)

from shared.catalog import (
    CLOSE_NOTE_LENGTH,
    DESCRIPTION_LENGTH,
    ISSUE_TYPES,
    MESSAGE_LENGTH,
    PRIORITIES,
    RESOLUTION_NOTE_LENGTH,
    STATUS_KEYS,
    SUBJECT_LENGTH,
)
from shared.errors import ValidationFailed
from shared.fields import StrictBoolean, Trimmed

ISSUE_TYPE_KEYS = tuple(t["key"] for t in ISSUE_TYPES)
SORTS = ("priority", "created", "updated")
DEFAULT_LIMIT, MAX_LIMIT = 20, 100


def _length(bounds) -> validate.Length:
    low, high = bounds
    return validate.Length(
        min=low, max=high, error=f"Must be between {low} and {high} characters after trimming."
    )


class StrictInteger(fields.Integer):
    """An integer, or a string of digits (query parameters); never a bool or a float."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class _Command(Schema):
    class Meta:
        unknown = RAISE


class CreateTicket(_Command):
    """``create_ticket`` fields; the feature list comes from ``Settings.features``."""

    issue_type = fields.String(required=True, validate=validate.OneOf(ISSUE_TYPE_KEYS))
    feature = fields.String(required=True)
    subject = Trimmed(required=True, validate=_length(SUBJECT_LENGTH))
    description = Trimmed(required=True, validate=_length(DESCRIPTION_LENGTH))

    def __init__(self, features, **kwargs):
        super().__init__(**kwargs)
        self.feature_keys = tuple(key for key, _label in features)

    @validates("feature")
    def _known_feature(self, value, **kwargs):
        if value not in self.feature_keys:
            raise ValidationError(f"Must be one of: {', '.join(self.feature_keys)}.")


class AddReply(_Command):
    body = Trimmed(required=True, validate=_length(MESSAGE_LENGTH))


class AdminAddMessage(AddReply):
    internal = StrictBoolean(load_default=False)


class CloseTicket(_Command):
    note = Trimmed(load_default=None, allow_none=True, validate=_length(CLOSE_NOTE_LENGTH))


class ChangeStatus(_Command):
    status = fields.String(required=True, validate=validate.OneOf(STATUS_KEYS))
    resolution_note = Trimmed(
        load_default=None, allow_none=True, validate=_length(RESOLUTION_NOTE_LENGTH)
    )

    @validates_schema
    def _note_only_when_resolving(self, data, **kwargs):
        status, note = data.get("status"), data.get("resolution_note")
        if status == "resolved" and not note:
            raise ValidationError("Required when resolving a ticket.", "resolution_note")
        if status not in (None, "resolved") and note is not None:
            raise ValidationError("Only allowed when the status is resolved.", "resolution_note")


class AssignTicket(_Command):
    assignee_id = fields.String(required=True, allow_none=True, validate=validate.Length(min=1))
    assignee_name = fields.String(load_default=None, allow_none=True)


class ListTickets(_Command):
    status = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(STATUS_KEYS))
    q = fields.String(load_default=None, allow_none=True)
    limit = StrictInteger(load_default=DEFAULT_LIMIT, validate=validate.Range(min=1, max=MAX_LIMIT))
    cursor = fields.String(load_default=None, allow_none=True)


class AdminListTickets(ListTickets):
    priority = fields.String(
        load_default=None, allow_none=True, validate=validate.OneOf(PRIORITIES)
    )
    assignee = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1))
    sort = fields.String(load_default="created", allow_none=False, validate=validate.OneOf(SORTS))


def load(schema: Schema, data) -> dict:
    """Validate ``data`` with ``schema``; raise ``ValidationFailed`` naming each bad field."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ValidationFailed("The request is invalid.", {"_schema": ["Must be an object."]})
    try:
        return schema.load(data)
    except ValidationError as exc:
        details = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        raise ValidationFailed("The request is invalid.", _as_lists(details)) from None


def _as_lists(details: dict) -> dict:
    # The contract promises {field: [messages]}; marshmallow may nest dicts.
    flat = {}
    for key, value in details.items():
        flat[key] = value if isinstance(value, list) else [str(value)]
    return flat


def encode_cursor(key: list) -> str:
    """An opaque keyset cursor for the last item of a page."""
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, length: int) -> list | None:
    """The keyset position in ``cursor``; ``ValidationFailed`` if it is not one of ours."""
    if cursor is None or cursor == "":
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, TypeError):
        key = None
    if not isinstance(key, list) or len(key) != length:
        raise ValidationFailed("The request is invalid.", {"cursor": ["Not a valid cursor."]})
    return key
