"""Keys from the host's JWKS: picked by kid, learnt on rotation without a restart,
fetched at most once per interval, kept while the host is down; clock leeway."""

import time

import jwt
import pytest
from falcon import testing

from services.gateway.app import create_app
from services.gateway.auth import LEEWAY, TokenVerifier
from services.gateway.errors import Unauthorized
from services.gateway.jwks import KeySet, usable_keys
from services.gateway.tests.fakes import FakeClients
from shared.config import ConfigError
from tests.jwks_host import JwksHost, new_private_key

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture(params=["RS256", "ES256"])
def host(request):
    served = JwksHost(request.param)
    yield served
    served.close()


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def verifier(host, make_settings, clock):
    settings = make_settings(HELPDESK_JWT_ALGORITHM=host.algorithm, HELPDESK_JWT_JWKS_URL=host.url)
    return TokenVerifier(settings, KeySet(host.url, host.algorithm, clock=clock))


def _bearer(token):
    return f"Bearer {token}"


def test_a_token_signed_with_the_hosts_key_is_accepted(verifier, host):
    actor = verifier.verify(_bearer(host.token("alice", "admin")))
    assert (actor.id, actor.role) == ("alice", "admin")
    assert host.requests == 1


def test_a_rotated_key_works_at_once_without_a_restart(verifier, host, clock):
    verifier.verify(_bearer(host.token("alice")))
    clock.now += 31  # past the fetch interval
    host.rotate(drop_old=True)
    assert verifier.verify(_bearer(host.token("bob"))).id == "bob"
    assert host.requests == 2


def test_unknown_kids_fetch_the_set_at_most_once_per_interval(verifier, host, clock):
    verifier.verify(_bearer(host.token("alice")))
    junk_key = new_private_key(host.algorithm)
    for n in range(20):
        forged = jwt.encode(
            {"sub": "x", "role": "admin", "exp": int(time.time()) + 60},
            junk_key,
            host.algorithm,
            headers={"kid": f"junk-{n}"},
        )
        with pytest.raises(Unauthorized):
            verifier.verify(_bearer(forged))
    assert host.requests == 1  # within 30 s of the first fetch: none more
    clock.now += 31
    with pytest.raises(Unauthorized):
        verifier.verify(_bearer(forged))
    assert host.requests == 2


def test_the_known_keys_keep_working_while_the_host_is_down(verifier, host, clock):
    kid = host.signing_kid
    verifier.verify(_bearer(host.token("alice")))
    host.down = True
    clock.now += 3600  # the set is stale: it is fetched again, and that fails
    assert verifier.verify(_bearer(host.token("bob", kid=kid))).id == "bob"
    assert host.requests == 2


def test_a_withdrawn_key_stops_working_once_the_set_is_old(verifier, host, clock):
    old_kid, old_key = host.signing_kid, host.keys[host.signing_kid]
    verifier.verify(_bearer(host.token("alice")))
    host.rotate(drop_old=True)
    clock.now += 301
    signed_with_old = jwt.encode(
        {"sub": "carol", "role": "user", "exp": int(time.time()) + 60},
        old_key,
        host.algorithm,
        headers={"kid": old_kid},
    )
    with pytest.raises(Unauthorized):
        verifier.verify(_bearer(signed_with_old))


def test_workers_share_what_one_fetched_even_once_the_host_is_down(host, clock, tmp_path):
    """Two worker processes' key sets over one shared file (as gunicorn's master sets up)."""
    shared = str(tmp_path / "jwks.json")
    first, second = (
        KeySet(host.url, host.algorithm, clock=clock, shared_file=shared) for _ in range(2)
    )
    first.key_for(host.token("alice"))
    second.key_for(host.token("alice"))
    assert host.requests == 1  # the second took the first's set: within the interval
    clock.now += 31
    host.rotate(drop_old=True)
    first.key_for(host.token("bob"))  # the first learns the new key
    assert host.requests == 2
    host.down = True
    clock.now += 31
    assert second.key_for(host.token("carol")) is not None  # from the file: no fetch
    assert (host.requests, second.fetches) == (2, 0)
    # A file that is not a key set is passed over: the worker fetches for itself.
    (tmp_path / "jwks.json").write_text("{not json")
    host.down = False
    clock.now += 301
    assert second.key_for(host.token("dave")) is not None
    assert (host.requests, second.fetches) == (3, 1)


