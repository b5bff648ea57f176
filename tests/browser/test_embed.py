"""The bell and links of ``/help-center/embed.js`` on a host's page, in real Chromium.

The host page is served by a second HTTP server (another port, so another origin)
and calls the real gateway across origins: allowed when its origin is in
``HELPDESK_CORS_ORIGINS``, refused when the same page is reached as another origin.
"""

from __future__ import annotations

import re
import time
import uuid

import pytest
import requests
from playwright.sync_api import expect

from tests.browser.conftest import VIEWPORTS, Person
from tests.local_http import LocalSite
from tests.stack import free_port

pytestmark = pytest.mark.browser

HOST_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Acme Cloud · Dashboard</title>
<style>
  body { margin: 0; font-family: Georgia, serif; background: #f4f1ea; color: #222; }
  header { display: flex; align-items: center; gap: 24px; padding: 12px 24px;
           background: #1f2a44; color: #fff; }
  header nav { display: flex; gap: 16px; flex: 1; }
  helpdesk-bell { --helpdesk-accent: #8a3ffc; --helpdesk-font: Georgia, serif; color: #fff; }
  helpdesk-link { --helpdesk-accent: #ffd479; }
  main { padding: 24px; }
</style>
<script src="{gateway}/help-center/embed.js" defer></script>
</head>
<body>
<header>
  <strong>Acme Cloud</strong>
  <nav>
    <helpdesk-link id="my-tickets" to="tickets" token="{token}"></helpdesk-link>
    <helpdesk-link id="new-ticket" to="new" token="{token}">Report a problem</helpdesk-link>
  </nav>
  <helpdesk-bell id="bell"></helpdesk-bell>
</header>
<main><h1>Dashboard</h1><p>Your workspace at a glance.</p></main>
<script>
  // The host's token provider: the first answer is an expired token, as after a
  // long idle tab; the bell must ask again on the 401 and carry on.
  window.providerCalls = 0;
  document.getElementById("bell").tokenProvider = () => {
    window.providerCalls += 1;
    return Promise.resolve(window.providerCalls === 1 ? "{expired}" : "{token}");
  };
</script>
</body>
</html>
"""


class HostSite(LocalSite):
    """The host platform's pages (``pages``: path -> HTML) on 127.0.0.1:``port``."""

    def __init__(self, port: int):
        self.pages: dict[str, str] = {}
        super().__init__(self._respond, port)

    def _respond(self, path):
        body = self.pages.get(path.split("?")[0])
        return None if body is None else (200, "text/html; charset=utf-8", body.encode())


@pytest.fixture(scope="module")
def host_port():
    return free_port()


@pytest.fixture(scope="module")
def host_site(host_port):
    site = HostSite(host_port)
    yield site
    site.close()


@pytest.fixture(scope="module")
def embed_stack(make_stack, host_port):
    # Only the host's origin as 127.0.0.1; the same site as "localhost" is another origin.
    return make_stack(HELPDESK_CORS_ORIGINS=f"http://127.0.0.1:{host_port}")


@pytest.fixture
def host_page(browser, host_site, host_port, embed_stack):
    """``host_page(person, host="127.0.0.1", via=None)`` → a Playwright page on the host's
    dashboard; the script (and so the API) comes from ``via`` or the stack's gateway."""
    contexts = []

    def open_(person, host="127.0.0.1", via=None):
        path = f"/dashboard-{uuid.uuid4().hex[:6]}.html"
        expired = embed_stack.token(person.sub, person.role, person.name, lifetime=-120)
        host_site.pages[path] = (
            HOST_PAGE.replace("{gateway}", via or embed_stack.base_url)
            .replace("{token}", person.token)
            .replace("{expired}", expired)
        )
        context = browser.new_context(**VIEWPORTS["laptop"])
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        page.goto(f"http://{host}:{host_port}{path}")
        return page

    yield open_
    for context in contexts:
        context.close()


def _wait_unread(person, count):
    deadline = time.monotonic() + 10
    while person.api("GET", "/notifications/unread-count")["unread_count"] != count:
        assert time.monotonic() < deadline, "the notices did not arrive"
        time.sleep(0.2)


def test_the_bell_and_links_work_on_a_host_page_on_another_origin(embed_stack, host_page, shoot):
    alice = Person(embed_stack, f"user-{uuid.uuid4().hex[:8]}", "user", "Alice Example")
    sam = Person(embed_stack, f"admin-{uuid.uuid4().hex[:8]}", "admin", "Sam Support")
    first, second = alice.create_ticket(), alice.create_ticket()
    for ticket in (first, second):
        sam.reply(ticket["id"], f"Looking at #{ticket['id']} now.")
    _wait_unread(alice, 2)

    page = host_page(alice)
    bell = page.locator("#bell")
    toggle = bell.locator("button.toggle")
    # The count, after the expired token was refused and the provider asked again.
    expect(toggle).to_have_attribute("data-unread", "2")
    expect(bell.locator(".badge")).to_have_text("2")
    expect(toggle).to_have_accessible_name("Notifications, 2 unread notifications")
    expect(bell.locator("[role=status]")).to_have_text("You have 2 unread notifications.")
    assert page.evaluate("window.providerCalls") == 2
    assert page.evaluate("document.getElementById('bell').shadowRoot.mode") == "open"

    # The list, each notice linking to its ticket on the Help Center's origin.
    expect(toggle).to_have_attribute("aria-expanded", "false")
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    unread = bell.locator("li.unread")
    expect(unread).to_have_count(2)
    expect(unread.first.locator("a.notice")).to_have_attribute(
        "href", f"{embed_stack.base_url}/help-center/tickets/{second['id']}"
    )
    expect(unread.first).to_contain_text(f"Looking at #{second['id']} now.")
    # The host's custom property reaches inside the shadow root.
    accent = bell.locator("li.unread .dot").first.evaluate(
        "e => getComputedStyle(e).backgroundColor"
    )
    assert accent == "rgb(138, 63, 252)"
    shoot(page, "embed-host-bell-open")

    # Escape closes the popup and gives the focus back to the bell's button.
    page.keyboard.press("Escape")
    expect(bell.locator(".panel")).to_be_hidden()
    expect(toggle).to_be_focused()
    expect(toggle).to_have_attribute("aria-expanded", "false")

    # Mark one read, then all.
    toggle.click()
    unread.first.get_by_role("button", name=re.compile("^Mark read: ")).click()
    expect(toggle).to_have_attribute("data-unread", "1")
    expect(unread).to_have_count(1)
    assert alice.api("GET", "/notifications/unread-count") == {"unread_count": 1}
    bell.get_by_role("button", name="Mark all read").click()
    expect(toggle).to_have_attribute("data-unread", "0")
    expect(unread).to_have_count(0)
    expect(bell.locator(".badge")).to_be_hidden()
    assert alice.api("GET", "/notifications/unread-count") == {"unread_count": 0}

    # Following a notice opens the ticket on the Help Center, signed in on arrival.
    bell.locator("a.notice").first.click()
    page.wait_for_url(f"{embed_stack.base_url}/help-center/tickets/{second['id']}")
    expect(page.get_by_text(second["subject"]).first).to_be_visible()
    assert "token=" not in page.url  # the page moved it out of the address bar

    # The links: My Tickets and New Ticket (with the host's own text).
    page = host_page(alice)
    my_tickets = page.locator("#my-tickets a")
    expect(my_tickets).to_have_text("My Tickets")
    expect(my_tickets).to_have_attribute("href", f"{embed_stack.base_url}/help-center/tickets")
    new_ticket = page.locator("#new-ticket a")
    expect(new_ticket).to_have_attribute("href", f"{embed_stack.base_url}/help-center/tickets/new")
    expect(new_ticket).to_have_accessible_name("Report a problem")  # the host's own text
    my_tickets.click()
    page.wait_for_url(f"{embed_stack.base_url}/help-center/tickets")
    expect(page.get_by_text(first["subject"]).first).to_be_visible()
    page.go_back()
    page.locator("#new-ticket a").click()
    page.wait_for_url(f"{embed_stack.base_url}/help-center/tickets/new")
    expect(page.locator("form").first).to_be_visible()


def test_a_host_on_an_origin_not_listed_is_refused(embed_stack, host_page, host_port, shoot):
    alice = Person(embed_stack, f"user-{uuid.uuid4().hex[:8]}", "user", "Alice Example")
    page = host_page(alice, host="localhost")  # the same page, another origin
    bell = page.locator("#bell")
    expect(bell.locator(".bell")).to_have_attribute("data-state", "error")
    expect(bell.locator(".badge")).to_have_text("!")
    expect(bell.locator("button.toggle")).to_have_accessible_name("Notifications unavailable")
    bell.locator("button.toggle").click()
    expect(bell.locator("li[role=alert]")).to_contain_text("unavailable")
    shoot(page, "embed-host-refused")

    # What the browser saw: a preflight answered with no CORS header at all.
    refused = _preflight(embed_stack, f"http://localhost:{host_port}")
    assert not [h for h in refused.headers if h.lower().startswith("access-control-")]
    allowed = _preflight(embed_stack, f"http://127.0.0.1:{host_port}")
    assert allowed.status_code == 204
    assert allowed.headers["Access-Control-Allow-Origin"] == f"http://127.0.0.1:{host_port}"


def _preflight(stack, origin):
    return requests.options(
        f"{stack.base_url}/api/v1/notifications/unread-count",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
        timeout=10,
    )


@pytest.fixture(scope="module")
def embed_front(embed_stack):
    """make run's front before the embed stack: the stream path reaches helpdesk-stream."""
    from tools.localrun import stop

    url, proc = embed_stack.start_front()
    yield url
    stop(proc)


def test_the_embedded_bell_rings_within_seconds_on_the_live_stream(
    embed_stack, embed_front, host_page, shoot
):
    """Across origins, through the front: the stream opens once the host's provider gave
    a fresh token for the expired one, and a support reply rings the bell at once (the
    polling bell would wait up to 30 s)."""
    alice = Person(embed_stack, f"user-{uuid.uuid4().hex[:8]}", "user", "Alice Example")
    sam = Person(embed_stack, f"admin-{uuid.uuid4().hex[:8]}", "admin", "Sam Support")
    ticket = alice.create_ticket()
    page = host_page(alice, via=embed_front)
    toggle = page.locator("#bell").locator("button.toggle")
    expect(toggle).to_have_attribute("data-unread", "0")
    expect(toggle).to_have_attribute("data-live", "stream", timeout=10_000)
    assert page.evaluate("window.providerCalls") >= 2  # the expired token was replaced
    replied = time.monotonic()
    sam.reply(ticket["id"], "Fixed.")
    expect(toggle).to_have_attribute("data-unread", "1", timeout=2_000)
    assert time.monotonic() - replied < 2.0
    shoot(page, "embed-host-bell-live")
