"""Staff, teams and routing through the API against the real stack.

Teams route every new ticket, so these tests run on a stack of their own
(``team_stack``): a team taking ``dashboard`` on the shared stack would assign the
tickets of every other test. Each test names its own features so that the teams
of one test never take another's tickets.
"""

import time

import pytest

from tests.e2e.conftest import Api, poll, unique

pytestmark = pytest.mark.e2e


@pytest.fixture
def staff(team_stack):
    """``staff(name)``: a new admin who has made one API call (so is known staff)."""

    def make(name):
        api = Api(team_stack, unique("admin"), "admin", name)
        assert api.get("/api/v1/notifications/unread-count").status_code == 200
        return api

    return make


@pytest.fixture
def owner(team_stack):
    return lambda: Api(team_stack, unique("user"), "user", "Alice Example")


def _team(admin, key, **fields):
    result = admin.post("/api/v1/admin/teams", {"key": key, "label": key.title(), **fields})
    assert result.status_code == 201, result.text
    return result.json()


def _notices(api, ticket_id):
    items = api.get("/api/v1/notifications", params={"limit": 100}).json()["items"]
    return sorted(n["kind"] for n in items if n["ticket_id"] == ticket_id)


def _directory(admin):
    result = admin.get("/api/v1/admin/staff")
    assert result.status_code == 200
    return {m["id"]: m for m in result.json()["items"]}


def test_the_directory_knows_every_admin_who_called_with_their_latest_name(team_stack, staff):
    sam = staff("Sam Support")
    assert _directory(sam)[sam.sub] == {
        "id": sam.sub,
        "name": "Sam Support",
        "teams": [],
        "open_assigned": 0,
    }
    renamed = Api(team_stack, sam.sub, "admin", "Samantha Support")
    assert _directory(renamed)[sam.sub]["name"] == "Samantha Support"
    user = Api(team_stack, unique("user"), "user", "Not Staff")
    user.get("/api/v1/tickets")
    assert user.sub not in _directory(sam)
    assert user.get("/api/v1/admin/staff").status_code == 403


def test_assignment_only_to_known_staff_named_by_the_directory(staff, owner):
    sam, kim = staff("Sam Support"), staff("Kim Support")
    tid = owner().create()["id"]
    stranger = sam.post(f"/api/v1/admin/tickets/{tid}/assign", {"assignee_id": "nobody-ever"})
    assert stranger.status_code == 422
    assert list(stranger.json()["error"]["details"]) == ["assignee_id"]
    to_kim = sam.post(f"/api/v1/admin/tickets/{tid}/assign", {"assignee_id": kim.sub})
    assert to_kim.status_code == 200
    assert to_kim.json()["assignee"] == {"id": kim.sub, "name": "Kim Support"}
    poll(lambda: _notices(kim, tid), lambda kinds: "ticket_assigned" in kinds)
    assert _directory(sam)[kim.sub]["open_assigned"] == 1
    # The same admin again changes nothing and tells nobody.
    again = sam.post(f"/api/v1/admin/tickets/{tid}/assign", {"assignee_id": kim.sub})
    assert again.json()["updated_at"] == to_kim.json()["updated_at"]
    time.sleep(1.5)
    assert _notices(kim, tid).count("ticket_assigned") == 1
    assert (
        sam.post(f"/api/v1/admin/tickets/{tid}/assign", {"assignee_id": None}).json()["assignee"]
        is None
    )


def test_team_crud_and_validation(staff):
    sam = staff("Sam Support")
    key = unique("crud")
    body = {
        "key": key,
        "label": "Billing desk",
        "features": ["billing"],
        "issue_types": ["billing"],
        "members": [sam.sub, "new-hire-" + key],
    }
    assert sam.made("/api/v1/admin/teams", body, "key") == {**body, "assignment": "manual"}
    assert sam.post("/api/v1/admin/teams", body).status_code == 409
    # Members named are known staff from now on (no name until they sign in).
    assert _directory(sam)["new-hire-" + key] == {
        "id": "new-hire-" + key,
        "name": None,
        "teams": [key],
        "open_assigned": 0,
    }
    for bad, field in (
        ({"key": "Bad Key", "label": "X"}, "key"),
        ({"key": unique("x"), "label": "X", "features": ["nope"]}, "features"),
        ({"key": unique("x"), "label": "X", "issue_types": ["nope"]}, "issue_types"),
        ({"key": unique("x"), "label": "X", "assignment": "random"}, "assignment"),
        ({"key": unique("x"), "label": "X", "extra": 1}, "extra"),
    ):
        refused = sam.post("/api/v1/admin/teams", bad)
        assert refused.status_code == 422, bad
        assert list(refused.json()["error"]["details"]) == [field], refused.json()
    url = f"/api/v1/admin/teams/{key}"
    changed = sam.request("PATCH", url, json={"assignment": "fewest_open", "label": "Billing"})
    assert changed.status_code == 200
    assert (changed.json()["assignment"], changed.json()["label"]) == ("fewest_open", "Billing")
    assert sam.get(url).json() == changed.json()
    assert key in [t["key"] for t in sam.get("/api/v1/admin/teams").json()["items"]]
    assert sam.request("PATCH", url, json={"key": "other"}).status_code == 422
    assert sam.request("PATCH", "/api/v1/admin/teams/nope", json={"label": ""}).status_code == 404
    assert sam.request("PUT", url, json=body).status_code == 405
    assert sam.request("DELETE", url).status_code == 204
    assert sam.get(url).status_code == 404
    assert sam.request("DELETE", url).status_code == 404