def test_the_algorithm_stays_pinned_whatever_the_header_says(verifier, host):
    public_pem = host.document()["keys"][0]
    # HS256 "signed" with the published key as the secret: the classic confusion attack.
    forged = jwt.encode(
        {"sub": "x", "role": "admin", "exp": int(time.time()) + 60},
        str(public_pem),
        "HS256",
        headers={"kid": host.signing_kid},
    )
    with pytest.raises(Unauthorized):
        verifier.verify(_bearer(forged))
    unsigned = jwt.encode(
        {"sub": "x", "role": "admin", "exp": int(time.time()) + 60},
        None,
        "none",
        headers={"kid": host.signing_kid},
    )
    with pytest.raises(Unauthorized):
        verifier.verify(_bearer(unsigned))


def test_clock_skew_within_the_leeway_is_tolerated_and_beyond_it_is_not(verifier, host):
    now = int(time.time())
    slightly_late = host.token("a", exp=now - (LEEWAY - 2), iat=now - 600)
    assert verifier.verify(_bearer(slightly_late)).id == "a"
    ahead = host.token("b", nbf=now + LEEWAY - 2, iat=now + LEEWAY - 2)
    assert verifier.verify(_bearer(ahead)).id == "b"
    expired = host.token("c", exp=now - (LEEWAY + 10), iat=now - 600)
    with pytest.raises(Unauthorized):
        verifier.verify(_bearer(expired))
    early = host.token("d", nbf=now + LEEWAY + 30)
    with pytest.raises(Unauthorized):
        verifier.verify(_bearer(early))


def test_keys_for_another_algorithm_or_use_are_ignored():
    host = JwksHost("RS256")
    try:
        document = host.document()
        good = dict(document["keys"][0])
        document["keys"] += [
            {**good, "kid": "enc", "use": "enc"},
            {**good, "kid": "ps", "alg": "PS256"},
            {"kid": "junk", "kty": "RSA", "n": "not-base64!"},
            "not a key",
        ]
        assert set(usable_keys(document, "RS256")) == {good["kid"]}
        assert usable_keys({"keys": "nope"}, "RS256") == {}
        assert usable_keys(["not", "a", "set"], "RS256") == {}
    finally:
        host.close()


def test_the_gateway_answers_401_not_500_when_no_key_is_known(make_settings):
    # Nothing listens here: the first token finds no keys at all.
    settings = make_settings(
        HELPDESK_JWT_ALGORITHM="RS256", HELPDESK_JWT_JWKS_URL="http://127.0.0.1:9/jwks"
    )
    client = testing.TestClient(create_app(settings, FakeClients()))
    token = jwt.encode(
        {"sub": "x", "role": "user", "exp": int(time.time()) + 60},
        new_private_key("RS256"),
        "RS256",
        headers={"kid": "k"},
    )
    result = client.simulate_get("/api/v1/tickets", headers={"Authorization": _bearer(token)})
    assert result.status_code == 401
    assert result.json["error"]["code"] == "unauthorized"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"HELPDESK_JWT_JWKS_URL": "http://idp.example.com/jwks"}, "https"),
        ({"HELPDESK_JWT_JWKS_URL": "ftp://127.0.0.1/jwks"}, "https"),
        ({"HELPDESK_JWT_JWKS_URL": "/jwks"}, "absolute"),
        (
            {
                "HELPDESK_JWT_JWKS_URL": "https://idp.example.com/jwks",
                "HELPDESK_JWT_ALGORITHM": "HS256",
            },
            "RS256",
        ),
        (
            {
                "HELPDESK_JWT_JWKS_URL": "https://idp.example.com/jwks",
                "HELPDESK_JWT_PUBLIC_KEY": "x",
            },
            "not both",
        ),
        ({"HELPDESK_ENV": "production", "HELPDESK_JWT_JWKS_URL": "http://127.0.0.1/jwks"}, "https"),
    ],
)
def test_the_jwks_url_is_validated_at_start_up(make_settings, env, message):
    env = {"HELPDESK_JWT_ALGORITHM": "RS256", **env}
    with pytest.raises(ConfigError, match=message):
        make_settings(**env)


def test_a_jwks_url_replaces_the_public_key_setting(make_settings):
    settings = make_settings(
        HELPDESK_JWT_ALGORITHM="ES256", HELPDESK_JWT_JWKS_URL="https://idp.example.com/jwks"
    )
    assert settings.jwt_jwks_url == "https://idp.example.com/jwks"
    assert settings.jwt_public_key is None
    loopback = make_settings(
        HELPDESK_JWT_ALGORITHM="RS256", HELPDESK_JWT_JWKS_URL="http://localhost:8000/jwks"
    )
    assert loopback.jwt_jwks_url.startswith("http://localhost")
