"""Tokens the gateway must accept and refuse, and role checks before routing."""

import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from falcon import testing

from services.gateway.app import create_app
from services.gateway.auth import LEEWAY
from services.gateway.tests.fakes import FakeClients
from services.gateway.tests.unit.conftest import SECRET
from services.gateway.tokens import mint_token
from shared.ids import MAX_ID_LENGTH

pytestmark = pytest.mark.unit


def _unauthorized(result):
    assert result.status_code == 401, result.json
    assert result.headers["WWW-Authenticate"] == "Bearer"
    assert result.json["error"]["code"] == "unauthorized"
    return result


def _get(client, token, path="/api/v1/tickets"):
    return client.simulate_get(path, headers={"Authorization": f"Bearer {token}"})


def test_a_valid_token_reaches_the_service_as_the_actor(client, clients, token):
    assert _get(client, token("alice", name="Alice A")).status_code == 200
    service, method, args, _ = clients.calls[-1]
    assert (service, method) == ("tickets", "list_tickets")
    assert args[0] == {"id": "alice", "name": "Alice A", "role": "user"}


def test_no_token_or_another_scheme_is_refused(client, token):
    _unauthorized(client.simulate_get("/api/v1/tickets"))
    _unauthorized(client.simulate_get("/api/v1/tickets", headers={"Authorization": "Basic eDp5"}))
    _unauthorized(client.simulate_get("/api/v1/tickets", headers={"Authorization": "Bearer"}))


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": int(time.time()) - 60},
        {"sub": None},
        {"role": None},
        {"exp": None},
        {"role": "superuser"},
        {"role": "ADMIN"},
        {"sub": ""},
        {"sub": 42},
        {"name": ["not", "a", "string"]},
        {"sub": "ali\x00ce"},
        {"sub": "ali\ud800ce"},
        {"name": "Ali\x00ce"},
    ],
    ids=[
        "expired",
        "no-sub",
        "no-role",
        "no-exp",
        "unknown-role",
        "role-case",
        "empty-sub",
        "int-sub",
        "bad-name",
        "nul-in-sub",
        "surrogate-in-sub",
        "nul-in-name",
    ],
)
def test_tokens_with_bad_claims_are_refused(client, signed, claims):
    _unauthorized(_get(client, signed(**claims)))


@pytest.mark.parametrize(
    ("claims", "bound"),
    [({"sub": "a" * (MAX_ID_LENGTH + 1)}, "at most 200"), ({"name": "N" * 201}, "at most 200")],
    ids=["long-sub", "long-name"],
)
def test_a_claim_over_its_length_is_refused_saying_the_bound(client, signed, claims, bound):
    answer = _get(client, signed(**claims))
    _unauthorized(answer)
    assert bound in answer.json["error"]["message"]


def test_a_token_signed_with_another_key_is_refused(client):
    forged = jwt.encode(
        {"sub": "a", "role": "admin", "exp": int(time.time()) + 60}, "x" * 40, "HS256"
    )
    _unauthorized(_get(client, forged))


def test_the_none_algorithm_is_refused(client):
    unsigned = jwt.encode({"sub": "a", "role": "admin", "exp": int(time.time()) + 60}, None, "none")
    _unauthorized(_get(client, unsigned))
    _unauthorized(_get(client, unsigned + "forged-signature"))


def test_another_algorithm_with_the_right_secret_is_refused(client):
    claims = {"sub": "a", "role": "user", "exp": int(time.time()) + 60}
    _unauthorized(_get(client, jwt.encode(claims, SECRET, "HS512")))
    _unauthorized(_get(client, jwt.encode(claims, SECRET, "HS384")))


def test_garbage_is_refused(client):
    _unauthorized(_get(client, "not.a.jwt"))
    _unauthorized(_get(client, "a" * 5000))


