"""Idempotency keys: a repeated ``POST`` gets its first answer and does nothing again.

The HTTP process checks the ``Idempotency-Key`` header (``key_problems``) and sums the
request up in a ``fingerprint`` (method, route, path ids, the JSON body in canonical
form); the service that owns the action gets both with the command and, through
``IdempotencyKeys`` on the command's own transaction:

1. ``claim`` takes a transaction-scoped advisory lock on (caller, key) without
   waiting: if another transaction holds it, the first request is still in
   progress, and this one is a ``Conflict`` (409) rather than a second action.
   Holding the lock, it looks the key up: the same fingerprint within
   ``KEY_TTL`` is a replay (the stored answer, nothing done again); a different
   one is a ``ValidationFailed`` naming ``Idempotency-Key`` (422), raised by
   ``Claim.check`` where the command checks its input, so a 404 still comes first.
2. ``remember`` stores the answer in the same transaction as the action, so the
   two commit together or not at all: a failed action stores nothing and its
   retry runs again (only successes are replayed), and a crash loses neither.

The stored answer holds ticket text, so it is sealed with the data keyring like
every other text at rest, bound to its row; the fingerprint is sealed with it (a
bare hash of a short reply would confirm a guess of it). Keys are per caller:
the caller's id is part of the row's key and of the lock. Rows older than
``KEY_TTL`` no longer match and ``prune_expired`` deletes them in bounded batches,
from a timer, off the request path.

A command sent without a key is recorded the same way under its RPC call
(``IdempotentRequest.for_call``): the call's correlation id, which the caller sets
once per call, is the key, in a namespace no client key can reach (client keys are
printable ASCII; ``CALL_PREFIX`` starts with a character that is not). The broker
delivers an unacknowledged request again when the service that took it dies between
its commit and its ack (``shared/rpc.py``); the second delivery claims the call as
a repeated key is claimed and replays the first answer. A first delivery cannot find
a row (the id is new), so it neither locks nor looks up: it only stores its answer,
and if two deliveries ever run at once, the table's unique (caller, key) lets one
commit and makes the other a ``Conflict``, never a second action.

A call row is needed only while its request can still come back. The gateway's
requests expire (a message TTL of its RPC timeout), and RabbitMQ keeps a requeued
message's original expiry and never delivers an expired one, so a request that
expires within ``CALL_EXPIRY_LIMIT`` comes back, if at all, before that much time
has passed since it was published, which is before its row was written. Such rows
are pruned after ``CALL_TTL``, that limit with a margin. A request that does not
expire (nameko's standalone proxy sets no TTL) is kept ``KEY_TTL`` like a client
key, under ``KEPT_CALL_PREFIX``.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa

from shared.crypto import EncryptedColumn
from shared.errors import Conflict, ValidationFailed

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
KEY_TTL = timedelta(hours=24)
TABLE = "idempotency_keys"
# Printable ASCII, space to tilde.
_KEY = re.compile(r"[\x20-\x7e]+")
_FINGERPRINT = re.compile(r"[0-9a-f]{64}")
# How often and how much a service deletes expired keys (``prune_expired``). Every
# keyless tickets command leaves a call row, so a run must delete faster than an
# instance writes: 20 batches of 1,000 a minute is about 330 rows/s per instance (the
# timers share the work: SKIP LOCKED), above what one instance commits (docs/benchmarks.md).
# A run with nothing expired is one index probe per kind.
PRUNE_INTERVAL = 60.0
PRUNE_BATCH = 1000
PRUNE_MAX_BATCHES = 20
# Keyless calls (see the module doc). A client key is printable ASCII, so none starts
# with the section sign: a call can never take a client's key, nor a client a call's.
CALL_PREFIX = "\u00a7call:"
KEPT_CALL_PREFIX = "\u00a7kept-call:"
# A request that expires within this long (the gateway's requests expire with its RPC
# timeout, HELPDESK_RPC_TIMEOUT, at most 600 s) cannot come back later than that; its
# call row is kept CALL_TTL, which adds a margin for the prune timer and the clocks'
# rates. A longer expiry is kept as a request without one is (KEPT_CALL_PREFIX).
CALL_EXPIRY_LIMIT = timedelta(minutes=10)
CALL_TTL = CALL_EXPIRY_LIMIT + timedelta(minutes=5)
# A redelivered call is the very same request: its fingerprint cannot differ.
CALL_FINGERPRINT = "0" * 64


def key_problems(value) -> list[str]:
    """What is wrong with an ``Idempotency-Key`` value (empty list: nothing)."""
    if not isinstance(value, str) or not value:
        return ["Must be 1-255 printable ASCII characters; it is empty."]
    if len(value) > MAX_KEY_LENGTH:
        return [f"Must be 1-255 printable ASCII characters; it has {len(value)}."]
    if not _KEY.fullmatch(value):
        return ["Must be 1-255 printable ASCII characters (space to ~)."]
    return []


def canonical_json(value) -> str:
    """One spelling per JSON value: sorted keys, no spaces, text as it is."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def fingerprint(method: str, route: str, path_ids: dict, body) -> str:
    """The request summed up: the same request gives the same hex digest.

    ``body`` is the parsed JSON body (``{}`` for an empty one: the endpoints that
    take an empty body read it as ``{}``), so spacing and key order do not count.
    """
    summary = canonical_json([method.upper(), route, path_ids, body])
    return hashlib.sha256(summary.encode()).hexdigest()


