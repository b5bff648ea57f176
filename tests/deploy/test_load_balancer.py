"""deploy/haproxy/haproxy.cfg, run for real in front of two real gateways.

Docker's part is played by a small DNS server that answers the name ``gateway``
with two loopback addresses, as Docker's DNS answers a scaled service's name with
every replica. HAProxy (Debian's, the same major configuration language as the
image's) must then terminate TLS with the configured certificate, balance over
both gateways, keep serving when one dies, redirect HTTP, hide ``/metrics`` in
every spelling and absorb slow clients.
"""

from __future__ import annotations

import http.client
import json
import shutil
import socket
import ssl
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
from tests.deploy.conftest import ROOT, local_argv
from tests.scaling.instances import assert_shared_and_once, ids_in
from tests.stack import free_port
from tools.localrun import stop

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
CONFIG = ROOT / "deploy" / "haproxy" / "haproxy.cfg"
REPLICAS = ("127.0.0.1", "127.0.0.2")
# The gateways' bound on reading a request (HELPDESK_REQUEST_READ_TIMEOUT), short here
# so that a body HAProxy did not buffer would be cut.
GATEWAY_READ_TIMEOUT = 1.0


def haproxy() -> str:
    found = shutil.which("haproxy")
    if found is None:
        pytest.fail("haproxy is not installed: apt-get install -y haproxy")
    return found


