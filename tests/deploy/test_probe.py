"""deploy/probe.py, the images' health checks, against real processes.

The service probe must say "healthy" only for a running service that holds a
connection to its broker, and "unhealthy" for one that lost it.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest

from shared.crypto import generate_key
from tests.deploy.conftest import ROOT, process_env
from tests.stack import free_port
from tools.localrun import BIN, stop

pytestmark = pytest.mark.integration
PROBE = [sys.executable, str(ROOT / "deploy" / "probe.py")]


def probe(*args) -> subprocess.CompletedProcess:
    return subprocess.run([*PROBE, *args], capture_output=True, text=True, timeout=30)


def wait_for_probe(args, healthy: bool, timeout: float = 30.0) -> subprocess.CompletedProcess:
    """Run the probe until it reports ``healthy`` (or the time is up); the last result."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe(*args)
        if (result.returncode == 0) == healthy or time.monotonic() > deadline:
            return result
        time.sleep(0.5)


@pytest.fixture(scope="module")
def bootstrapped(isolated):
    """The module's vhost and databases, set up as the compose file's setup step does."""
    done = subprocess.run(
        [str(BIN / "helpdesk-setup")],
        env=process_env(**isolated),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    return isolated


def start_service(name: str, env: dict) -> subprocess.Popen:
    """The service as the image starts it: its entry command."""
    return subprocess.Popen(
        [str(BIN / f"helpdesk-{name}")],
        env=process_env(**env, HELPDESK_DATA_KEYS=f"k1={generate_key()}"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


@pytest.mark.parametrize("name", ["tickets", "notifications"])
def test_a_running_service_is_healthy_until_its_broker_connection_goes(name, bootstrapped, run_id):
    from tests.stack import create_vhost, delete_vhost

    # A vhost of its own: deleting it makes the broker close the service's connection.
    own = create_vhost(f"d{run_id}_probe_{name}")
    env = dict(bootstrapped, HELPDESK_AMQP_URL=own)
    proc = start_service(name, env)
    try:
        args = ("service", f"helpdesk-{name}", "--pid", str(proc.pid))
        up = wait_for_probe(args, healthy=True)
        assert up.returncode == 0, up.stderr
        assert f"helpdesk-{name} (pid {proc.pid}) is connected to the broker" in up.stdout

        delete_vhost(own)
        down = wait_for_probe(args, healthy=False)
        assert down.returncode == 1, down.stdout
        assert "unhealthy" in down.stderr
    finally:
        # A service cut off from its vhost can sit in nameko's reconnect loop through
        # SIGTERM; this test is about the probe, so don't wait the full grace period.
        stop(proc, timeout=3)
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", own.rsplit("/", 1)[1]], timeout=60)


def test_a_process_connected_elsewhere_is_not_healthy(tmp_path):
    # Named like the service and connected, but to PostgreSQL instead of the broker.
    fake = tmp_path / "helpdesk-tickets"
    fake.write_text(
        textwrap.dedent(
            """
            import socket, sys, time
            conn = socket.create_connection(("127.0.0.1", 5432))
            print("connected", flush=True)
            time.sleep(60)
            """
        )
    )
    proc = subprocess.Popen(
        [sys.executable, str(fake)], stdout=subprocess.PIPE, env=process_env(), text=True
    )
    try:
        assert proc.stdout.readline().strip() == "connected"
        result = probe("service", "helpdesk-tickets", "--pid", str(proc.pid))
        assert result.returncode == 1
        assert f"helpdesk-tickets (pid {proc.pid}) holds no broker connection" in result.stderr
    finally:
        proc.kill()
        proc.wait()


def test_no_such_process_is_unhealthy():
    result = probe("service", "helpdesk-nonexistent")
    assert result.returncode == 1
    assert "no helpdesk-nonexistent process is running" in result.stderr


def test_http_probe_follows_the_gateway_health_endpoint(stack):
    healthy = probe("http", f"{stack.base_url}/healthz")
    assert healthy.returncode == 0, healthy.stderr
    missing = probe("http", f"{stack.base_url}/no-such-page")
    assert missing.returncode == 1
    assert "answered 404" in missing.stderr
    closed = probe("http", f"http://127.0.0.1:{free_port()}/healthz", "--timeout", "2")
    assert closed.returncode == 1
    assert "unreachable" in closed.stderr
