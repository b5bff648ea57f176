"""deploy/haproxy/haproxy.cfg, run for real in front of two real gateways.

Docker's part is played by a small DNS server that answers the name ``gateway``
with two loopback addresses, as Docker's DNS answers a scaled service's name with
every replica. HAProxy (Debian's, the same major configuration language as the
image's) must then terminate TLS with the configured certificate, balance over
both gateways, keep serving when one dies, redirect HTTP and hide ``/metrics``.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
import uuid

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest
import requests

from deploy.make_secrets import issue, pem_cert, pem_key
from shared.localrun import stop
from tests.deploy.conftest import ROOT, local_argv
from tests.scaling.instances import assert_shared_and_once, ids_in
from tests.stack import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
CONFIG = ROOT / "deploy" / "haproxy" / "haproxy.cfg"
REPLICAS = ("127.0.0.1", "127.0.0.2")


def haproxy() -> str:
    found = shutil.which("haproxy")
    if found is None:
        pytest.fail("haproxy is not installed: apt-get install -y haproxy")
    return found


class ReplicaDns(threading.Thread):
    """A DNS server answering ``name`` with ``addresses`` (A records), like Docker's."""

    def __init__(self, name: str, addresses: tuple):
        super().__init__(daemon=True)
        self.name, self.addresses = name, addresses
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.stopped = threading.Event()

    def run(self):
        while not self.stopped.is_set():
            try:
                data, peer = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            query = dns.message.from_wire(data)
            response = dns.message.make_response(query)
            question = query.question[0]
            if question.name.to_text().rstrip(".") != self.name:
                response.set_rcode(dns.rcode.NXDOMAIN)
            elif question.rdtype == dns.rdatatype.A:
                response.answer.append(
                    dns.rrset.from_text_list(question.name, 1, "IN", "A", list(self.addresses))
                )
            self.sock.sendto(response.to_wire(), peer)

    def close(self):
        self.stopped.set()
        self.join(2)
        self.sock.close()


@pytest.fixture
def certificate(tmp_path):
    """A certificate for ``localhost`` in HAProxy's one-PEM form, and its path."""
    key, cert = issue("localhost")
    pem = tmp_path / "tls.pem"
    pem.write_text(pem_cert(cert) + pem_key(key))
    return pem


def test_configuration_is_valid(certificate):
    env = {"HELPDESK_TLS_CERT": str(certificate), "GATEWAY_HOST": "gateway", "GATEWAY_PORT": "8080"}
    result = subprocess.run(
        [haproxy(), "-c", "-f", str(CONFIG)], env=env, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture
def gateways(stack, compose_config, tmp_path):
    """Two gateway replicas on one port, at two addresses, as compose runs them."""
    port = free_port()
    argv = local_argv(compose_config["services"]["gateway"]["command"])
    procs, logs = [], []
    for n, host in enumerate(REPLICAS, 1):
        log = tmp_path / f"gateway.{n}.log"
        env = dict(
            stack.env,
            HELPDESK_HTTP_HOST=host,
            HELPDESK_HTTP_PORT=str(port),
            HELPDESK_GATEWAY_WORKERS="1",
        )
        with open(log, "ab") as out:
            procs.append(
                subprocess.Popen(
                    argv, cwd=ROOT, env=env, stdout=out, stderr=out, start_new_session=True
                )
            )
        logs.append(log)
    yield port, procs, logs
    for proc in procs:
        stop(proc)


@pytest.fixture
def balancer(gateways, certificate, tmp_path):
    """HAProxy with the shipped configuration, in front of the two gateways."""
    port, _, _ = gateways
    dns_server = ReplicaDns("gateway", REPLICAS)
    dns_server.start()
    binds = {name: free_port() for name in ("http", "https", "health")}
    env = {
        "HELPDESK_TLS_CERT": str(certificate),
        "GATEWAY_HOST": "gateway",
        "GATEWAY_PORT": str(port),
        "DNS_RESOLVER": dns_server.address,
        "HTTP_BIND": f"127.0.0.1:{binds['http']}",
        "HTTPS_BIND": f"127.0.0.1:{binds['https']}",
        "HEALTH_BIND": f"127.0.0.1:{binds['health']}",
    }
    log = open(tmp_path / "haproxy.log", "ab")  # noqa: SIM115 - kept by the process
    proc = subprocess.Popen(
        [haproxy(), "-db", "-f", str(CONFIG)],
        env=env,
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    try:
        yield binds
    finally:
        stop(proc)
        log.close()
        dns_server.close()


def _wait(fetch, timeout=30.0):
    """Call ``fetch`` until it answers 200; its last answer (or error) when time is up."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            response = fetch()
        except requests.RequestException:
            if time.monotonic() > deadline:
                raise
        else:
            if response.status_code == 200 or time.monotonic() > deadline:
                return response
        time.sleep(0.3)


def test_terminates_tls_and_balances_over_every_replica(stack, gateways, balancer, certificate):
    _, procs, logs = gateways
    base = f"https://localhost:{balancer['https']}"
    token = stack.token("lb-user", "user", "Lee Balance")

    def get(path, request_id=None, **kwargs):
        headers = {"Authorization": f"Bearer {token}"}
        if request_id:
            headers["X-Request-Id"] = request_id
        return requests.get(
            base + path, headers=headers, verify=str(certificate), timeout=15, **kwargs
        )

    # HAProxy finds the replicas through DNS and sends to each once two health checks
    # passed; wait until a proxied request has reached both.
    assert _wait(lambda: get("/readyz")).status_code == 200
    warm = set()
    deadline = time.monotonic() + 30
    while not all(ids_in(log, warm) for log in logs):
        assert time.monotonic() < deadline, "HAProxy never sent a request to both replicas"
        request_id = f"warm-{uuid.uuid4().hex}"
        warm.add(request_id)
        assert get("/healthz", request_id).status_code == 200
        time.sleep(0.2)
    health = requests.get(f"http://127.0.0.1:{balancer['health']}/healthz", timeout=5)
    assert health.status_code == 200

    ids = {f"lb-{uuid.uuid4().hex}" for _ in range(20)}
    for request_id in sorted(ids):
        response = get("/api/v1/catalog", request_id)
        assert response.status_code == 200, response.text
        assert response.headers["X-Request-Id"] == request_id
        assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    # Round robin over both replicas: each request served by exactly one of them.
    found = {f"gateway@{host}": ids_in(log, ids) for host, log in zip(REPLICAS, logs, strict=True)}
    assert_shared_and_once(found, ids)

    # Plain HTTP is redirected to HTTPS; metrics are not served to the public.
    plain = requests.get(
        f"http://127.0.0.1:{balancer['http']}/api/v1/catalog", allow_redirects=False, timeout=5
    )
    assert plain.status_code == 301
    assert plain.headers["Location"].startswith("https://")
    assert get("/metrics").status_code == 404

    # One replica dies: every request still succeeds, on the other one.
    stop(procs[0])
    after = [get("/api/v1/catalog").status_code for _ in range(10)]
    assert after == [200] * 10
