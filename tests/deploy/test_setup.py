"""``helpdesk-setup``, the one-shot set-up step, against the real PostgreSQL and RabbitMQ."""

from __future__ import annotations

import json
import subprocess

import psycopg
import pytest
from alembic.script import ScriptDirectory

from tests.deploy.conftest import process_env
from tools.localrun import BIN
from tools.migrate import alembic_config

pytestmark = pytest.mark.integration
SETUP = [str(BIN / "helpdesk-setup")]


def _run(env, *args, timeout=180):
    return subprocess.run(
        [*SETUP, *args], env=process_env(**env), capture_output=True, text=True, timeout=timeout
    )


def _queues(amqp_url):
    vhost = amqp_url.rsplit("/", 1)[1]
    out = subprocess.run(
        [
            "rabbitmqctl",
            "-q",
            "list_queues",
            "-p",
            vhost,
            "name",
            "arguments",
            "--formatter",
            "json",
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    # arguments come as [name, type, value] triples
    return {q["name"]: {a[0]: a[-1] for a in q["arguments"]} for q in json.loads(out)}


def test_creates_databases_migrates_them_and_declares_the_topology(isolated):
    first = _run(isolated)
    assert first.returncode == 0, first.stderr
    for service in ("tickets", "notifications"):
        url = isolated[f"HELPDESK_{service.upper()}_DATABASE_URL"]
        head = ScriptDirectory.from_config(alembic_config(service, url)).get_current_head()
        with psycopg.connect(url) as conn:
            (version,) = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        assert version == head, service
    queues = _queues(isolated["HELPDESK_AMQP_URL"])
    main = queues["notifications.ticket-events"]
    assert main["x-queue-type"] == "quorum"
    assert main["x-delivery-limit"] == 5
    assert main["x-dead-letter-exchange"] == "helpdesk.dead"
    assert queues["notifications.ticket-events.dead"]["x-queue-type"] == "quorum"

    # Every compose up and every upgrade runs it again: a second run changes nothing.
    again = _run(isolated)
    assert again.returncode == 0, again.stderr
    assert _queues(isolated["HELPDESK_AMQP_URL"]) == queues


def test_fails_with_the_reason_when_the_broker_never_answers(isolated):
    env = dict(isolated, HELPDESK_AMQP_URL="amqp://guest:guest@127.0.0.1:1/nowhere")
    result = _run(env, "--timeout", "2", timeout=60)
    assert result.returncode != 0
    assert "RabbitMQ (amqp://127.0.0.1:1/nowhere) did not answer in time" in result.stderr
    # Credentials never reach the log.
    assert "guest:guest" not in result.stderr


def test_refuses_invalid_settings_before_touching_anything(isolated):
    result = _run(dict(isolated, HELPDESK_TICKETS_DATABASE_URL="mysql://x/y"))
    assert result.returncode == 2
    assert "HELPDESK_TICKETS_DATABASE_URL" in result.stderr


def test_sets_up_over_verified_tls_with_the_deployments_own_ca(isolated, tmp_path):
    """As under deploy/compose.tls.yml: one CA (from make_secrets) for both servers,
    PostgreSQL with verify-full, the broker over amqps:// with the CA file."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    from deploy.make_secrets import issue, make_secrets, pem_cert, pem_key
    from tests.privacy.tlskit import Issued, TlsBrokerPort, TlsPostgres

    make_secrets(tmp_path, "localhost", internal_tls=True)
    secrets = tmp_path / "deploy" / "secrets"
    ca = secrets / "ca.pem"
    ca_cert = x509.load_pem_x509_certificate(ca.read_bytes())
    ca_key = serialization.load_pem_private_key((secrets / "ca-key.pem").read_bytes(), None)
    # The broker's certificate must name the host the client dials: here, localhost.
    key, cert = issue("localhost", ca_cert, ca_key)
    (tmp_path / "broker.pem").write_text(pem_cert(cert))
    (tmp_path / "broker-key.pem").write_text(pem_key(key))

    database = TlsPostgres(Issued(secrets / "postgres.pem", secrets / "postgres-key.pem")).start()
    broker = TlsBrokerPort(Issued(tmp_path / "broker.pem", tmp_path / "broker-key.pem")).start()
    try:
        vhost = isolated["HELPDESK_AMQP_URL"].rsplit("/", 1)[1]

        def db_url(service, sslmode="verify-full"):
            # Dial 127.0.0.1 but verify the name the certificate carries, as in compose.
            return (
                f"postgresql://postgres@postgres:{database.port}/helpdesk_tls_{service}"
                f"?hostaddr=127.0.0.1&sslmode={sslmode}&sslrootcert={ca}"
            )

        env = {
            "HELPDESK_ENV": "test",
            "HELPDESK_AMQP_URL": f"amqps://guest:guest@localhost:{broker.port}/{vhost}",
            "HELPDESK_AMQP_CA_FILE": str(ca),
            "HELPDESK_TICKETS_DATABASE_URL": db_url("tickets"),
            "HELPDESK_NOTIFICATIONS_DATABASE_URL": db_url("notifications"),
        }
        done = _run(env, "--timeout", "20")
        assert done.returncode == 0, done.stderr
        assert "notifications.ticket-events" in _queues(isolated["HELPDESK_AMQP_URL"])

        # The server refuses plain connections (hostnossl ... reject).
        plain = _run(
            dict(env, HELPDESK_TICKETS_DATABASE_URL=db_url("tickets", "disable")),
            "--timeout",
            "2",
        )
        assert plain.returncode != 0
        assert "did not answer in time" in plain.stderr
        # And the client refuses a broker its CA did not sign.
        wrong = _run(dict(env, HELPDESK_AMQP_CA_FILE=str(secrets / "tls.pem")), "--timeout", "2")
        assert wrong.returncode != 0
        assert "RabbitMQ" in wrong.stderr and "certificate verify failed" in wrong.stderr
    finally:
        broker.stop()
        database.stop()
