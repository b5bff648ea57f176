"""The gateway over HTTPS: gunicorn serves TLS with a certificate this test makes,
clients verify it, every answer carries HSTS, and plain HTTP is not served."""

import functools
import itertools
import socket
import ssl
import time

import pytest
import requests

from tests.e2e.conftest import DESCRIPTION, ticket_body
from tests.privacy.tlskit import issue_for, make_ca
from tests.stack import discard_stack, isolated_stack

pytestmark = pytest.mark.e2e

_counter = itertools.count(1)
HSTS = "max-age=31536000"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    directory = tmp_path_factory.mktemp("https-pki")
    ca_files, ca = make_ca(directory)
    return {"ca": str(ca_files.cert), "server": issue_for(directory, ca)}


@pytest.fixture(scope="module")
def https_stack(run_id, pki):
    """A whole stack whose gateway serves HTTPS only (``HELPDESK_TLS_*_FILE``)."""
    stack = isolated_stack(
        f"s{run_id}_{next(_counter)}",
        {
            "HELPDESK_TLS_CERT_FILE": pki["server"].cert,
            "HELPDESK_TLS_KEY_FILE": pki["server"].key,
            # Short, so the slow-client test below waits little.
            "HELPDESK_REQUEST_READ_TIMEOUT": "2",
        },
    )
    stack.start()
    try:
        stack.wait_ready(ca_file=pki["ca"])
        yield stack
    finally:
        discard_stack(stack)


def test_the_api_over_verified_https_with_hsts(https_stack, pki):
    token = https_stack.token("https-user", "user", "Tess TLS")
    session = requests.Session()
    # Per request: requests lets REQUESTS_CA_BUNDLE from the environment override
    # ``Session.verify``, and the test must trust exactly its own CA.
    session.request = functools.partial(session.request, verify=pki["ca"], timeout=15)
    session.headers["Authorization"] = f"Bearer {token}"
    created = session.post(
        f"{https_stack.base_url}/api/v1/tickets",
        json=ticket_body(subject="Charts empty over TLS"),
    )
    assert created.status_code == 201, created.text
    assert created.headers["Strict-Transport-Security"] == HSTS
    fetched = session.get(f"{https_stack.base_url}/api/v1/tickets/{created.json()['id']}")
    assert fetched.json()["description"] == DESCRIPTION
    # Errors and operational endpoints carry it too.
    assert (
        session.get(f"{https_stack.base_url}/api/v1/nope").headers["Strict-Transport-Security"]
        == HSTS
    )
    health = session.get(f"{https_stack.base_url}/healthz")
    assert health.status_code == 200 and health.headers["Strict-Transport-Security"] == HSTS
    context = ssl.create_default_context(cafile=pki["ca"])
    with (
        socket.create_connection(("localhost", https_stack.port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        assert tls.version() in ("TLSv1.2", "TLSv1.3")


def test_a_client_that_does_not_trust_the_ca_is_refused(https_stack):
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{https_stack.base_url}/healthz", verify=True, timeout=5)


def test_plain_http_is_not_served(https_stack):
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{https_stack.port}/healthz", timeout=5)


def test_no_hsts_over_plain_http(stack):
    """HSTS means nothing over HTTP (RFC 6797 8.1): the plain stack does not send it."""
    response = requests.get(f"{stack.base_url}/healthz", timeout=5)
    assert response.status_code == 200
    assert "Strict-Transport-Security" not in response.headers


# --- the gateway app itself (Falcon TestClient on the in-process fakes) ------------------
@pytest.fixture
def app_client(make_settings):
    from falcon import testing

    from services.gateway.app import create_app
    from services.gateway.tests.fakes import FakeClients

    settings = make_settings(HELPDESK_JWT_SECRET="x" * 48)
    clients = FakeClients()
    return testing.TestClient(create_app(settings, clients)), settings, clients


@pytest.mark.unit
def test_hsts_on_every_https_answer_and_never_over_http(app_client):
    client, _, _ = app_client
    for path, status in (("/healthz", 200), ("/api/v1/tickets", 401), ("/nowhere", 404)):
        over_tls = client.simulate_get(path, protocol="https")
        assert over_tls.status_code == status
        assert over_tls.headers["Strict-Transport-Security"] == HSTS, path
        plain = client.simulate_get(path)
        assert "Strict-Transport-Security" not in plain.headers, path


@pytest.mark.unit
def test_a_tampered_value_is_a_500_data_integrity_error(app_client):
    from services.gateway.tokens import mint_token
    from shared.crypto import TamperedValue

    client, settings, clients = app_client

    def tampered(*args):
        raise TamperedValue.because("failed authentication")

    clients.services["tickets"].get_ticket = tampered
    token = mint_token(settings, "alice", "user", "Alice")
    response = client.simulate_get(
        "/api/v1/tickets/1", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 500
    assert response.json["error"]["code"] == "data_integrity_error"
    assert "integrity check" in response.json["error"]["message"]
    assert response.json["error"]["details"] == {"reason": "failed authentication"}


def test_a_slow_head_over_tls_is_cut_within_the_read_timeout(https_stack, pki):
    """The worker's read deadline holds on a TLS socket too (one byte per record)."""
    context = ssl.create_default_context(cafile=pki["ca"])
    started = time.monotonic()
    raw = socket.create_connection(("localhost", https_stack.port), timeout=10)
    with context.wrap_socket(raw, server_hostname="localhost") as tls:
        tls.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")
        tls.settimeout(0.3)
        received = b""
        for _ in range(30):  # a header byte every 0.3 s, up to 9 s
            try:
                chunk = tls.recv(4096)
            except TimeoutError:
                try:
                    tls.sendall(b"a")
                except OSError:  # closed by the gateway meanwhile
                    break
                continue
            if not chunk:
                break
            received += chunk
    assert time.monotonic() - started < 4.0
    assert received.startswith(b"HTTP/1.1 408"), received[:200]
