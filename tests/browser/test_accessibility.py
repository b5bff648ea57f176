"""Every page, light and dark: axe-core finds no serious or critical violation, the
theme follows the system's setting, and muted text meets WCAG AA.

axe-core comes from the npm registry (``axe_script`` in conftest.py runs ``npm ci``
on a clean machine) and is injected by the test, never served by the product.
Each page is photographed in both themes: ``artifacts/screenshots/a11y-*``.
"""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import SCHEMES, VIEWPORTS, Person

pytestmark = pytest.mark.browser

# A host platform's page carrying the embedded elements; it follows the system's
# colour setting itself, as a host with a dark theme would.
HOST_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="color-scheme" content="light dark">
<title>DevCareer · Dashboard</title>
<style>
  body { margin: 0; font-family: sans-serif; background: #fff; color: #1d2330; }
  @media (prefers-color-scheme: dark) { body { background: #10151d; color: #e7eaf0; } }
  header { display: flex; gap: 24px; align-items: center; padding: 12px 24px; }
  header nav { display: flex; gap: 16px; }
  main { padding: 24px; }
</style>
<script src="/help-center/embed.js" defer></script>
</head>
<body>
<header>
  <strong>DevCareer</strong>
  <nav aria-label="Main"><helpdesk-link to="tickets" token="{token}"></helpdesk-link>
  <helpdesk-link to="new" token="{token}">Report a problem</helpdesk-link></nav>
  <helpdesk-bell token="{token}"></helpdesk-bell>
</header>
<main><h1>Dashboard</h1><p>Your developer profile at a glance.</p></main>
</body>
</html>
"""


def _luminance(rgb: str) -> float:
    """Relative luminance (WCAG) of a computed ``rgb(r, g, b)`` colour."""
    parts = [int(float(x)) for x in rgb[rgb.index("(") + 1 : rgb.index(")")].split(",")[:3]]
    channels = [c / 255 for c in parts]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _contrast(fg: str, bg: str) -> float:
    hi, lo = sorted((_luminance(fg), _luminance(bg)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


# The colour of an element's text and of the first opaque background behind it.
COLOURS = """(el) => {
  let node = el, bg = "rgba(0, 0, 0, 0)";
  while (node && node.nodeType === 1) {
    bg = getComputedStyle(node).backgroundColor;
    if (!bg.startsWith("rgba") || !bg.endsWith(", 0)")) break;
    node = node.parentElement;
  }
  return [getComputedStyle(el).color, bg];
}"""


@pytest.fixture(scope="module")
def people(stack):
    """A user with tickets in several states, and the support agent working them."""
    alice = Person(stack, f"user-{uuid.uuid4().hex[:8]}", "user", "Alice Example")
    sam = Person(stack, f"admin-{uuid.uuid4().hex[:8]}", "admin", "Sam Support")
    first = alice.create_ticket(subject="Dashboard charts flicker and go blank")
    second = alice.create_ticket(issue_type="access", subject="Locked out after changing email")
    tid = first["id"]
    sam.assign(tid, sam.sub)
    sam.reply(tid, "Thanks, we can see it. Which **browser** do you use?")
    sam.reply(tid, "Customer is on the legacy cluster.", internal=True)
    alice.reply(tid, "Chromium 120 on Linux.")
    sam.set_status(second["id"], "resolved", "We rebuilt the chart cache.")
    return alice, sam, first, second


def _check(w, axe, shoot, name, scheme, ready):
    """The page is ready, in the scheme's colours, passes axe; and is photographed."""
    page = w.page
    expect(page.locator(ready).first).to_be_visible()
    page.wait_for_load_state("networkidle")
    # The page follows the system's colour setting: dark page for dark, light for light.
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert (_luminance(background) < 0.05) == (scheme == "dark"), (name, scheme, background)
    axe(page, f"{name} ({scheme})")
    shoot(page, f"a11y-{name}-{scheme}")
    # The not-found page is itself a 404 response, which Chromium logs.
    errors = [e for e in w.errors if not (name == "not-found" and "status of 404" in e)]
    assert w.dialogs == [] and errors == [], (w.dialogs, errors)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_every_page_passes_axe_in_both_themes(open_page, people, axe, shoot, scheme):
    alice, sam, first, second = people
    pages = (
        ("/help-center", alice.token, "landing", "#recent-list .ticket-row"),
        ("/help-center/tickets", alice.token, "my-tickets", ".ticket-row"),
        ("/help-center/tickets/new", alice.token, "new-ticket", "#issue-types input"),
        (f"/help-center/tickets/{first['id']}", alice.token, "ticket", ".message"),
        (f"/help-center/tickets/{second['id']}", alice.token, "ticket-resolved", ".resolution"),
        ("/help-center/admin", sam.token, "admin", "tr[data-ticket-id]"),
        (f"/help-center/admin/tickets/{first['id']}", sam.token, "admin-ticket", ".message"),
        ("/help-center/admin/teams", sam.token, "admin-teams", "main h1"),
        ("/help-center/admin/macros", sam.token, "admin-macros", "main h1"),
        ("/help-center/admin/teams", sam.token, "admin-teams", "#team-members input"),
        ("/help-center/nope", alice.token, "not-found", "#not-found-title"),
        ("/help-center/dev/sign-in", None, "dev-sign-in", "main h1"),
    )
    for path, token, name, ready in pages:
        _check(open_page(path, token, scheme=scheme), axe, shoot, name, scheme, ready)

    # What a page shows only after an action: field errors, the open bell.
    w = open_page("/help-center/tickets/new", alice.token, scheme=scheme)
    w.page.click("#submit")
    expect(w.page.locator("#form-alert .alert.error")).to_be_visible()
    _check(w, axe, shoot, "new-ticket-errors", scheme, "#subject-error")
    w = open_page(f"/help-center/tickets/{first['id']}", alice.token, scheme=scheme)
    expect(w.page.locator(".message").first).to_be_visible()
    w.page.click("#bell-button")
    _check(w, axe, shoot, "bell-open", scheme, "#bell-list .bell-item")


@pytest.mark.parametrize("scheme", SCHEMES)
def test_the_embedded_elements_pass_axe_in_both_themes(browser, stack, people, axe, shoot, scheme):
    alice = people[0]
    context = browser.new_context(**VIEWPORTS["laptop"], color_scheme=scheme)
    try:
        host = f"{stack.base_url}/host-dashboard.html"
        # The host's page, served by the browser itself on the gateway's origin: the
        # elements call the API same-origin, so no CORS stack is needed here.
        html = HOST_PAGE.replace("{token}", alice.token)
        context.route(host, lambda route: route.fulfill(content_type="text/html", body=html))
        page = context.new_page()
        page.goto(host)
        toggle = page.locator("helpdesk-bell button.toggle")
        expect(toggle).to_have_attribute("data-unread", "2")  # the reply, the resolution
        toggle.click()
        expect(page.locator("helpdesk-bell li a.notice").first).to_be_visible()
        expect(page.locator("helpdesk-link a").first).to_be_visible()
        axe(page, f"embedded elements ({scheme})")
        panel = page.locator("helpdesk-bell .panel")
        fg, bg = panel.evaluate(
            "(el) => [getComputedStyle(el).color, getComputedStyle(el).backgroundColor]"
        )
        assert (_luminance(bg) < 0.05) == (scheme == "dark"), (scheme, bg)
        assert _contrast(fg, bg) >= 4.5
        shoot(page, f"a11y-embed-{scheme}")
    finally:
        context.close()


@pytest.mark.parametrize("scheme", SCHEMES)
def test_muted_text_meets_wcag_aa_in_both_themes(open_page, people, scheme):
    alice = people[0]
    w = open_page("/help-center/tickets", alice.token, scheme=scheme)
    page = w.page
    expect(page.locator(".ticket-row").first).to_be_visible()
    # Muted text on every surface it sits on: the page, a card, a table header.
    checked = 0
    for selector in (".ticket-row .meta", ".ticket-row .ref", ".site-footer"):
        for element in page.locator(selector).all()[:3]:
            fg, bg = element.evaluate(COLOURS)
            assert _contrast(fg, bg) >= 4.5, (selector, scheme, fg, bg, _contrast(fg, bg))
            checked += 1
    w = open_page("/help-center/tickets/new", alice.token, scheme=scheme)
    muted = w.page.locator("main p.muted").first
    expect(muted).to_be_visible()
    fg, bg = muted.evaluate(COLOURS)
    assert _contrast(fg, bg) >= 4.5, (scheme, fg, bg, _contrast(fg, bg))
    # The queue's column heads sit on the second surface (4.27:1 before).
    w = open_page("/help-center/admin", people[1].token, scheme=scheme)
    head = w.page.locator(".queue th").first
    expect(head).to_be_visible()
    fg, bg = head.evaluate(COLOURS)
    assert _contrast(fg, bg) >= 4.5, (scheme, fg, bg, _contrast(fg, bg))
    assert checked >= 3
