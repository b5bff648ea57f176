"""Support's workspace through the gateway and the real services: reply and status in
one action with one notice, the resolution history, follow-ups, priority changes and
the queue's owner, issue type and feature filters."""

import pytest

from tests.e2e.conftest import poll

pytestmark = pytest.mark.e2e

NOTE = "Re-synced the chart data from the export job."


def notices(api, ticket_id):
    items = api.get("/api/v1/notifications", params={"limit": 100}).json()["items"]
    return [n for n in items if n["ticket_id"] == ticket_id]


def test_a_reply_that_resolves_is_one_action_and_one_notice(user, admin):
    ticket = user.create()
    path = f"/api/v1/admin/tickets/{ticket['id']}/messages"
    bad = admin.post(path, {"body": "Done.", "status": "resolved"})
    assert bad.status_code == 422 and "resolution_note" in bad.json()["error"]["details"]
    note_only = admin.post(path, {"body": "Hm.", "internal": True, "status": "awaiting_user"})
    assert note_only.status_code == 422 and "status" in note_only.json()["error"]["details"]

    sent = admin.post(
        path, {"body": "Fixed on our side.", "status": "resolved", "resolution_note": NOTE}
    )
    assert sent.status_code == 201, sent.text
    assert sent.json()["internal"] is False and sent.json()["body"] == "Fixed on our side."
    view = user.get(f"/api/v1/tickets/{ticket['id']}").json()
    assert view["status"] == "resolved" and view["resolution_note"] == NOTE
    assert [t["status"] for t in view["timeline"]] == ["open", "resolved"]
    assert [m["body"] for m in view["messages"]] == ["Fixed on our side."]
    told = poll(lambda: notices(user, ticket["id"]), lambda n: n)
    assert [n["kind"] for n in told] == ["ticket_resolved"] and NOTE in told[0]["body"]

    # resolved -> awaiting_user is not in the table: 409, and no message is stored.
    illegal = admin.post(path, {"body": "One more thing", "status": "awaiting_user"})
    assert illegal.status_code == 409, illegal.text
    after = admin.get(f"/api/v1/admin/tickets/{ticket['id']}").json()
    assert len(after["messages"]) == 1 and after["status"] == "resolved"

    # A reply that leaves it awaiting the user is one support_reply.
    other = user.create()
    asked = admin.post(
        f"/api/v1/admin/tickets/{other['id']}/messages",
        {"body": "Which browser?", "status": "awaiting_user"},
    )
    assert asked.status_code == 201
    told = poll(lambda: notices(user, other["id"]), lambda n: n)
    assert [n["kind"] for n in told] == ["support_reply"]
    assert user.get(f"/api/v1/tickets/{other['id']}").json()["status"] == "awaiting_user"
    # Nothing more arrives later: the status move told nobody a second time.
    assert poll(lambda: notices(user, other["id"]), lambda n: len(n) > 1, timeout=2) == told


def test_every_resolution_is_kept_and_the_latest_stays_after_review(user, admin):
    ticket = user.create()
    status = f"/api/v1/admin/tickets/{ticket['id']}/status"
    assert admin.post(status, {"status": "resolved", "resolution_note": NOTE}).status_code == 200
    user.post(f"/api/v1/tickets/{ticket['id']}/messages", {"body": "Still empty here."})
    review = user.get(f"/api/v1/tickets/{ticket['id']}").json()
    assert review["status"] == "in_review" and review["resolution_note"] == NOTE
    second = "Cleared the cached tiles for your account."
    assert admin.post(status, {"status": "resolved", "resolution_note": second}).status_code == 200
    for view in (
        user.get(f"/api/v1/tickets/{ticket['id']}").json(),
        admin.get(f"/api/v1/admin/tickets/{ticket['id']}").json(),
    ):
        assert [r["note"] for r in view["resolutions"]] == [NOTE, second]
        assert {r["by_name"] for r in view["resolutions"]} == {"Sam Support"}
        assert all(r["at"].endswith("Z") for r in view["resolutions"])
        assert view["resolution_note"] == second


