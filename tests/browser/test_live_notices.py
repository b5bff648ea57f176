"""The header bell on a live stream: a notice rings it at once, not at the next poll.

The page opens on make run's one address (``tools.localfront``), which routes the
stream path to the stack's ``helpdesk-stream`` and the rest to its gateway. Every
other browser test opens pages on the gateway itself, whose 204 for the stream path
leaves their bell polling (no console error, and ``networkidle`` is still reached).
"""

from __future__ import annotations

import time

import pytest

pytestmark = [pytest.mark.browser]

# The polling bell asks every 10 s: a bell that rings within this of the reply is
# the stream's doing.
WITHIN_S = 2.0


@pytest.fixture(scope="module")
def front(stack):
    """The URL of make run's front before the shared stack."""
    from tools.localrun import stop

    url, proc = stack.start_front()
    yield url
    stop(proc)


def test_the_bell_rings_within_seconds_of_a_reply(open_page, person, front, shoot):
    from playwright.sync_api import expect

    user, admin = person("user", "Una User"), person("admin", "Sam Support")
    ticket = user.create_ticket()
    watched = open_page("/help-center/tickets", user.token, base=front)
    page = watched.page
    bell = page.locator("#bell-button")
    expect(bell).to_have_attribute("data-unread", "0")
    # The bell's stream is open (the front routed it to helpdesk-stream).
    expect(bell).to_have_attribute("data-live", "stream")
    time.sleep(0.5)  # past the stream's opening unread_count
    replied = time.monotonic()
    admin.reply(ticket["id"], "Fixed now.")
    expect(bell).to_have_attribute("data-unread", "1", timeout=WITHIN_S * 1000)
    took = time.monotonic() - replied
    assert took < WITHIN_S, took
    page.click("#bell-button")
    expect(page.locator("#bell-list .bell-item")).to_have_count(1)
    shoot(page, "bell-live-notice")
    assert watched.errors == [], watched.errors


def test_on_a_gateway_alone_the_bell_polls_without_a_console_error(open_page, person):
    """The gateway answers the stream path 204: the bell polls, the console stays clean."""
    from playwright.sync_api import expect

    user = person("user", "Una User")
    watched = open_page("/help-center/tickets", user.token)
    expect(watched.page.locator("#bell-button")).to_have_attribute("data-live", "polling")
    watched.page.wait_for_load_state("networkidle")
    assert watched.errors == [], watched.errors
