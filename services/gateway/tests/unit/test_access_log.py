"""The access log: one line per request naming the actor and the client, whose
address comes from X-Forwarded-For only through a trusted load balancer."""

import ipaddress
import logging

import pytest
from falcon import testing

from services.gateway.app import create_app
from services.gateway.middleware import client_address
from services.gateway.settings import GatewaySettings
from shared.config import ConfigError

pytestmark = pytest.mark.unit


def gateway_settings(**env):
    return GatewaySettings.from_env({"HELPDESK_ENV": "test", **env})


LB = [ipaddress.ip_network("10.0.0.0/24"), ipaddress.ip_network("::1/128")]


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        # No proxy: the peer, whatever the header claims.
        ("203.0.113.9", None, "203.0.113.9"),
        ("203.0.113.9", "198.51.100.1", "203.0.113.9"),
        # Through the load balancer: the address it appended.
        ("10.0.0.2", "198.51.100.7", "198.51.100.7"),
        # A client's own header is left of the balancer's hop: it proves nothing.
        ("10.0.0.2", "1.2.3.4, 198.51.100.7", "198.51.100.7"),
        # Two trusted hops (a balancer behind a balancer): past both.
        ("10.0.0.2", "198.51.100.7, 10.0.0.3", "198.51.100.7"),
        ("::1", "[2001:db8::5]:4431", "2001:db8::5"),
        ("10.0.0.2", "198.51.100.7:51234", "198.51.100.7"),
        # A garbled hop: the last address vouched for stands.
        ("10.0.0.2", "198.51.100.7, not-an-ip", "10.0.0.2"),
        ("10.0.0.2", "", "10.0.0.2"),
    ],
)
def test_the_client_is_the_first_untrusted_address_from_the_right(peer, forwarded, client):
    assert client_address(peer, forwarded, LB) == client


def test_nothing_is_trusted_when_no_proxy_is():
    assert client_address("127.0.0.1", "198.51.100.7", []) == "127.0.0.1"
    assert gateway_settings(HELPDESK_TRUSTED_PROXIES="none").trusted_proxies == ()


def test_the_trusted_proxies_setting_is_validated():
    assert gateway_settings().trusted_proxies == ("127.0.0.1/32", "::1/128")
    assert gateway_settings(HELPDESK_TRUSTED_PROXIES="10.0.0.7,10.1.0.0/16").trusted_proxies == (
        "10.0.0.7/32",
        "10.1.0.0/16",
    )
    for bad in ("lb.internal", "10.0.0.0/33", "10.0.0.1,,"):
        with pytest.raises(ConfigError, match="HELPDESK_TRUSTED_PROXIES"):
            gateway_settings(HELPDESK_TRUSTED_PROXIES=bad)


def _access_lines(caplog):
    return [r for r in caplog.records if r.name == "gateway.access"]


@pytest.fixture
def balanced_client(make_settings, clients):
    from services.gateway.tests.unit.conftest import SECRET

    settings = make_settings(HELPDESK_JWT_SECRET=SECRET, HELPDESK_TRUSTED_PROXIES="10.0.0.0/24")
    return testing.TestClient(create_app(settings, clients))


def test_each_line_names_the_actor_and_the_client(balanced_client, auth, caplog):
    caplog.set_level(logging.INFO, logger="gateway.access")
    balanced_client.simulate_get(
        "/api/v1/admin/tickets",
        headers={**auth("sam", "admin"), "X-Forwarded-For": "198.51.100.7"},
        remote_addr="10.0.0.2",
    )
    balanced_client.simulate_get(
        "/api/v1/tickets",
        headers={**auth("alice"), "X-Forwarded-For": "198.51.100.8"},
        remote_addr="203.0.113.50",  # not the balancer: its header is ignored
    )
    balanced_client.simulate_get("/healthz", remote_addr="10.0.0.2")
    admin, user, anonymous = _access_lines(caplog)
    assert (admin.actor_id, admin.actor_role, admin.client) == ("sam", "admin", "198.51.100.7")
    assert (admin.route, admin.status) == ("/api/v1/admin/tickets", 200)
    assert (user.actor_id, user.actor_role, user.client) == ("alice", "user", "203.0.113.50")
    assert (anonymous.actor_id, anonymous.actor_role, anonymous.client) == (None, None, "10.0.0.2")


def test_a_refused_token_leaves_no_actor(balanced_client, caplog):
    caplog.set_level(logging.INFO, logger="gateway.access")
    balanced_client.simulate_get(
        "/api/v1/tickets", headers={"Authorization": "Bearer forged"}, remote_addr="10.0.0.9"
    )
    (line,) = _access_lines(caplog)
    assert (line.status, line.actor_id, line.client) == (401, None, "10.0.0.9")


def test_the_stream_server_believes_forwarded_headers_from_the_same_proxies(monkeypatch):
    from services.gateway import stream

    served = {}
    # The server as configured, not run.
    monkeypatch.setattr(stream.StreamServer, "run", lambda self: served.update(vars(self.config)))
    monkeypatch.setenv("HELPDESK_ENV", "test")
    monkeypatch.setenv("HELPDESK_TRUSTED_PROXIES", "172.30.80.0/24")
    assert stream.main([]) == 0
    assert (served["proxy_headers"], served["forwarded_allow_ips"]) == (True, ["172.30.80.0/24"])
    monkeypatch.setenv("HELPDESK_TRUSTED_PROXIES", "none")
    assert stream.main([]) == 0
    assert served["proxy_headers"] is False
