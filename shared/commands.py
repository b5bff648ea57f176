"""The fields of every ticket command, validated once by one set of schemas.

An HTTP process validates request bodies with these (and describes them in its
OpenAPI document from them); the service that runs the command validates the same
fields again with the same classes, since it trusts no caller. Text is trimmed
before its length is counted; unknown fields are rejected; wrong types fail.
"""

from __future__ import annotations

import re

from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    missing,
    validate,
    validates_schema,
)

from shared.catalog import (
    CLOSE_NOTE_LENGTH,
    DESCRIPTION_LENGTH,
    ISSUE_TYPE_KEYS,
    KEY_PATTERN,
    KEY_RULE,
    MACRO_PLACEHOLDERS,
    MACRO_TITLE_LENGTH,
    MESSAGE_LENGTH,
    PRIORITIES,
    PRIORITY_REASON_LENGTH,
    RESOLUTION_NOTE_LENGTH,
    STATUS_KEYS,
    SUBJECT_LENGTH,
    TEAM_ASSIGNMENTS,
)
from shared.fields import StrictBoolean, Trimmed
from shared.ids import MAX_ID_LENGTH, MAX_ROW_ID

# What the support list's ``assignee`` filter means by itself, never an admin's id:
# the caller, or nobody.
ME, NOBODY = "me", "none"
ASSIGNEE_KEYWORDS = (ME, NOBODY)
# The support list's ``team`` filter word for tickets no team took, never a team's key.
NO_TEAM = "none"


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


class TicketNumber(fields.Integer):
    """A ticket id in a JSON body: an integer (never a bool, a float or a string)."""

    def __init__(self, **kwargs):
        super().__init__(strict=True, validate=validate.Range(min=1, max=MAX_ROW_ID), **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class CreateTicket(_Command):
    """A new ticket (``POST /api/v1/tickets``); ``feature`` must be a configured feature key;
    ``follows_up`` one of the caller's own tickets (checked by the service that runs it)."""

    issue_type = fields.String(required=True, validate=validate.OneOf(ISSUE_TYPE_KEYS))
    feature = fields.String(required=True)
    subject = Trimmed(required=True, validate=text_length(SUBJECT_LENGTH))
    description = Trimmed(required=True, validate=text_length(DESCRIPTION_LENGTH))
    follows_up = TicketNumber(
        allow_none=True,
        metadata={"description": "The id of one of the caller's earlier tickets (any status)."},
    )

    def __init__(self, feature_keys=(), **kwargs):
        super().__init__(**kwargs)
        self.fields["feature"].validators = [validate.OneOf(tuple(feature_keys))]


class AddReply(_Command):
    """The owner's reply (``POST /api/v1/tickets/{id}/messages``)."""

    body = Trimmed(required=True, validate=text_length(MESSAGE_LENGTH))


def _resolution_note_rules(status, note) -> None:
    """``resolution_note`` only, and always, when the status set is resolved."""
    if status == "resolved" and not note:
        raise ValidationError("Required when the status is resolved.", "resolution_note")
    if status != "resolved" and note is not None:
        raise ValidationError("Only allowed when the status is resolved.", "resolution_note")


def _resolution_note():
    return Trimmed(load_default=None, allow_none=True, validate=text_length(RESOLUTION_NOTE_LENGTH))


class AdminAddMessage(AddReply):
    """Support's reply or internal note (``POST /api/v1/admin/tickets/{id}/messages``);
    ``internal`` notes reach no user. A public reply may carry the ``status`` it leaves
    the ticket in (``resolution_note`` as for ``ChangeStatus``): one action."""

    internal = StrictBoolean(load_default=False)
    status = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.OneOf(STATUS_KEYS),
        metadata={"description": "The status the reply leaves the ticket in (public replies)."},
    )
    resolution_note = _resolution_note()

    @validates_schema
    def _status_with_public_replies_only(self, data, **kwargs):
        status = data.get("status")
        if status is not None and data.get("internal"):
            raise ValidationError("An internal note cannot change the status.", "status")
        _resolution_note_rules(status, data.get("resolution_note"))


class CloseTicket(_Command):
    """The owner closes a ticket (``POST /api/v1/tickets/{id}/close``); the body may be empty."""

    note = Trimmed(load_default=None, allow_none=True, validate=text_length(CLOSE_NOTE_LENGTH))


class ChangeStatus(_Command):
    """Support changes the status (``POST /api/v1/admin/tickets/{id}/status``);
    ``resolution_note`` only, and always, when resolving."""

    status = fields.String(required=True, validate=validate.OneOf(STATUS_KEYS))
    resolution_note = _resolution_note()

    @validates_schema
    def _note_only_when_resolving(self, data, **kwargs):
        if "status" in data:  # a missing status is already its own error
            _resolution_note_rules(data["status"], data.get("resolution_note"))


