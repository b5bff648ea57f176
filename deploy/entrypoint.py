"""The images' entry point: turn secret files into settings, then run the command.

Secrets are never baked into an image. Compose (or any orchestrator) mounts them
as files, and ``<NAME>_FILE`` names the file holding the value of ``<NAME>`` for
the settings below, which ``shared.config`` reads only from the environment. A
value set directly wins over a file, and a ``<NAME>_FILE`` that is not set is
skipped: compose gives ``HELPDESK_JWT_SECRET_FILE`` to the gateway only, the one
process that verifies tokens. ``HELPDESK_DATA_KEY_FILE`` and
``HELPDESK_JWT_PUBLIC_KEY_FILE`` are read by the services themselves.
"""

from __future__ import annotations

import os
import sys

# Settings that may come from a mounted file (trailing newline stripped).
FILE_SETTINGS = (
    "HELPDESK_JWT_SECRET",
    "HELPDESK_AMQP_URL",
    "HELPDESK_TICKETS_DATABASE_URL",
    "HELPDESK_NOTIFICATIONS_DATABASE_URL",
)


def load_secret_files(environ: dict) -> dict:
    """A copy of ``environ`` with each ``<NAME>_FILE`` of ``FILE_SETTINGS`` read into ``<NAME>``.

    Raises ``SystemExit`` naming the variable when a file cannot be read or is empty.
    """
    env = dict(environ)
    for name in FILE_SETTINGS:
        path = env.pop(f"{name}_FILE", None)
        if not path or env.get(name):
            continue
        try:
            with open(path, encoding="utf-8") as fh:
                value = fh.read().strip()
        except OSError as exc:
            raise SystemExit(
                f"entrypoint: {name}_FILE: cannot read {path}: {exc.strerror}"
            ) from None
        if not value:
            raise SystemExit(f"entrypoint: {name}_FILE: {path} is empty")
        env[name] = value
    return env


def main(argv: list[str]) -> None:
    """Exec ``argv`` with the secrets loaded; the command replaces this process."""
    if not argv:
        raise SystemExit("entrypoint: no command given")
    os.execvpe(argv[0], argv, load_secret_files(os.environ))


if __name__ == "__main__":
    main(sys.argv[1:])
