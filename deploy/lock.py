"""Lock the image's runtime requirements, with hashes, to what the tests run on.

One command, after changing a pin in ``pyproject.toml`` (needs PyPI):

    .venv/bin/python deploy/lock.py

runs pip-tools' ``pip-compile --generate-hashes`` on ``pyproject.toml`` (runtime
dependencies only, no ``dev`` extra) plus the build's setuptools, constrained to the
exact versions installed in ``.venv`` (which ``make run`` and the tests use), and
writes ``deploy/requirements.txt``: every distribution pinned with the sha256 of
every file PyPI has for it, so the image's ``pip install --require-hashes`` refuses
anything else.

``--check`` (offline, what the tests run) exits 1 and says why when the file is
stale: a version differs from ``.venv``, or a requirement has no hash.
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

HERE = Path(__file__).resolve().parent
LOCK_FILE = HERE / "requirements.txt"
PROJECT = "helpdesk"
# The Dockerfile installs the project editable, which needs setuptools at build time
# (uninstalled afterwards): pinned here so it is hashed like everything else.
BUILD_REQUIREMENTS = {"setuptools": "84.2.1"}


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


def expected() -> dict[str, str]:
    """What the lock file must pin: the runtime closure and the build's setuptools."""
    return dict(sorted({**runtime_closure(), **BUILD_REQUIREMENTS}.items()))


def parse(text: str) -> dict[str, tuple[str, int]]:
    """``name -> (version, number of hashes)`` from a pip-compile lock file."""
    joined = re.sub(r"\\\n\s*", " ", text)
    locked = {}
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        spec = line.split()[0]
        name, _, version = spec.partition("==")
        locked[canonicalize_name(name)] = (version, line.count("--hash=sha256:"))
    return locked


def problems(text: str) -> list[str]:
    """Why ``text`` is not the lock file for this environment (empty when it is)."""
    locked, wanted = parse(text), expected()
    found = []
    for name in sorted(set(locked) | set(wanted)):
        have, hashes = locked.get(name, (None, 0))
        if have != wanted.get(name):
            found.append(f"{name}: locked {have}, installed {wanted.get(name)}")
        elif hashes == 0:
            found.append(f"{name}: no hash")
    return found


def compile_lock() -> str:
    """Run pip-compile (PyPI) for ``expected()``; the lock file's text."""
    with tempfile.TemporaryDirectory() as tmp:
        constraints = Path(tmp) / "installed.txt"
        constraints.write_text("".join(f"{n}=={v}\n" for n, v in expected().items()))
        build = Path(tmp) / "build.in"
        build.write_text("".join(f"{n}=={v}\n" for n, v in BUILD_REQUIREMENTS.items()))
        output = Path(tmp) / "requirements.txt"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "piptools",
                "compile",
                "--quiet",
                "--generate-hashes",
                "--allow-unsafe",  # setuptools, for the build
                "--strip-extras",
                "--no-emit-index-url",
                "--no-emit-find-links",
                f"--constraint={constraints}",
                f"--output-file={output}",
                "pyproject.toml",  # relative: the file names it in its comments
                str(build),
            ],
            check=True,
            cwd=HERE.parent,
            env=dict(os.environ, CUSTOM_COMPILE_COMMAND="python deploy/lock.py"),
        )
        text = output.read_text()
    # The temporary inputs' paths mean nothing to a reader of the file.
    return "".join(
        line
        for line in text.splitlines(keepends=True)
        if str(constraints) not in line and str(build) not in line
    )


def main(argv=None) -> int:
    """Write the lock file, or with ``--check`` say why the committed one is stale."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the lock file is stale")
    args = parser.parse_args(argv)
    if not args.check:
        LOCK_FILE.write_text(compile_lock())
        return 0
    found = problems(LOCK_FILE.read_text(encoding="utf-8") if LOCK_FILE.exists() else "")
    for line in found:
        print(line)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
