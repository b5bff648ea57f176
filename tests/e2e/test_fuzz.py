"""Random requests against the real services: never a 500, always the contract's JSON."""

import random

import pytest

from services.gateway.tests.randomized import random_request

pytestmark = pytest.mark.e2e


def test_random_requests_never_fail_the_stack(user, admin):
    ticket = user.create()
    rng = random.Random(20261127)
    for _ in range(300):
        api = rng.choice([user, admin])
        identity = {"Authorization": f"Bearer {api.token}"}
        method, path, query, headers, body = random_request(rng, identity, ticket["id"])
        result = api.session.request(
            method,
            f"{api.stack.base_url}{path}" + (f"?{query}" if query else ""),
            headers=headers,
            data=body,
            timeout=15,
        )
        assert result.status_code < 500, (method, path, query, body[:200], result.text)
        assert result.headers["X-Request-Id"]
        if result.status_code >= 400:
            error = result.json()["error"]
            assert isinstance(error["code"], str) and isinstance(error["details"], dict)
