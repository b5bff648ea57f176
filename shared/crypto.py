"""The at-rest cipher: AES-256-GCM, bound to its row, with a keyring for rotation.

Stored form: ``hd2:<key_id>:<base64url(nonce || ciphertext+tag)>``. Every value
records the id of the key that sealed it, so several keys can be live during a
rotation. The associated data (a ``Binding``) names the row and column the value
belongs to and what decides who may read it (a ticket's owner, a message's ticket
and internal flag, a notice's recipient): a ciphertext copied into another row or
column, or whose row is moved to another reader, fails authentication instead of
decrypting. The prefix is the binding's version: ``hd1`` values (bound to the row
only) still open while ``HELPDESK_DATA_LEGACY_BINDING=accept``, until the rotation
command re-seals them (docs/decisions/0004-sealed-value-bindings.md).

Each service declares its encrypted columns once (``ENCRYPTED_COLUMNS`` in its
``tables.py``: ``(table, column, id column)``) and, per table, the columns of the
same row each value is bound to (``SEALED_CONTEXT``); ``sealed_columns`` turns them
into ``EncryptedColumn``s, which build each value's ``Binding``.

Pure: no files, environment, database or framework here. Where the keys come from
is ``shared.data_keys``; the start-up check of stored values against the keyring,
``shared.key_check``; the nameko dependency, ``shared.data_keyring.DataKeyring``.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shared.errors import DataIntegrityError

log = logging.getLogger(__name__)

# The envelope's prefix is the version of its binding: hd2 binds the row's context
# (``Binding``), hd1 only table/column/row id (values written before; re-sealed by
# the rotation command).
PREFIX = "hd2"
LEGACY_PREFIX = "hd1"
PREFIXES = (LEGACY_PREFIX, PREFIX)
NONCE_BYTES = 12
TAG_BYTES = 16
KEY_BYTES = 32
# Key ids are stored in every value: short, plain, and never containing ':'.
KEY_ID = re.compile(r"[A-Za-z0-9_.-]{1,32}")
_B64URL = re.compile(r"[A-Za-z0-9_-]*={0,2}")
_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*")


class MissingDataKey(LookupError):
    """A value was sealed with a key this process does not have."""


# A stored value failed authentication: altered, truncated or moved to another row.
# It is the typed RPC error of shared.errors, so an HTTP caller answers 500
# ``data_integrity_error`` with its message; the text itself is never returned.
TamperedValue = DataIntegrityError


def _context_value(value) -> str | None:
    # One text form whatever the driver returned (a JSON bool or int, a Python one).
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True)
class Binding:
    """What a sealed value is bound to: one row's column, and the columns of that
    row that decide who may read it (``context``: name, value pairs).

    Build one with ``EncryptedColumn.binding``; the associated data of a value
    sealed under binding version ``prefix`` is ``associated(prefix)``.
    """

    table: str
    column: str
    row_id: object
    context: tuple[tuple[str, str | None], ...] = ()

    @property
    def label(self) -> str:
        """The row's column, for log lines (never any context or text)."""
        return f"{self.table}/{self.column}/{self.row_id}"

    def associated(self, prefix: str = PREFIX) -> bytes:
        """The associated data of binding version ``prefix``."""
        if prefix == LEGACY_PREFIX:
            return self.label.encode()
        # Every field length-prefixed ("5:owner", "~" for None): unambiguous whatever
        # the values hold, and a fifth of json.dumps' cost. The version leads, so a
        # value relabelled to another version never authenticates.
        fields = [prefix, self.table, self.column, str(self.row_id)]
        fields += [part for pair in self.context for part in pair]
        return "|".join(["~" if f is None else f"{len(f)}:{f}" for f in fields]).encode()


def _b64d(text: str) -> bytes:
    """Strict base64url: any character outside the alphabet is an error, not skipped."""
    if not _B64URL.fullmatch(text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text.rstrip("=") + "=" * (-len(text.rstrip("=")) % 4))


def _b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def generate_key() -> str:
    """A fresh 256-bit key, base64url-encoded, for a key spec."""
    return _b64e(secrets.token_bytes(KEY_BYTES))


