"""The gateway's half of idempotency: the header checked in the contract's error
order, and the key with the request's fingerprint handed to the service."""

import pytest

from services.gateway.tests.fakes import NEW_TICKET
from shared.idempotency import HEADER, fingerprint

pytestmark = pytest.mark.unit


def keyed(auth, key, sub="alice", role="user"):
    return {**auth(sub, role), HEADER: key}


def test_the_key_and_the_requests_fingerprint_reach_the_service(client, clients, auth):
    result = client.simulate_post("/api/v1/tickets", json=NEW_TICKET, headers=keyed(auth, "k-1"))
    assert result.status_code == 201
    _, method, (_actor, _fields, idempotency), _ = clients.calls[-1]
    # Key order and spacing of the body do not count; the body as sent does.
    assert idempotency == {
        "key": "k-1",
        "fingerprint": fingerprint(
            "POST", "/api/v1/tickets", {}, dict(reversed(NEW_TICKET.items()))
        ),
    }
    ticket_id = result.json["id"]
    client.simulate_post(
        f"/api/v1/tickets/{ticket_id}/close", headers=keyed(auth, "k-2")
    )  # an empty body counts as {}
    route = "/api/v1/tickets/{ticket_id}/close"
    assert clients.calls[-1][2][-1] == {
        "key": "k-2",
        "fingerprint": fingerprint("POST", route, {"ticket_id": ticket_id}, {}),
    }


@pytest.mark.parametrize("key", ["", "x" * 256, "caf\u00e9"])
def test_a_malformed_key_is_a_422_naming_the_header(client, clients, auth, key):
    result = client.simulate_post("/api/v1/tickets", json=NEW_TICKET, headers=keyed(auth, key))
    assert result.status_code == 422
    assert list(result.json["error"]["details"]) == [HEADER]
    assert not [c for c in clients.calls if c[1] == "create_ticket"]


def test_a_malformed_key_ranks_where_a_422_does(client, auth, new_ticket):
    bad = keyed(auth, "")
    # 400 (not JSON) outranks it; one 422 names both a bad field and the key.
    not_json = client.simulate_post(
        "/api/v1/tickets", body="{", headers={**bad, "Content-Type": "application/json"}
    )
    assert not_json.status_code == 400
    both = client.simulate_post("/api/v1/tickets", json={**NEW_TICKET, "status": "x"}, headers=bad)
    assert both.status_code == 422
    assert set(both.json["error"]["details"]) == {"status", HEADER}
    # Someone else's ticket: the 404 outranks it.
    theirs = new_ticket("bob")
    close = client.simulate_post(f"/api/v1/tickets/{theirs['id']}/close", headers=bad)
    assert close.status_code == 404


@pytest.mark.parametrize(
    ("path", "body", "role"),
    [
        ("/api/v1/preview", {"text": "**hi**"}, "user"),
        ("/api/v1/notifications/read-all", None, "user"),
        ("/api/v1/admin/tickets/{id}/status", {"status": "in_review"}, "admin"),
    ],
)
def test_every_post_checks_the_header(client, auth, new_ticket, path, body, role):
    path = path.format(id=new_ticket()["id"])
    good = client.simulate_post(path, json=body, headers=keyed(auth, "ok", role=role))
    assert good.status_code in (200, 201), good.json
    bad = client.simulate_post(path, json=body, headers=keyed(auth, "\u00e9", role=role))
    assert bad.status_code == 422 and HEADER in bad.json["error"]["details"]
