"""The docs cite only what exists: README.md and docs/**/*.md, checked against the repo.

Each backticked span (inline, or a fenced block's lines) is read for these kinds of
reference, each by a pattern narrow enough that what lies outside the repo (a
PostgreSQL function, a Kubernetes field, a URL, an element of the host's page) does
not match it:

- a repo path: a word starting ``deploy/``, ``docs/``, ``scripts/``, ``services/``,
  ``shared/``, ``tests/``, ``tools/`` or ``.ci/`` (``<svc>`` and ``*`` as wildcards,
  ``{a,b}`` as alternatives), or a whole span that is a file name such as
  ``domain.py`` or ``integration/test_rpc.py``, which some file's path must end with;
- a dotted Python name starting ``services.``, ``shared.``, ``tests.`` or ``tools.``:
  a module, or its longest importable prefix imported and the rest looked up;
- ``make X``: a target of the Makefile;
- a ``helpdesk-X`` command (after ``bin/``, or given arguments): one of pyproject's
  [project.scripts], which the README's command table lists, all of them;
- ``HELPDESK_X``: a setting some code reads, as a string in Python (not a docstring;
  an f-string's fields match any name part) or in a YAML, shell, compose or Makefile
  text. ``HELPDESK_<NAME>`` is a placeholder and ``HELPDESK_JWT_*`` a family: neither
  is checked.

The docstrings of the repo's Python code are held to the first two kinds: a repo path
or dotted name in a ``literal`` must exist too.

Imports run under the eventlet patch the root conftest.py applies, as in every
service process.
"""

import ast
import importlib
import importlib.util
import itertools
import os
import re
import tomllib
from functools import cache
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
TOP_FOLDERS = ("deploy", "docs", "scripts", "services", "shared", "tests", "tools", ".ci")
PACKAGES = ("services", "shared", "tests", "tools")
# Not the repo's files: a virtualenv, build and test output, and npm's packages.
SKIPPED_FOLDERS = {".git", ".venv", "artifacts", "node_modules", "__pycache__", ".pytest_cache"}
# A file name standing alone is checked only for the kinds of file the repo writes
# itself: a YAML or JSON file so named may be another project's (an operator's release).
FILE_SUFFIXES = r"py|sh|js|css|html"
# deploy/make_secrets.py writes the secrets here, never committed (the folder's
# .gitignore): a cited secret must be one that script writes.
SECRETS = "deploy/secrets/"

# A fenced block, indented too (inside a list item).
_FENCE = re.compile(r"^[ \t]*```[^\n]*\n(.*?)^[ \t]*```", re.M | re.S)
# An inline span may run on over line breaks, not over a blank line.
_INLINE = re.compile(r"`([^`\n]+(?:\n[^`\n]+)*)`")
_FOLDERS = "|".join(re.escape(f) for f in TOP_FOLDERS)
_PATH = re.compile(rf"(?<![\w./-])((?:{_FOLDERS})/[^\s`'\"();:]*)")
_FILE_NAME = re.compile(rf"[\w-]+(?:/[\w-]+)*\.(?:{FILE_SUFFIXES})")
_DOTTED = re.compile(rf"(?<![\w./-])((?:{'|'.join(PACKAGES)})(?:\.[A-Za-z_]\w*)+)")
_MAKE = re.compile(r"(?<![\w-])make ([a-z][\w-]*)")
_COMMAND_AFTER_BIN = re.compile(r"\bbin/(helpdesk-[a-z-]*[a-z])")
_COMMAND_WITH_ARGUMENTS = re.compile(r"^(helpdesk-[a-z-]*[a-z]) +[-\[<\w]")
# Not a name followed by ``*`` or ``_*``: that is a family of settings, not one.
_SETTING = re.compile(r"\bHELPDESK_[A-Z0-9_]*[A-Z0-9](?![\w*])")


def spans(text: str) -> list[str]:
    """Every backticked span of a Markdown text: inline ones, and each line of a fenced block."""
    found = [line for block in _FENCE.findall(text) for line in block.splitlines()]
    inline = _INLINE.findall(_FENCE.sub("", text))
    return found + [re.sub(r"\s*\n\s*", " ", span) for span in inline]


def references() -> list[tuple[str, str]]:
    """``(doc, span)`` for every span of every doc, the doc named relative to the repo."""
    return [(str(doc.relative_to(ROOT)), span) for doc in DOCS for span in spans(doc.read_text())]


def _pick(pattern: re.Pattern) -> list[tuple[str, str]]:
    """``(doc, match)`` for every match of ``pattern`` in every span, each pair once."""
    found = {(doc, m) for doc, span in references() for m in pattern.findall(span)}
    return sorted(found)


@cache
def repo_files() -> tuple[str, ...]:
    """Every file and folder of the repo, as a path relative to it (skipping output)."""
    found = []
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in SKIPPED_FOLDERS]
        here = Path(folder).relative_to(ROOT)
        found += [(here / name).as_posix() for name in dirs + files]
    return tuple(found)


def _alternatives(path: str) -> list[str]:
    """``path`` with each ``{a,b}`` expanded, ``<name>`` made a wildcard."""
    path = re.sub(r"<[^>/]+>", "*", path)
    parts = re.split(r"\{([^{}]*)\}", path)
    choices = [p.split(",") if i % 2 else [p] for i, p in enumerate(parts)]
    return ["".join(c) for c in itertools.product(*choices)]


