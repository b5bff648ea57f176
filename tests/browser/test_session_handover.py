"""A ``#token=`` link never silently replaces the session a tab already has.

An attacker who sends a link carrying their own token must not sign the person who
opens it in as the attacker (whatever they then write would go to the attacker's
account). Real Chromium against the real stack, as ``test_help_center.py``.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

STORED = "sessionStorage.getItem('helpdesk_token')"


def follow_link(page, stack, path, token):
    """Open a hand-over link in the same tab, as clicking it in a mail would."""
    page.goto(f"{stack.base_url}{path}#token={token}")


def signed_in_then_offered(open_page, stack, alice, mallory):
    w = open_page("/help-center/tickets", alice.token)
    expect(w.page.locator("#header-actions")).to_be_visible()
    follow_link(w.page, stack, "/help-center/tickets/new", mallory.token)
    return w


def test_a_link_for_another_account_asks_first_and_keep_keeps(open_page, person, stack, shoot):
    alice = person("user", "Alice Example")
    mallory = person("user", "Mallory Sender")
    w = signed_in_then_offered(open_page, stack, alice, mallory)
    page = w.page

    dialog = page.get_by_role("dialog", name="Switch account?")
    expect(dialog).to_be_visible()
    # It names both accounts, so the person knows what the link would do.
    expect(dialog).to_contain_text(f"signed in as Alice Example ({alice.sub})")
    expect(dialog).to_contain_text(f"sign you in as Mallory Sender ({mallory.sub})")
    keep = dialog.get_by_role("button", name="Keep Alice Example")
    expect(keep).to_be_focused()  # the safe choice
    expect(dialog.get_by_role("button", name="Switch to Mallory Sender")).to_be_visible()
    # The fragment is gone from the address bar before any choice is made.
    expect(page).to_have_url(re.compile(r"/help-center/tickets/new$"))
    assert page.evaluate(STORED) == alice.token
    shoot(page, "session-switch-dialog")

    keep.click()
    expect(dialog).to_have_count(0)
    assert page.evaluate(STORED) == alice.token
    expect(page.locator("#who")).to_contain_text("Alice Example")
    assert w.errors == [] and w.dialogs == []


def test_escape_keeps_the_session(open_page, person, stack):
    alice = person("user", "Alice Example")
    mallory = person("admin", "Mallory Sender")
    w = signed_in_then_offered(open_page, stack, alice, mallory)
    dialog = w.page.get_by_role("dialog", name="Switch account?")
    expect(dialog).to_contain_text(f"Mallory Sender ({mallory.sub}, support)")
    w.page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    assert w.page.evaluate(STORED) == alice.token


def test_switch_adopts_the_offered_account(open_page, person, stack, shoot):
    alice = person("user", "Alice Example")
    bob = person("user", "Bob Second")
    w = signed_in_then_offered(open_page, stack, alice, bob)
    page = w.page
    page.get_by_role("dialog", name="Switch account?").get_by_role(
        "button", name="Switch to Bob Second"
    ).click()
    expect(page.locator("#who")).to_contain_text("Bob Second")
    assert page.evaluate(STORED) == bob.token
    expect(page).to_have_url(re.compile(r"/help-center/tickets/new$"))
    expect(page.get_by_role("dialog")).to_have_count(0)
    shoot(page, "session-switched")


def test_without_a_session_or_for_the_same_account_the_link_is_adopted(open_page, person, stack):
    alice = person("user", "Alice Example")
    w = open_page("/help-center/tickets", alice.token)  # nothing stored: adopted
    expect(w.page.locator("#who")).to_contain_text("Alice Example")
    assert w.page.evaluate(STORED) == alice.token
    fresh = stack.token(alice.sub, "user", "Alice Example", 7200)  # the same account, renewed
    assert fresh != alice.token
    follow_link(w.page, stack, "/help-center/tickets/new", fresh)
    expect(w.page.locator("#who")).to_contain_text("Alice Example")
    assert w.page.evaluate(STORED) == fresh
    expect(w.page.get_by_role("dialog")).to_have_count(0)
    expect(w.page).to_have_url(re.compile(r"/help-center/tickets/new$"))