class ChangePriority(_Command):
    """Support changes the priority (``POST /api/v1/admin/tickets/{id}/priority``),
    saying why."""

    priority = fields.String(required=True, validate=validate.OneOf(PRIORITIES))
    reason = Trimmed(required=True, validate=text_length(PRIORITY_REASON_LENGTH))


_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def macro_placeholders(body: str) -> list[str]:
    """The ``{name}`` placeholders in a macro body, in order."""
    return _PLACEHOLDER.findall(body)


def _known_placeholders(body: str) -> None:
    unknown = sorted({name for name in macro_placeholders(body)} - set(MACRO_PLACEHOLDERS))
    if unknown:
        known = ", ".join(f"{{{name}}}" for name in MACRO_PLACEHOLDERS)
        names = ", ".join(f"{{{name}}}" for name in unknown)
        raise ValidationError(f"Unknown placeholders {names}; known: {known}.")


class CreateMacro(_Command):
    """A canned reply (``POST /api/v1/admin/macros``): its ``body`` may hold the
    placeholders ``{owner_name}``, ``{ticket_id}`` and ``{agent_name}``; ``status``
    is what the reply box preselects with it."""

    title = Trimmed(required=True, validate=text_length(MACRO_TITLE_LENGTH))
    body = Trimmed(
        required=True,
        validate=[text_length(MESSAGE_LENGTH), _known_placeholders],
        metadata={"description": "Placeholders: {owner_name}, {ticket_id}, {agent_name}."},
    )
    status = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(STATUS_KEYS))


def _staff_id(**kwargs) -> Trimmed:
    """A staff member's id: trimmed, 1-200 characters, never the list filter's
    keywords (a ticket held by "me" could never be found)."""
    return Trimmed(
        validate=[
            validate.Length(min=1, max=MAX_ID_LENGTH),
            validate.NoneOf(ASSIGNEE_KEYWORDS, error="'me' and 'none' are not admin ids."),
        ],
        **kwargs,
    )


class AssignTicket(_Command):
    """Support assigns a ticket (``POST /api/v1/admin/tickets/{id}/assign``) to known
    staff (the directory names them); ``assignee_id`` null unassigns."""

    assignee_id = _staff_id(required=True, allow_none=True)


TEAM_LABEL_LENGTH = (1, 100)
MAX_TEAM_MEMBERS = 200


class Distinct(validate.Validator):
    """A list that names each value once."""

    error = "Lists a value twice."

    def __call__(self, values):
        if len(set(values)) != len(values):
            raise ValidationError(self.error)
        return values


class TeamFields(_Command):
    """What a team is made of: ``label``, ``members`` (staff ids, in the order round
    robin walks them; an id the directory does not know becomes known staff), the
    ``features`` and ``issue_types`` it takes (catalog keys) and how it assigns.
    ``feature_keys``: the configured features."""

    label = Trimmed(required=True, validate=text_length(TEAM_LABEL_LENGTH))
    members = fields.List(
        _staff_id(), load_default=list, validate=[validate.Length(max=MAX_TEAM_MEMBERS), Distinct()]
    )
    features = fields.List(fields.String(), load_default=list, validate=Distinct())
    issue_types = fields.List(
        fields.String(validate=validate.OneOf(ISSUE_TYPE_KEYS)),
        load_default=list,
        validate=Distinct(),
    )
    assignment = fields.String(load_default="manual", validate=validate.OneOf(TEAM_ASSIGNMENTS))

    def __init__(self, feature_keys=(), **kwargs):
        super().__init__(**kwargs)
        self.fields["features"].inner.validators = [validate.OneOf(tuple(feature_keys))]


class CreateTeam(TeamFields):
    """A new team (``POST /api/v1/admin/teams``); its ``key`` names it for good."""

    key = fields.String(
        required=True,
        validate=[
            validate.Regexp(KEY_PATTERN, error=KEY_RULE),
            validate.NoneOf((NO_TEAM,), error=f"'{NO_TEAM}' is not a team key."),
        ],
    )


class ChangeTeam(TeamFields):
    """A change to a team (``PATCH /api/v1/admin/teams/{key}``): only the fields given
    change; the key cannot."""

    def __init__(self, feature_keys=(), **kwargs):
        super().__init__(feature_keys, **kwargs)
        for name in self.fields:
            self.fields[name].required = False
            self.fields[name].load_default = missing


class ChangeMacro(CreateMacro):
    """A canned reply's change (``PATCH /api/v1/admin/macros/{id}``): the fields given,
    each by the same rules; ``status`` null preselects none."""

    title = Trimmed(validate=text_length(MACRO_TITLE_LENGTH))
    body = Trimmed(
        validate=[text_length(MESSAGE_LENGTH), _known_placeholders],
        metadata={"description": "Placeholders: {owner_name}, {ticket_id}, {agent_name}."},
    )
    status = fields.String(allow_none=True, validate=validate.OneOf(STATUS_KEYS))
