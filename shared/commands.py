"""The fields of every ticket command, validated once by one set of schemas.

The gateway validates request bodies with these (and describes them in its
OpenAPI document from them); the tickets service validates the same fields again
with the same classes, since it trusts no caller. Text is trimmed before its
length is counted; unknown fields are rejected; wrong types fail.
"""

from __future__ import annotations

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from shared.catalog import (
    CLOSE_NOTE_LENGTH,
    DESCRIPTION_LENGTH,
    ISSUE_TYPES,
    MESSAGE_LENGTH,
    RESOLUTION_NOTE_LENGTH,
    STATUS_KEYS,
    SUBJECT_LENGTH,
)
from shared.fields import StrictBoolean, Trimmed

ISSUE_TYPE_KEYS = tuple(t["key"] for t in ISSUE_TYPES)
MAX_ID_LENGTH = 200
# What the support list's ``assignee`` filter means by itself, never an admin's id.
ASSIGNEE_KEYWORDS = ("me", "none")


def text_length(bounds, trimmed=True) -> validate.Length:
    """A length rule whose message says the limits (and that text is trimmed)."""
    low, high = bounds
    suffix = " after trimming" if trimmed else ""
    return validate.Length(
        min=low, max=high, error=f"Must be between {low} and {high} characters{suffix}."
    )


class _Command(Schema):
    class Meta:
        unknown = RAISE


class CreateTicket(_Command):
    """A new ticket (``POST /api/v1/tickets``); ``feature`` must be a configured feature key."""

    issue_type = fields.String(required=True, validate=validate.OneOf(ISSUE_TYPE_KEYS))
    feature = fields.String(required=True)
    subject = Trimmed(required=True, validate=text_length(SUBJECT_LENGTH))
    description = Trimmed(required=True, validate=text_length(DESCRIPTION_LENGTH))

    def __init__(self, feature_keys=(), **kwargs):
        super().__init__(**kwargs)
        self.fields["feature"].validators = [validate.OneOf(tuple(feature_keys))]


class AddReply(_Command):
    """The owner's reply (``POST /api/v1/tickets/{id}/messages``)."""

    body = Trimmed(required=True, validate=text_length(MESSAGE_LENGTH))


class AdminAddMessage(AddReply):
    """Support's reply or internal note (``POST /api/v1/admin/tickets/{id}/messages``);
    ``internal`` notes reach no user."""

    internal = StrictBoolean(load_default=False)


class CloseTicket(_Command):
    """The owner closes a ticket (``POST /api/v1/tickets/{id}/close``); the body may be empty."""

    note = Trimmed(load_default=None, allow_none=True, validate=text_length(CLOSE_NOTE_LENGTH))


class ChangeStatus(_Command):
    """Support changes the status (``POST /api/v1/admin/tickets/{id}/status``);
    ``resolution_note`` only, and always, when resolving."""

    status = fields.String(required=True, validate=validate.OneOf(STATUS_KEYS))
    resolution_note = Trimmed(
        load_default=None, allow_none=True, validate=text_length(RESOLUTION_NOTE_LENGTH)
    )

    @validates_schema
    def _note_only_when_resolving(self, data, **kwargs):
        status, note = data.get("status"), data.get("resolution_note")
        if status == "resolved" and not note:
            raise ValidationError("Required when the status is resolved.", "resolution_note")
        if status not in (None, "resolved") and note is not None:
            raise ValidationError("Only allowed when the status is resolved.", "resolution_note")


class AssignTicket(_Command):
    """Support assigns a ticket (``POST /api/v1/admin/tickets/{id}/assign``);
    ``assignee_id`` null unassigns."""

    assignee_id = Trimmed(
        required=True,
        allow_none=True,
        validate=[
            validate.Length(min=1, max=MAX_ID_LENGTH),
            # The list filter's keywords: a ticket held by "me" could never be found.
            validate.NoneOf(ASSIGNEE_KEYWORDS, error="'me' and 'none' are not admin ids."),
        ],
    )
    assignee_name = Trimmed(
        load_default=None, allow_none=True, validate=validate.Length(max=MAX_ID_LENGTH)
    )
