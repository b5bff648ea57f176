"""In transit: the PostgreSQL and AMQP connections run over verified TLS when told to.

PostgreSQL: a private cluster from the machine's PostgreSQL that rejects every
non-TLS connection (``hostnossl ... reject``), reached through the project's own
``shared.db.make_engine`` with the URL's ``sslmode``/``sslrootcert``. (The shared
Debian cluster on 5432 runs with ``ssl = off`` on this machine, and is left alone.)

AMQP: the local RabbitMQ behind a TLS-only front (``tls_relay``), reached as
``amqps://`` with ``Settings.amqp_ssl`` by kombu and by a nameko service.
"""

import uuid

import pytest
import sqlalchemy as sa
from kombu import Connection, Exchange, Queue

from services.tickets.settings import TicketsSettings
from shared.config import ConfigError, Settings
from shared.db import make_engine
from shared.events import declare_topology
from tests.privacy.tlskit import TlsBrokerPort, TlsPostgres, issue_for, make_ca
from tools.migrate import upgrade

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """Our CA and a server certificate from it, plus an unrelated CA."""
    directory = tmp_path_factory.mktemp("pki")
    ca_files, ca = make_ca(directory)
    other_files, _ = make_ca(directory, "Some other CA")
    return {
        "ca": ca_files.cert,
        "other_ca": other_files.cert,
        "server": issue_for(directory, ca),
        "wrong_name": issue_for(directory, ca, "broker.internal"),
    }


@pytest.fixture(scope="module")
def tls_postgres(pki):
    cluster = TlsPostgres(pki["server"]).start()
    yield cluster
    cluster.stop()


