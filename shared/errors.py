"""Typed errors that cross the RPC boundary.

Services raise these; nameko serializes them and, because each is registered with
``deserialize_to_instance``, a caller's RPC client gets the same class back (an HTTP
process maps it to HTTP in one table of its own). Arguments must stay
JSON-friendly: nameko stringifies anything that is not a string, list or dict.
"""

from nameko.exceptions import deserialize_to_instance


class HelpdeskError(Exception):
    """Base of every expected, user-facing error."""

    code = "error"

    def __init__(self, message: str, details: dict | None = None):
        super().__init__(message, details or {})
        self.message = message
        self.details = details or {}

    def __str__(self) -> str:
        return self.message


# What every 422 says; its ``details`` say which fields are wrong and why.
INVALID_REQUEST = "The request is invalid."


@deserialize_to_instance
class ValidationFailed(HelpdeskError):
    """Input breaks a rule; ``details`` maps each field to a list of messages."""

    code = "validation_failed"


@deserialize_to_instance
class NotFound(HelpdeskError):
    """Missing, or not the caller's: the two must be indistinguishable."""

    code = "not_found"


@deserialize_to_instance
class Forbidden(HelpdeskError):
    """The caller's role may not do this at all."""

    code = "forbidden"


@deserialize_to_instance
class Conflict(HelpdeskError):
    """The ticket's current state forbids the action (closed, illegal transition)."""

    code = "conflict"


@deserialize_to_instance
class RateLimited(HelpdeskError):
    """Daily ticket allowance spent; ``details`` holds ``reset_at`` and ``retry_after``."""

    code = "rate_limited"


@deserialize_to_instance
class StorageUnavailable(HelpdeskError):
    """The service's database could not be reached: nothing was done, try again later."""

    code = "service_unavailable"


@deserialize_to_instance
class DataIntegrityError(HelpdeskError):
    """Stored ticket text failed its integrity check (altered, truncated, or moved
    from another row), so it is not returned. Raised by ``shared.crypto`` (where it
    is also called ``TamperedValue``); an HTTP caller answers 500 with this message."""

    code = "data_integrity_error"

    @classmethod
    def because(cls, reason: str) -> "DataIntegrityError":
        """The error for one cause, worded for whoever reads the API's answer."""
        return cls(
            f"Stored ticket text failed its integrity check ({reason}) and is not shown; "
            "the operators have been alerted.",
            {"reason": reason},
        )
