"""The gateway refuses to start on bad settings, clearly, as ``make run`` starts it."""

import os
import subprocess

import pytest

from tools.localrun import ROOT, process_specs

pytestmark = pytest.mark.e2e


def _gateway_argv():
    return next(spec.argv for spec in process_specs() if spec.service == "gateway")


def _run(env):
    # As make run starts it (development) unless a case names its environment.
    base = {k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")}
    base["HELPDESK_ENV"] = "development"
    return subprocess.run(
        _gateway_argv(),
        cwd=ROOT,
        env={k: v for k, v in (base | env).items() if v is not None},  # None: unset
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    "env, reason",
    [
        ({"HELPDESK_ENV": "production"}, "HELPDESK_JWT_SECRET is required in production"),
        (
            {"HELPDESK_ENV": "production", "HELPDESK_JWT_SECRET": "too-short"},
            "HELPDESK_JWT_SECRET must be a real secret",
        ),
        ({"HELPDESK_JWT_ALGORITHM": "RS256"}, "HELPDESK_JWT_PUBLIC_KEY"),
        ({"HELPDESK_GATEWAY_WORKERS": "zero"}, "HELPDESK_GATEWAY_WORKERS"),
        ({"HELPDESK_TLS_CERT_FILE": "/nonexistent.pem"}, "HELPDESK_TLS_KEY_FILE"),
        (
            {"HELPDESK_TLS_CERT_FILE": "/nonexistent.pem", "HELPDESK_TLS_KEY_FILE": "/no.pem"},
            "HELPDESK_TLS_*",
        ),
        (
            {"HELPDESK_JWT_ALGORITHM": "RS256", "HELPDESK_JWT_PUBLIC_KEY": "garbage"},
            "not a usable RS256 public key",
        ),
        ({"HELPDESK_RPC_TIMEOUT": "nan"}, "HELPDESK_RPC_TIMEOUT must be a finite number"),
        # Unset means production, which has no default secret.
        ({"HELPDESK_ENV": None}, "HELPDESK_JWT_SECRET is required in production"),
        ({"HELPDESK_HTTP_HOST": "0.0.0.0"}, "HELPDESK_ENV=development serves on loopback only"),
    ],
    ids=[
        "no-secret",
        "weak-secret",
        "no-public-key",
        "bad-workers",
        "half-tls",
        "missing-tls-files",
        "garbage-public-key",
        "nan-timeout",
        "unset-env-is-production",
        "development-off-loopback",
    ],
)
def test_bad_settings_stop_the_gateway_with_a_clear_reason(env, reason):
    result = _run(env | {"HELPDESK_HTTP_PORT": "1"})
    assert result.returncode == 2, result.stderr[-2000:]
    assert "helpdesk-gateway: " in result.stderr and reason in result.stderr
    assert "Traceback" not in result.stderr


def test_the_gateway_serves_https_when_given_a_certificate(tmp_path):
    import time

    import requests

    from tests.privacy.tlskit import issue_for, make_ca
    from tests.stack import free_port

    ca_files, ca = make_ca(tmp_path)
    server = issue_for(tmp_path, ca, "localhost")
    port = free_port()
    base = {k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")}
    env = base | {
        "HELPDESK_ENV": "development",
        "HELPDESK_HTTP_PORT": str(port),
        "HELPDESK_TLS_CERT_FILE": str(server.cert),
        "HELPDESK_TLS_KEY_FILE": str(server.key),
        "HELPDESK_GATEWAY_WORKERS": "1",
    }
    proc = subprocess.Popen(
        _gateway_argv(), cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                result = requests.get(
                    f"https://localhost:{port}/healthz", verify=str(ca_files.cert), timeout=5
                )
                break
            except (requests.ConnectionError, requests.Timeout):  # still starting
                assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
                time.sleep(0.2)
        assert result.status_code == 200 and result.json() == {"status": "ok"}
        assert result.headers["X-Request-Id"]
    finally:
        proc.terminate()
        proc.wait(timeout=20)
