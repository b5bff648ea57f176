"""Ticket text encrypted at rest: AES-256-GCM, bound to its row, with key rotation.

Stored form: ``hd1:<key_id>:<base64url(nonce || ciphertext+tag)>``. Every value
records the id of the key that sealed it, so several keys can be live during a
rotation. The associated data names the row and column the value belongs to
(``aad("messages", "body", 42)``), so a ciphertext copied into another row or
column fails authentication instead of decrypting.

Keys come from ``HELPDESK_DATA_KEYS`` (``id=base64key,id2=base64key``; the first
is active unless ``HELPDESK_DATA_ACTIVE_KEY`` names another) or from a key file
(``HELPDESK_DATA_KEY_FILE``, same format, one entry a line). In development,
with neither set, a key is generated once and kept outside the repository in
``~/.config/helpdesk/data-keys``.
"""

from __future__ import annotations

import base64
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "hd1"
NONCE_BYTES = 12
DEV_KEY_FILE = (
    Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config")) / "helpdesk" / "data-keys"
)


class MissingDataKey(LookupError):
    """A value was sealed with a key this process does not have."""


class TamperedValue(ValueError):
    """A stored value failed authentication: altered, truncated or moved to another row."""


def aad(table: str, column: str, row_id) -> bytes:
    """Associated data binding a value to one row's column."""
    return f"{table}/{column}/{row_id}".encode()


def _b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def generate_key() -> str:
    """A fresh 256-bit key, base64url-encoded, for a key spec."""
    return _b64e(secrets.token_bytes(32))


def parse_key_spec(spec: str) -> list[tuple[str, bytes]]:
    """``id=key,id2=key2`` (commas or newlines) -> [(id, 32 raw bytes)]."""
    keys = []
    for item in spec.replace("\n", ",").split(","):
        item = item.strip()
        if not item or item.startswith("#"):
            continue
        key_id, sep, material = item.partition("=")
        key_id = key_id.strip()
        if not sep or not key_id or ":" in key_id:
            raise ValueError(f"data key entry {key_id or item!r} must look like id=base64key")
        try:
            raw = _b64d(material.strip())
        except (ValueError, TypeError):
            raise ValueError(f"data key {key_id!r} is not valid base64") from None
        if len(raw) != 32:
            raise ValueError(f"data key {key_id!r} must be 32 bytes (AES-256), got {len(raw)}")
        keys.append((key_id, raw))
    if len({k for k, _ in keys}) != len(keys):
        raise ValueError("a data key id is listed twice")
    return keys


@dataclass
class Keyring:
    """The keys this process may use; ``active`` seals new values."""

    keys: dict[str, AESGCM]
    active: str

    @classmethod
    def from_spec(cls, spec: str, active: str | None = None) -> Keyring:
        """Build from a key spec; the first key is active unless ``active`` names one."""
        entries = parse_key_spec(spec)
        if not entries:
            raise ValueError("no data keys configured")
        active = active or entries[0][0]
        keys = {key_id: AESGCM(raw) for key_id, raw in entries}
        if active not in keys:
            raise ValueError(f"active data key {active!r} is not among the configured keys")
        return cls(keys=keys, active=active)

    def encrypt(self, plaintext: str | None, associated: bytes) -> str | None:
        """Seal ``plaintext`` under the active key; ``None`` stays ``None``."""
        if plaintext is None:
            return None
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = self.keys[self.active].encrypt(nonce, plaintext.encode(), associated)
        return f"{PREFIX}:{self.active}:{_b64e(nonce + sealed)}"

    def decrypt(self, stored: str | None, associated: bytes) -> str | None:
        """Open a stored value; raise ``TamperedValue`` or ``MissingDataKey`` if it cannot be."""
        if stored is None:
            return None
        key_id = key_id_of(stored)
        cipher = self.keys.get(key_id)
        if cipher is None:
            raise MissingDataKey(f"value sealed with data key {key_id!r}, which is not configured")
        blob = _b64d(stored.split(":", 2)[2])
        try:
            return cipher.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], associated).decode()
        except InvalidTag:
            raise TamperedValue("stored value failed authentication") from None

    def reencrypt(self, stored: str | None, associated: bytes) -> str | None:
        """The same plaintext sealed under the active key (unchanged if it already is)."""
        if stored is None or key_id_of(stored) == self.active:
            return stored
        return self.encrypt(self.decrypt(stored, associated), associated)


def key_id_of(stored: str) -> str:
    """The id of the key that sealed ``stored``; ``TamperedValue`` if it is not ours."""
    parts = stored.split(":", 2)
    if len(parts) != 3 or parts[0] != PREFIX:
        raise TamperedValue("stored value is not in the encrypted format")
    return parts[1]


def keyring_from_settings(settings) -> Keyring:
    """The process keyring from settings; in development, a local key made once.

    Raises ``ValueError`` with a clear message when no usable key is configured
    outside development: a service without its keys must not start.
    """
    active = os.environ.get("HELPDESK_DATA_ACTIVE_KEY") or None
    spec = settings.data_keys
    if not spec and settings.data_key_file:
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
    return Keyring.from_spec(spec, active)


def _development_key_spec() -> str:
    if not DEV_KEY_FILE.exists():
        DEV_KEY_FILE.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(DEV_KEY_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(f"dev1={generate_key()}\n")
    return DEV_KEY_FILE.read_text(encoding="utf-8")


if __name__ == "__main__":
    import sys

    if sys.argv[1:] == ["generate"]:
        print(f"k{secrets.token_hex(3)}={generate_key()}")
    else:
        print("usage: python -m shared.crypto generate", file=sys.stderr)
        sys.exit(2)
