"""Teams and assignment in real Chromium: a team set up through its page, a team's
queue, and a ticket assigned to a colleague picked from the staff directory.

Teams route every new ticket, so these tests run on a stack of their own
(``team_stack``), never on the one the other browser tests share.
"""

import time
import uuid

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import Person

pytestmark = pytest.mark.browser


@pytest.fixture
def staff(team_stack):
    """``staff(name)``: an admin who has made an API call (so is known staff)."""

    def make(name):
        admin = Person(team_stack, f"admin-{uuid.uuid4().hex[:8]}", "admin", name)
        admin.api("GET", "/notifications/unread-count", expect=200)
        return admin

    return make


@pytest.fixture
def owner(team_stack):
    return lambda: Person(team_stack, f"user-{uuid.uuid4().hex[:8]}", "user", "Alice Example")


def quiet(w):
    """No dialog, and no error but the browser's own line for an expected 4xx answer."""
    assert w.dialogs == [], w.dialogs
    errors = [e for e in w.errors if "Failed to load resource" not in e]
    assert errors == [], errors


def test_a_team_set_up_through_its_page_routes_and_assigns_new_tickets(
    open_page, team_stack, staff, owner, shoot
):
    sam, kim = staff("Sam Support"), staff("Kim Support")
    key = f"billing-{uuid.uuid4().hex[:6]}"
    w = open_page("/help-center/admin", sam.token, on=team_stack)
    page = w.page
    # The dashboard links to the teams page.
    page.click("#teams-link")
    expect(page).to_have_url(f"{team_stack.base_url}/help-center/admin/teams")
    expect(page.locator("#team-members input")).not_to_have_count(0)

    # A bad key is refused in the form, naming the field; nothing is created.
    page.fill("#team-label", "Billing desk")
    page.fill("#team-key", "Not A Key")
    page.click("#team-submit")
    expect(page.locator("#key-error")).to_contain_text("lowercase")

    page.fill("#team-key", key)
    page.check("#features-billing")
    page.check("#issue_types-billing")
    page.check(f"#members-{kim.sub}")
    page.check(f"#members-{sam.sub}")
    page.select_option("#team-assignment", "round_robin")
    page.click("#team-submit")
    expect(page.locator("#teams-alert")).to_contain_text("Created Billing desk.")
    row = page.locator(f"tr[data-team-key='{key}']")
    expect(row).to_contain_text("Billing & Subscription")
    expect(row).to_contain_text("In turn (round robin)")
    expect(row).to_contain_text("Kim Support, Sam Support")  # in the order listed
    shoot(page, "teams-laptop")
    quiet(w)

    team = sam.api("GET", f"/admin/teams/{key}", expect=200)
    assert team["members"] == [kim.sub, sam.sub] and team["features"] == ["billing"]
    # New billing tickets go to the members in turn.
    first = owner().create_ticket(feature="billing")
    second = owner().create_ticket(feature="billing")
    holders = [
        sam.api("GET", f"/admin/tickets/{t['id']}")["assignee"]["id"] for t in (first, second)
    ]
    assert holders == [kim.sub, sam.sub]

    # Changed through the page: by hand from now on, Kim only.
    row.get_by_role("button", name="Edit Billing desk").click()
    expect(page.locator("#team-key")).to_have_value(key)
    expect(page.locator("#team-key")).to_have_attribute("readonly", "")
    page.uncheck(f"#members-{sam.sub}")
    page.select_option("#team-assignment", "manual")
    page.click("#team-submit")
    expect(page.locator("#teams-alert")).to_contain_text("Saved Billing desk.")
    expect(row).to_contain_text("By hand")
    assert sam.api("GET", f"/admin/teams/{key}")["members"] == [kim.sub]

    # Deleted in two presses; its tickets keep no team.
    delete = row.get_by_role("button", name="Delete Billing desk")
    delete.click()
    expect(delete).to_have_text("Really delete?")
    delete.click()
    expect(page.locator("#teams-alert")).to_contain_text("Deleted Billing desk.")
    expect(row).to_have_count(0)
    assert sam.api("GET", f"/admin/tickets/{first['id']}")["team"] is None
    quiet(w)


def test_a_teams_queue_shows_its_tickets_only(open_page, team_stack, staff, owner, shoot):
    sam = staff("Sam Support")
    key = f"reports-{uuid.uuid4().hex[:6]}"
    sam.api(
        "POST",
        "/admin/teams",
        {"key": key, "label": "Reports crew", "features": ["reports"]},
        expect=201,
    )
    alice = owner()
    theirs = alice.create_ticket(feature="reports", subject="Reports export is empty today")
    other = alice.create_ticket(feature="linkedin_sync", subject="Webhook retries never stop")
    w = open_page(f"/help-center/admin?team={key}", sam.token, on=team_stack)
    page = w.page
    expect(page.locator("#f-team")).to_have_value(key)
    rows = page.locator("#queue-body tr[data-ticket-id]")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-ticket-id", str(theirs["id"]))
    expect(rows.first.locator("td[data-label=Team]")).to_have_text("Reports crew")
    # "No team" shows the other one and not the team's.
    page.select_option("#f-team", "none")
    expect(page.locator(f"#queue-body tr[data-ticket-id='{other['id']}']")).to_have_count(1)
    expect(page.locator(f"#queue-body tr[data-ticket-id='{theirs['id']}']")).to_have_count(0)
    expect(page).to_have_url(f"{team_stack.base_url}/help-center/admin?team=none")
    # From the teams page, a team's name leads to its queue.
    page.goto(f"{team_stack.base_url}/help-center/admin/teams")
    page.get_by_role("link", name="Reports crew").click()
    expect(page.locator("#f-team")).to_have_value(key)
    expect(page.locator("#queue-body tr[data-ticket-id]")).to_have_count(1)
    shoot(page, "team-queue-laptop")
    quiet(w)


def test_assigning_a_colleague_picked_from_the_directory(
    open_page, team_stack, staff, owner, shoot
):
    sam, kim = staff("Sam Support"), staff("Kim Support")
    tid = owner().create_ticket(feature="github_analytics", issue_type="other")["id"]
    w = open_page(f"/help-center/admin/tickets/{tid}", sam.token, on=team_stack)
    page = w.page
    picker = page.locator("#assignee-select")
    # The picker lists the directory with each one's open load.
    expect(picker.locator(f"option[value='{kim.sub}']")).to_have_text("Kim Support · 0 open")
    expect(picker.locator(f"option[value='{sam.sub}']")).to_have_text("Sam Support (you) · 0 open")
    page.click("#assign-submit")
    expect(page.locator("#assign-error")).to_have_text("Choose who gets this ticket.")
    picker.select_option(kim.sub)
    page.click("#assign-submit")
    expect(page.locator("#assignee-text")).to_have_text("Assigned to Kim Support.")
    expect(page.locator("#page-alert")).to_contain_text("Assigned to Kim Support.")
    expect(picker.locator(f"option[value='{kim.sub}']")).to_have_text("Kim Support · 1 open")
    expect(picker).to_have_value(kim.sub)
    assert sam.api("GET", f"/admin/tickets/{tid}")["assignee"] == {
        "id": kim.sub,
        "name": "Kim Support",
    }
    # Kim hears of it.
    deadline = time.monotonic() + 10
    while not any(
        n["kind"] == "ticket_assigned" and n["ticket_id"] == tid
        for n in kim.api("GET", "/notifications")["items"]
    ):
        assert time.monotonic() < deadline, "Kim was not told"
        time.sleep(0.2)
    shoot(page, "assign-colleague-laptop")
    quiet(w)
