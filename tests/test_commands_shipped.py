"""Every command the docs, the deployment files and the error messages name is shipped.

Operators type what the README and docs/operations.md say, and a refusal such as
``helpdesk-migrate: configuration error: ...`` names the command to run again: each
of those names is a ``[project.scripts]`` entry, installed, that answers ``--help``.
"""

from __future__ import annotations

import re
import subprocess
import tomllib

import pytest

from tools.localrun import BIN, ROOT

pytestmark = pytest.mark.unit

SCRIPTS = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
# Where commands are named for operators and developers. The docs of the pages and of
# the embedded elements name custom elements and DOM events (helpdesk-bell, ...), not
# commands, so they are not read here.
DOCUMENTS = [
    ROOT / "README.md",
    ROOT / "Makefile",
    ROOT / "docker-compose.yml",
    ROOT / "deploy" / "Dockerfile",
    *[ROOT / "docs" / f"{name}.md" for name in ("architecture", "operations", "security")],
    *[ROOT / "docs" / f"{name}.md" for name in ("gateway", "tickets", "notifications")],
    *sorted((ROOT / "docs" / "decisions").glob("*.md")),
]
# ``helpdesk-<name>`` at the start of a command line, a code span or a compose list.
NAMED_IN_DOCS = re.compile(r"(?:^|[`\"/\s(])(helpdesk-[a-z][a-z-]*[a-z])(?=[`\"\s:,)]|$)", re.M)
# How a command introduces its own messages: "helpdesk-xyz: ...", or the name it
# hands to the helpers that print its refusal (``from_env_or_exit("helpdesk-xyz")``).
NAMED_IN_MESSAGES = re.compile(
    r"[\"']?(helpdesk-[a-z][a-z-]*[a-z]): |(?:_or_exit\(|prog = )[\"'](helpdesk-[a-z][a-z-]*[a-z])[\"']"
)
# Names that are not commands: custom elements, a directory prefix, and the names
# the Kubernetes manifests give their objects and the Secrets they reference.
KUBERNETES_NAMES = {
    name
    for path in (ROOT / "deploy" / "kubernetes").rglob("*.yaml")
    for name in re.findall(r"(?:name|secretName): (helpdesk-[a-z0-9-]+)", path.read_text())
}
NOT_COMMANDS = {"helpdesk-bell", "helpdesk-link", "helpdesk-gateway-metrics"} | (
    KUBERNETES_NAMES - set(SCRIPTS)
)


def _named(pattern, paths) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in paths:
        for found_name in pattern.findall(path.read_text(encoding="utf-8")):
            # A pattern with two groups gives a tuple: the one that matched.
            name = found_name if isinstance(found_name, str) else "".join(found_name)
            if name not in NOT_COMMANDS and not name.startswith("helpdesk-rpc"):
                found.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    return found


def test_every_command_the_docs_and_deployment_name_is_a_project_script():
    named = _named(NAMED_IN_DOCS, DOCUMENTS)
    assert {"helpdesk-gateway", "helpdesk-migrate", "helpdesk-setup"} <= set(named)
    missing = {name: where for name, where in named.items() if name not in SCRIPTS}
    assert not missing


def test_every_command_an_error_message_names_is_a_project_script():
    sources = [
        p
        for top in ("shared", "services", "tools", "deploy")
        for p in (ROOT / top).rglob("*.py")
        if "tests" not in p.parts
    ]
    named = _named(NAMED_IN_MESSAGES, sources)
    assert {"helpdesk-gateway", "helpdesk-migrate"} <= set(named)
    missing = {name: where for name, where in named.items() if name not in SCRIPTS}
    assert not missing


@pytest.mark.parametrize("command", sorted(SCRIPTS))
def test_each_command_is_installed_and_answers_help(command):
    done = subprocess.run(
        [str(BIN / command), "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "usage" in done.stdout.lower()
