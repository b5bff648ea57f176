"""Write the image's locked runtime requirements from the project's virtualenv.

The image installs exactly the versions ``make run`` and the tests use: the
project's own runtime dependencies (no ``dev`` extra) and everything they pull
in, as installed in ``.venv``. Run it after changing a pin in ``pyproject.toml``:

    .venv/bin/python deploy/lock.py > deploy/requirements.txt

``--check`` exits 1 (and prints the difference) when the file is stale.
"""

from __future__ import annotations

import argparse
import difflib
import importlib.metadata as md
import sys
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

LOCK_FILE = Path(__file__).resolve().parent / "requirements.txt"
PROJECT = "helpdesk"
HEADER = (
    "# Locked runtime dependencies of the helpdesk images (generated: python deploy/lock.py).\n"
    "# The exact versions installed in .venv, which make run and the tests use.\n"
)


def runtime_closure(project: str = PROJECT) -> dict[str, str]:
    """Name -> installed version of every distribution ``project`` needs at run time."""
    environment = default_environment()
    seen: dict[str, str] = {}
    pending = [(Requirement(r), ()) for r in md.requires(project) or ()]
    while pending:
        req, extras = pending.pop()
        marker_env = [dict(environment, extra=e) for e in extras or ("",)]
        if req.marker is not None and not any(req.marker.evaluate(env) for env in marker_env):
            continue
        name = canonicalize_name(req.name)
        if name in seen:
            continue
        dist = md.distribution(req.name)
        seen[name] = dist.version
        pending.extend((Requirement(r), tuple(req.extras)) for r in dist.requires or ())
    return dict(sorted(seen.items()))


def render(closure: dict[str, str]) -> str:
    """The lock file's text for ``closure``."""
    return HEADER + "".join(f"{name}=={version}\n" for name, version in closure.items())


def main(argv=None) -> int:
    """Print the lock file, or with ``--check`` compare it to the committed one."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the lock file is stale")
    args = parser.parse_args(argv)
    text = render(runtime_closure())
    if not args.check:
        sys.stdout.write(text)
        return 0
    current = LOCK_FILE.read_text(encoding="utf-8") if LOCK_FILE.exists() else ""
    if current == text:
        return 0
    sys.stdout.writelines(
        difflib.unified_diff(
            current.splitlines(True), text.splitlines(True), str(LOCK_FILE), "installed"
        )
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
