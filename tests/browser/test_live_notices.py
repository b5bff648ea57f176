"""The header bell on a live stream: a notice rings it at once, not at the next poll."""

from __future__ import annotations

import time

import pytest

pytestmark = [pytest.mark.browser]


def test_the_bell_rings_within_seconds_of_a_reply(open_page, person):
    from playwright.sync_api import expect

    user, admin = person("user", "Una User"), person("admin", "Sam Support")
    ticket = user.create_ticket()
    watched = open_page("/help-center/tickets", user.token)
    bell = watched.page.locator("#bell-button")
    expect(bell).to_have_attribute("data-unread", "0")
    # The stream is open once the page has had a moment; polling comes every 10 s.
    time.sleep(1.0)
    admin.api("POST", f"/admin/tickets/{ticket['id']}/messages", {"body": "Fixed now."}, expect=201)
    expect(bell).to_have_attribute("data-unread", "1", timeout=3_000)
    assert watched.errors == []