class ReplicaDns(threading.Thread):
    """A DNS server answering each name with its addresses (A records), like Docker's."""

    def __init__(self, names: dict):
        super().__init__(daemon=True)
        self.names = names
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
            addresses = self.names.get(question.name.to_text().rstrip("."))
            if addresses is None:
                response.set_rcode(dns.rcode.NXDOMAIN)
            elif question.rdtype == dns.rdatatype.A:
                response.answer.append(
                    dns.rrset.from_text_list(question.name, 1, "IN", "A", list(addresses))
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
            HELPDESK_REQUEST_READ_TIMEOUT=str(GATEWAY_READ_TIMEOUT),
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
def balancer(stack, gateways, certificate, tmp_path):
    """HAProxy with the shipped configuration, in front of the two gateways and the
    stack's stream server."""
    port, _, _ = gateways
    dns_server = ReplicaDns({"gateway": REPLICAS, "stream": ("127.0.0.1",)})
    dns_server.start()
    binds = {name: free_port() for name in ("http", "https", "health")}
    env = {
        "HELPDESK_TLS_CERT": str(certificate),
        "GATEWAY_HOST": "gateway",
        "GATEWAY_PORT": str(port),
        "STREAM_HOST": "stream",
        "STREAM_PORT": str(stack.stream_port),
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


def _send(connection, method, path, body=b"", headers=None, drip=0.0):
    """One request with ``path`` exactly as written; ``body`` sent a tenth at a time,
    ``drip`` seconds apart. (status, parsed body); (None, b"") when cut without one."""
    try:
        connection.putrequest(method, path, skip_accept_encoding=True)
        for name, value in {"Content-Length": str(len(body)), **(headers or {})}.items():
            connection.putheader(name, value)
        connection.endheaders()
        step = max(1, len(body) // 10)
        try:
            for start in range(0, len(body), step):
                time.sleep(drip)
                connection.send(body[start : start + step])
        except OSError:  # the server answered and closed before the body was all sent
            pass
        try:
            response = connection.getresponse()
        except OSError:
            return None, b""
        raw = response.read()
        try:
            return response.status, json.loads(raw)
        except ValueError:
            return response.status, raw
    finally:
        connection.close()


# Spellings of /metrics: the first five are /metrics to the gateway itself.
METRICS_SPELLINGS = (
    "/metrics",
    "/metrics/",
    "//metrics",
    "/%6Detrics",
    "/metrics?format=text",
    "/%2Fmetrics",
    "/metrics%2F",
    "/./metrics",
    "/metrics;x",
    "/METRICS",
    "/%4D%45TRICS/",
    "/.//metrics//",
)


def test_refuses_metrics_in_every_spelling_and_absorbs_slow_bodies(
    stack, gateways, balancer, certificate
):
    port, _, _ = gateways
    context = ssl.create_default_context(cafile=str(certificate))

    def public():
        return http.client.HTTPSConnection(
            "localhost", balancer["https"], context=context, timeout=15
        )

    def direct():
        return http.client.HTTPConnection(REPLICAS[0], port, timeout=15)

    assert (
        _wait(
            lambda: requests.get(
                f"https://localhost:{balancer['https']}/readyz", verify=str(certificate), timeout=5
            )
        ).status_code
        == 200
    )
    # The gateway answers these spellings itself, on its own address...
    for spelling in METRICS_SPELLINGS[:5]:
        assert _send(direct(), "GET", spelling)[0] == 200, spelling
    # ...and the public entry point refuses every spelling, with the API's error body.
    for spelling in METRICS_SPELLINGS:
        status, body = _send(public(), "GET", spelling)
        assert status == 404, (spelling, status, body)
        assert body["error"]["code"] == "not_found"

    # A body dripping in over three times the gateway's bound: HAProxy reads it whole
    # before passing it on, so the gateway sees a quick request.
    token = stack.token("lb-slow", "user", "Sid Slow")
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    body = json.dumps({"text": "slow " * 200}).encode()
    drip = 3 * GATEWAY_READ_TIMEOUT / 10
    status, answer = _send(public(), "POST", "/api/v1/preview", body, headers, drip)
    assert status == 200 and answer["html"].startswith("<p>slow"), (status, answer)
    # Straight to the gateway, the same client is cut at its bound (408, or a reset
    # if the gateway closed while it was still sending).
    status, answer = _send(direct(), "POST", "/api/v1/preview", body, headers, drip)
    assert status in (408, None), (status, answer)


def test_routes_the_notice_stream_to_the_stream_servers(stack, balancer, certificate):
    base = f"https://localhost:{balancer['https']}"
    user, admin = (stack.token(f"lb-{r}-{uuid.uuid4().hex[:6]}", r) for r in ("user", "admin"))
    assert _wait(lambda: requests.get(base + "/readyz", verify=str(certificate))).status_code == 200

    def open_stream():
        return requests.get(
            base + "/api/v1/notifications/stream",
            headers={"Authorization": f"Bearer {user}"},
            verify=str(certificate),
            stream=True,
            timeout=15,
        )

    # The stream servers pass their health checks a moment after the gateways.
    deadline = time.monotonic() + 30
    while (stream := open_stream()).status_code != 200:
        assert time.monotonic() < deadline, (stream.status_code, stream.text[:300])
        stream.close()
        time.sleep(0.5)
    try:
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        lines = stream.iter_lines(chunk_size=1)
        assert "event: unread_count" in _until(lines, "event: unread_count")
        ticket = requests.post(
            base + "/api/v1/tickets",
            headers={"Authorization": f"Bearer {user}"},
            json={
                "issue_type": "bug",
                "feature": "dashboard",
                "subject": "Streams through the balancer",
                "description": "The bell should ring through HAProxy as it does directly.",
            },
            verify=str(certificate),
            timeout=15,
        ).json()
        reply = requests.post(
            f"{base}/api/v1/admin/tickets/{ticket['id']}/messages",
            headers={"Authorization": f"Bearer {admin}"},
            json={"body": "It rings: the balancer passes the stream through."},
            verify=str(certificate),
            timeout=15,
        )
        assert reply.status_code == 201, reply.text
        replied = time.monotonic()
        _until(lines, "event: notice")
        assert time.monotonic() - replied < 1.0
    finally:
        stream.close()


def _until(lines, wanted: str, timeout: float = 10.0) -> list[str]:
    """Read stream lines until ``wanted``; the lines read."""
    seen, deadline = [], time.monotonic() + timeout
    for raw in lines:
        seen.append(raw.decode())
        if seen[-1] == wanted:
            return seen
        assert time.monotonic() < deadline, seen
    raise AssertionError(f"the stream ended before {wanted!r}: {seen}")
