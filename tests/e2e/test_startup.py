"""The gateway refuses to start on bad settings, clearly, as ``make run`` starts it."""

import os
import subprocess

import pytest

from shared.localrun import ROOT, process_specs

pytestmark = pytest.mark.e2e


def _gateway_argv():
    return next(spec.argv for spec in process_specs({}) if spec.service == "gateway")


def _run(env):
    base = {k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")}
    return subprocess.run(
        _gateway_argv(), cwd=ROOT, env=base | env, capture_output=True, text=True, timeout=60
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
    ],
    ids=["no-secret", "weak-secret", "no-public-key", "bad-workers", "half-tls"],
)
def test_bad_settings_stop_the_gateway_with_a_clear_reason(env, reason):
    result = _run(env | {"HELPDESK_HTTP_PORT": "1"})
    assert result.returncode == 2, result.stderr[-2000:]
    assert "helpdesk-gateway: " in result.stderr and reason in result.stderr
    assert "Traceback" not in result.stderr


def _self_signed(directory):
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def test_the_gateway_serves_https_when_given_a_certificate(tmp_path):
    import time

    import requests

    from tests.stack import free_port

    cert_file, key_file = _self_signed(tmp_path)
    port = free_port()
    base = {k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")}
    env = base | {
        "HELPDESK_HTTP_PORT": str(port),
        "HELPDESK_TLS_CERT_FILE": str(cert_file),
        "HELPDESK_TLS_KEY_FILE": str(key_file),
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
                    f"https://127.0.0.1:{port}/healthz", verify=str(cert_file), timeout=5
                )
                break
            except requests.ConnectionError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
                time.sleep(0.2)
        assert result.status_code == 200 and result.json() == {"status": "ok"}
        assert result.headers["X-Request-Id"]
    finally:
        proc.terminate()
        proc.wait(timeout=20)
