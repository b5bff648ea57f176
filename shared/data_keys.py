"""Where the data keys come from: the environment, a key file, or in development a
key file made once outside the repository.

Keys come from ``HELPDESK_DATA_KEYS`` (``id=base64key,id2=base64key``; the first
is active unless ``HELPDESK_DATA_ACTIVE_KEY`` names another) or from a key file
(``HELPDESK_DATA_KEY_FILE``, same format, one entry a line, ``#`` comments). In
development, with neither set, a key is generated once and kept outside the
repository in ``~/.config/helpdesk/data-keys``.

``python -m shared.data_keys generate`` prints a new entry for a key spec.
"""

from __future__ import annotations

import logging
import os
import secrets
import sys
from pathlib import Path

from shared.crypto import Keyring, MeasurementKeyring, generate_key

log = logging.getLogger(__name__)

DEV_KEY_FILE = (
    Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config")) / "helpdesk" / "data-keys"
)


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
                "(generate one with: python -m shared.data_keys generate)"
            )
        spec = _development_key_spec()
        source = f"the development key file {DEV_KEY_FILE}"
    try:
        return Keyring.from_spec(spec, settings.data_active_key, settings.data_legacy_binding)
    except ValueError as exc:
        raise ValueError(f"{source}: {exc}") from None


def keyring_or_exit(settings, prog: str) -> Keyring:
    """``keyring_from_settings``, or one line naming what is wrong with the keys on
    stderr (``<prog>: configuration error: ...``) and exit status 2."""
    try:
        return keyring_from_settings(settings)
    except ValueError as exc:
        print(f"{prog}: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


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


def main(argv=None) -> int:
    """``python -m shared.data_keys generate``: print a new key entry for a key spec."""
    import sys

    argv = sys.argv[1:] if argv is None else argv
    if argv == ["generate"]:
        print(f"k{secrets.token_hex(3)}={generate_key()}")
        return 0
    print("usage: python -m shared.data_keys generate", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