def parse_key_spec(spec: str) -> list[tuple[str, bytes]]:
    """``id=key,id2=key2`` (commas or newlines, ``#`` comments) -> [(id, 32 raw bytes)].

    Raises ``ValueError`` naming the entry at fault, never echoing key material.
    """
    keys = []
    lines = (line.split("#", 1)[0] for line in spec.splitlines())
    for item in (part.strip() for line in lines for part in line.split(",")):
        if not item:
            continue
        key_id, sep, material = item.partition("=")
        key_id = key_id.strip()
        if not sep or not KEY_ID.fullmatch(key_id):
            shown = key_id if KEY_ID.fullmatch(key_id) else "entry " + str(len(keys) + 1)
            raise ValueError(
                f"data key {shown} must look like id=base64key, the id made of "
                "letters, digits, '.', '_' or '-' (at most 32)"
            )
        try:
            raw = _b64d(material.strip())
        except (ValueError, binascii.Error):
            raise ValueError(f"data key {key_id!r} is not valid base64url") from None
        if len(raw) != KEY_BYTES:
            raise ValueError(
                f"data key {key_id!r} must be {KEY_BYTES} bytes (AES-256), got {len(raw)}"
            )
        keys.append((key_id, raw))
    seen = set()
    for key_id, _ in keys:
        if key_id in seen:
            raise ValueError(f"data key id {key_id!r} is listed twice")
        seen.add(key_id)
    return keys


@dataclass
class Keyring:
    """The keys this process may use; ``active`` seals new values."""

    keys: dict[str, AESGCM]
    active: str
    # Open values sealed under the old (hd1, row only) binding, with a warning:
    # HELPDESK_DATA_LEGACY_BINDING=accept, during an upgrade until they are re-sealed.
    accept_legacy: bool = False

    @classmethod
    def from_spec(
        cls, spec: str, active: str | None = None, accept_legacy: bool = False
    ) -> Keyring:
        """Build from a key spec; the first key is active unless ``active`` names one."""
        entries = parse_key_spec(spec)
        if not entries:
            raise ValueError("no data keys configured")
        active = active or entries[0][0]
        keys = {key_id: AESGCM(raw) for key_id, raw in entries}
        if active not in keys:
            raise ValueError(f"active data key {active!r} is not among the configured keys")
        return cls(keys=keys, active=active, accept_legacy=accept_legacy)

    @property
    def key_ids(self) -> tuple[str, ...]:
        """Ids of every configured key, the active one included."""
        return tuple(self.keys)

    def encrypt(self, plaintext: str | None, binding: Binding) -> str | None:
        """Seal ``plaintext`` under the active key, bound to ``binding``; ``None`` stays ``None``."""
        if plaintext is None:
            return None
        # A random 96-bit nonce per value: safe far beyond any help desk's volume
        # (NIST's 2**32 messages per key bound), and rotation resets the count.
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = self.keys[self.active].encrypt(nonce, plaintext.encode(), binding.associated())
        return f"{PREFIX}:{self.active}:{_b64e(nonce + sealed)}"

    def decrypt(self, stored: str | None, binding: Binding) -> str | None:
        """Open a stored value; raise ``TamperedValue`` or ``MissingDataKey`` if it cannot be.

        A value under the old binding opens only while ``accept_legacy``.
        """
        return self._open(stored, binding, self.accept_legacy)

    def _open(self, stored: str | None, binding: Binding, accept_legacy: bool) -> str | None:
        if stored is None:
            return None
        try:
            prefix, key_id = format_of(stored)
        except TamperedValue as exc:
            raise _tampered(exc.details["reason"], binding) from None
        if prefix == LEGACY_PREFIX and not accept_legacy:
            raise _tampered("sealed with the old binding", binding)
        cipher = self.keys.get(key_id)
        if cipher is None:
            raise MissingDataKey(f"value sealed with data key {key_id!r}, which is not configured")
        try:
            blob = _b64d(stored.split(":", 2)[2])
        except (ValueError, binascii.Error):
            raise _tampered("not valid base64url", binding) from None
        if len(blob) < NONCE_BYTES + TAG_BYTES:
            raise _tampered("truncated", binding)
        try:
            text = cipher.decrypt(
                blob[:NONCE_BYTES], blob[NONCE_BYTES:], binding.associated(prefix)
            ).decode()
        except InvalidTag:
            raise _tampered("failed authentication", binding) from None
        if prefix == LEGACY_PREFIX:
            _LEGACY_READS.note(binding)
        return text

    def reencrypt(self, stored: str | None, binding: Binding) -> str | None:
        """The same plaintext sealed under the active key and the current binding
        (unchanged if it already is). Opens old-binding values whatever
        ``accept_legacy`` says: this is how they are re-sealed."""
        if stored is None or format_of(stored) == (PREFIX, self.active):
            return stored
        return self.encrypt(self._open(stored, binding, accept_legacy=True), binding)