def path_exists(path: str) -> bool:
    """Whether a cited repo path names a file or folder (``::test`` and a final ``.`` aside)."""
    path = path.split("::")[0].rstrip(".,")
    if path.startswith(SECRETS) and path != SECRETS:
        written = (ROOT / "deploy" / "make_secrets.py").read_text()
        return f'"{path.removeprefix(SECRETS)}"' in written
    return all(any(ROOT.glob(alt.rstrip("/"))) for alt in _alternatives(path))


def _strip_docstrings(tree: ast.AST) -> None:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        first = body[0] if isinstance(body, list) and body else None
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
            first.value.value = None


@cache
def settings_read() -> tuple[str, re.Pattern]:
    """The names code reads: Python strings (f-string fields as a pattern) and the
    YAML, shell, compose and Makefile texts."""
    literal, patterns = [], []
    for relative in repo_files():
        path = ROOT / relative
        if path.suffix == ".py":
            tree = ast.parse(path.read_text())
            _strip_docstrings(tree)
            for node in ast.walk(tree):
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    literal.append(node.value)
                elif isinstance(node, ast.JoinedStr):
                    patterns.append(
                        "".join(
                            re.escape(v.value) if isinstance(v, ast.Constant) else r"[A-Z0-9_]+"
                            for v in node.values
                        )
                    )
        elif path.suffix in (".yml", ".yaml", ".sh", ".cfg", ".conf") or path.name in (
            "Makefile",
            "Dockerfile",
        ):
            literal.append(path.read_text(errors="replace"))
    named = [p for p in patterns if "HELPDESK_" in p]
    return "\n".join(literal), re.compile("|".join(f"(?:{p})" for p in named) or "$^")


def dotted_name_exists(name: str) -> bool:
    """Whether ``a.b.c`` is a module, or a module's attributes lead to it. A module
    cited alone is found, not run: some build their settings when imported (wsgi)."""
    try:
        if importlib.util.find_spec(name) is not None:
            return True
    except ModuleNotFoundError:  # a name inside a module, not a submodule
        pass
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[cut:]:
            if not hasattr(target, attribute):
                return False
            target = getattr(target, attribute)
        return True
    return False


# kubectl names a Deployment ``deploy/NAME``: a cluster's object, not a folder.
_KUBECTL_DEPLOYMENT = re.compile(r"\bkubectl .*(?<![\w./-])(deploy/[\w-]+)(?![\w./-])")


def test_cited_repo_paths_exist():
    objects = set(_pick(_KUBECTL_DEPLOYMENT))
    missing = [
        (doc, p) for doc, p in _pick(_PATH) if (doc, p) not in objects and not path_exists(p)
    ]
    assert not missing


def test_cited_file_names_exist():
    files = repo_files()
    named = [(doc, span) for doc, span in references() if _FILE_NAME.fullmatch(span)]
    missing = [
        (doc, span)
        for doc, span in sorted(set(named))
        if not span.startswith(TOP_FOLDERS)
        and not any(f == span or f.endswith("/" + span) for f in files)
    ]
    assert not missing


def test_cited_python_names_exist():
    missing = [
        (doc, name) for doc, name in _pick(_DOTTED) if not dotted_name_exists(name.rstrip("."))
    ]
    assert not missing


def test_cited_make_targets_exist():
    targets = set(re.findall(r"^([a-z][\w-]*):", (ROOT / "Makefile").read_text(), re.M))
    missing = [(doc, t) for doc, t in _pick(_MAKE) if t not in targets]
    assert not missing


def _scripts() -> set[str]:
    return set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"])


def test_cited_commands_are_installed():
    cited = _pick(_COMMAND_AFTER_BIN) + _pick(_COMMAND_WITH_ARGUMENTS)
    missing = [(doc, c) for doc, c in cited if c not in _scripts()]
    assert not missing


def test_the_readme_command_table_lists_every_installed_command():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Commands\n")[1].split("\n## ")[0]
    rows = [line.split(" | ")[0] for line in section.splitlines() if line.startswith("| `")]
    listed = {m for row in rows for m in re.findall(r"`(helpdesk-[a-z-]*[a-z])", row)}
    assert listed == _scripts()


def test_cited_settings_are_read_by_code():
    text, pattern = settings_read()
    missing = [
        (doc, s)
        for doc, s in _pick(_SETTING)
        if not re.search(rf"\b{s}\b", text) and not pattern.fullmatch(s)
    ]
    assert not missing


def docstring_references() -> list[tuple[str, str]]:
    """``(file, span)`` for every ``literal`` of every docstring of the repo's Python."""
    found = []
    for relative in repo_files():
        if not relative.endswith(".py"):
            continue
        for node in ast.walk(ast.parse((ROOT / relative).read_text())):
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                docstring = ast.get_docstring(node) or ""
                found += [(relative, span) for span in re.findall(r"``([^`]+)``", docstring)]
    return found


def test_docstrings_cite_existing_paths_and_names():
    spans = docstring_references()
    missing = sorted(
        {(f, p) for f, span in spans for p in _PATH.findall(span) if not path_exists(p)}
        | {
            (f, n)
            for f, span in spans
            for n in _DOTTED.findall(span)
            if not dotted_name_exists(n.rstrip("."))
        }
    )
    assert not missing
