"""Marshmallow fields shared by every layer that validates ticket input.

The gateway and the services validate the same fields with the same rules; these
are the field types whose behaviour is not marshmallow's default.
"""

from marshmallow import fields


class Trimmed(fields.String):
    """A string with surrounding whitespace removed before its length is counted."""

    def _deserialize(self, value, attr, data, **kwargs):
        return super()._deserialize(value, attr, data, **kwargs).strip()


class StrictBoolean(fields.Boolean):
    """Only JSON ``true``/``false``: ``"yes"`` or ``1`` are rejected."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value