def test_a_follow_up_links_the_two_tickets(user, other_user, admin):
    first = user.create(issue_type="data", feature="reports")
    assert user.post(f"/api/v1/tickets/{first['id']}/close").status_code == 200
    again = user.create(issue_type="data", feature="reports", follows_up=first["id"])
    assert again["follows_up"] == {"id": first["id"], "subject": first["subject"]}
    earlier = user.get(f"/api/v1/tickets/{first['id']}").json()
    assert earlier["follow_ups"] == [
        {"id": again["id"], "subject": again["subject"], "status": "open"}
    ]
    support = admin.get(f"/api/v1/admin/tickets/{again['id']}").json()
    assert support["follows_up"]["id"] == first["id"]

    theirs = other_user.create()
    for target in (theirs["id"], 10**17):
        refused = user.post(
            "/api/v1/tickets",
            {
                "issue_type": "bug",
                "feature": "dashboard",
                "subject": "Charts empty again",
                "description": "x" * 60,
                "follows_up": target,
            },
        )
        assert refused.status_code == 422
        assert refused.json()["error"]["details"] == {
            "follows_up": ["Must be one of your tickets."]
        }
    assert other_user.get(f"/api/v1/tickets/{theirs['id']}").json()["follow_ups"] == []


def test_ticket_numbers_in_text_link_to_their_pages(user, admin):
    first = user.create()
    second = user.create(
        description=f"Same as #{first['id']} last week: the charts stay empty on every page I open."
    )
    assert f'href="/help-center/tickets/{first["id"]}"' in second["description_html"]
    sent = admin.post(
        f"/api/v1/admin/tickets/{second['id']}/messages",
        {"body": f"Merged with #{first['id']}; see `#{first['id']}` too."},
    )
    html = sent.json()["body_html"]
    assert html.count(f'href="/help-center/tickets/{first["id"]}"') == 1  # not inside code


def test_a_priority_change_is_kept_with_its_reason(user, admin):
    ticket = user.create(issue_type="other")
    path = f"/api/v1/admin/tickets/{ticket['id']}/priority"
    assert admin.post(path, {"priority": "urgent", "reason": "x"}).status_code == 422
    assert user.post(path, {"priority": "high", "reason": "Because"}).status_code == 403
    changed = admin.post(path, {"priority": "critical", "reason": "Their whole team is blocked"})
    assert changed.status_code == 200, changed.text
    view = changed.json()
    assert view["priority"] == "critical"
    [change] = view["priority_changes"]
    assert change["from_priority"] == "low" and change["reason"] == "Their whole team is blocked"
    assert change["by_name"] == "Sam Support"
    same = admin.post(path, {"priority": "critical", "reason": "Still blocked"})
    assert same.status_code == 200 and len(same.json()["priority_changes"]) == 1
    owner_view = user.get(f"/api/v1/tickets/{ticket['id']}").json()
    assert owner_view["priority"] == "critical" and "priority_changes" not in owner_view
    user.post(f"/api/v1/tickets/{ticket['id']}/close")
    assert admin.post(path, {"priority": "low", "reason": "Closed now"}).status_code == 409


def test_the_queue_filters_by_owner_issue_type_and_feature(user, other_user, admin):
    billing = user.create(issue_type="billing", feature="billing")
    bug = user.create(issue_type="bug", feature="reports")
    theirs = other_user.create(issue_type="billing", feature="billing")

    def ids(**params):
        page = admin.get("/api/v1/admin/tickets", params={**params, "limit": 100})
        assert page.status_code == 200, page.text
        return [t["id"] for t in page.json()["items"]]

    assert ids(owner=user.sub) == [bug["id"], billing["id"]]
    assert ids(owner=user.sub, issue_type="billing") == [billing["id"]]
    assert ids(owner=user.sub, feature="reports") == [bug["id"]]
    assert ids(owner=other_user.sub) == [theirs["id"]]
    bad = admin.get("/api/v1/admin/tickets", params={"issue_type": "outage"})
    assert bad.status_code == 422 and "issue_type" in bad.json()["error"]["details"]


