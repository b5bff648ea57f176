"""Response clocks through the HTTP API, with targets of seconds: each ticket's `sla`,
the `sla=` filter and `sort=due`, a support reply stopping the clock, the catalog's
`response_targets`."""

import time
from datetime import datetime, timedelta

import pytest

from tests.e2e.conftest import Api, poll, unique

pytestmark = pytest.mark.e2e


def _when(text):
    return datetime.fromisoformat(text)


def test_clocks_filter_sort_and_stop(clock_stack):
    user = Api(clock_stack, unique("user"), "user", "Ada Owner")
    admin = Api(clock_stack, unique("admin"), "admin", "Sam Support")
    catalog = user.get("/api/v1/catalog").json()
    assert catalog["response_targets"] == {
        "first": {"critical": 3, "high": 3600, "medium": 7200, "low": 86400},
        "next": 5400,
    }

    critical = user.create(issue_type="access")
    high = user.create(issue_type="bug")
    medium = user.create(issue_type="data")
    answered = user.create(issue_type="billing")
    reply = admin.post(f"/api/v1/admin/tickets/{answered['id']}/messages", {"body": "On it"})
    assert reply.status_code == 201, reply.text

    detail = admin.get(f"/api/v1/admin/tickets/{high['id']}").json()["sla"]
    assert detail["state"] == "due" and detail["first_response_at"] is None
    assert _when(detail["due_at"]) - _when(high["created_at"]) == timedelta(hours=1)
    assert "sla" not in user.get(f"/api/v1/tickets/{high['id']}").json()

    # The critical ticket's 3 seconds run out.
    breached = poll(
        lambda: admin.get("/api/v1/admin/tickets", params={"sla": "breached"}).json(),
        lambda page: [t["id"] for t in page["items"]] == [critical["id"]],
        timeout=15,
    )
    [item] = breached["items"]
    assert item["sla"]["state"] == "breached"
    assert _when(item["sla"]["due_at"]) - _when(critical["created_at"]) == timedelta(seconds=3)

    def ids(**params):
        result = admin.get("/api/v1/admin/tickets", params=params)
        assert result.status_code == 200, result.text
        return [t["id"] for t in result.json()["items"]]

    assert ids(sla="due") == [medium["id"], high["id"]]
    assert ids(sla="at_risk") == []
    # Soonest owed first, owing none last, through the cursor a page at a time.
    seen, cursor = [], None
    while True:
        params = {"sort": "due", "limit": 3, **({"cursor": cursor} if cursor else {})}
        page = admin.get("/api/v1/admin/tickets", params=params).json()
        seen += [t["id"] for t in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [critical["id"], high["id"], medium["id"], answered["id"]]

    # A public support reply stops the clock; the first response is on record.
    sent = admin.post(f"/api/v1/admin/tickets/{critical['id']}/messages", {"body": "Sorry!"})
    assert sent.status_code == 201, sent.text
    sla = admin.get(f"/api/v1/admin/tickets/{critical['id']}").json()["sla"]
    assert sla["state"] == "none" and sla["due_at"] is None
    assert sla["first_response_at"] == sent.json()["created_at"]
    assert _when(sla["first_response_due_at"]) - _when(critical["created_at"]) == timedelta(
        seconds=3
    )
    assert ids(sla="breached") == []

    # The owner writes back: a next response is owed, 90 minutes from their message.
    message = user.post(f"/api/v1/tickets/{critical['id']}/messages", {"body": "Thanks, but"})
    sla = admin.get(f"/api/v1/admin/tickets/{critical['id']}").json()["sla"]
    assert _when(sla["due_at"]) - _when(message.json()["created_at"]) == timedelta(minutes=90)


def test_a_priority_change_moves_the_due_time(clock_stack):
    user = Api(clock_stack, unique("user"), "user", "Ada Owner")
    admin = Api(clock_stack, unique("admin"), "admin", "Sam Support")
    ticket = user.create(issue_type="other")  # low: a day here
    body = {"priority": "high", "reason": "A paying customer is blocked"}
    changed = admin.post(f"/api/v1/admin/tickets/{ticket['id']}/priority", body)
    assert changed.status_code == 200, changed.text
    sla = admin.get(f"/api/v1/admin/tickets/{ticket['id']}").json()["sla"]
    assert _when(sla["due_at"]) - _when(ticket["created_at"]) == timedelta(hours=1)
    ids = [
        t["id"]
        for t in admin.get("/api/v1/admin/tickets", params={"sort": "due", "sla": "due"}).json()[
            "items"
        ]
    ]
    assert ticket["id"] in ids


def test_bad_clock_parameters_are_named(clock_stack):
    admin = Api(clock_stack, unique("admin"), "admin", "Sam Support")
    for params, field in (({"sla": "late"}, "sla"), ({"sort": "soonest"}, "sort")):
        result = admin.get("/api/v1/admin/tickets", params=params)
        assert result.status_code == 422 and field in result.json()["error"]["details"]
    user = Api(clock_stack, unique("user"), "user", "Ada Owner")
    assert user.get("/api/v1/admin/tickets", params={"sort": "due"}).status_code == 403


def _clock_notices(api, ticket_id):
    items = api.get("/api/v1/notifications", params={"limit": 100}).json()["items"]
    return [
        (n["kind"], n["title"])
        for n in reversed(items)  # oldest first
        if n["ticket_id"] == ticket_id and n["kind"].startswith("sla_")
    ]


def test_support_hears_of_risk_then_breach_once_each(clock_stack):
    user = Api(clock_stack, unique("user"), "user", "Ada Owner")
    sam = Api(clock_stack, unique("admin"), "admin", "Sam Support")
    kim = Api(clock_stack, unique("admin"), "admin", "Kim Support")
    for admin in (sam, kim):  # known staff: the team of a ticket no team takes
        assert admin.get("/api/v1/admin/tickets", params={"limit": 1}).status_code == 200

    held = user.create(issue_type="access")  # critical: at risk after 2.4s, due after 3s
    assigned = sam.post(f"/api/v1/admin/tickets/{held['id']}/assign", {"assignee_id": sam.sub})
    assert assigned.status_code == 200, assigned.text
    nobody = user.create(issue_type="access")
    answered = user.create(issue_type="access")
    reply = kim.post(f"/api/v1/admin/tickets/{answered['id']}/messages", {"body": "Here."})
    assert reply.status_code == 201, reply.text

    ref = f"#{held['id']}: first response"
    told = poll(
        lambda: _clock_notices(sam, held["id"]),
        lambda found: len(found) >= 2,
        timeout=20,
    )
    assert [kind for kind, _ in told] == ["sla_warning", "sla_breached"]
    assert told[0][1].startswith(f"{ref} due ")
    assert told[1][1].startswith(f"{ref} overdue")
    assert _clock_notices(kim, held["id"]) == []  # the assignee holds it: only they hear

    # Nobody holds the other one: every known staff member hears, once each.
    for admin in (sam, kim):
        heard = poll(
            lambda admin=admin: _clock_notices(admin, nobody["id"]),
            lambda found: len(found) >= 2,
            timeout=20,
        )
        assert [kind for kind, _ in heard] == ["sla_warning", "sla_breached"]

    # Ticks go on: nothing is told twice, and the answered ticket tells nobody.
    time.sleep(3)
    assert len(_clock_notices(sam, held["id"])) == 2
    assert len(_clock_notices(kim, nobody["id"])) == 2
    for admin in (sam, kim):
        assert _clock_notices(admin, answered["id"]) == []
    view = sam.get(f"/api/v1/admin/tickets/{held['id']}").json()
    assert view["sla"]["state"] == "breached"
