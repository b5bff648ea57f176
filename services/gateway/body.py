"""Reading request bodies safely: size first, then media type, then JSON.

The order follows the contract's precedence (413, then 415, then 400, then 422).
A body is refused as too large from its ``Content-Length`` before a byte is read,
and the stream read is capped too (chunked bodies have no length), so nothing
larger than 64 KiB is ever held in memory.
"""

from __future__ import annotations

import json
from collections import Counter

from services.gateway.errors import ApiError, RequestTimeout

MAX_BODY_BYTES = 64 * 1024
TOO_LARGE = f"The request body is larger than {MAX_BODY_BYTES // 1024} KiB."
JSON_MEDIA_TYPE = "application/json"
# What ``read_json`` returns for an empty optional body (JSON ``null`` is not empty).
NO_BODY = object()


def _reject_constant(name):
    # Python's json accepts NaN and Infinity; JSON does not.
    raise ValueError(f"{name} is not valid JSON")


def _is_json(content_type: str | None) -> bool:
    """``application/json``, with no charset or UTF-8's (JSON is UTF-8 only, RFC 8259)."""
    media_type, *params = (content_type or "").split(";")
    if media_type.strip().lower() != JSON_MEDIA_TYPE:
        return False
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in (
            "utf-8",
            "utf8",
        ):
            return False
    return True


class DuplicateKey(ValueError):
    """A JSON object names one key twice."""


def _object_without_duplicates(pairs: list) -> dict:
    # json keeps the last of repeated keys; another reader of the same bytes (a proxy,
    # a log) may keep the first. A body that two readers can read differently is refused.
    obj = dict(pairs)
    if len(obj) != len(pairs):
        twice = next(key for key, n in Counter(key for key, _ in pairs).items() if n > 1)
        raise DuplicateKey(f"Duplicate key {twice!r}.")
    return obj


def read_json(req, required: bool = True):
    """The request's JSON value, or ``NO_BODY`` for an empty body when not ``required``."""
    length = req.content_length
    if length is not None and length > MAX_BODY_BYTES:
        raise ApiError(413, TOO_LARGE, {"max_bytes": MAX_BODY_BYTES})
    try:
        if length is None and "chunked" in (req.get_header("Transfer-Encoding") or "").lower():
            # No length to trust: read at most one byte past the cap from the raw stream
            # (Falcon's bounded stream is empty without a Content-Length).
            raw = req.stream.read(MAX_BODY_BYTES + 1)
        else:
            raw = req.bounded_stream.read(MAX_BODY_BYTES + 1)
    except RequestTimeout as exc:
        # The worker's read deadline passed mid-body; gunicorn closes the connection
        # after this answer (the body's end is unknown).
        raise ApiError(408, str(exc)) from None
    except Exception as exc:
        # The server's stream refused the body's framing (a bad chunk size, a chunk
        # without its terminator, a client gone mid-body): the client's fault, a 400.
        raise ApiError(
            400, "The request body could not be read.", {"body": [str(exc) or type(exc).__name__]}
        ) from None
    if len(raw) > MAX_BODY_BYTES:
        raise ApiError(413, TOO_LARGE, {"max_bytes": MAX_BODY_BYTES})
    if not raw.strip():
        if required:
            raise ApiError(400, "The request body must be a JSON object; it is empty.")
        return NO_BODY
    if not _is_json(req.content_type):
        raise ApiError(415, details={"content_type": [f"Must be {JSON_MEDIA_TYPE} (UTF-8)."]})
    try:
        return json.loads(
            raw.decode("utf-8"),
            parse_constant=_reject_constant,
            object_pairs_hook=_object_without_duplicates,
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise ApiError(400, "The request body is not valid JSON.", {"body": [str(exc)]}) from None
    except RecursionError:  # "[[[[..." within 64 KiB nests deeper than the parser goes
        raise ApiError(
            400, "The request body nests too deeply.", {"body": ["Nested too deeply."]}
        ) from None
