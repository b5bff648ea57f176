"""Ticket text encrypted at rest: AES-256-GCM, bound to its row, with key rotation.

Stored form: ``hd2:<key_id>:<base64url(nonce || ciphertext+tag)>``. Every value
records the id of the key that sealed it, so several keys can be live during a
rotation. The associated data (a ``Binding``) names the row and column the value
belongs to and what decides who may read it (a ticket's owner, a message's ticket
and internal flag, a notice's recipient): a ciphertext copied into another row or
column, or whose row is moved to another reader, fails authentication instead of
decrypting. The prefix is the binding's version: ``hd1`` values (bound to the row
only) still open while ``HELPDESK_DATA_LEGACY_BINDING=accept``, until the rotation
command re-seals them (docs/decisions/0004-sealed-value-bindings.md).

Keys come from ``HELPDESK_DATA_KEYS`` (``id=base64key,id2=base64key``; the first
is active unless ``HELPDESK_DATA_ACTIVE_KEY`` names another) or from a key file
(``HELPDESK_DATA_KEY_FILE``, same format, one entry a line, ``#`` comments). In
development, with neither set, a key is generated once and kept outside the
repository in ``~/.config/helpdesk/data-keys``.

Each service declares its encrypted columns once (``ENCRYPTED_COLUMNS`` in its
``tables.py``: ``(table, column, id column)``) and, per table, the columns of the
same row each value is bound to (``SEALED_CONTEXT``); ``DataKeyring`` loads the keys at
start and refuses to start when a stored value needs a key that is not configured.
``helpdesk-rotate-keys`` re-encrypts under the active key.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from nameko.extensions import DependencyProvider

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
NOT_ENCRYPTED = "(not encrypted)"
DEV_KEY_FILE = (
    Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config")) / "helpdesk" / "data-keys"
)


class MissingDataKey(LookupError):
    """A value was sealed with a key this process does not have."""


# A stored value failed authentication: altered, truncated or moved to another row.
# It is the typed RPC error of shared.errors, so the gateway answers 500
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


def keyring_from_settings(settings) -> Keyring:
    """The process keyring from settings; in development, a local key made once.

    Raises ``ValueError`` with a clear message when no usable key is configured
    outside development and test: a service without its keys must not start.
    """
    if not settings.data_encryption:
        log.warning(
            "HELPDESK_DATA_ENCRYPTION=off: ticket text is stored READABLE (measurement only)"
        )
        return MeasurementKeyring()
    if settings.data_keys and settings.data_key_file:
        raise ValueError(
            "set HELPDESK_DATA_KEYS or HELPDESK_DATA_KEY_FILE, not both: "
            "which keys are live must be unambiguous"
        )
    spec = settings.data_keys
    source = "HELPDESK_DATA_KEYS"
    if settings.data_key_file:
        source = f"HELPDESK_DATA_KEY_FILE ({settings.data_key_file})"
        try:
            spec = Path(settings.data_key_file).read_text(encoding="utf-8")
        except OSError as exc:
            raise ValueError(f"HELPDESK_DATA_KEY_FILE unreadable: {exc}") from None
    if not spec:
        if settings.env == "production":
            raise ValueError(
                "no data keys: set HELPDESK_DATA_KEYS or HELPDESK_DATA_KEY_FILE "
                "(generate one with: python -m shared.crypto generate)"
            )
        spec = _development_key_spec()
        source = f"the development key file {DEV_KEY_FILE}"
    try:
        return Keyring.from_spec(spec, settings.data_active_key, settings.data_legacy_binding)
    except ValueError as exc:
        raise ValueError(f"{source}: {exc}") from None


def _development_key_spec() -> str:
    if not DEV_KEY_FILE.exists():
        DEV_KEY_FILE.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Written aside, then linked into place: services started together (make run)
        # never read a half-written file, and the first one's key wins.
        draft = DEV_KEY_FILE.with_name(f".{DEV_KEY_FILE.name}.{secrets.token_hex(6)}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(f"dev1={generate_key()}\n")
        try:
            os.link(draft, DEV_KEY_FILE)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return DEV_KEY_FILE.read_text(encoding="utf-8")


def stored_formats(connection, encrypted_columns) -> dict[tuple[str, str], int]:
    """(binding version, key id) of stored values -> how many, over ``encrypted_columns``
    (a service's ``ENCRYPTED_COLUMNS``).

    Reads every declared column once (a sequential scan), which is what a start-up
    check costs. Values not in the encrypted format count under
    ``(NOT_ENCRYPTED, NOT_ENCRYPTED)``.
    """
    totals: dict[tuple[str, str], int] = {}
    for entry in encrypted_columns:
        for found, n in count_by_format(connection, EncryptedColumn(*entry)).items():
            totals[found] = totals.get(found, 0) + n
    return totals


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


def count_by_format(connection, column: EncryptedColumn) -> dict[tuple[str, str], int]:
    """How many stored values of ``column`` are under each (binding version, key id)."""
    prefixes = ", ".join(f"'{prefix}:'" for prefix in PREFIXES)
    ours = f"left({column.value}, 4) IN ({prefixes})"
    rows = connection.execute(
        sa.text(
            f"SELECT CASE WHEN {ours} THEN split_part({column.value}, ':', 1) "
            f"ELSE '{NOT_ENCRYPTED}' END AS prefix, "
            f"CASE WHEN {ours} THEN split_part({column.value}, ':', 2) "
            f"ELSE '{NOT_ENCRYPTED}' END AS key_id, "
            f"count(*) AS n FROM {column.table} WHERE {column.value} IS NOT NULL GROUP BY 1, 2"
        )
    ).all()
    return {(row.prefix, row.key_id): row.n for row in rows}


def count_by_key(connection, column: EncryptedColumn) -> dict[str, int]:
    """How many stored values of ``column`` are under each key id."""
    counts: dict[str, int] = {}
    for (_, key_id), n in count_by_format(connection, column).items():
        counts[key_id] = counts.get(key_id, 0) + n
    return counts


def sql_identifiers(*names: str) -> None:
    """Raise ``ValueError`` unless every name is a plain SQL identifier (safe to inline)."""
    for name in names:
        if not _IDENTIFIER.fullmatch(name):
            raise ValueError(f"{name!r} is not a plain SQL identifier")


class LegacyBindingRefused(MissingDataKey):
    """Stored values are under the old binding and this process refuses them
    (a ``MissingDataKey``: the same refusal to start, the same handling)."""


def check_stored_keys(engine, encrypted_columns, keyring: Keyring) -> None:
    """Raise ``MissingDataKey`` (with what to do) if stored values need absent keys,
    or ``LegacyBindingRefused`` if some are under the old binding and the keyring
    refuses it; log how many remain when it accepts them."""
    with engine.connect() as connection:
        formats = stored_formats(connection, encrypted_columns)
    plain = formats.pop((NOT_ENCRYPTED, NOT_ENCRYPTED), 0)
    if plain:
        raise MissingDataKey(
            f"{plain} stored values are not encrypted (written with "
            "HELPDESK_DATA_ENCRYPTION=off, or by hand): this database is not fit to serve"
        )
    missing: dict[str, int] = {}
    for (_, key_id), n in formats.items():
        if key_id not in keyring.key_ids:
            missing[key_id] = missing.get(key_id, 0) + n
    if missing:
        counts = ", ".join(f"{key_id!r}: {n} values" for key_id, n in sorted(missing.items()))
        raise MissingDataKey(
            f"stored ticket text needs data keys that are not configured ({counts}); "
            "add them to HELPDESK_DATA_KEYS / HELPDESK_DATA_KEY_FILE, or finish the "
            "rotation (helpdesk-rotate-keys) before removing a key"
        )
    legacy = sum(n for (prefix, _), n in formats.items() if prefix == LEGACY_PREFIX)
    if legacy and not keyring.accept_legacy:
        raise LegacyBindingRefused(
            f"{legacy} stored values are sealed with the old binding ({LEGACY_PREFIX}, "
            "row only); to upgrade, set HELPDESK_DATA_LEGACY_BINDING=accept, start, and "
            "re-seal them with helpdesk-rotate-keys"
        )
    if legacy:
        log.warning(
            "%d stored values are still sealed with the old binding (%s); re-seal them "
            "with helpdesk-rotate-keys, then set HELPDESK_DATA_LEGACY_BINDING=refuse",
            legacy,
            LEGACY_PREFIX,
        )
    elif keyring.accept_legacy:
        log.warning(
            "HELPDESK_DATA_LEGACY_BINDING=accept but no stored value needs it: "
            "set it to refuse (the default) and restart"
        )


class DataKeyring(DependencyProvider):
    """The at-rest keyring, loaded and checked at start: no key, no service.

    ``url_setting`` names the ``Settings`` attribute of the service's database
    and ``encrypted_columns`` its ``ENCRYPTED_COLUMNS``: when both are given, the
    container refuses to start if a stored value needs a key it lacks, or is under
    the old binding while ``HELPDESK_DATA_LEGACY_BINDING`` refuses it.
    """

    def __init__(self, url_setting: str | None = None, encrypted_columns=()):
        self.url_setting = url_setting
        self.encrypted_columns = tuple(encrypted_columns)
        self.keyring: Keyring | None = None

    def setup(self):
        settings = self.container.config["HELPDESK_SETTINGS"]
        name = self.container.service_name
        try:
            self.keyring = keyring_from_settings(settings)
        except ValueError as exc:
            raise RuntimeError(f"{name} cannot start without its data keys: {exc}") from None
        if self.url_setting and self.encrypted_columns and isinstance(self.keyring, Keyring):
            from shared.db import make_engine

            engine = make_engine(getattr(settings, self.url_setting), pool_size=1)
            try:
                check_stored_keys(engine, self.encrypted_columns, self.keyring)
            except MissingDataKey as exc:
                raise RuntimeError(f"{name} refuses to start: {exc}") from None
            finally:
                engine.dispose()

    def get_dependency(self, worker_ctx):
        return self.keyring


def main(argv=None) -> int:
    """``python -m shared.crypto generate``: print a new key entry for a key spec."""
    import sys

    argv = sys.argv[1:] if argv is None else argv
    if argv == ["generate"]:
        print(f"k{secrets.token_hex(3)}={generate_key()}")
        return 0
    print("usage: python -m shared.crypto generate", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
