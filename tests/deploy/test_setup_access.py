"""``helpdesk-setup`` with administrative credentials makes each service's logins.

The set-up step creates the broker users through RabbitMQ's management API, which
the machine's shared broker does not run (and must not be reconfigured): this test
starts a private RabbitMQ node with the management plugin on free ports, runs the
real set-up command against it and the real PostgreSQL, and then logs in as the
users and roles it made. Everything is removed afterwards.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import amqp
import psycopg
import pytest
from amqp.exceptions import AccessRefused

from services.notifications.queues import TICKET_EVENTS
from shared import announcements
from tests.deploy.conftest import run_setup
from tests.stack import BASE_PG, free_port
from tools.access import broker_grants
from tools.migrate import drop_database
from tools.setup import ManagementApi

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TAG = uuid.uuid4().hex[:8]
PG_HOST = urlsplit(BASE_PG).netloc.rsplit("@", 1)[-1]


@pytest.fixture(scope="module")
def private_broker():
    """A RabbitMQ node of our own, management plugin on: (amqp port, management port)."""
    server = shutil.which("rabbitmq-server") or pytest.fail("rabbitmq-server is not installed")
    # Not under pytest's root-only tmp tree: the server runs as the rabbitmq user.
    base = Path(tempfile.mkdtemp(prefix=f"helpdesk-rabbitmq-{TAG}-"))
    amqp_port, http_port, dist_port = free_port(), free_port(), free_port()
    (base / "rabbitmq.conf").write_text(
        f"listeners.tcp.default = 127.0.0.1:{amqp_port}\n"
        f"management.tcp.ip = 127.0.0.1\nmanagement.tcp.port = {http_port}\n"
    )
    (base / "enabled_plugins").write_text("[rabbitmq_management].\n")
    node = f"hd{TAG}@localhost"
    env = dict(
        os.environ,
        RABBITMQ_NODENAME=node,
        RABBITMQ_CONFIG_FILE=str(base / "rabbitmq.conf"),
        RABBITMQ_ENABLED_PLUGINS_FILE=str(base / "enabled_plugins"),
        RABBITMQ_MNESIA_BASE=str(base / "mnesia"),
        RABBITMQ_LOG_BASE=str(base / "log"),
        RABBITMQ_DIST_PORT=str(dist_port),
        RABBITMQ_PID_FILE=str(base / "pid"),
    )
    shutil.chown(base, "rabbitmq", "rabbitmq")  # the server script runs as rabbitmq
    for path in base.iterdir():
        shutil.chown(path, "rabbitmq", "rabbitmq")
    log = (base / "server.out").open("ab")
    proc = subprocess.Popen(
        [server], cwd=base, env=env, stdout=log, stderr=log, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{http_port}/", timeout=2).close()
                break
            except OSError:
                assert proc.poll() is None, (base / "server.out").read_text()[-3000:]
                assert time.monotonic() < deadline, "the private RabbitMQ did not start"
                time.sleep(0.5)
        yield amqp_port, http_port
    finally:
        subprocess.run(["rabbitmqctl", "-n", node, "stop"], capture_output=True, timeout=60)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()
        log.close()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def set_up(private_broker):
    """The set-up step's environment on the private broker and throwaway databases."""
    amqp_port, http_port = private_broker
    vhost = f"hd{TAG}"
    env = {
        "HELPDESK_ENV": "test",
        # The administrator's logins (guest is an administrator on a fresh node).
        "HELPDESK_AMQP_URL": f"amqp://guest:guest@127.0.0.1:{amqp_port}/{vhost}",
        "HELPDESK_RABBITMQ_MANAGEMENT_URL": f"http://guest:guest@127.0.0.1:{http_port}/",
        "HELPDESK_POSTGRES_ADMIN_URL": f"{BASE_PG}/postgres",
        # As on Kubernetes, where each database has a server of its own: this one wins
        # for the notifications database (same server here; the path is what counts).
        "HELPDESK_NOTIFICATIONS_POSTGRES_ADMIN_URL": f"{BASE_PG}/postgres",
    }
    for service in ("tickets", "notifications"):
        env[f"HELPDESK_{service.upper()}_DATABASE_URL"] = (
            f"postgresql://hb{TAG}_{service}:{secrets.token_hex(8)}@{PG_HOST}/"
            f"helpdesk_boot{TAG}_{service}"
        )
    for service in broker_grants():
        env[f"HELPDESK_{service.upper()}_AMQP_URL"] = (
            f"amqp://hb{TAG}_{service}:{secrets.token_hex(8)}@127.0.0.1:{amqp_port}/{vhost}"
        )
    yield env
    for service in ("tickets", "notifications"):
        drop_database(f"{BASE_PG}/helpdesk_boot{TAG}_{service}")
        with psycopg.connect(f"{BASE_PG}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP ROLE IF EXISTS "hb{TAG}_{service}"')


def test_set_up_makes_each_service_its_own_logins(set_up):
    result = run_setup(set_up)
    assert "broker users: tickets, notifications, gateway" in result.stderr
    api = ManagementApi(set_up["HELPDESK_RABBITMQ_MANAGEMENT_URL"])
    vhost = urlsplit(set_up["HELPDESK_AMQP_URL"]).path[1:]
    for service, grant in broker_grants().items():
        user = f"hb{TAG}_{service}"
        assert api.request("GET", f"/users/{user}")["tags"] in ([], "")  # no administrator
        given = api.request("GET", f"/permissions/{vhost}/{user}")
        assert (given["configure"], given["write"], given["read"]) == (
            grant.configure,
            grant.write,
            grant.read,
        )
        topics = {
            t["exchange"]: (t["write"], t["read"])
            for t in api.request("GET", f"/topic-permissions/{vhost}/{user}")
        }
        assert topics == grant.topics
    # Logged in as the tickets user: the notifications queue (declared by set-up) is
    # there, and not the tickets service's to read.
    tickets = urlsplit(set_up["HELPDESK_TICKETS_AMQP_URL"])
    with amqp.Connection(
        f"127.0.0.1:{tickets.port}", tickets.username, tickets.password, virtual_host=vhost
    ) as conn:
        conn.channel().queue_declare(TICKET_EVENTS.name, passive=True)
        with pytest.raises(AccessRefused):
            conn.channel().basic_get(TICKET_EVENTS.name)
    # Announcements of notices: the notifications user declares (as nameko does) and
    # publishes to its exchange; the gateway's login, which the stream servers use,
    # binds a queue of its own to it and reads what was announced.
    notifications = urlsplit(set_up["HELPDESK_NOTIFICATIONS_AMQP_URL"])
    gateway = urlsplit(set_up["HELPDESK_GATEWAY_AMQP_URL"])
    stream_queue = f"notices.stream-{uuid.uuid4()}"
    with (
        amqp.Connection(
            f"127.0.0.1:{gateway.port}", gateway.username, gateway.password, virtual_host=vhost
        ) as listening,
        amqp.Connection(
            f"127.0.0.1:{notifications.port}",
            notifications.username,
            notifications.password,
            virtual_host=vhost,
        ) as announcing,
    ):
        channel = listening.channel()
        channel.queue_declare(stream_queue, exclusive=True, auto_delete=True)
        channel.queue_bind(stream_queue, announcements.EXCHANGE, announcements.NOTICE_STORED)
        out = announcing.channel()
        out.exchange_declare(announcements.EXCHANGE, "topic", durable=True, auto_delete=False)
        out.basic_publish(
            amqp.Message(b'{"notice_id": 1, "recipient_id": "u"}'),
            exchange=announcements.EXCHANGE,
            routing_key=announcements.NOTICE_STORED,
        )
        deadline = time.monotonic() + 5
        while (got := channel.basic_get(stream_queue, no_ack=True)) is None:
            assert time.monotonic() < deadline, "the announcement never reached the stream queue"
            time.sleep(0.1)
        assert got.body == b'{"notice_id": 1, "recipient_id": "u"}'
    # The tickets role: its own database, migrated, and not the other one.
    role_url = set_up["HELPDESK_TICKETS_DATABASE_URL"]
    with psycopg.connect(role_url) as conn:
        assert conn.execute("SELECT count(*) FROM tickets").fetchone() == (0,)
    other = role_url.replace(f"helpdesk_boot{TAG}_tickets", f"helpdesk_boot{TAG}_notifications")
    with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
        psycopg.connect(other).close()
    # Running it again (every deployment does) succeeds and changes nothing.
    run_setup(set_up)
    assert api.request("GET", f"/permissions/{vhost}/hb{TAG}_tickets")["read"] == (
        broker_grants()["tickets"].read
    )
