"""deploy/Dockerfile: pinned, multi-stage, non-root, production, same code as make run.

Without a Docker engine the image cannot be built here, so this reads the
Dockerfile: every file it copies exists and is in the build context, and the
runtime stage has no build tools, no root user, and the production default.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import subprocess
import sys
import tomllib

import pytest

from tests.deploy.conftest import DOCKERFILE, ROOT

pytestmark = pytest.mark.unit


def instructions(path=DOCKERFILE) -> list[tuple[str, str, str]]:
    """(stage, INSTRUCTION, arguments) for every instruction, continuation lines joined."""
    text = re.sub(r"\\\n", " ", path.read_text())
    result, stage = [], None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        op, _, args = line.partition(" ")
        op = op.upper()
        if op == "FROM":
            stage = args.split(" AS ")[-1].strip() if " AS " in args else args
        result.append((stage, op, args.strip()))
    return result


def build_args() -> dict:
    """The defaults of the ARGs declared before the first stage."""
    return dict(
        args.split("=", 1)
        for stage, op, args in instructions()
        if op == "ARG" and stage is None and "=" in args
    )


def _dockerignore() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _ignored(path: str) -> bool:
    """Whether Docker leaves ``path`` out of the context: it or a parent matches."""
    parts = path.split("/")
    candidates = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    return any(
        fnmatch.fnmatch(candidate, pattern)
        or fnmatch.fnmatch(candidate, pattern.removeprefix("**/"))
        for pattern in _dockerignore()
        for candidate in candidates
    )


# The latest patch releases published when these were last checked (docs/security.md,
# "Supply chain"); a stale pin fails here until someone looks again.
LATEST_PATCH = {"python": (3, 11, 15), "postgres": (15, 19), "haproxy": (3, 0, 27)}


def test_base_image_is_pinned_to_the_latest_slim_bookworm_python_311():
    base = build_args()["PYTHON_IMAGE"]
    version = re.fullmatch(r"python:(3\.11\.\d+)-slim-bookworm", base)
    assert version, base
    image = tuple(map(int, version.group(1).split(".")))
    assert image == LATEST_PATCH["python"], base
    # The same minor version the tests run on, at least their patch release.
    assert image[:2] == sys.version_info[:2] and image >= sys.version_info[:3]
    stages = [args for _, op, args in instructions() if op == "FROM"]
    assert stages == ["${PYTHON_IMAGE} AS builder", "${PYTHON_IMAGE} AS runtime"]


def test_every_copied_file_exists_and_is_in_the_build_context():
    copied = []
    for _, op, args in instructions():
        if op != "COPY" or args.startswith("--from"):
            continue
        *sources, _dest = shlex.split(args)
        copied += sources
    assert {"pyproject.toml", "shared", "services", "deploy/requirements.txt"} <= set(copied)
    for source in copied:
        assert (ROOT / source).exists(), f"COPY {source}: no such file"
        assert not _ignored(source), f"COPY {source}: excluded by .dockerignore"


def test_the_build_context_keeps_secrets_and_local_state_out():
    for path in (".env", "deploy/secrets/jwt_secret", ".git/config", ".venv/bin/python", "tests/x"):
        assert _ignored(path), path


def test_the_build_context_keeps_what_the_services_read_at_run_time():
    # Every file of the shipped packages except their tests: migrations, the pages.
    shipped = [
        path.relative_to(ROOT).as_posix()
        for top in ("shared", "services")
        for path in (ROOT / top).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    ]
    kept = [path for path in shipped if not _ignored(path)]
    assert any(path.startswith("services/gateway/pages/assets/") for path in kept)
    assert any("/migrations/versions/" in path for path in kept)
    dropped = [path for path in shipped if _ignored(path)]
    assert all("/tests/" in path for path in dropped), dropped
    assert not [path for path in kept if "/tests/" in path]


def test_runtime_stage_has_no_build_tools_and_runs_unprivileged_in_production():
    runtime = [(op, args) for stage, op, args in instructions() if stage == "runtime"]
    runs = " ".join(args for op, args in runtime if op == "RUN")
    for tool in ("apt-get install", "build-essential", "gcc", "pip install"):
        assert tool not in runs, f"runtime stage runs {tool}"
    builder_runs = " ".join(
        args for stage, op, args in instructions() if stage == "builder" and op == "RUN"
    )
    assert "build-essential" in builder_runs
    # Nothing installed from an index without its hash; the project itself offline.
    for install in re.findall(r"pip install[^&]*", builder_runs):
        assert "--require-hashes" in install or "--no-index" in install, install
    assert "--require-hashes --no-deps -r /tmp/requirements.txt" in builder_runs
    users = [args for op, args in runtime if op == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    env = " ".join(args for op, args in runtime if op == "ENV")
    assert "HELPDESK_ENV=production" in env
    copies_from_builder = [args for op, args in runtime if op == "COPY" and "--from=" in args]
    assert copies_from_builder == ["--from=builder /opt/venv /opt/venv"]


def test_entrypoint_and_default_command_are_the_shipped_programs():
    runtime = {op: args for stage, op, args in instructions() if stage == "runtime"}
    entrypoint = json.loads(runtime["ENTRYPOINT"])
    assert entrypoint == ["python", "/app/deploy/entrypoint.py"]
    copied = [args for stage, op, args in instructions() if stage == "runtime" and op == "COPY"]
    assert any("deploy/entrypoint.py" in args and "deploy/probe.py" in args for args in copied)
    assert json.loads(runtime["CMD"]) == ["helpdesk-gateway"]


def test_the_image_installs_the_project_as_make_run_does():
    builder_runs = " ".join(
        args for stage, op, args in instructions() if stage == "builder" and op == "RUN"
    )
    # Editable, like `pip install -e '.[dev]'` in the Makefile, so the code (and its
    # migrations) run from /app/shared and /app/services, not a copy in site-packages.
    assert "--no-deps --no-build-isolation --no-index -e /app" in builder_runs
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert {"helpdesk-tickets", "helpdesk-notifications"} <= set(scripts)


def test_locked_requirements_match_the_tested_environment():
    result = subprocess.run(
        [sys.executable, str(ROOT / "deploy" / "lock.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, "deploy/requirements.txt is stale:\n" + result.stdout
    from deploy.lock import parse

    locked = {
        name: version
        for name, (version, hashes) in parse(
            (ROOT / "deploy" / "requirements.txt").read_text()
        ).items()
        if hashes  # every one of them, or --check above fails
    }
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for requirement in project["dependencies"]:
        name, version = re.fullmatch(r"([A-Za-z0-9_.-]+)(?:\[.*\])?==(.+)", requirement).groups()
        canonical = re.sub(r"[-_.]+", "-", name).lower()
        assert locked.get(canonical) == version, f"{requirement} not locked as pinned"
    for dev in project["optional-dependencies"]["dev"]:
        name = re.split(r"[=\[<>]", dev)[0].lower()
        if name not in ("requests",):  # also a runtime dependency of nameko
            assert name not in locked, f"dev-only {name} would ship in the image"


def test_third_party_images_are_on_their_latest_patch_release(compose_config):
    images = {name: svc["image"] for name, svc in compose_config["services"].items()}
    assert images["postgres"] == "postgres:{}.{}-bookworm".format(*LATEST_PATCH["postgres"])
    assert images["lb"] == "haproxy:{}.{}.{}-alpine".format(*LATEST_PATCH["haproxy"])
    # 3.13.7 is the last open-source release of RabbitMQ 3.13 (docs/security.md).
    assert images["rabbitmq"] == "rabbitmq:3.13.7-management"


def test_the_lock_pins_and_hashes_every_requirement():
    from deploy.lock import parse

    locked = parse((ROOT / "deploy" / "requirements.txt").read_text())
    assert locked and all(hashes >= 1 for _version, hashes in locked.values()), locked
    assert locked["setuptools"][0] == "84.2.1"  # the build's, hashed too