def ssl_status(url: str) -> tuple:
    engine = make_engine(url, pool_size=1)
    try:
        with engine.connect() as db:
            return tuple(
                db.execute(
                    sa.text("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
                ).one()
            )
    finally:
        engine.dispose()


# --- PostgreSQL -------------------------------------------------------------------------
def test_database_over_verified_tls(tls_postgres, pki):
    url = tls_postgres.url(sslmode="verify-full", sslrootcert=pki["ca"])
    on, version = ssl_status(url)
    assert on is True and version in ("TLSv1.2", "TLSv1.3")


def test_database_with_sslmode_require(tls_postgres):
    assert ssl_status(tls_postgres.url(sslmode="require"))[0] is True


def test_the_cluster_really_refuses_plain_connections(tls_postgres):
    with pytest.raises(sa.exc.OperationalError, match="no encryption"):
        ssl_status(tls_postgres.url(sslmode="disable"))


def test_verify_full_refuses_a_server_our_ca_did_not_sign(tls_postgres, pki):
    with pytest.raises(sa.exc.OperationalError, match="certificate verify failed"):
        ssl_status(tls_postgres.url(sslmode="verify-full", sslrootcert=pki["other_ca"]))


def test_a_service_database_migrates_and_is_used_over_tls(tls_postgres, pki):
    """The settings, the migration command and the engine all take the TLS URL as is."""
    url = tls_postgres.url("helpdesk_tls_tickets", sslmode="verify-full", sslrootcert=pki["ca"])
    settings = TicketsSettings.from_env(
        {"HELPDESK_ENV": "test", "HELPDESK_TICKETS_DATABASE_URL": url}
    )
    upgrade("tickets", settings.tickets_database_url)
    engine = make_engine(settings.tickets_database_url, pool_size=1)
    try:
        with engine.connect() as db:
            assert db.execute(sa.text("SELECT count(*) FROM tickets")).scalar() == 0
            assert db.execute(
                sa.text("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            ).scalar()
    finally:
        engine.dispose()


# --- AMQP -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tls_broker(pki):
    port = TlsBrokerPort(pki["server"]).start()
    yield port
    port.stop()


def amqps_settings(amqp_url, port, **env):
    vhost = amqp_url.rsplit("/", 1)[1]
    return Settings.from_env(
        {
            "HELPDESK_ENV": "test",
            "HELPDESK_AMQP_URL": f"amqps://guest:guest@localhost:{port}/{vhost}",
            **{k: str(v) for k, v in env.items()},
        }
    )


def test_amqps_settings_verify_certificate_and_host_name(amqp_url, tls_broker, pki):
    settings = amqps_settings(amqp_url, tls_broker.port, HELPDESK_AMQP_CA_FILE=pki["ca"])
    assert settings.amqp_ssl["server_hostname"] == "localhost"
    assert settings.amqp_ssl["ca_certs"] == str(pki["ca"])
    assert settings.nameko_config()["AMQP_SSL"] == settings.amqp_ssl
    assert (
        Settings.from_env({"HELPDESK_ENV": "test", "HELPDESK_AMQP_URL": amqp_url}).amqp_ssl is None
    )
    assert (
        "AMQP_SSL"
        not in Settings.from_env(
            {"HELPDESK_ENV": "test", "HELPDESK_AMQP_URL": amqp_url}
        ).nameko_config()
    )


def test_amqp_tls_settings_errors(tmp_path, pki):
    with pytest.raises(ConfigError, match="needs an amqps://"):
        Settings.from_env({"HELPDESK_ENV": "test", "HELPDESK_AMQP_CA_FILE": str(pki["ca"])})
    with pytest.raises(ConfigError, match="no such file"):
        Settings.from_env(
            {
                "HELPDESK_ENV": "test",
                "HELPDESK_AMQP_URL": "amqps://h/",
                "HELPDESK_AMQP_CA_FILE": str(tmp_path / "x"),
            }
        )
    with pytest.raises(ConfigError, match="go together"):
        Settings.from_env(
            {
                "HELPDESK_ENV": "test",
                "HELPDESK_AMQP_URL": "amqps://h/",
                "HELPDESK_AMQP_CERT_FILE": str(pki["ca"]),
            }
        )
    with pytest.raises(ConfigError, match="amqp:// or amqps://"):
        Settings.from_env({"HELPDESK_ENV": "test", "HELPDESK_AMQP_URL": "http://h/"})


def test_broker_traffic_over_verified_tls(amqp_url, tls_broker, pki):
    settings = amqps_settings(amqp_url, tls_broker.port, HELPDESK_AMQP_CA_FILE=pki["ca"])
    marker = uuid.uuid4().hex
    exchange = Exchange(f"tls-probe-{marker}", type="direct", auto_delete=True)
    queue = Queue(f"tls-probe-{marker}", exchange, routing_key="probe", auto_delete=True)
    with Connection(settings.amqp_url, ssl=settings.amqp_ssl, connect_timeout=5) as conn:
        declare_topology(conn)  # what every service does first
        assert conn.transport.client.ssl == settings.amqp_ssl
        assert conn.connection.transport.sock.version() in ("TLSv1.2", "TLSv1.3")
        channel = conn.channel()
        bound = queue.bind(channel)
        bound.declare()
        conn.Producer(channel).publish({"marker": marker}, exchange=exchange, routing_key="probe")
        message = None
        for _ in range(50):
            message = bound.get(no_ack=True)
            if message is not None:
                break
        assert message is not None and message.payload == {"marker": marker}
        bound.delete()


@pytest.mark.parametrize(
    ("ca", "host_cert"), [("other_ca", "server"), ("ca", "wrong_name")], ids=["ca", "name"]
)
def test_broker_tls_refuses_an_unverified_server(amqp_url, pki, ca, host_cert):
    """A certificate from another CA, or for another host name, is refused."""
    port = TlsBrokerPort(pki[host_cert]).start()
    try:
        settings = amqps_settings(amqp_url, port.port, HELPDESK_AMQP_CA_FILE=pki[ca])
        with (
            pytest.raises(Exception, match="CERTIFICATE_VERIFY_FAILED|certificate verify failed"),
            Connection(settings.amqp_url, ssl=settings.amqp_ssl, connect_timeout=5) as conn,
        ):
            conn.ensure_connection(max_retries=1)
    finally:
        port.stop()


def test_a_nameko_service_runs_over_amqps(amqp_url, tls_broker, pki, container_factory):
    """nameko takes the TLS options from ``Settings.nameko_config()`` (``AMQP_SSL``)."""
    from nameko.rpc import rpc
    from nameko.standalone.rpc import ServiceRpcProxy

    class Probe:
        name = "tls_probe"

        @rpc
        def echo(self, text):
            return text

    config = amqps_settings(
        amqp_url, tls_broker.port, HELPDESK_AMQP_CA_FILE=pki["ca"]
    ).nameko_config()
    container = container_factory(Probe, config)
    container.start()
    with ServiceRpcProxy("tls_probe", config) as probe:
        assert probe.echo("over tls") == "over tls"
    container.stop()


# --- every hop at once ------------------------------------------------------------------
@pytest.mark.e2e
def test_a_whole_stack_with_every_hop_encrypted(run_id, pki, tls_postgres, tls_broker):
    """HTTPS to the gateway, amqps between every process, verify-full to PostgreSQL:
    a ticket, a support reply and the notice it causes all go through."""
    import functools

    import requests

    from tests.e2e.conftest import poll, ticket_body
    from tests.stack import Stack, create_vhost, delete_vhost

    tag = f"tls{run_id}"
    vhost_url = create_vhost(tag)
    tls_db = functools.partial(tls_postgres.url, sslmode="verify-full", sslrootcert=pki["ca"])
    env = {
        "HELPDESK_AMQP_URL": f"amqps://guest:guest@localhost:{tls_broker.port}/helpdesk_{tag}",
        "HELPDESK_AMQP_CA_FILE": str(pki["ca"]),
        "HELPDESK_TICKETS_DATABASE_URL": tls_db(f"helpdesk_{tag}_tickets"),
        "HELPDESK_NOTIFICATIONS_DATABASE_URL": tls_db(f"helpdesk_{tag}_notifications"),
        "HELPDESK_TLS_CERT_FILE": str(pki["server"].cert),
        "HELPDESK_TLS_KEY_FILE": str(pki["server"].key),
    }
    for service in ("tickets", "notifications"):
        upgrade(service, env[f"HELPDESK_{service.upper()}_DATABASE_URL"])
    stack = Stack(tag, env)
    base = stack.base_url
    https = functools.partial(requests.request, verify=str(pki["ca"]), timeout=15)
    try:
        stack.start()

        def ready():
            try:
                return https("GET", f"{base}/readyz").status_code
            except (requests.ConnectionError, requests.Timeout):  # still starting
                return None

        assert poll(ready, lambda status: status == 200, timeout=90) == 200, (
            stack.logs("gateway")[-3000:] + stack.logs("tickets")[-2000:]
        )
        user = {"Authorization": f"Bearer {stack.token('tls-user', 'user', 'Tia')}"}
        admin = {"Authorization": f"Bearer {stack.token('tls-admin', 'admin', 'Sam')}"}
        created = https(
            "POST",
            f"{base}/api/v1/tickets",
            headers=user,
            json=ticket_body(subject="Charts empty, all over TLS"),
        )
        assert created.status_code == 201, created.text
        tid = created.json()["id"]
        reply = https(
            "POST",
            f"{base}/api/v1/admin/tickets/{tid}/messages",
            headers=admin,
            json={"body": "Fixed on our side, over TLS."},
        )
        assert reply.status_code == 201, reply.text

        def notices():
            return https("GET", f"{base}/api/v1/notifications", headers=user).json()["items"]

        got = poll(notices, lambda items: len(items) == 1, timeout=20)
        assert [n["kind"] for n in got] == ["support_reply"]
        assert "Fixed on our side, over TLS." in got[0]["body"]
    finally:
        stack.close()
        delete_vhost(vhost_url)