def test_canned_replies_are_shared_by_support(admin, user, stack):
    from tests.e2e.conftest import Api, unique

    other_admin = Api(stack, unique("admin"), "admin", "Kim Support")
    macro = admin.made(
        "/api/v1/admin/macros",
        {
            "title": "Resolved: cache",
            "body": "Hi {owner_name}, #{ticket_id} is fixed. {agent_name}",
            "status": "resolved",
        },
    )
    assert macro["updated_by_name"] == "Sam Support" and macro["status"] == "resolved"
    listed = other_admin.get("/api/v1/admin/macros").json()["items"]
    assert macro["id"] in [m["id"] for m in listed]
    unknown = admin.post("/api/v1/admin/macros", {"title": "Hi", "body": "Dear {customer}"})
    assert unknown.status_code == 422 and "body" in unknown.json()["error"]["details"]
    path = f"/api/v1/admin/macros/{macro['id']}"
    changed = other_admin.request("PATCH", path, json={"status": None, "title": "Cache fixed"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["status"] is None and changed.json()["updated_by_name"] == "Kim Support"
    assert admin.get(path).json() == changed.json()
    assert user.get("/api/v1/admin/macros").status_code == 403
    assert admin.request("DELETE", path).status_code == 204
    assert admin.get(path).status_code == 404
    assert admin.request("PATCH", path, json={"title": "Gone"}).status_code == 404


def test_the_dashboard_counts_what_support_looks_at(user, admin, stack):
    before = admin.get("/api/v1/admin/stats").json()
    assert before["days"] == 14 and len(before["per_day"]) == 14
    assert [d["date"] for d in before["per_day"]] == sorted(d["date"] for d in before["per_day"])
    answered = user.create(issue_type="access")  # critical: a first response within 4h
    user.create(issue_type="other")  # waits: open, unassigned, low
    resolved = user.create(issue_type="bug")
    admin.post(f"/api/v1/admin/tickets/{answered['id']}/messages", {"body": "Looking now."})
    admin.post(f"/api/v1/admin/tickets/{answered['id']}/assign", {"assignee_id": admin.sub})
    admin.post(
        f"/api/v1/admin/tickets/{resolved['id']}/messages",
        {"body": "Fixed.", "status": "resolved", "resolution_note": NOTE},
    )
    after = admin.get("/api/v1/admin/stats", params={"days": 3}).json()
    assert after["days"] == 3 and len(after["per_day"]) == 3
    today = after["per_day"][-1]
    assert today["created"] - before["per_day"][-1]["created"] == 3
    assert today["resolved"] - before["per_day"][-1]["resolved"] == 1
    grew = {
        k: after["open"]["by_status"][k] - before["open"]["by_status"][k]
        for k in ("open", "in_review")
    }
    assert grew == {"open": 1, "in_review": 1}  # waiting; answered (resolved is not open)
    assert after["open"]["by_priority"]["low"] - before["open"]["by_priority"]["low"] == 1
    assert after["unassigned"] - before["unassigned"] == 1  # waiting only
    first = after["first_response"]
    assert first["answered"] - before["first_response"]["answered"] == 2
    assert first["met"] - before["first_response"]["met"] == 2
    assert (
        first["median_seconds"] is not None and 0 <= first["median_seconds"] <= first["p90_seconds"]
    )
    assert 0 < first["met_share"] <= 1
    assert after["breached"] >= 0 and after["at_risk"] >= 0
    for days in ("0", "91"):
        bad = admin.get("/api/v1/admin/stats", params={"days": days})
        assert bad.status_code == 422 and "days" in bad.json()["error"]["details"]
    assert admin.get("/api/v1/admin/stats", params={"days": "x"}).status_code == 400
    assert user.get("/api/v1/admin/stats").status_code == 403
