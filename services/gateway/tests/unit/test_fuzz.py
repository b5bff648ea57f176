"""Random requests never make the gateway fail: no 500, always the contract's JSON."""

import random

import pytest

from services.gateway.tests.randomized import random_request

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("seed", range(6))
def test_random_requests_get_a_contract_answer(client, auth, new_ticket, seed):
    ticket = new_ticket()
    rng = random.Random(seed)
    for _ in range(120):
        identity = auth(rng.choice(["alice", "bob"]), rng.choice(["user", "admin"]))
        method, path, query, headers, body = random_request(rng, identity, ticket["id"])
        result = client.simulate_request(
            method, path, query_string=query, headers=headers, body=body
        )
        assert result.status_code < 500, (method, path, result.text)
        assert result.headers["X-Request-Id"]
        if result.status_code >= 400:
            error = result.json["error"]
            assert isinstance(error["code"], str) and isinstance(error["details"], dict)
