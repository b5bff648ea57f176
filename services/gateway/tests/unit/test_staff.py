"""The gateway keeps the staff directory up to date (``middleware.RecordStaff``) with
one ``record_staff`` call per admin and name a worker has not recorded, not one per
request; and the staff and team routes pass through to the tickets service."""

import pytest

pytestmark = pytest.mark.unit


def _records(clients):
    return [args[0] for _service, method, args, _rid in clients.calls if method == "record_staff"]


def test_an_admin_is_recorded_once_per_name_not_on_every_request(client, clients, auth):
    for _ in range(3):
        assert (
            client.simulate_get(
                "/api/v1/notifications", headers=auth("sam", "admin", "Sam")
            ).status_code
            == 200
        )
    assert _records(clients) == [{"id": "sam", "name": "Sam", "role": "admin"}]
    # A new name on a later token is recorded, once.
    for _ in range(2):
        client.simulate_get("/api/v1/admin/tickets", headers=auth("sam", "admin", "Samantha"))
    assert [r["name"] for r in _records(clients)] == ["Sam", "Samantha"]
    directory = client.simulate_get("/api/v1/admin/staff", headers=auth("kim", "admin", "Kim"))
    assert directory.json == {
        "items": [
            {"id": "kim", "name": "Kim", "teams": [], "open_assigned": 0},
            {"id": "sam", "name": "Samantha", "teams": [], "open_assigned": 0},
        ]
    }


def test_users_are_never_recorded(client, clients, auth):
    client.simulate_get("/api/v1/tickets", headers=auth("alice"))
    refused = client.simulate_get("/api/v1/admin/staff", headers=auth("alice"))
    assert refused.status_code == 403
    assert _records(clients) == []


def test_a_failed_record_does_not_fail_the_request_and_is_tried_again(client, clients, auth):
    clients.down.add("tickets")
    answer = client.simulate_get("/api/v1/notifications", headers=auth("sam", "admin", "Sam"))
    assert answer.status_code == 200
    assert clients.services["tickets"].staff == {}
    clients.down.clear()
    client.simulate_get("/api/v1/notifications", headers=auth("sam", "admin", "Sam"))
    assert clients.services["tickets"].staff == {"sam": "Sam"}


def test_assignment_takes_known_staff_only(client, auth, new_ticket):
    ticket = new_ticket()
    url = f"/api/v1/admin/tickets/{ticket['id']}/assign"
    unknown = client.simulate_post(url, json={"assignee_id": "kim"}, headers=auth("sam", "admin"))
    assert unknown.status_code == 422 and list(unknown.json["error"]["details"]) == ["assignee_id"]
    # A body naming the assignee is refused: names come from the directory.
    named = client.simulate_post(
        url, json={"assignee_id": "sam", "assignee_name": "X"}, headers=auth("sam", "admin")
    )
    assert named.status_code == 422 and "assignee_name" in named.json["error"]["details"]
    mine = client.simulate_post(url, json={"assignee_id": "sam"}, headers=auth("sam", "admin"))
    assert mine.status_code == 200 and mine.json["assignee"] == {"id": "sam", "name": "Sam"}


def test_team_routes(client, auth):
    admin = auth("sam", "admin")
    body = {"key": "billing", "label": "Billing", "features": ["billing"], "members": ["kim"]}
    made = client.simulate_post("/api/v1/admin/teams", json=body, headers=admin)
    assert made.status_code == 201 and made.headers["Location"] == "/api/v1/admin/teams/billing"
    again = client.simulate_post("/api/v1/admin/teams", json=body, headers=admin)
    assert again.status_code == 409
    bad = client.simulate_post(
        "/api/v1/admin/teams", json={**body, "key": "x", "features": ["nope"]}, headers=admin
    )
    assert bad.status_code == 422 and list(bad.json["error"]["details"]) == ["features"]
    changed = client.simulate_patch(
        "/api/v1/admin/teams/billing", json={"assignment": "round_robin"}, headers=admin
    )
    assert changed.status_code == 200 and changed.json["assignment"] == "round_robin"
    # A missing team outranks a bad body.
    missing = client.simulate_patch("/api/v1/admin/teams/nope", json={"label": ""}, headers=admin)
    assert missing.status_code == 404
    assert client.simulate_get("/api/v1/admin/teams/billing", headers=admin).status_code == 200
    assert (
        client.simulate_put("/api/v1/admin/teams/billing", json=body, headers=admin).status_code
        == 405
    )
    assert client.simulate_delete("/api/v1/admin/teams/billing", headers=admin).status_code == 204
    assert client.simulate_get("/api/v1/admin/teams", headers=admin).json == {"items": []}
    assert client.simulate_get("/api/v1/admin/teams", headers=auth("alice")).status_code == 403


def test_a_worker_remembers_a_bounded_number_of_admins():
    from types import SimpleNamespace

    from services.gateway.auth import Actor
    from services.gateway.middleware import RecordStaff
    from services.gateway.tests.fakes import FakeClients

    clients = FakeClients()
    recorder = RecordStaff(clients, size=2)

    def request(sub):
        req = SimpleNamespace(context={"actor": Actor(sub, "admin", sub.title())})
        recorder.process_request(req, None)

    for sub in ("ann", "bob", "ann", "cy", "bob"):
        request(sub)
    # ann is kept (seen again), cy pushes bob out, so bob is recorded a second time.
    assert [args[0]["id"] for _s, m, args, _r in clients.calls if m == "record_staff"] == [
        "ann",
        "bob",
        "cy",
        "bob",
    ]