def _pem_pair(kind):
    key = (
        rsa.generate_private_key(65537, 2048)
        if kind == "RS256"
        else ec.generate_private_key(ec.SECP256R1())
    )
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
def test_public_key_algorithms_and_key_confusion(make_settings, algorithm):
    private, public = _pem_pair(algorithm)
    settings = make_settings(HELPDESK_JWT_ALGORITHM=algorithm, HELPDESK_JWT_PUBLIC_KEY=public)
    client = testing.TestClient(create_app(settings, FakeClients()))
    good = mint_token(settings, "bob", "user", "Bob", 60, private_key=private)
    assert _get(client, good).status_code == 200
    # The classic confusion attack: HS256 with the public key as the shared secret.
    claims = {"sub": "bob", "role": "admin", "exp": int(time.time()) + 60}
    # PyJWT refuses to sign HS256 with a PEM key, so forge the token by hand.
    import base64
    import hashlib
    import hmac
    import json

    def b64(data):
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = f"{b64(json.dumps({'alg': 'HS256', 'typ': 'JWT'}).encode())}.{b64(json.dumps(claims).encode())}"
    signature = hmac.new(public.encode(), signing_input.encode(), hashlib.sha256).digest()
    confused = f"{signing_input}.{b64(signature)}"
    _unauthorized(_get(client, confused))
    other_private, _ = _pem_pair(algorithm)
    _unauthorized(
        _get(client, mint_token(settings, "bob", "user", None, 60, private_key=other_private))
    )


def test_issuer_and_audience_are_checked_when_configured(make_settings):
    settings = make_settings(
        HELPDESK_JWT_SECRET=SECRET, HELPDESK_JWT_ISSUER="host", HELPDESK_JWT_AUDIENCE="helpdesk"
    )
    client = testing.TestClient(create_app(settings, FakeClients()))
    assert _get(client, mint_token(settings, "a", "user")).status_code == 200
    base = {"sub": "a", "role": "user", "exp": int(time.time()) + 60}
    _unauthorized(_get(client, jwt.encode(base, SECRET, "HS256")))
    _unauthorized(
        _get(client, jwt.encode(base | {"iss": "evil", "aud": "helpdesk"}, SECRET, "HS256"))
    )
    _unauthorized(_get(client, jwt.encode(base | {"iss": "host", "aud": "other"}, SECRET, "HS256")))


def test_audience_is_ignored_when_not_configured(client):
    claims = {
        "sub": "a",
        "role": "user",
        "exp": int(time.time()) + 60,
        "aud": "anything",
        "iss": "x",
    }
    assert _get(client, jwt.encode(claims, SECRET, "HS256")).status_code == 200


def test_401_outranks_404_and_405(client):
    _unauthorized(client.simulate_get("/api/v1/no-such-thing"))
    _unauthorized(client.simulate_delete("/api/v1/tickets/1"))


def test_users_get_403_on_every_admin_endpoint_before_404_or_405(client, auth):
    for method, path in [
        ("GET", "/api/v1/admin/tickets"),
        ("GET", "/api/v1/admin/tickets/999"),
        ("POST", "/api/v1/admin/tickets/1/status"),
        ("POST", "/api/v1/admin/tickets/1/assign"),
        ("POST", "/api/v1/admin/tickets/1/messages"),
        ("DELETE", "/api/v1/admin/tickets/1"),
        ("GET", "/api/v1/admin/nothing-here"),
    ]:
        result = client.simulate_request(method, path, headers=auth("alice"), json={})
        assert result.status_code == 403, (method, path, result.json)
        assert result.json["error"]["code"] == "forbidden"


def test_a_remembered_token_is_refused_once_it_expires(client, signed):
    # Expired already, but within the clock leeway for one to two more seconds (exp is
    # whole seconds: one more second alone left as little as a few ms under load).
    exp = int(time.time()) - LEEWAY + 2
    token = signed(sub="dora", exp=exp)
    assert _get(client, token).status_code == 200
    assert _get(client, token).status_code == 200  # from the verified-token cache
    time.sleep(max(0.0, exp + LEEWAY - time.time()) + 0.3)
    _unauthorized(_get(client, token))
