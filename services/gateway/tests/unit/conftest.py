"""A gateway app on in-process fake services, and tokens signed for it."""

import time

import jwt
import pytest
from falcon import testing

from services.gateway.app import create_app
from services.gateway.tests.fakes import NEW_TICKET, FakeClients
from services.gateway.tokens import mint_token

SECRET = "unit-test-secret-long-enough-for-every-hmac-algorithm-0123456789abcdef"


@pytest.fixture
def settings(make_settings):
    return make_settings(HELPDESK_JWT_SECRET=SECRET)


@pytest.fixture
def clients():
    return FakeClients()


@pytest.fixture
def client(settings, clients):
    return testing.TestClient(create_app(settings, clients))


@pytest.fixture
def token(settings):
    def make(sub="alice", role="user", name=None):
        return mint_token(settings, sub, role, name or sub.title())

    return make


@pytest.fixture
def signed():
    """A token with valid defaults overridden by ``claims`` (``None`` drops a claim)."""

    def make(**claims):
        base = {"sub": "alice", "role": "user", "exp": int(time.time()) + 600}
        base.update(claims)
        return jwt.encode({k: v for k, v in base.items() if v is not None}, SECRET, "HS256")

    return make


@pytest.fixture
def auth(token):
    def headers(sub="alice", role="user", name=None):
        return {"Authorization": f"Bearer {token(sub, role, name)}"}

    return headers


@pytest.fixture
def new_ticket(client, auth):
    def create(sub="alice", **overrides):
        body = NEW_TICKET | overrides
        result = client.simulate_post("/api/v1/tickets", json=body, headers=auth(sub))
        assert result.status_code == 201, result.json
        return result.json

    return create
