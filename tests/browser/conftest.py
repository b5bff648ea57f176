"""Real headless Chromium against the running stack (``stack`` from ``tests/conftest.py``).

Playwright's sync API needs an interpreter without eventlet's monkey patch, so
these tests run in their own pytest process with ``HELPDESK_TEST_NO_GREEN=1``
(``scripts/pytest-all.sh``). Playwright is imported inside the fixtures, so the
first (eventlet) pytest process can still collect this folder and skip it by marker.

Every page a test opens records console errors, uncaught exceptions and dialogs;
a dialog is how an injected ``alert()`` would show, so tests assert there were none.
Screenshots go to ``artifacts/screenshots/`` (git-ignored).
"""

from __future__ import annotations

import os
import shutil
import subprocess  # nosec B404 - npm ci, pinned by the lock file, installs axe-core
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

CHROMIUM = os.environ.get("HELPDESK_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
# axe-core, the accessibility checker the tests inject into pages: from the npm
# registry, the version pinned in package.json and package-lock.json beside this file.
NPM_PROJECT = Path(__file__).resolve().parent
AXE_SCRIPT = NPM_PROJECT / "node_modules" / "axe-core" / "axe.min.js"
# The system colour settings the pages follow (prefers-color-scheme).
SCHEMES = ("light", "dark")
VIEWPORTS = {
    "laptop": {"viewport": {"width": 1280, "height": 800}},
    "phone": {
        "viewport": {"width": 390, "height": 844},
        "is_mobile": True,
        "has_touch": True,
        "device_scale_factor": 2,
    },
    # The narrowest phone width the pages are checked at, and a tablet below the
    # two-column ticket layout (60rem).
    "narrow": {
        "viewport": {"width": 375, "height": 812},
        "is_mobile": True,
        "has_touch": True,
        "device_scale_factor": 2,
    },
    "tablet": {"viewport": {"width": 768, "height": 1024}, "has_touch": True},
}


@dataclass
class Watched:
    """A page plus what it did that a test must see: dialogs, errors."""

    page: object
    dialogs: list = field(default_factory=list)
    errors: list = field(default_factory=list)


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the session."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium is not installed at {CHROMIUM} (run `make test-deps`)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def open_page(browser, stack):
    """``open_page(path, token=None, device="laptop", on=stack, base=None, scheme="light")``
    → ``Watched``; ``scheme`` is the system's colour setting the page sees (light or dark).

    The token is handed over as the ``#token=`` fragment, as a host platform would.
    Pages open on the stack's gateway (whose stream path answers 204, so the bell
    polls), or on ``base`` (make run's front, where the bell's stream is served).
    """
    contexts = []

    def open_(
        path: str,
        token: str | None = None,
        device: str = "laptop",
        on=None,
        base=None,
        scheme: str = "light",
    ) -> Watched:
        context = browser.new_context(**VIEWPORTS[device], color_scheme=scheme)
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        watched = Watched(page)

        def on_dialog(dialog):
            watched.dialogs.append(dialog.message)
            dialog.dismiss()

        page.on("dialog", on_dialog)
        page.on("pageerror", lambda exc: watched.errors.append(f"pageerror: {exc}"))
        page.on(
            "console",
            lambda msg: (
                watched.errors.append(f"console: {msg.text}") if msg.type == "error" else None
            ),
        )
        page.goto((base or (on or stack).base_url) + path + (f"#token={token}" if token else ""))
        return watched

    yield open_
    for context in contexts:
        context.close()


@pytest.fixture
def shoot():
    """``shoot(page, name)``: a full-page screenshot in artifacts/screenshots/."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(page, name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.fixture(scope="session")
def axe_script() -> str:
    """axe-core's script; ``npm ci`` installs it from the npm registry on first use
    (a clean machine has no ``node_modules``; ``make test-deps`` installs npm)."""
    if not AXE_SCRIPT.exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("npm is not installed (run `make test-deps`): it installs axe-core")
        subprocess.run(  # nosec B603 - a fixed command, no shell
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=NPM_PROJECT,
            check=True,
            timeout=600,
        )
    return AXE_SCRIPT.read_text()


@pytest.fixture
def axe(axe_script):
    """``axe(page, what)``: run axe-core's WCAG 2 A/AA rules on the page as it is now
    (open shadow roots included) and fail on any serious or critical violation."""

    def check(page, what: str) -> list:
        if not page.evaluate("typeof window.axe === 'object'"):
            # Evaluated through the DevTools protocol: the pages' CSP (script-src
            # 'self') governs the pages' own scripts, not the test's.
            page.evaluate(axe_script)
        violations = page.evaluate(
            """async () => {
              const result = await axe.run(document, {
                runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"] },
                resultTypes: ["violations"],
              });
              return result.violations.map((v) => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 5).map((n) => `${n.target.join(" ")}: ${n.failureSummary}`),
              }));
            }"""
        )
        serious = [v for v in violations if v["impact"] in ("serious", "critical")]
        assert not serious, f"{what}: " + "\n".join(
            f"{v['impact']} {v['id']} ({v['help']}): " + " | ".join(v["nodes"]) for v in serious
        )
        return violations

    return check


@pytest.fixture
def person(stack):
    """A fresh identity per test (own daily ticket allowance): ``person(role, name)``."""

    def make(role: str = "user", name: str | None = None):
        sub = f"{role}-{uuid.uuid4().hex[:8]}"
        return Person(stack, sub, role, name or sub)

    return make


class Person:
    """Someone with a token for the stack, who can also call the API directly (test set-up)."""

    def __init__(self, stack, sub, role, name):
        self.stack = stack
        self.sub = sub
        self.role = role
        self.name = name
        self.token = stack.token(sub, role, name)

    def api(self, method: str, path: str, body=None, expect: int | None = None):
        """Call ``/api/v1{path}``; returns the JSON body; checks the status when asked."""
        response = requests.request(
            method,
            f"{self.stack.base_url}/api/v1{path}",
            json=body,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=15,
        )
        if expect is not None:
            assert response.status_code == expect, response.text
        return response.json() if response.content else None

    def create_ticket(self, **fields):
        body = {
            "issue_type": "bug",
            "feature": "dashboard",
            "subject": f"Reports page is blank {uuid.uuid4().hex[:6]}",
            "description": "Opening the reports page shows an empty white area instead of the charts.",
        }
        body.update(fields)
        return self.api("POST", "/tickets", body, expect=201)

    def reply(self, ticket_id: int, body: str, internal: bool = False):
        """Write in a ticket's thread: the owner's reply, or support's reply (or internal
        note), by this person's role."""
        if self.role != "admin":
            return self.api("POST", f"/tickets/{ticket_id}/messages", {"body": body}, expect=201)
        message = {"body": body, "internal": internal}
        return self.api("POST", f"/admin/tickets/{ticket_id}/messages", message, expect=201)

    def close(self, ticket_id: int, note: str | None = None):
        """The owner closes a ticket, with a note for support when given."""
        return self.api(
            "POST", f"/tickets/{ticket_id}/close", {"note": note} if note else {}, expect=200
        )

    def set_status(self, ticket_id: int, status: str, resolution_note: str | None = None):
        """Support moves a ticket to ``status`` (Resolved takes a resolution note)."""
        change = {"status": status}
        if resolution_note is not None:
            change["resolution_note"] = resolution_note
        return self.api("POST", f"/admin/tickets/{ticket_id}/status", change, expect=200)

    def assign(self, ticket_id: int, assignee_id: str):
        """Support assigns a ticket to ``assignee_id``."""
        change = {"assignee_id": assignee_id}
        return self.api("POST", f"/admin/tickets/{ticket_id}/assign", change, expect=200)