@dataclass(frozen=True)
class RpcCall:
    """The RPC call a command came in, as the service's entrypoint received it
    (``shared.rpc``): its correlation id, whether the broker delivered it before, and
    its message TTL (milliseconds, as AMQP carries it; None when it has none)."""

    correlation_id: object
    redelivered: bool = False
    expiration: object = None

    def expires_within(self, limit: timedelta) -> bool:
        """Whether the request expires (is never delivered again) within ``limit``."""
        try:
            milliseconds = int(self.expiration)
        except (TypeError, ValueError):
            return False
        return 0 <= milliseconds <= limit.total_seconds() * 1000


@dataclass(frozen=True)
class IdempotentRequest:
    """One caller's keyed request, or keyless call, as a service receives it."""

    caller_id: str
    key: str
    fingerprint: str
    # A call delivered for the first time: nothing can be stored under its key yet.
    first_delivery: bool = False

    @classmethod
    def for_call(cls, caller_id: str, call: RpcCall | None) -> IdempotentRequest | None:
        """The record of a keyless command's RPC call (see the module doc); None
        without a call or with a correlation id that is not 1-255 characters."""
        correlation_id = None if call is None else call.correlation_id
        if not isinstance(correlation_id, str) or not 0 < len(correlation_id) <= MAX_KEY_LENGTH:
            return None
        prefix = CALL_PREFIX if call.expires_within(CALL_EXPIRY_LIMIT) else KEPT_CALL_PREFIX
        return cls(
            caller_id,
            prefix + correlation_id,
            CALL_FINGERPRINT,
            first_delivery=not call.redelivered,
        )

    @property
    def is_call(self) -> bool:
        """Whether this records a keyless call rather than a client's key."""
        return self.key.startswith((CALL_PREFIX, KEPT_CALL_PREFIX))

    @classmethod
    def from_rpc(cls, caller_id: str, value) -> IdempotentRequest | None:
        """The request from a command's ``idempotency`` argument (``{"key",
        "fingerprint"}`` or None); ``ValidationFailed`` if it is malformed."""
        if value is None:
            return None
        key = value.get("key") if isinstance(value, dict) else None
        digest = value.get("fingerprint") if isinstance(value, dict) else None
        problems = key_problems(key)
        if not problems and not (isinstance(digest, str) and _FINGERPRINT.fullmatch(digest)):
            problems = ["The request's fingerprint is missing or malformed."]
        if problems:
            raise ValidationFailed("The idempotency key is invalid.", {HEADER: problems})
        return cls(caller_id, key, digest)

    @property
    def lock_id(self) -> int:
        """A signed 64-bit advisory lock id for (caller, key)."""
        # Length-prefixed: caller "ab" with key "c" is not caller "a" with key "bc".
        text = f"{TABLE}\0{len(self.caller_id)}:{self.caller_id}{self.key}"
        return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big", signed=True)


@dataclass
class Claim:
    """What ``IdempotencyKeys.claim`` found: a ``replay`` to answer with, a key used
    for another request (``check`` raises), or neither (run the command)."""

    request: IdempotentRequest | None = None
    replay: dict | list | None = None
    mismatch: bool = False
    row_id: int | None = None

    def check(self) -> None:
        """Raise the 422 if the key was used for a different request."""
        if self.mismatch:
            raise ValidationFailed(
                "This Idempotency-Key was used for a different request.",
                {HEADER: ["Already used for a different request; use a new key."]},
            )