class _LegacyReads:
    """Counts old-binding values opened, and says so at most once a minute: during
    an upgrade every read may be one, and a line each would drown the log."""

    EVERY = 60.0

    def __init__(self):
        self.count = 0
        self._next = 0.0

    def note(self, binding: Binding) -> None:
        self.count += 1
        now = time.monotonic()
        if now >= self._next:
            self._next = now + self.EVERY
            log.warning(
                "stored value read under the old binding (hd1); re-seal with "
                "helpdesk-rotate-keys, then set HELPDESK_DATA_LEGACY_BINDING=refuse",
                extra={"value_of": binding.label, "legacy_reads": self.count},
            )


_LEGACY_READS = _LegacyReads()


class MeasurementKeyring:
    """Stores text as it is: ``HELPDESK_DATA_ENCRYPTION=off``, for measuring the
    cipher's cost only (refused in production). Values it wrote are refused by a
    real keyring (not in the encrypted format), so the two can never mix silently."""

    active = "plaintext"
    key_ids: tuple[str, ...] = ()
    accept_legacy = False

    def encrypt(self, plaintext: str | None, binding: Binding) -> str | None:
        return plaintext

    def decrypt(self, stored: str | None, binding: Binding) -> str | None:
        return stored

    def reencrypt(self, stored: str | None, binding: Binding) -> str | None:
        return stored


def format_of(stored: str) -> tuple[str, str]:
    """(binding version prefix, key id) of ``stored``; ``TamperedValue`` if it is not ours."""
    parts = stored.split(":", 2) if isinstance(stored, str) else ()
    if len(parts) != 3 or parts[0] not in PREFIXES or not KEY_ID.fullmatch(parts[1]):
        raise TamperedValue.because("not in the encrypted format")
    return parts[0], parts[1]


def key_id_of(stored: str) -> str:
    """The id of the key that sealed ``stored``; ``TamperedValue`` if it is not ours."""
    return format_of(stored)[1]


def _tampered(reason: str, binding: Binding) -> TamperedValue:
    # The operators' alert: which row's column, never any of its text.
    log.error(
        "stored value failed its integrity check",
        extra={"reason": reason, "value_of": binding.label},
    )
    return TamperedValue.because(reason)


@dataclass(frozen=True)
class EncryptedColumn:
    """One declared encrypted column; ``field`` when the value sits in a JSON column;
    ``context`` the columns of the same row its values are bound to (``Binding``)."""

    table: str
    column: str
    id_column: str
    field: str | None = None
    context: tuple[str, ...] = ()

    def __post_init__(self):
        sql_identifiers(
            self.table, self.column, self.id_column, *filter(None, [self.field]), *self.context
        )

    @property
    def label(self) -> str:
        return f"{self.table}.{self.column}" + (f".{self.field}" if self.field else "")

    @property
    def value(self) -> str:
        """The SQL expression of the stored value."""
        return f"{self.column} ->> '{self.field}'" if self.field else self.column

    def binding(self, row_id, row: Mapping | None = None) -> Binding:
        """The binding of this column's value in row ``row_id``, whose ``context``
        columns ``row`` holds (a KeyError if one is missing: never bound to less)."""
        context = tuple((name, _context_value(row[name])) for name in self.context)
        return Binding(self.table, self.column, row_id, context)

    def assignment(self) -> str:
        """SQL setting the stored value to ``:new``."""
        if self.field:
            return (
                f"{self.column} = jsonb_set({self.column}, '{{{self.field}}}', "
                "to_jsonb(CAST(:new AS text)))"
            )
        return f"{self.column} = :new"


def sealed_columns(encrypted_columns, sealed_context: Mapping[str, tuple[str, ...]]) -> list:
    """A service's declared ``EncryptedColumn``s, each with its table's bound context.

    ``encrypted_columns`` is its ``ENCRYPTED_COLUMNS``, ``sealed_context`` its
    ``SEALED_CONTEXT`` (table -> columns bound): every sealed column of a table gets
    the same binding, so a column added to a table is bound like the others.
    """
    return [
        EncryptedColumn(*entry, context=tuple(sealed_context.get(entry[0], ())))
        for entry in encrypted_columns
    ]


def sql_identifiers(*names: str) -> None:
    """Raise ``ValueError`` unless every name is a plain SQL identifier (safe to inline)."""
    for name in names:
        if not _IDENTIFIER.fullmatch(name):
            raise ValueError(f"{name!r} is not a plain SQL identifier")
