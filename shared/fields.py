"""Marshmallow fields shared by every layer that validates ticket input.

An HTTP process and the services validate the same fields with the same rules; these
are the field types whose behaviour is not marshmallow's default.
"""

from marshmallow import fields

from shared.text import is_text


class Text(fields.String):
    """A string that can be stored and sent on as UTF-8: a 422, not a 500, otherwise."""

    default_error_messages = {
        "not_text": "Must not contain NUL characters or unpaired surrogates.",
    }

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if not is_text(text):
            raise self.make_error("not_text")
        return text


class Trimmed(Text):
    """Text with surrounding whitespace removed before its length is counted."""

    def _deserialize(self, value, attr, data, **kwargs):
        return super()._deserialize(value, attr, data, **kwargs).strip()


class StrictBoolean(fields.Boolean):
    """Only JSON ``true``/``false``: ``"yes"`` or ``1`` are rejected."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value