NO_KEY = Claim()

_TTL_SECONDS = KEY_TTL.total_seconds()
_LOCK = sa.text("SELECT pg_try_advisory_xact_lock(:lock_id)")
# Read once the lock is held (its own statement, so its snapshot sees what the
# holder before us committed); the new row's id comes in the same round trip.
_LOOKUP = sa.text(
    f"SELECT k.id, k.response, nextval('{TABLE}_id_seq') AS new_id "
    f"FROM (SELECT 1) AS one LEFT JOIN {TABLE} AS k "
    "ON k.caller_id = :caller_id AND k.key = :key "
    "AND k.created_at > now() - make_interval(secs => :ttl)"
)
# An expired row for the same key (not yet pruned) is replaced; a live one never
# is (the lock makes that impossible; if it happened, no row comes back).
_REMEMBER = sa.text(
    f"INSERT INTO {TABLE} AS k (id, caller_id, key, response) "
    "VALUES (:id, :caller_id, :key, :response) "
    "ON CONFLICT (caller_id, key) DO UPDATE "
    "SET id = excluded.id, response = excluded.response, created_at = now() "
    "WHERE k.created_at <= now() - make_interval(secs => :ttl) "
    "RETURNING k.id"
)
# A first delivery's row id is drawn at random from the top quarter of bigint, which
# the sequence (the keys' rows) never reaches: it needs no statement of its own, so a
# keyless command pays one insert. Two live call rows sharing an id are about as
# likely as live rows / 2**62 per command; that insert would fail (rolled back,
# nothing done), never mix two answers.
_CALL_IDS = 1 << 62
_PRUNE = sa.text(
    f"DELETE FROM {TABLE} WHERE id IN (SELECT id FROM {TABLE} "
    "WHERE created_at < now() - make_interval(secs => :ttl) "
    "ORDER BY created_at LIMIT :batch FOR UPDATE SKIP LOCKED)"
)
_CALLS = f"key LIKE '{CALL_PREFIX}%'"
CALLS_INDEX = f"{TABLE}_calls_created_at"
# Call rows past CALL_TTL, found through their own partial index (``keys_table``).
_PRUNE_CALLS = sa.text(
    f"DELETE FROM {TABLE} WHERE id IN (SELECT id FROM {TABLE} "
    f"WHERE {_CALLS} AND created_at < now() - make_interval(secs => :ttl) "
    "ORDER BY created_at LIMIT :batch FOR UPDATE SKIP LOCKED)"
)


# For each service's ENCRYPTED_COLUMNS and SEALED_CONTEXT: the start-up key check and
# rotation cover the answers; each is bound to its row and to the caller it answered,
# so an answer moved to another caller fails authentication.
ENCRYPTED_COLUMN = (TABLE, "response", "id")
CONTEXT = ("caller_id",)
_RESPONSE = EncryptedColumn(*ENCRYPTED_COLUMN, context=CONTEXT)


def _binding(row_id: int, caller_id: str):
    return _RESPONSE.binding(row_id, {"caller_id": caller_id})


def _in_progress(request: IdempotentRequest, message: str) -> Conflict:
    if request.is_call:
        # Two deliveries of one call at once: the other one's answer stands.
        return Conflict("This call is already being answered; its first answer stands.")
    return Conflict(message, {HEADER: ["Still in progress."]})


