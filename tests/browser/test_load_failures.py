"""A load that fails offers "Try again" wherever another try can mend it: the lists,
the ticket views, the form, the landing page's recent tickets and the notices (the
pages' bell and the embedded one). The failures are real answers the browser gets
(Playwright answers the API call with a 503, as a busy gateway would) until the test
lets the calls through again.
"""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import VIEWPORTS

pytestmark = pytest.mark.browser

NOTICES = "**/api/v1/notifications?**"
BUSY = json.dumps({"error": {"code": "unavailable", "message": "The service is busy."}})


class Outage:
    """API calls matching ``pattern`` answer 503 until ``end()``; ``target`` is a page,
    or its browser context when the answers must outlive a reload."""

    def __init__(self, target, pattern: str):
        self.target = target
        self.pattern = pattern
        self.refused = 0
        target.route(pattern, self._answer)

    def _answer(self, route):
        self.refused += 1
        route.fulfill(status=503, content_type="application/json", body=BUSY)

    def end(self):
        self.target.unroute(self.pattern, self._answer)


def _fail_then_retry(target, pattern, load, failed, says):
    """Calls matching ``pattern`` fail while ``load()`` runs; ``failed`` must say ``says``;
    then, the outage over, its "Try again" is pressed."""
    outage = Outage(target, pattern)
    load()
    expect(failed).to_contain_text(says)
    assert outage.refused >= 1
    outage.end()
    failed.get_by_role("button", name="Try again").click()


def _no_errors_but_the_outage(w):
    # Chromium logs each refused call ("status of 503"); nothing else may go wrong.
    assert w.dialogs == []
    assert [e for e in w.errors if "status of 503" not in e] == []


def test_my_tickets_and_the_queue_try_again(open_page, person):
    alice, sam = person("user"), person("admin")
    ticket = alice.create_ticket()
    for who, path, api, alert, row in (
        (alice, "/help-center/tickets", "tickets", "Couldn't load your tickets", ".ticket-row"),
        (
            sam,
            "/help-center/admin",
            "admin/tickets",
            "Couldn't load the queue",
            "tr[data-ticket-id]",
        ),
    ):
        w = open_page(path, who.token)
        page = w.page
        expect(page.locator(row).first).to_be_visible()
        outage = Outage(page, f"**/api/v1/{api}?**")
        page.reload()
        box = page.locator("#list-alert .alert.error")
        expect(box).to_contain_text(alert)
        expect(box).to_contain_text("busy")
        assert outage.refused >= 1
        # Still down: trying again says so again, with a new button.
        box.get_by_role("button", name="Try again").click()
        expect(box.get_by_role("button", name="Try again")).to_be_visible()
        assert outage.refused >= 2
        outage.end()
        box.get_by_role("button", name="Try again").click()
        expect(page.locator(f"{row} a", has_text=ticket["subject"])).to_be_visible()
        expect(page.locator("#list-alert .alert")).to_have_count(0)
        _no_errors_but_the_outage(w)


def test_a_ticket_view_and_the_form_try_again(open_page, person):
    alice, sam = person("user"), person("admin")
    ticket = alice.create_ticket()
    for who, path, ready in (
        (alice, f"/help-center/tickets/{ticket['id']}", "#ticket"),
        (sam, f"/help-center/admin/tickets/{ticket['id']}", "#ticket"),
        (alice, "/help-center/tickets/new", "#ticket-form"),
    ):
        w = open_page(path, who.token)
        page = w.page
        expect(page.locator(ready)).to_be_visible()
        api = (
            "**/api/v1/catalog" if path.endswith("/new") else f"**/api/v1/**tickets/{ticket['id']}"
        )
        # Routes are the browser context's here: a retry reloads the page.
        outage = Outage(page.context, api)
        page.reload()
        retry = page.get_by_role("button", name="Try again")
        expect(retry).to_be_visible()
        expect(page.locator(ready)).to_be_hidden()
        outage.end()
        retry.click()
        expect(page.locator(ready)).to_be_visible()
        expect(page.get_by_role("button", name="Try again")).to_have_count(0)
        _no_errors_but_the_outage(w)


def test_a_failure_another_try_cannot_mend_offers_no_retry(open_page, person):
    alice, bob = person("user"), person("user")
    theirs = bob.create_ticket()
    w = open_page(f"/help-center/tickets/{theirs['id']}", alice.token)
    expect(w.page.locator("#page-alert .alert.error")).to_contain_text("couldn't be shown")
    expect(w.page.get_by_role("button", name="Try again")).to_have_count(0)


def test_the_landing_page_s_recent_tickets_try_again(open_page, person):
    alice = person("user")
    ticket = alice.create_ticket()
    w = open_page("/help-center", alice.token)
    page = w.page
    expect(page.locator("#recent-list .ticket-row")).to_have_count(1)
    box = page.locator("#recent-alert .alert")
    _fail_then_retry(page, "**/api/v1/tickets?**", page.reload, box, "recent tickets couldn't load")
    expect(page.locator("#recent-list .ticket-row a", has_text=ticket["subject"])).to_be_visible()
    expect(page.locator("#recent-alert .alert")).to_have_count(0)
    _no_errors_but_the_outage(w)


def test_the_bells_notices_try_again(open_page, person, browser, stack):
    alice, sam = person("user"), person("admin")
    ticket = alice.create_ticket()
    sam.reply(ticket["id"], "We're on it.")

    # The pages' bell.
    w = open_page("/help-center/tickets", alice.token)
    page = w.page
    expect(page.locator("#bell-button")).to_have_attribute("data-unread", "1")
    failed = page.locator("#bell-list .bell-empty[role=alert]")
    _fail_then_retry(page, NOTICES, lambda: page.click("#bell-button"), failed, "busy")
    expect(page.locator("#bell-list .bell-item.unread")).to_have_count(1)
    _no_errors_but_the_outage(w)

    # The embedded bell, on a host's page (served by the browser on the gateway's origin).
    context = browser.new_context(**VIEWPORTS["laptop"])
    try:
        host = f"{stack.base_url}/host.html"
        html = (
            '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Host</title>'
            '<script src="/help-center/embed.js" defer></script></head><body><main>'
            f'<helpdesk-bell token="{alice.token}"></helpdesk-bell></main></body></html>'
        )
        context.route(host, lambda route: route.fulfill(content_type="text/html", body=html))
        embedded = context.new_page()
        embedded.goto(host)
        toggle = embedded.locator("helpdesk-bell button.toggle")
        expect(toggle).to_have_attribute("data-unread", "1")
        failed = embedded.locator("helpdesk-bell li.message.error")
        _fail_then_retry(embedded, NOTICES, toggle.click, failed, "unavailable right now")
        expect(embedded.locator("helpdesk-bell li.unread")).to_have_count(1)
        expect(embedded.locator("helpdesk-bell li.message.error")).to_have_count(0)
    finally:
        context.close()
