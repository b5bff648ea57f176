"""Support's workspace in real Chromium against the real stack: a reply that sets the
status, canned replies (managed, inserted), the resolution history, priority with a
reason, linked tickets and "This happened again", ticket number links, the owner's
other tickets and bulk actions in the queue."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.test_help_center import no_trouble

pytestmark = pytest.mark.browser

FIRST_NOTE = "We rebuilt the chart cache for your workspace; charts load again."
SECOND_NOTE = "Cleared the stale tiles a second time and fixed the nightly job."


def test_support_replies_and_resolves_in_one_step_with_a_canned_reply(open_page, person, shoot):
    alice = person("user", "Alice Example")
    sam = person("admin", "Sam Support")
    earlier = alice.create_ticket(subject="Charts were empty last month")
    ticket = alice.create_ticket(
        subject="Charts stay empty on the dashboard",
        description=f"Same as #{earlier['id']}: the charts are empty again after login.",
    )
    tid = ticket["id"]

    # A canned reply, made on its page.
    macros = open_page("/help-center/admin/macros", sam.token)
    mp = macros.page
    mp.fill("#macro-title", "Resolved: chart cache")
    mp.fill("#macro-body", "Hi {owner_name}, ticket #{ticket_id} is fixed. Best, {agent_name}")
    mp.select_option("#macro-status", "resolved")
    mp.click("#macro-save")
    expect(mp.locator("#macros-body tr[data-macro-id]")).to_contain_text("Resolved: chart cache")
    mp.fill("#macro-title", "Bad one")
    mp.fill("#macro-body", "Dear {customer}")
    mp.click("#macro-save")
    expect(mp.locator("#body-error")).to_contain_text("Unknown placeholders {customer}")
    # The refused save is the one 422 the browser logs; nothing else may be.
    assert [e for e in macros.errors if "422" in e] == macros.errors[:1]
    macros.errors.clear()
    shoot(mp, "admin-macros-laptop")

    admin = open_page(f"/help-center/admin/tickets/{tid}", sam.token)
    ap = admin.page
    # The #number in the description points at support's page of that ticket.
    expect(ap.locator("#t-description a")).to_have_attribute(
        "href", f"/help-center/admin/tickets/{earlier['id']}"
    )
    expect(ap.locator("#owner-tickets")).to_contain_text("Charts were empty last month")
    ap.select_option("#macro-select", label="Resolved: chart cache")
    expect(ap.locator("#reply")).to_have_value(
        f"Hi Alice Example, ticket #{tid} is fixed. Best, Sam Support"
    )
    expect(ap.locator("#reply-status")).to_have_value("resolved")
    expect(ap.locator("#reply-resolution-field")).to_be_visible()
    ap.click("#send-reply")
    expect(ap.locator("#reply-resolution-error")).to_contain_text("resolution note")
    ap.fill("#reply-resolution", FIRST_NOTE)
    shoot(ap, "admin-reply-with-status-laptop")
    ap.click("#send-reply")
    expect(ap.locator("#t-meta")).to_contain_text("Resolved")
    expect(ap.locator("#resolution-note")).to_have_text(FIRST_NOTE)
    expect(ap.locator("#thread .message.support")).to_have_count(1)

    # Priority with a reason, kept in support's history.
    ap.select_option("#new-priority", "critical")
    ap.click("#priority-submit")
    expect(ap.locator("#priority-error")).to_contain_text("Say why")
    ap.fill("#priority-reason", "Their whole team is blocked")
    ap.click("#priority-submit")
    expect(ap.locator("#priority-history")).to_contain_text("High → Critical")
    expect(ap.locator("#priority-history")).to_contain_text("Their whole team is blocked")

    # The owner writes back, support resolves again: both notes stay.
    alice.reply(tid, "Still empty for me.")
    sam.set_status(tid, "resolved", SECOND_NOTE)
    user = open_page(f"/help-center/tickets/{tid}", alice.token)
    up = user.page
    expect(up.locator("#resolution-note")).to_have_text(SECOND_NOTE)
    expect(up.locator("#resolution-history")).to_contain_text(FIRST_NOTE)
    expect(up.locator("#t-description a")).to_have_attribute(
        "href", f"/help-center/tickets/{earlier['id']}"
    )
    shoot(up, "user-resolution-history-laptop")
    no_trouble(macros, admin, user)


def test_this_happened_again_links_a_new_ticket_to_a_closed_one(open_page, person, shoot):
    alice = person("user", "Alice Example")
    old = alice.create_ticket(issue_type="data", feature="reports", subject="Export lost rows")
    alice.close(old["id"], "Fixed")

    w = open_page(f"/help-center/tickets/{old['id']}", alice.token)
    p = w.page
    expect(p.locator("#again-section")).to_be_visible()
    p.click("#happened-again")
    expect(p).to_have_url(re.compile(rf"/help-center/tickets/new\?follows_up={old['id']}"))
    expect(p.locator("#follow-up-note")).to_contain_text(f"#{old['id']} Export lost rows")
    expect(p.locator("input[name=issue_type][value=data]")).to_be_checked()
    expect(p.locator("#feature")).to_have_value("reports")
    p.fill("#subject", "Export lost rows again")
    p.fill("#description", "The monthly export lost about a hundred rows again this morning.")
    shoot(p, "new-ticket-follow-up-laptop")
    # The ticket page drops ?created=1 from the address once it has said so: catch
    # the navigation itself, not the address afterwards.
    with p.expect_navigation(url=re.compile(r"/help-center/tickets/\d+\?created=1$")):
        p.click("#submit")
    expect(p.locator("#related")).to_contain_text(f"Follows up #{old['id']}")
    new_id = int(re.search(r"/tickets/(\d+)", p.url).group(1))
    assert alice.api("GET", f"/tickets/{new_id}")["follows_up"]["id"] == old["id"]
    back = open_page(f"/help-center/tickets/{old['id']}", alice.token)
    expect(back.page.locator("#related")).to_contain_text(f"Followed up by #{new_id}")
    no_trouble(w, back)


def test_bulk_actions_act_on_each_ticket_and_show_failures(open_page, person, shoot):
    bob = person("user", "Bob Example")
    sam = person("admin", "Sam Support")
    tickets = [bob.create_ticket(subject=f"Invoices missing, batch {n}") for n in range(3)]
    bob.close(tickets[2]["id"])

    w = open_page("/help-center/admin?q=Invoices%20missing", sam.token)
    p = w.page
    rows = p.locator("#queue-body tr[data-ticket-id]")
    expect(rows).to_have_count(3)
    expect(p.locator("#bulk-bar")).to_be_hidden()
    for t in tickets:
        p.check(f"#queue-body tr[data-ticket-id='{t['id']}'] input.select-ticket")
    expect(p.locator("#bulk-count")).to_have_text("3 tickets selected.")
    p.select_option("#bulk-action", "assign-me")
    p.click("#bulk-apply")
    results = p.locator("#bulk-results")
    expect(results).to_contain_text("2 of 3 tickets changed.")
    expect(results.locator(".bulk-failures")).to_contain_text(f"#{tickets[2]['id']}")
    shoot(p, "admin-queue-bulk-laptop")
    # The closed ticket's refusal is the one 409 the browser logs.
    assert len(w.errors) == 1 and "409" in w.errors[0], w.errors
    w.errors.clear()
    for t in tickets[:2]:
        assert sam.api("GET", f"/admin/tickets/{t['id']}")["assignee"]["id"] == sam.sub

    for t in tickets[:2]:
        p.check(f"#queue-body tr[data-ticket-id='{t['id']}'] input.select-ticket")
    p.select_option("#bulk-action", "status")
    p.select_option("#bulk-status", "awaiting_user")
    p.click("#bulk-apply")
    expect(results).to_contain_text("2 of 2 tickets changed.")
    for t in tickets[:2]:
        assert sam.api("GET", f"/admin/tickets/{t['id']}")["status"] == "awaiting_user"

    # A resolution note shorter than the catalog's limit is refused before any call.
    p.check(f"#queue-body tr[data-ticket-id='{tickets[0]['id']}'] input.select-ticket")
    p.select_option("#bulk-action", "status")
    p.select_option("#bulk-status", "resolved")
    p.fill("#bulk-note", "Too short")
    p.click("#bulk-apply")
    expect(results).to_contain_text("The resolution note needs at least 10 characters (it has 9).")
    assert sam.api("GET", f"/admin/tickets/{tickets[0]['id']}")["status"] == "awaiting_user"
    no_trouble(w)


def test_the_dashboard_draws_the_numbers(open_page, person, shoot):
    alice = person("user", "Alice Example")
    sam = person("admin", "Sam Support")
    answered = alice.create_ticket(issue_type="access")
    alice.create_ticket(issue_type="other")
    sam.reply(answered["id"], "On it.")
    stats = sam.api("GET", "/admin/stats?days=7", expect=200)

    w = open_page("/help-center/admin/dashboard?days=7", sam.token)
    p = w.page
    expect(p.locator("#days")).to_have_value("7")
    expect(p.locator("[data-stat=open] dd")).to_have_text(str(stats["open"]["total"]))
    expect(p.locator("[data-stat=unassigned] dd")).to_have_text(str(stats["unassigned"]))
    expect(p.locator("[data-stat=met_share] dd")).to_have_text(re.compile(r"^\d+%$"))
    # One bar per status and priority, two per day (created, resolved).
    expect(p.locator("#status-chart rect")).to_have_count(3)
    expect(p.locator("#priority-chart rect")).to_have_count(4)
    expect(p.locator("#days-chart rect")).to_have_count(14)
    low = p.locator("#priority-chart rect title", has_text="Low:")
    expect(low).to_have_text(f"Low: {stats['open']['by_priority']['low']} tickets")
    # Side by side on a laptop, the two chart cards start at the same height.
    status_card = p.locator(".chart-pair > .card").nth(0).bounding_box()
    priority_card = p.locator(".chart-pair > .card").nth(1).bounding_box()
    assert priority_card["x"] > status_card["x"]
    assert priority_card["y"] == status_card["y"], (status_card, priority_card)
    shoot(p, "admin-dashboard-laptop")
    p.select_option("#days", "30")
    expect(p.locator("#days-chart rect")).to_have_count(60)
    expect(p).to_have_url(re.compile(r"/help-center/admin/dashboard\?days=30$"))
    no_trouble(w)
