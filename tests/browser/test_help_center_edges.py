"""Edge cases of the Help Center pages: narrow screens, races with other people,
the progress strip of a ticket closed early, and paths that name no page.

Each test drives real Chromium against the real stack, like ``test_help_center.py``.
"""

from __future__ import annotations

import re
import uuid

import pytest
import requests
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

WIDTHS = {"narrow": 375, "tablet": 768}
CODE_LINE = "code " * 40
CODE_DESCRIPTION = (
    f"```\n{CODE_LINE}\n```\n\nThe export fails with the line above, every single time."
)
LONG_USER = "alexandra.konstantinopoulou@example-corporation.com"
LONG_ADMIN = "bartholomew.featherstonehaugh@supportdepartmentexample.com"  # no hyphen
LONG_SUBJECT = "Export-fails:" + "https://reports.example.com/exports/" + "x" * 60

# Everything in these boxes must stay inside them (a <pre> scrolls on its own).
OVERFLOWING = """
() => {
  const width = document.documentElement.clientWidth;
  const found = [];
  for (const el of document.querySelectorAll("main *, .bell-panel *")) {
    if (el.closest("pre, thead, [hidden], .visually-hidden")) continue;
    const rect = el.getBoundingClientRect();
    if (!rect.width || !rect.height) continue;
    const box = el.parentElement.closest(".card, .list-card, .bell-panel, .alert, .message, main");
    const limit = Math.min(width, box.getBoundingClientRect().right);
    if (rect.right > limit + 1) {
      found.push(`${el.tagName.toLowerCase()}.${el.className}: ${el.textContent.slice(0, 40)}`);
    }
  }
  return found;
}
"""


