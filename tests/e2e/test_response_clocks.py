"""Response clocks through the HTTP API, with targets of seconds: each ticket's `sla`,
the `sla=` filter and `sort=due`, a support reply stopping the clock, the catalog's
`response_targets`."""

from datetime import datetime, timedelta

import pytest

from tests.e2e.conftest import Api, poll, unique

pytestmark = pytest.mark.e2e

TARGETS = {
    "HELPDESK_SLA_FIRST_RESPONSE": "critical=3s,high=1h,medium=2h,low=3h",
    "HELPDESK_SLA_NEXT_RESPONSE": "90m",
}


@pytest.fixture(scope="module")
def clock_stack(make_stack):
    return make_stack(**TARGETS)


def _when(text):
    return datetime.fromisoformat(text)


def test_clocks_filter_sort_and_stop(clock_stack):
    user = Api(clock_stack, unique("user"), "user", "Ada Owner")
    admin = Api(clock_stack, unique("admin"), "admin", "Sam Support")
    catalog = user.get("/api/v1/catalog").json()
    assert catalog["response_targets"] == {
        "first": {"critical": 3, "high": 3600, "medium": 7200, "low": 10800},
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


def test_bad_clock_parameters_are_named(clock_stack):
    admin = Api(clock_stack, unique("admin"), "admin", "Sam Support")
    for params, field in (({"sla": "late"}, "sla"), ({"sort": "soonest"}, "sort")):
        result = admin.get("/api/v1/admin/tickets", params=params)
        assert result.status_code == 422 and field in result.json()["error"]["details"]
    user = Api(clock_stack, unique("user"), "user", "Ada Owner")
    assert user.get("/api/v1/admin/tickets", params={"sort": "due"}).status_code == 403
