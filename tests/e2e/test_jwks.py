"""A real gateway taking its keys from the host's JWKS: the host rotates its key and
tokens signed with the new one work with no restart; junk kids are bounded; the
host being down leaves the known keys working."""

import time

import jwt
import pytest
import requests

from tests.jwks_host import JwksHost, new_private_key

pytestmark = pytest.mark.e2e

MIN_INTERVAL = 2.0


@pytest.fixture(scope="module")
def host():
    served = JwksHost("RS256")
    yield served
    served.close()


@pytest.fixture(scope="module")
def jwks_stack(make_stack, host):
    return make_stack(
        HELPDESK_JWT_ALGORITHM="RS256",
        HELPDESK_JWT_JWKS_URL=host.url,
        HELPDESK_JWT_JWKS_MIN_INTERVAL=str(MIN_INTERVAL),
    )


def _count(stack, token):
    return requests.get(
        f"{stack.base_url}/api/v1/notifications/unread-count",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )


def test_the_host_rotates_its_key_with_no_outage(jwks_stack, host):
    # The gateway runs its default two workers: whichever serves a step, it knows
    # what the other fetched (jwks.KeySet's shared file).
    assert jwks_stack.settings.gateway_workers == 2
    first = host.token("alice")
    assert _count(jwks_stack, first).status_code == 200
    fetched = host.requests

    # Junk kids within the interval: refused, and the host is not asked again.
    junk = new_private_key("RS256")
    for n in range(10):
        forged = jwt.encode(
            {"sub": "x", "role": "admin", "exp": int(time.time()) + 60},
            junk,
            "RS256",
            headers={"kid": f"junk-{n}"},
        )
        assert _count(jwks_stack, forged).status_code == 401
    assert host.requests - fetched <= 1

    # The host publishes a new key and signs with it; the old one is withdrawn.
    time.sleep(MIN_INTERVAL + 0.5)
    host.rotate(drop_old=True)
    assert _count(jwks_stack, host.token("bob")).status_code == 200

    # The host goes down: the keys already known keep working.
    host.down = True
    try:
        time.sleep(MIN_INTERVAL + 0.5)
        # Many requests, each on a new connection: both workers serve some of them.
        carol = host.token("carol")
        assert [_count(jwks_stack, carol).status_code for _ in range(30)] == [200] * 30
    finally:
        host.down = False


def test_a_token_signed_by_nobody_the_host_knows_is_refused(jwks_stack):
    stranger = jwt.encode(
        {"sub": "x", "role": "admin", "exp": int(time.time()) + 60},
        new_private_key("RS256"),
        "RS256",
    )
    result = _count(jwks_stack, stranger)
    assert result.status_code == 401
    assert result.json()["error"]["code"] == "unauthorized"