def page_width(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth")


def quiet(w):
    """No dialog, and no error but the browser's own line for an expected 4xx answer."""
    assert w.dialogs == [], w.dialogs
    errors = [e for e in w.errors if "Failed to load resource" not in e]
    assert errors == [], errors


def test_a_long_code_line_scrolls_inside_its_block_not_the_page(open_page, person, shoot):
    alice = person("user", "Alice Example")
    sam = person("admin", "Sam Support")
    tid = alice.create_ticket(description=CODE_DESCRIPTION)["id"]
    alice.reply(tid, CODE_DESCRIPTION)
    for device, width in WIDTHS.items():
        for path, token in (
            (f"/help-center/tickets/{tid}", alice.token),
            (f"/help-center/admin/tickets/{tid}", sam.token),
        ):
            w = open_page(path, token, device=device)
            page = w.page
            expect(page.locator("#t-description pre")).to_contain_text("code code")
            expect(page.locator("#thread .message pre")).to_contain_text("code code")
            assert page_width(page) <= width, (path, device, page_width(page))
            # The code block scrolls sideways by itself, within the card.
            pre = page.locator("#t-description pre")
            assert pre.evaluate("el => el.scrollWidth > el.clientWidth"), (path, device)
            assert page.evaluate(OVERFLOWING) == [], (path, device)
            box = page.locator("#reply").bounding_box()  # the reply box is not cut off
            assert box["x"] >= 0 and box["x"] + box["width"] <= width, (path, device, box)
            shoot(page, f"ticket-code-{'admin' if 'admin' in path else 'user'}-{device}")
            quiet(w)
    # The form's preview of the same description.
    w = open_page("/help-center/tickets/new", alice.token, device="narrow")
    w.page.fill("#description", CODE_DESCRIPTION)
    w.page.click("#preview-tab")
    expect(w.page.locator("#preview pre")).to_contain_text("code code")
    assert page_width(w.page) <= 375
    assert w.page.evaluate(OVERFLOWING) == []
    quiet(w)


def test_long_names_and_subjects_wrap_on_a_phone(open_page, person, shoot):
    alice = person("user", LONG_USER)
    sam = person("admin", LONG_ADMIN)
    kim = person("admin", LONG_ADMIN.replace("bartholomew", "kimberley"))
    tid = alice.create_ticket(subject=LONG_SUBJECT)["id"]
    alice.reply(tid, "Any news on this?")
    sam.assign(tid, sam.sub)
    sam.reply(tid, "Looking at it **now**.")

    pages = (
        (f"/help-center/tickets/{tid}", alice, "#thread .message.support .author"),
        ("/help-center/tickets", alice, "#ticket-list .ticket-row"),
        ("/help-center", alice, "#recent-list .ticket-row"),
        (f"/help-center/admin/tickets/{tid}", kim, "#thread .message.user .author"),
        (f"/help-center/admin?q=%23{tid}", kim, "#queue-body tr[data-ticket-id]"),
    )
    for path, who, ready in pages:
        w = open_page(path, who.token, device="narrow")
        page = w.page
        expect(page.locator(ready).first).to_be_visible()
        page.wait_for_load_state("networkidle")
        assert page_width(page) <= 375, (path, page_width(page))
        assert page.evaluate(OVERFLOWING) == [], path
        quiet(w)
    expect(page.locator("#queue-body")).to_contain_text(LONG_USER)
    expect(page.locator("#queue-body")).to_contain_text(LONG_ADMIN)
    shoot(page, "admin-queue-long-names-narrow")

    w = open_page(f"/help-center/admin/tickets/{tid}", kim.token, device="narrow")
    expect(w.page.locator("#assignee-text")).to_contain_text(LONG_ADMIN)
    expect(w.page.locator("#facts")).to_contain_text(LONG_USER)
    assert w.page.evaluate(OVERFLOWING) == []
    shoot(w.page, "admin-ticket-long-names-narrow")

    # The notice about the reply, in the bell, on the user's ticket page.
    w = open_page(f"/help-center/tickets/{tid}", alice.token, device="narrow")
    expect(w.page.locator("#facts")).to_contain_text(LONG_ADMIN)
    expect(w.page.locator("#thread .message.support .author")).to_have_text(LONG_ADMIN)
    w.page.click("#bell-button")
    expect(w.page.locator("#bell-list .bell-item")).to_have_count(1)
    assert w.page.evaluate(OVERFLOWING) == []
    assert page_width(w.page) <= 375
    shoot(w.page, "ticket-long-names-narrow")
    quiet(w)


def _two_admins_on_one_ticket(open_page, person):
    """Sam's admin page on a new ticket, and Kim, who will change it behind Sam's back."""
    alice = person("user", "Alice Example")
    sam = person("admin", "Sam Support")
    kim = person("admin", "Kim Support")
    tid = alice.create_ticket()["id"]
    return open_page(f"/help-center/admin/tickets/{tid}", sam.token), kim, tid


def _ask_for_status(page, status):
    """Pick ``status`` in the Change status card and send it; the page's top alert."""
    page.select_option("#new-status", status)
    page.click("#status-submit")
    return page.locator("#page-alert .alert")


def test_a_status_change_another_admin_beat_says_it_failed(open_page, person):
    w, kim, tid = _two_admins_on_one_ticket(open_page, person)
    page = w.page
    expect(_ask_for_status(page, "in_review")).to_contain_text("Status changed to In Review.")

    # Another admin closes it; this page still offers the old choices.
    kim.set_status(tid, "closed")
    alert = _ask_for_status(page, "awaiting_user")
    expect(alert).to_contain_text("Status not changed")
    expect(alert).to_contain_text("Awaiting User")
    expect(alert).to_contain_text("It is now Closed")
    expect(alert).to_be_focused()
    expect(page.locator("#page-alert")).not_to_contain_text("Status changed to")
    expect(page.locator("#t-meta")).to_contain_text("Closed")
    expect(page.locator("#status-section")).to_be_hidden()
    quiet(w)


def test_a_status_change_that_still_leaves_choices_also_says_it_failed(open_page, person):
    w, kim, tid = _two_admins_on_one_ticket(open_page, person)
    page = w.page
    expect(page.locator("#t-meta")).to_contain_text("Open")
    kim.set_status(tid, "awaiting_user")
    alert = _ask_for_status(page, "awaiting_user")
    expect(alert).to_contain_text("Status not changed")
    expect(alert).to_contain_text("It is now Awaiting User")
    expect(page.locator("#t-meta")).to_contain_text("Awaiting User")
    expect(page.locator("#status-section")).to_be_visible()
    expect(page.locator("#status-error")).to_be_hidden()  # said once, at the top
    quiet(w)


def test_a_reply_to_a_ticket_closed_meanwhile_is_not_lost(open_page, person, shoot):
    alice = person("user", "Alice Example")
    tid = alice.create_ticket()["id"]
    w = open_page(f"/help-center/tickets/{tid}", alice.token)
    page = w.page
    text = "Here are the **steps** I took,\nline by line."
    page.fill("#reply", text)
    alice.close(tid)  # from another tab
    page.click("#send-reply")
    alert = page.locator("#page-alert .alert")
    expect(alert).to_contain_text("Your reply was not sent")
    expect(alert).to_contain_text("This ticket was closed")
    expect(alert).to_be_focused()
    kept = alert.locator("textarea")
    expect(kept).to_have_value(text)
    expect(kept).to_have_attribute("readonly", "")
    expect(page.locator("#reply-form")).to_be_hidden()
    expect(page.locator("#closed-banner")).to_be_visible()
    assert alice.api("GET", f"/tickets/{tid}")["messages"] == []
    shoot(page, "ticket-reply-not-sent-laptop")
    quiet(w)


def test_a_support_note_to_a_ticket_closed_meanwhile_is_not_lost(open_page, person):
    w, kim, tid = _two_admins_on_one_ticket(open_page, person)
    page = w.page
    page.check("input[name=kind][value=internal]")
    page.fill("#reply", INTERNAL_NOTE)
    kim.set_status(tid, "closed")
    page.click("#send-reply")
    alert = page.locator("#page-alert .alert")
    expect(alert).to_contain_text("Your internal note was not sent")
    expect(alert).to_contain_text("This ticket was closed")
    expect(alert.locator("textarea")).to_have_value(INTERNAL_NOTE)
    expect(page.locator("#reply-form")).to_be_hidden()
    expect(page.locator("#closed-banner")).to_be_visible()
    quiet(w)


INTERNAL_NOTE = "Customer is on the legacy cluster; see runbook 7."


def test_keyboard_focus_stays_on_the_page_when_the_pressed_button_goes(open_page, person):
    """A button that an action disables or hides hands focus to what happened."""
    w, _kim, _tid = _two_admins_on_one_ticket(open_page, person)
    page = w.page
    expect(page.locator("#t-meta")).to_contain_text("Open")  # loaded, buttons wired
    page.focus("#assign-me")
    page.keyboard.press("Enter")
    expect(page.locator("#page-alert")).to_contain_text("Assigned to you.")
    expect(page.locator("#assign-me")).to_be_disabled()
    expect(page.locator("#page-alert .alert")).to_be_focused()

    page.select_option("#new-status", "in_review")
    page.focus("#status-submit")
    page.keyboard.press("Enter")
    expect(page.locator("#page-alert")).to_contain_text("Status changed to In Review.")
    expect(page.locator("#status-submit")).to_be_focused()  # still there: focus stays

    page.select_option("#new-status", "closed")
    page.focus("#status-submit")
    page.keyboard.press("Enter")
    expect(page.locator("#status-section")).to_be_hidden()
    expect(page.locator("#page-alert .alert")).to_be_focused()
    quiet(w)


def test_load_more_takes_keyboard_focus_to_the_first_new_ticket(open_page, person):
    marker = uuid.uuid4().hex[:8]
    for _ in range(6):  # 30 tickets: more than one page (25) of the queue
        owner = person("user")
        for n in range(5):
            owner.create_ticket(subject=f"Paging check {marker} number {n}")
    sam = person("admin", "Sam Support")
    w = open_page(f"/help-center/admin?q={marker}", sam.token)
    page = w.page
    rows = page.locator("#queue-body tr[data-ticket-id]")
    expect(rows).to_have_count(25)
    page.focus("#load-more")
    page.keyboard.press("Enter")
    expect(rows).to_have_count(30)
    expect(page.locator("#load-more")).to_be_hidden()  # the last page
    expect(rows.nth(25).locator("a")).to_be_focused()
    quiet(w)


def test_a_missing_ticket_is_explained_in_each_reader_s_terms(open_page, person):
    sam = person("admin", "Sam Support")
    w = open_page("/help-center/admin/tickets/999999999", sam.token)
    alert = w.page.locator("#page-alert")
    expect(alert).to_contain_text("We couldn't find that ticket. It may not exist.")
    expect(alert).not_to_contain_text("isn't yours")  # support staff see every ticket
    alice = person("user", "Alice Example")
    w = open_page("/help-center/tickets/999999999", alice.token)
    expect(w.page.locator("#page-alert")).to_contain_text("It may not exist, or it isn't yours.")


def steps_done(page) -> list[str]:
    return page.locator("#steps li.done").all_inner_texts()


def test_the_progress_strip_shows_only_steps_the_ticket_went_through(open_page, person):
    alice = person("user", "Alice Example")
    sam = person("admin", "Sam Support")
    straight = alice.create_ticket()["id"]
    alice.close(straight)
    reviewed = alice.create_ticket()["id"]
    for status in ("in_review", "closed"):
        sam.set_status(reviewed, status)
    reopened = alice.create_ticket()["id"]
    sam.set_status(reopened, "resolved", "Fixed the chart cache.")
    sam.set_status(reopened, "in_review")

    for tid, done, now in (
        (straight, ["Open", "Closed"], "Closed"),
        (reviewed, ["Open", "In Review", "Closed"], "Closed"),
        (reopened, ["Open", "In Review"], "In Review"),
    ):
        w = open_page(f"/help-center/tickets/{tid}", alice.token)
        page = w.page
        expect(page.locator("#steps .now")).to_have_text(now)
        assert [t.strip() for t in steps_done(page)] == done, tid
        expect(page.locator("#steps li")).to_have_count(4)
        quiet(w)


NOT_PAGES = (
    "/help-center/nope",
    "/help-center/tickets/abc",
    "/help-center/tickets/0",
    "/help-center/tickets/42/extra",
    "/help-center/admin/tickets/x",
    "/help-center/admin/nope",
)


def test_unknown_help_center_paths_answer_an_html_404_page(stack):
    reference = requests.get(stack.base_url + "/help-center", timeout=10).headers
    for path in NOT_PAGES:
        response = requests.get(stack.base_url + path, timeout=10)
        assert response.status_code == 404, path
        assert response.headers["Content-Type"].startswith("text/html"), path
        assert 'href="/help-center"' in response.text, path
        assert "Page not found" in response.text, path
        for header in (
            "Content-Security-Policy",
            "X-Content-Type-Options",
            "Referrer-Policy",
            "Cross-Origin-Opener-Policy",
            "Cross-Origin-Resource-Policy",
            "Permissions-Policy",
            "Cache-Control",
        ):
            assert response.headers.get(header) == reference[header], (path, header)
        head = requests.head(stack.base_url + path, timeout=10)
        assert head.status_code == 404 and not head.content, path
        assert head.headers["Content-Length"] == str(len(response.content)), path
    # The API keeps its JSON 404s.
    token = stack.token("api-caller", "user", "Api Caller")
    for path in ("/api/v1/nope", "/api/v1/tickets/abc", "/nope"):
        response = requests.get(
            stack.base_url + path, headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
        assert response.status_code == 404, path
        assert response.headers["Content-Type"].startswith("application/json"), path
        assert response.json()["error"]["code"] == "not_found", path


def test_a_person_on_an_unknown_page_finds_the_way_back(open_page, person, shoot):
    alice = person("user", "Alice Example")
    w = open_page("/help-center/tickets/abc", alice.token)
    page = w.page
    expect(page.locator("h1")).to_have_text("Page not found")
    expect(page).to_have_title(re.compile(r"^Page not found · Help Center$"))
    expect(page.locator("#header-actions")).to_be_visible()  # signed in: the usual header
    expect(page.locator(".main-nav a[aria-current]")).to_have_count(0)
    shoot(page, "not-found-laptop")
    page.locator("main a[href='/help-center']").click()
    expect(page).to_have_url(re.compile(r"/help-center$"))
    expect(page.locator("#cta-new")).to_be_visible()
    quiet(w)
    # Without a session the page still shows, without sending anyone to sign in.
    anonymous = open_page("/help-center/nope")
    expect(anonymous.page.locator("h1")).to_have_text("Page not found")
    expect(anonymous.page).to_have_url(re.compile(r"/help-center/nope$"))
    quiet(anonymous)
