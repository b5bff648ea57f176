"""The Help Center pages in real Chromium against the real stack.

Each test drives the pages as a person would (clicks, typing, the bell) and checks
the result both on the page and, where it matters, through the API.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

DESCRIPTION = (
    "After the last update the dashboard charts flicker and go blank **every time** "
    "I change the date range."
)
INTERNAL = "Internal only: customer is on the legacy cluster, see runbook 7"
RESOLUTION = "We rebuilt the chart cache for your workspace; charts load normally again."


def no_trouble(*watched):
    """No dialog ever opened and the page logged no error, on every page given."""
    for w in watched:
        assert w.dialogs == [], w.dialogs
        assert w.errors == [], w.errors


def phone_shots(open_page, shoot, token, pages):
    """Open each (path, name) on a phone-sized screen and keep a screenshot."""
    for path, name in pages:
        w = open_page(path, token, device="phone")
        expect(w.page.locator("#header-actions")).to_be_visible()
        w.page.wait_for_load_state("networkidle")
        shoot(w.page, f"{name}-phone")
        no_trouble(w)


def test_user_creates_a_ticket_through_the_form_and_finds_it(open_page, person, shoot):
    alice = person("user", "Alice Example")
    other = alice.create_ticket(subject="Invoice total is wrong for October")
    w = open_page("/help-center/tickets/new", alice.token)
    page = w.page

    # The token handed over in the fragment is kept for the tab and leaves the address bar.
    expect(page).to_have_url(re.compile(r"/help-center/tickets/new$"))
    assert page.evaluate("sessionStorage.getItem('helpdesk_token')") == alice.token
    expect(page.locator("#subject-hint")).to_have_text(
        "Visible to support staff and searchable; do not put secrets in the subject."
    )

    # The issue type says which priority the ticket will get.
    page.click("label[for=type-access]")
    expect(page.locator("#priority-note")).to_contain_text("Critical priority")
    page.click("label[for=type-bug]")
    expect(page.locator("#priority-note")).to_contain_text("High priority")
    page.select_option("#feature", label="Dashboard")

    # A short subject is refused before anything is sent.
    page.fill("#subject", "Too short")
    expect(page.locator("#subject-counter")).to_have_text("9 / 200 · at least 10")
    expect(page.locator("#subject-counter")).to_have_class(re.compile(r"\bbad\b"))
    page.fill("#description", DESCRIPTION)
    page.click("#submit")
    expect(page.locator("#subject-error")).to_have_text(
        "Subject needs at least 10 characters (it has 9)."
    )
    expect(page.locator("#subject")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#form-alert .alert.error")).to_be_focused()
    assert [t["id"] for t in alice.api("GET", "/tickets")["items"]] == [other["id"]]
    shoot(page, "new-ticket-errors-laptop")

    # The preview is the server's rendering of the description.
    page.click("#preview-tab")
    expect(page.locator("#preview strong")).to_have_text("every time")
    expect(page.locator("#description")).to_be_hidden()
    shoot(page, "new-ticket-preview-laptop")
    page.click("#write-tab")
    expect(page.locator("#description")).to_be_focused()

    subject = "Dashboard charts flicker and go blank"
    page.fill("#subject", subject)
    expect(page.locator("#subject-error")).to_be_hidden()
    page.click("#submit")
    expect(page).to_have_url(re.compile(r"/help-center/tickets/\d+$"))
    ticket_id = int(page.url.rsplit("/", 1)[1])
    expect(page.locator("#page-alert")).to_contain_text(f"Ticket #{ticket_id} created")
    expect(page.locator("#t-subject")).to_have_text(subject)
    expect(page.locator("#t-meta")).to_contain_text("High priority")
    expect(page.locator("#t-description strong")).to_have_text("every time")
    stored = alice.api("GET", f"/tickets/{ticket_id}")
    assert (stored["issue_type"], stored["feature"], stored["priority"]) == (
        "bug",
        "dashboard",
        "high",
    )
    assert stored["description"] == DESCRIPTION
    shoot(page, "ticket-new-laptop")

    # My Tickets: both tickets, then search by subject and by #id, then status filters.
    page.click(".main-nav >> text=My Tickets")
    rows = page.locator("#ticket-list .ticket-row")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text(subject)  # newest first
    expect(rows.first).to_contain_text("Open")
    expect(rows.first).to_contain_text("High priority")
    expect(rows.first.locator("time").first).to_have_attribute("datetime", stored["created_at"])
    shoot(page, "my-tickets-laptop")
    page.fill("#search", "FLICKER")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(subject)
    expect(page).to_have_url(re.compile(r"\?q=FLICKER$"))
    page.fill("#search", f"#{other['id']}")
    page.press("#search", "Enter")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Invoice total is wrong")
    page.fill("#search", "")
    page.press("#search", "Enter")
    expect(rows).to_have_count(2)
    page.click("#status-filter >> text=Closed")
    expect(page.locator("#status-filter [data-status=closed]")).to_have_attribute(
        "aria-pressed", "true"
    )
    expect(rows).to_have_count(0)
    expect(page.locator("#ticket-list .empty")).to_contain_text("No tickets match")
    page.click("#status-filter >> text=Open")
    expect(rows).to_have_count(2)
    rows.first.locator("a.subject").click()
    expect(page).to_have_url(re.compile(rf"/help-center/tickets/{ticket_id}$"))
    no_trouble(w)

    phone_shots(
        open_page,
        shoot,
        alice.token,
        [
            ("/help-center", "landing"),
            ("/help-center/tickets", "my-tickets"),
            ("/help-center/tickets/new", "new-ticket"),
            (f"/help-center/tickets/{ticket_id}", "ticket-new"),
        ],
    )
    landing = open_page("/help-center", alice.token)
    expect(landing.page.locator("#recent-list .ticket-row")).to_have_count(2)
    shoot(landing.page, "landing-laptop")
    no_trouble(landing)


def test_support_and_user_work_a_ticket_to_the_end(open_page, person, shoot):
    alice = person("user", "Alice Example")
    sam = person("admin", "Sam Support")
    ticket = alice.create_ticket(subject="Charts stay empty on the dashboard")
    tid = ticket["id"]

    user = open_page(f"/help-center/tickets/{tid}", alice.token)
    up = user.page
    expect(up.locator("#t-subject")).to_have_text("Charts stay empty on the dashboard")
    expect(up.locator("#bell-button")).to_have_attribute("data-unread", "0")
    reply = "It happens on **every** reload, in Firefox and Chrome."
    up.fill("#reply", f"  {reply}\n")
    expect(up.locator("#reply-counter")).to_have_text(f"{len(reply)} / 5000")  # trimmed, as stored
    up.click("#send-reply")
    mine = up.locator("#thread .message.mine")
    expect(mine).to_have_count(1)
    expect(mine.locator("strong")).to_have_text("every")
    expect(up.locator("#reply")).to_have_value("")

    # Support: find it in the queue, assign, reply, add an internal note, resolve.
    admin = open_page("/help-center/admin", sam.token)
    ap = admin.page
    ap.select_option("#f-assignee", "none")
    ap.fill("#f-q", f"#{tid}")
    row = ap.locator(f"#queue-body tr[data-ticket-id='{tid}']")
    expect(ap.locator("#queue-body tr[data-ticket-id]")).to_have_count(1)
    expect(row).to_contain_text("Alice Example")
    expect(row).to_contain_text("High priority")
    expect(row).to_contain_text("Unassigned")
    expect(ap).to_have_url(re.compile(rf"assignee=none&q=%23{tid}$"))
    shoot(ap, "admin-queue-laptop")
    row.locator("a.subject").click()
    expect(ap).to_have_url(re.compile(rf"/help-center/admin/tickets/{tid}$"))
    expect(ap.locator("#thread .message.user")).to_contain_text("Alice Example")

    ap.click("#assign-me")
    expect(ap.locator("#assignee-text")).to_have_text("Assigned to you.")
    expect(ap.locator("#assign-me")).to_be_disabled()
    ap.fill("#reply", "Thanks, we can reproduce it and are on it.")
    ap.click("#send-reply")
    public = ap.locator("#thread .message.support:not(.internal)")
    expect(public).to_have_count(1)
    expect(public.locator(".support-badge")).to_have_text("Support Team")
    expect(ap.locator("#t-meta")).to_contain_text("In Review")

    ap.check("input[name=kind][value=internal]")
    expect(ap.locator("#send-reply")).to_have_text("Add internal note")
    expect(ap.locator("#reply-hint")).to_contain_text("Hidden from the user")
    ap.fill("#reply", INTERNAL)
    ap.click("#send-reply")
    note = ap.locator("#thread .message.internal")
    expect(note).to_have_count(1)
    expect(note).to_contain_text(INTERNAL)
    expect(note.locator(".internal-badge")).to_have_text("Internal note")
    expect(note).to_contain_text("Hidden from the user")

    ap.select_option("#new-status", "resolved")
    expect(ap.locator("#resolution-field")).to_be_visible()
    ap.click("#status-submit")
    expect(ap.locator("#resolution-error")).to_have_text("The resolution note is required.")
    ap.fill("#resolution-input", RESOLUTION)
    ap.click("#status-submit")
    expect(ap.locator("#t-meta")).to_contain_text("Resolved")
    expect(ap.locator("#resolution-note")).to_have_text(RESOLUTION)
    expect(ap.locator("#timeline li")).to_have_count(3)
    shoot(ap, "admin-ticket-laptop")

    # The user's bell rises by itself (poll), without a reload.
    expect(up.locator("#bell-button")).to_have_attribute("data-unread", "2", timeout=25_000)
    expect(up.locator("#bell-count")).to_have_text("2")
    expect(up.locator("#bell-label")).to_have_text("Notifications, 2 unread")
    # The open ticket page refreshed itself too.
    expect(up.locator("#resolution-note")).to_have_text(RESOLUTION)

    # Keyboard: open the bell with Enter, close with Escape, focus back on the bell.
    up.focus("#bell-button")
    up.keyboard.press("Enter")
    expect(up.locator("#bell-panel")).to_be_visible()
    expect(up.locator("#bell-button")).to_have_attribute("aria-expanded", "true")
    items = up.locator("#bell-list .bell-item")
    expect(items).to_have_count(2)
    expect(up.locator("#bell-list .bell-item.unread")).to_have_count(2)
    shoot(up, "bell-open-laptop")
    up.keyboard.press("Escape")
    expect(up.locator("#bell-panel")).to_be_hidden()
    expect(up.locator("#bell-button")).to_be_focused()

    # Open the resolution notice from the list on the landing page.
    up.goto(up.url.split("/help-center")[0] + "/help-center")
    up.click("#bell-button")
    resolved = up.locator("#bell-list .bell-item[data-kind=ticket_resolved] a")
    expect(resolved).to_have_attribute("href", f"/help-center/tickets/{tid}")
    resolved.click()
    expect(up).to_have_url(re.compile(rf"/help-center/tickets/{tid}$"))
    expect(up.locator("#resolution")).to_be_visible()
    expect(up.locator("#resolution-note")).to_have_text(RESOLUTION)
    expect(up.locator("#bell-button")).to_have_attribute("data-unread", "1")
    support = up.locator("#thread .message.support")
    expect(support).to_have_count(1)
    expect(support.locator(".support-badge")).to_have_text("Support Team")
    expect(up.locator("#thread .message")).to_have_count(2)
    expect(up.locator("#steps .now")).to_have_text("Resolved")
    shoot(up, "ticket-resolved-laptop")

    # Close it with a note: the reply box goes away, the note stays.
    up.click("#close-button")
    expect(up.locator("#close-dialog")).to_be_visible()
    expect(up.locator("#close-note")).to_be_focused()
    up.fill("#close-note", "Works again, thank you!")
    up.click("#close-confirm")
    expect(up.locator("#close-dialog")).to_be_hidden()
    expect(up.locator("#t-meta")).to_contain_text("Closed")
    expect(up.locator("#reply-form")).to_be_hidden()
    expect(up.locator("#close-section")).to_be_hidden()
    expect(up.locator("#closed-banner")).to_contain_text("Works again, thank you!")
    expect(up.locator("#resolution-note")).to_have_text(RESOLUTION)
    stored = alice.api("GET", f"/tickets/{tid}")
    assert (stored["status"], stored["closed_note"]) == ("closed", "Works again, thank you!")
    shoot(up, "ticket-closed-laptop")

    # Mark all read empties the count.
    up.click("#bell-button")
    up.click("#bell-read-all")
    expect(up.locator("#bell-button")).to_have_attribute("data-unread", "0")
    expect(up.locator("#bell-count")).to_be_hidden()

    # The internal note never reaches the user: not on the ticket, the list, the bell.
    for path in (f"/help-center/tickets/{tid}", "/help-center/tickets", "/help-center"):
        up.goto(up.url.split("/help-center")[0] + path)
        up.wait_for_load_state("networkidle")
        up.click("#bell-button")
        expect(up.locator("#bell-list .bell-item")).to_have_count(2)
        assert "legacy cluster" not in up.content()
    assert all(
        "legacy cluster" not in (n["body"] or "")
        for n in alice.api("GET", "/notifications")["items"]
    )

    # Support sees the closed ticket: no composer, no status change, no assignment.
    ap.reload()
    expect(ap.locator("#t-meta")).to_contain_text("Closed")
    expect(ap.locator("#reply-form")).to_be_hidden()
    expect(ap.locator("#status-section")).to_be_hidden()
    expect(ap.locator("#assign-me")).to_be_disabled()
    expect(ap.locator("#closed-note")).to_contain_text("Works again, thank you!")
    no_trouble(user, admin)

    phone_shots(
        open_page,
        shoot,
        alice.token,
        [(f"/help-center/tickets/{tid}", "ticket-closed")],
    )
    phone_shots(
        open_page,
        shoot,
        sam.token,
        [
            ("/help-center/admin", "admin-queue"),
            (f"/help-center/admin/tickets/{tid}", "admin-ticket"),
        ],
    )


def test_assign_to_me_works_the_moment_the_ticket_shows(open_page, person):
    # The staff directory is still on its way (held here) when the ticket is drawn:
    # its buttons already work. They had no listener until the directory came, so a
    # quick click on "Assign to me" did nothing (seen under load in CI).
    alice, sam = person("user", "Alice Example"), person("admin", "Sam Support")
    ticket = alice.create_ticket()
    page = open_page(f"/help-center/admin/tickets/{ticket['id']}", sam.token).page
    expect(page.locator("#assignee-text")).to_have_text("Nobody is assigned yet.")
    held = []
    page.route("**/api/v1/admin/staff", lambda route: held.append(route))
    page.reload()
    expect(page.locator("#t-subject")).to_have_text(ticket["subject"])
    expect(page.locator("#assign-me")).to_be_enabled()
    assert held, "the staff directory was not asked for"
    page.click("#assign-me")
    expect(page.locator("#assignee-text")).to_have_text("Assigned to you.")
    for route in held:
        route.continue_()
    page.unroute("**/api/v1/admin/staff")


def test_a_ticket_can_be_created_and_answered_from_the_keyboard(open_page, person):
    alice = person("user", "Alice Example")
    w = open_page("/help-center/tickets/new", alice.token)
    page = w.page
    expect(page.locator("#issue-types input")).to_have_count(5)
    page.keyboard.press("Tab")
    expect(page.locator(".skip-link")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#main")).to_be_focused()
    page.focus("#type-access")
    page.keyboard.press("Space")
    page.keyboard.press("ArrowDown")
    expect(page.locator("#type-bug")).to_be_checked()
    expect(page.locator("#priority-note")).to_contain_text("High priority")
    page.keyboard.press("Tab")
    expect(page.locator("#feature")).to_be_focused()
    page.select_option("#feature", "github_analytics")
    page.keyboard.press("Tab")
    expect(page.locator("#subject")).to_be_focused()
    page.keyboard.type("Typed with the keyboard only")
    page.keyboard.press("Tab")
    expect(page.locator("#insert-questions")).to_be_focused()
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    expect(page.locator("#preview-tab")).to_be_focused()
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Enter")  # Write
    expect(page.locator("#description")).to_be_focused()
    page.keyboard.type("Every key of this description was typed, no mouse involved at all.")
    page.focus("#subject")
    page.keyboard.press("Enter")  # submits the form
    expect(page).to_have_url(re.compile(r"/help-center/tickets/\d+$"))
    expect(page.locator("#t-subject")).to_have_text("Typed with the keyboard only")
    page.focus("#reply")
    page.keyboard.type("And a reply sent with Ctrl+Enter.")
    page.keyboard.press("Control+Enter")
    expect(page.locator("#thread .message.mine")).to_have_count(1)
    # Sent from the button with Enter: focus stays on it, not lost to the page body.
    page.keyboard.type("And one more, sent from the button.")
    page.focus("#send-reply")
    page.keyboard.press("Enter")
    expect(page.locator("#thread .message.mine")).to_have_count(2)
    expect(page.locator("#send-reply")).to_be_focused()
    no_trouble(w)


def test_the_thread_opens_at_the_latest_message(open_page, person, shoot):
    alice = person("user", "Alice Example")
    tid = alice.create_ticket()["id"]
    for i in range(1, 13):
        body = f"Follow-up number {i}.\n\nStill happening after step {i}."
        alice.reply(tid, body)
    w = open_page(f"/help-center/tickets/{tid}", alice.token, device="phone")
    expect(w.page.locator("#thread .message")).to_have_count(12)
    w.page.wait_for_function(
        "() => { const t = document.getElementById('thread');"
        " return t.scrollHeight > t.clientHeight + 100"
        " && t.scrollTop + t.clientHeight >= t.scrollHeight - 2; }"
    )
    w.page.locator("#thread").scroll_into_view_if_needed()
    shoot(w.page, "ticket-long-thread-phone")
    no_trouble(w)


def test_a_long_thread_shows_the_latest_and_earlier_messages_on_request(open_page, person):
    alice = person("user", "Alice Example")
    sam = person("admin", "Sam Support")
    tid = alice.create_ticket()["id"]
    for i in range(62):
        sam.reply(tid, f"Support message {i}.", internal=i == 1)
    w = open_page(f"/help-center/tickets/{tid}", alice.token)
    thread = w.page.locator("#thread")
    expect(thread.locator(".message")).to_have_count(50)
    earlier = thread.locator("button.show-earlier")
    expect(earlier).to_have_text("Show earlier messages (11)")  # 61 public, 50 shown
    earlier.click()
    expect(thread.locator(".message")).to_have_count(61)
    expect(earlier).to_have_count(0)
    expect(thread.locator(".message").first).to_contain_text("Support message 0.")
    expect(thread.locator(".message").nth(1)).to_contain_text("Support message 2.")
    # A new message arrives: the earlier ones stay shown, the new one is added.
    sam.reply(tid, "The latest.")
    w.page.evaluate("() => window.dispatchEvent(new Event('focus'))")
    expect(thread.locator(".message")).to_have_count(62)
    expect(thread.locator(".message").last).to_contain_text("The latest.")
    no_trouble(w)


def test_notices_are_marked_read_one_by_one_or_all_at_once(open_page, person, shoot):
    alice = person("user", "Alice Example")
    sam = person("admin", "Sam Support")
    first, second = alice.create_ticket(), alice.create_ticket()
    for ticket in (first, second):
        sam.reply(ticket["id"], f"Looking at #{ticket['id']} **now**.")
    w = open_page("/help-center/tickets", alice.token, device="phone")
    page = w.page
    expect(page.locator("#bell-button")).to_have_attribute("data-unread", "2", timeout=15_000)
    page.click("#bell-button")
    unread = page.locator("#bell-list .bell-item.unread")
    expect(unread).to_have_count(2)
    expect(unread.first.locator("a")).to_have_attribute(
        "href", f"/help-center/tickets/{second['id']}"
    )
    expect(unread.first.locator(".bell-body")).to_contain_text(f"Looking at #{second['id']} now.")
    shoot(page, "bell-open-phone")
    unread.first.get_by_role("button", name=re.compile("^Mark read: ")).click()
    expect(page.locator("#bell-button")).to_have_attribute("data-unread", "1")
    expect(unread).to_have_count(1)
    expect(page.locator("#bell-panel")).to_be_visible()  # stays open for the next one
    page.click("#bell-read-all")
    expect(page.locator("#bell-button")).to_have_attribute("data-unread", "0")
    expect(unread).to_have_count(0)
    expect(page.locator("#bell-list .bell-item")).to_have_count(2)
    assert alice.api("GET", "/notifications/unread-count") == {"unread_count": 0}
    no_trouble(w)


XSS_DESCRIPTION = "\n\n".join(
    (
        "Payloads that must stay inert in every view:",
        '<img src=x onerror="window.__xss = 1; alert(1)">',
        "[click me](javascript:window.__xss=2;alert(2))",
        "<script>window.__xss = 3; alert(3)</script>",
        '<a href="javascript:alert(4)" onclick="alert(4)">raw link</a>',
        "![pic](javascript:alert(5)) and <svg onload=alert(6)>",
    )
)
XSS_SUBJECT = 'Inert <img src=x onerror="alert(7)"> subject'


def assert_inert(w, *, link_text="click me"):
    """Nothing ran: no dialog, no flag, no handler or javascript: URL in the DOM."""
    page = w.page
    assert page.evaluate("window.__xss") is None
    assert page.locator("main [onerror], main [onclick], main [onload]").count() == 0
    assert (
        page.locator("main a[href^='javascript:' i], main img[src^='javascript:' i]").count() == 0
    )
    assert page.locator("main .rich script, main .rich svg, main .rich iframe").count() == 0
    link = page.locator(f"main a:has-text('{link_text}')")
    if link.count():
        link.first.click()
        page.wait_for_timeout(200)
    assert page.evaluate("window.__xss") is None
    no_trouble(w)


def test_injected_markup_never_runs(open_page, person, shoot):
    mallory = person("user", "Mallory <b onmouseover=alert(8)>")
    sam = person("admin", "Sam Support")
    ticket = mallory.create_ticket(subject=XSS_SUBJECT, description=XSS_DESCRIPTION)
    tid = ticket["id"]
    mallory.reply(tid, XSS_DESCRIPTION)
    sam.reply(tid, "[click me](javascript:window.__xss=9)", internal=True)

    user = open_page(f"/help-center/tickets/{tid}", mallory.token)
    expect(user.page.locator("#t-subject")).to_have_text(XSS_SUBJECT)
    expect(user.page.locator("#t-description")).to_contain_text("Payloads that must stay inert")
    expect(user.page.locator("#thread .message")).to_have_count(1)
    shoot(user.page, "ticket-xss-laptop")
    assert_inert(user)

    listing = open_page("/help-center/tickets", mallory.token)
    expect(listing.page.locator("#ticket-list .ticket-row a.subject")).to_contain_text(XSS_SUBJECT)
    assert_inert(listing)

    # The preview renders the same payloads through the server, inertly.
    form = open_page("/help-center/tickets/new", mallory.token)
    form.page.fill("#description", XSS_DESCRIPTION)
    form.page.click("#preview-tab")
    expect(form.page.locator("#preview")).to_contain_text("Payloads that must stay inert")
    assert_inert(form)

    queue = open_page(f"/help-center/admin?q=%23{tid}", sam.token)
    expect(queue.page.locator("#queue-body a.subject")).to_have_text(XSS_SUBJECT)
    expect(queue.page.locator("#queue-body")).to_contain_text("Mallory <b onmouseover=alert(8)>")
    assert_inert(queue)

    support = open_page(f"/help-center/admin/tickets/{tid}", sam.token)
    expect(support.page.locator("#thread .message")).to_have_count(2)
    expect(support.page.locator("#thread .message.internal")).to_contain_text("click me")
    assert_inert(support)


def test_daily_limit_says_when_it_resets(open_page, person, shoot):
    bob = person("user", "Bob Example")
    limit = bob.api("GET", "/catalog")["limits"]["tickets_per_day"]
    for i in range(limit):
        bob.create_ticket(subject=f"Ticket number {i} of today")
    w = open_page("/help-center/tickets/new", bob.token)
    page = w.page
    page.click("label[for=type-other]")
    page.select_option("#feature", label="Progress Reports")
    page.fill("#subject", "One ticket too many today")
    page.fill("#description", DESCRIPTION)
    page.click("#submit")
    alert = page.locator("#form-alert .alert.warning")
    expect(alert).to_contain_text("Daily ticket limit reached")
    expect(alert).to_contain_text(f"up to {limit} tickets per day")
    reset_at = page.evaluate(
        "fetch('/api/v1/tickets', {method: 'POST', headers: {'Content-Type': 'application/json',"
        " Authorization: 'Bearer ' + sessionStorage.getItem('helpdesk_token')}, body: JSON.stringify("
        "{issue_type: 'other', feature: 'reports', subject: 'One ticket too many today',"
        " description: 'x'.repeat(60)})}).then(r => r.json()).then(b => b.error.details.reset_at)"
    )
    local_reset = page.evaluate(
        "(iso) => new Intl.DateTimeFormat(undefined, {dateStyle: 'medium', timeStyle: 'short'})"
        ".format(new Date(iso))",
        reset_at,
    )
    expect(alert).to_contain_text(local_reset)
    expect(page.locator("#subject")).to_have_value("One ticket too many today")  # nothing lost
    shoot(page, "new-ticket-limit-laptop")
    assert w.dialogs == []


def test_without_a_session_development_offers_sign_in(open_page, shoot):
    w = open_page("/help-center/tickets")
    page = w.page
    expect(page).to_have_url(
        re.compile(r"/help-center/dev/sign-in\?next=%2Fhelp-center%2Ftickets$")
    )
    expect(page.locator("h1")).to_have_text("Development sign-in")
    shoot(page, "dev-sign-in-laptop")
    page.click("#identities button[data-sub=sam]")
    expect(page).to_have_url(re.compile(r"/help-center/tickets$"))
    expect(page.locator("#who")).to_contain_text("Sam Rivera")
    expect(page.locator(".main-nav [data-admin-only]")).to_be_visible()
    page.click(".brand")
    expect(page.locator("#cta-admin")).to_be_visible()
    shoot(page, "landing-support-laptop")
    page.click("#sign-out")
    expect(page).to_have_url(re.compile(r"/help-center/dev/sign-in"))
    page.fill("#sub", "custom-person")
    page.fill("#name", "Custom Person")
    page.click("#sign-in-form button[type=submit]")
    expect(page).to_have_url(re.compile(r"/help-center$"))  # back where sign-out started
    expect(page.locator("#who")).to_contain_text("Custom Person")
    expect(page.locator(".main-nav [data-admin-only]")).to_be_hidden()
    assert w.dialogs == []


def test_a_refused_token_sends_people_back_to_sign_in(open_page, person):
    alice = person("user", "Alice Example")
    forged = alice.token[:-4] + ("AAAA" if not alice.token.endswith("AAAA") else "BBBB")
    w = open_page("/help-center/tickets", forged)
    expect(w.page).to_have_url(
        re.compile(r"/help-center/dev/sign-in\?next=%2Fhelp-center%2Ftickets$")
    )
    assert w.page.evaluate("sessionStorage.getItem('helpdesk_token')") is None


def test_a_user_on_the_support_dashboard_is_told_it_is_for_staff(open_page, person):
    alice = person("user", "Alice Example")
    w = open_page("/help-center/admin", alice.token)
    expect(w.page.locator("#list-alert")).to_contain_text("For support staff only")
    expect(w.page.locator("#queue")).to_be_hidden()  # no empty queue table
    expect(w.page.locator(".main-nav [data-admin-only]")).to_be_hidden()
    w.page.click(".brand")
    expect(w.page.locator("#cta-list")).to_be_visible()
    expect(w.page.locator("#cta-admin")).to_be_hidden()
    other = open_page("/help-center/admin/tickets/1", alice.token)
    expect(other.page.locator("#page-alert")).to_contain_text("for support staff only")


@pytest.fixture(scope="module")
def hosted_stack(make_stack):
    """A stack outside development: no sign-in page, the host platform signs people in."""
    return make_stack(HELPDESK_ENV="test")


def test_outside_development_a_lost_session_is_explained(open_page, hosted_stack, shoot):
    expired = hosted_stack.token("erin", "user", "Erin", lifetime=-60)
    w = open_page("/help-center/tickets/new", expired, on=hosted_stack)
    banner = w.page.locator("#session-banner")
    expect(banner).to_have_text(
        "Your session has expired. Sign in again from your account, then reload this page."
    )
    expect(banner).to_be_focused()
    expect(w.page).to_have_url(re.compile(r"/help-center/tickets/new$"))
    expect(w.page.locator("#header-actions")).to_be_hidden()
    expect(w.page.locator("#main")).to_be_hidden()  # no form that could not be sent
    shoot(w.page, "session-expired-laptop")

    # A token the gateway refuses (bad signature) is found out by the first API call:
    # never a session, so not "expired"; its name and bell leave the header.
    valid = hosted_stack.token("erin", "user", "Erin")
    forged = valid[:-4] + ("AAAA" if not valid.endswith("AAAA") else "BBBB")
    w = open_page("/help-center/tickets", forged, on=hosted_stack)
    expect(w.page.locator("#session-banner")).to_have_text(
        "Your sign-in wasn't accepted. Open the Help Center from your account to sign in again."
    )
    expect(w.page.locator("#header-actions")).to_be_hidden()
    expect(w.page.locator("#main")).to_be_hidden()
    expect(w.page.locator("#ticket-list .loading")).to_have_count(0)

    w = open_page("/help-center/tickets", on=hosted_stack)
    expect(w.page.locator("#session-banner")).to_have_text(
        "You're not signed in. Open the Help Center from your account to sign in."
    )
    assert w.dialogs == []