class IdempotencyKeys:
    """The caller's keys, through one transaction's connection (see the module doc)."""

    def __init__(self, connection: sa.Connection, keyring):
        self.connection = connection
        self.keyring = keyring

    def claim(self, request: IdempotentRequest | None) -> Claim:
        """Hold ``request``'s key for this transaction and look it up.

        Raises ``Conflict`` if another transaction holds it (the first request is
        still in progress). Without a request, nothing is looked at.
        """
        if request is None:
            return NO_KEY
        if request.first_delivery:  # a new call: nothing to wait for or find
            return Claim(request)
        if not self.connection.execute(_LOCK, {"lock_id": request.lock_id}).scalar_one():
            raise _in_progress(
                request,
                "A request with this Idempotency-Key is still in progress; "
                "retry it in a moment to get its answer.",
            )
        row = self.connection.execute(
            _LOOKUP,
            {"caller_id": request.caller_id, "key": request.key, "ttl": _TTL_SECONDS},
        ).one()
        claim = Claim(request, row_id=row.new_id)
        if row.id is not None:
            opened = self.keyring.decrypt(row.response, _binding(row.id, request.caller_id))
            stored = json.loads(opened)
            if stored["fingerprint"] == request.fingerprint:
                claim.replay = stored["response"]
            else:
                claim.mismatch = True
        return claim

    def remember(self, claim: Claim, response) -> None:
        """Store ``response`` as the answer to the claimed key (nothing without one)."""
        request = claim.request
        if request is None:
            return
        if claim.row_id is None:  # a first delivery did not look up (nor take an id)
            claim.row_id = _CALL_IDS | secrets.randbits(62)
        # Kept in its own key order (not canonical_json's sorted one), so that a replay
        # is the first answer byte for byte, not only the same JSON.
        plain = json.dumps(
            {"fingerprint": request.fingerprint, "response": response},
            separators=(",", ":"),
            ensure_ascii=False,
        )
        sealed = self.keyring.encrypt(plain, _binding(claim.row_id, request.caller_id))
        stored = self.connection.execute(
            _REMEMBER,
            {
                "id": claim.row_id,
                "caller_id": request.caller_id,
                "key": request.key,
                "response": sealed,
                "ttl": _TTL_SECONDS,
            },
        ).first()
        if stored is None:
            # A live row appeared despite the lock (or, for a call, the other delivery
            # committed first): roll back, never act twice.
            raise _in_progress(request, "A request with this Idempotency-Key is still in progress.")


def prune_expired(connection: sa.Connection, batch: int = PRUNE_BATCH, calls=False) -> int:
    """Delete up to ``batch`` keys older than ``KEY_TTL`` (one statement); how many.
    With ``calls``, call rows older than ``CALL_TTL`` instead (see the module doc)."""
    if calls:
        ttl = CALL_TTL.total_seconds()
        return connection.execute(_PRUNE_CALLS, {"ttl": ttl, "batch": batch}).rowcount
    return connection.execute(_PRUNE, {"ttl": _TTL_SECONDS, "batch": batch}).rowcount


def prune(
    uow, batch: int = PRUNE_BATCH, max_batches: int = PRUNE_MAX_BATCHES, calls: bool = False
) -> int:
    """Delete expired keys batch by batch on autocommit (each batch short and on its
    own), at most ``max_batches`` per call so a backlog never holds a worker long.
    With ``calls`` (a service that records keyless calls), expired call rows too,
    bounded the same way."""
    deleted = 0
    with uow.autocommit():
        for kind in (False, True) if calls else (False,):
            for _ in range(max_batches):
                n = prune_expired(uow.connection, batch, calls=kind)
                deleted += n
                if n < batch:
                    break
    return deleted


def keys_table(metadata: sa.MetaData, calls: bool = False) -> sa.Table:
    """The keys table as a service's ``tables.py`` declares it (its migration creates
    it); with ``calls``, with the index a service recording keyless calls adds."""
    table = sa.Table(
        TABLE,
        metadata,
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("caller_id", sa.Text, nullable=False),
        sa.Column("key", sa.Text, nullable=False),
        # encrypted (shared.crypto): the fingerprint and the answer, as JSON
        sa.Column("response", sa.Text, nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.UniqueConstraint("caller_id", "key", name=f"{TABLE}_caller_key"),
        # Expired keys are found (and pruned) by age.
        sa.Index(f"{TABLE}_created_at", "created_at"),
    )
    if calls:
        # Expired call rows are found (and pruned) by age, apart from the keys.
        sa.Index(CALLS_INDEX, table.c.created_at, postgresql_where=sa.text(_CALLS))
    return table


# The table's first version, as each service's migration creates it. Frozen: a later
# change is a new migration step in each service, never an edit here.
CREATE_STATEMENTS = (
    f"""
    CREATE TABLE {TABLE} (
        id bigserial PRIMARY KEY,
        caller_id text NOT NULL,
        key text NOT NULL,
        response text NOT NULL,          -- encrypted: the request's fingerprint and answer
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT {TABLE}_caller_key UNIQUE (caller_id, key)
    )
    """,
    # Expired keys are found (and pruned) by age.
    f"CREATE INDEX {TABLE}_created_at ON {TABLE} (created_at)",
)