def test_routing_team_notices_exactly_once_and_the_team_filter(staff, owner):
    sam, kim, lee = staff("Sam Support"), staff("Kim Support"), staff("Lee Support")
    typed = _team(sam, unique("typed"), issue_types=["data"], members=[lee.sub])
    featured = _team(sam, unique("feat"), features=["reports"], members=[sam.sub, kim.sub])
    alice = owner()
    by_feature = alice.create(issue_type="data", feature="reports")["id"]
    by_type = alice.create(issue_type="data", feature="linkedin_sync")["id"]

    def team_of(tid):
        return sam.get(f"/api/v1/admin/tickets/{tid}").json()["team"]

    assert team_of(by_feature) == {"key": featured["key"], "label": featured["label"]}
    assert team_of(by_type) == {"key": typed["key"], "label": typed["label"]}
    assert "team" not in alice.get(f"/api/v1/tickets/{by_feature}").json()
    # Every member of the team hears of the new ticket, once; others do not.
    for member in (sam, kim):
        poll(lambda m=member: _notices(m, by_feature), lambda kinds: "new_ticket" in kinds)
    poll(lambda: _notices(lee, by_type), lambda kinds: "new_ticket" in kinds)
    # An owner's reply on the unassigned ticket tells its team.
    assert (
        alice.post(f"/api/v1/tickets/{by_feature}/messages", {"body": "Any news?"}).status_code
        == 201
    )
    for member in (sam, kim):
        poll(lambda m=member: _notices(m, by_feature), lambda kinds: "user_reply" in kinds)
    time.sleep(1.5)
    assert _notices(sam, by_feature) == _notices(kim, by_feature) == ["new_ticket", "user_reply"]
    assert _notices(lee, by_feature) == []

    def queue(team):
        page = sam.get("/api/v1/admin/tickets", params={"team": team, "limit": 100}).json()
        return [t["id"] for t in page["items"]]

    assert queue(featured["key"]) == [by_feature]
    assert queue(typed["key"]) == [by_type]
    assert by_feature not in queue("none")
    assert sam.get("/api/v1/admin/tickets", params={"team": "Bad Key"}).status_code == 422


def test_an_admin_opening_a_ticket_is_not_told_of_it(staff):
    sam, kim = staff("Sam Support"), staff("Kim Support")
    _team(sam, unique("own"), features=["notifications"], members=[sam.sub, kim.sub])
    tid = sam.create(feature="notifications")["id"]
    poll(lambda: _notices(kim, tid), lambda kinds: "new_ticket" in kinds)
    time.sleep(1.0)
    assert _notices(sam, tid) == []


def test_round_robin_across_several_tickets(staff, owner):
    sam, kim, lee = staff("Sam Support"), staff("Kim Support"), staff("Lee Support")
    members = [sam.sub, kim.sub, lee.sub]
    _team(
        sam, unique("rr"), features=["github_analytics"], members=members, assignment="round_robin"
    )
    tickets = [
        owner().create(feature="github_analytics", issue_type="other")["id"] for _ in range(6)
    ]
    holders = [sam.get(f"/api/v1/admin/tickets/{t}").json()["assignee"]["id"] for t in tickets]
    assert holders == members + members
    # The one who got it hears ticket_assigned; nobody hears new_ticket of it.
    poll(lambda: _notices(kim, tickets[1]), lambda kinds: kinds == ["ticket_assigned"])
    time.sleep(1.0)
    assert _notices(sam, tickets[1]) == [] and _notices(lee, tickets[1]) == []


def test_fewest_open_gives_the_least_loaded_member(staff, owner):
    sam, kim = staff("Sam Support"), staff("Kim Support")
    busy = owner().create(feature="account")["id"]
    sam.post(f"/api/v1/admin/tickets/{busy}/assign", {"assignee_id": sam.sub})
    _team(
        sam,
        unique("few"),
        features=["account"],
        members=[sam.sub, kim.sub],
        assignment="fewest_open",
    )
    first = owner().create(feature="account")["id"]
    second = owner().create(feature="account")["id"]
    third = owner().create(feature="account")["id"]
    holders = [
        sam.get(f"/api/v1/admin/tickets/{t}").json()["assignee"]["id"]
        for t in (first, second, third)
    ]
    # Sam holds one already: Kim first, then a tie (Sam, listed first), then Kim.
    assert holders == [kim.sub, sam.sub, kim.sub]
    directory = _directory(sam)
    assert (directory[sam.sub]["open_assigned"], directory[kim.sub]["open_assigned"]) == (2, 2)
