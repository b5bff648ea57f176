"""Each service's own database role and broker user (``tools/access.py``), for real.

The roles are made by the set-up step's own code (``tools.setup.grant_database``)
on the real PostgreSQL; the broker users get ``tools.access.broker_grants()`` on a
throwaway vhost of the real RabbitMQ, through ``rabbitmqctl`` (the set-up step applies
the same grants through the management API, which the shared broker here does not
run: ``test_setup_access.py`` drives that path on a private broker). Everything is
dropped afterwards.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
import uuid
from urllib.parse import urlsplit

import amqp
import psycopg
import pytest
from amqp.exceptions import AccessRefused
from kombu import Connection
from psycopg import errors

from services.gateway.settings import FrontSettings
from services.notifications.queues import TICKET_EVENTS
from shared.crypto import generate_key
from shared.events import DEAD_LETTER_EXCHANGE, EVENTS_EXCHANGE, declare_topology
from tests.stack import BASE_AMQP, BASE_PG, _rabbitmqctl, create_vhost, delete_vhost
from tools import registry
from tools.access import RPC_EXCHANGE, broker_grants
from tools.migrate import drop_database
from tools.setup import grant_database

pytestmark = pytest.mark.integration

TAG = uuid.uuid4().hex[:8]
PG_HOST = urlsplit(BASE_PG).netloc.rsplit("@", 1)[-1]
MQ_HOST = urlsplit(BASE_AMQP).netloc.rsplit("@", 1)[-1]


def _role_url(service: str, password: str) -> str:
    return f"postgresql://hd{TAG}_{service}:{password}@{PG_HOST}/helpdesk_acc{TAG}_{service}"


@pytest.fixture(scope="module")
def roles():
    """Each service's database and role, made by the set-up step's code: service -> URL."""
    admin = f"{BASE_PG}/postgres"
    urls = {s: _role_url(s, secrets.token_hex(12)) for s in ("tickets", "notifications")}
    try:
        for service, url in urls.items():
            grant_database(admin, service, url)
        yield urls
    finally:
        for service, url in urls.items():
            drop_database(f"{BASE_PG}/{urlsplit(url).path.lstrip('/')}")
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP ROLE IF EXISTS "hd{TAG}_{service}"')


@pytest.fixture(scope="module")
def logins():
    """A throwaway vhost with the topology and one user per service: service -> URL."""
    admin_url = create_vhost(f"acc{TAG}")
    vhost = admin_url.rsplit("/", 1)[1]
    urls = {}
    try:
        with Connection(admin_url) as admin:  # as the set-up step declares it
            declare_topology(admin, registry.event_queues())
            # ...and as the first nameko service or gateway to start declares this one.
            admin.channel().exchange_declare(RPC_EXCHANGE, "topic", durable=True, auto_delete=False)
        for service, grant in broker_grants().items():
            user, password = f"hd{TAG}_{service}", secrets.token_hex(12)
            _rabbitmqctl("add_user", user, password)
            _rabbitmqctl(
                "set_permissions", "-p", vhost, user, grant.configure, grant.write, grant.read
            )
            for exchange, (write, read) in grant.topics.items():
                _rabbitmqctl("set_topic_permissions", "-p", vhost, user, exchange, write, read)
            urls[service] = f"amqp://{user}:{password}@{MQ_HOST}/{vhost}"
        yield urls
    finally:
        for service in broker_grants():
            subprocess.run(
                ["rabbitmqctl", "-q", "delete_user", f"hd{TAG}_{service}"],
                capture_output=True,
                timeout=60,
            )
        delete_vhost(admin_url)


def _connect(url: str) -> amqp.Connection:
    parts = urlsplit(url)
    conn = amqp.Connection(
        f"{parts.hostname}:{parts.port or 5672}",
        parts.username,
        parts.password,
        virtual_host=parts.path[1:],
    )
    conn.connect()
    return conn


def _refused(conn: amqp.Connection, action) -> str:
    """Run ``action(channel)`` on a fresh channel; the broker's refusal, or fail."""
    channel = conn.channel()
    with pytest.raises(AccessRefused) as refused:
        action(channel)
    return str(refused.value)


def _publish(channel, exchange: str, key: str) -> None:
    # Waits for the broker's confirm, so a refusal fails here, not on a later call.
    channel.basic_publish_confirm(amqp.Message("{}"), exchange=exchange, routing_key=key)


# --- PostgreSQL ---------------------------------------------------------------------
def test_a_service_role_reaches_its_own_database_only(roles):
    tickets_url, notifications_url = roles["tickets"], roles["notifications"]
    with psycopg.connect(tickets_url, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM tickets").fetchone() == (0,)
        flags = conn.execute(
            "SELECT rolsuper, rolcreaterole, rolcreatedb, rolbypassrls FROM pg_roles "
            "WHERE rolname = current_user"
        ).fetchone()
        assert flags == (False, False, False, False)
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("CREATE ROLE intruder LOGIN SUPERUSER")
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("CREATE TABLE stolen (id int)")
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("DROP TABLE tickets")
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("UPDATE alembic_version SET version_num = 'x'")
    # The other service's database refuses the connection itself.
    other = urlsplit(notifications_url)._replace(netloc=urlsplit(tickets_url).netloc).geturl()
    with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
        psycopg.connect(other).close()
    # Granting again (every deployment re-runs the set-up step) changes nothing.
    grant_database(f"{BASE_PG}/postgres", "tickets", tickets_url)
    with psycopg.connect(tickets_url) as conn:
        assert conn.execute("SELECT count(*) FROM tickets").fetchone() == (0,)


# --- RabbitMQ -----------------------------------------------------------------------
def test_the_tickets_broker_user_stays_in_its_own_part(logins):
    with _connect(logins["tickets"]) as conn:
        # The notifications queue: neither consume nor read nor delete.
        assert "notifications.ticket-events" in _refused(
            conn, lambda ch: ch.basic_consume(TICKET_EVENTS.name, callback=print)
        )
        _refused(conn, lambda ch: ch.basic_get(TICKET_EVENTS.name))
        _refused(conn, lambda ch: ch.queue_delete(TICKET_EVENTS.name))
        # Nowhere but its own events: not a call to notifications, not straight into
        # the queue through the default exchange, not the dead letters, not another
        # source's event key, and not the events exchange's configuration.
        _refused(conn, lambda ch: _publish(ch, RPC_EXCHANGE, "notifications.list_notices"))
        _refused(conn, lambda ch: _publish(ch, "", TICKET_EVENTS.name))
        _refused(conn, lambda ch: _publish(ch, DEAD_LETTER_EXCHANGE.name, "x"))
        _refused(conn, lambda ch: _publish(ch, EVENTS_EXCHANGE.name, "notifications.forged"))
        _refused(conn, lambda ch: ch.exchange_delete(EVENTS_EXCHANGE.name))
        # Nor can it listen in on the other service's calls through its own queue.
        channel = conn.channel()
        channel.queue_declare("rpc-tickets", durable=True, auto_delete=False)
        channel.queue_bind("rpc-tickets", RPC_EXCHANGE, routing_key="tickets.*")
        _refused(conn, lambda ch: ch.queue_bind("rpc-tickets", RPC_EXCHANGE, "notifications.*"))
        # What it is for: a ticket event, confirmed, in the notifications queue.
        _publish(conn.channel(), EVENTS_EXCHANGE.name, "tickets.message_added")
    with _connect(logins["notifications"]) as conn:
        channel = conn.channel()
        deadline = time.monotonic() + 5
        while (message := channel.basic_get(TICKET_EVENTS.name)) is None:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        channel.basic_ack(message.delivery_tag)
        # The consumer publishes no events and reads no one else's calls.
        _refused(conn, lambda ch: _publish(ch, EVENTS_EXCHANGE.name, "tickets.message_added"))
        _refused(conn, lambda ch: ch.basic_get("rpc-tickets"))
    with _connect(logins["gateway"]) as conn:
        _refused(conn, lambda ch: ch.basic_get("rpc-tickets"))
        _refused(conn, lambda ch: ch.basic_get(TICKET_EVENTS.name))
        _refused(conn, lambda ch: _publish(ch, EVENTS_EXCHANGE.name, "tickets.ticket_created"))


# --- real services on their own logins ------------------------------------------------
def _start(service: str, amqp_url: str, database_url: str, keys: str, log) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")}
    env.update(
        HELPDESK_ENV="test",
        HELPDESK_AMQP_URL=amqp_url,
        HELPDESK_DATA_KEYS=keys,
        **{f"HELPDESK_{service.upper()}_DATABASE_URL": database_url},
    )
    return subprocess.Popen(
        [sys.executable, "-m", f"services.{service}"],
        env=env,
        stdout=log,
        stderr=log,
    )


def test_the_services_work_on_their_own_restricted_logins(roles, logins, tmp_path):
    from services.gateway.rpc import RpcClients

    keys = f"k1={generate_key()}"
    logs = {s: tmp_path / f"{s}.log" for s in ("tickets", "notifications")}
    procs = [
        _start(service, logins[service], roles[service], keys, logs[service].open("ab"))
        for service in ("tickets", "notifications")
    ]

    def tails():
        return "\n".join(f"{s}: {p.read_text()[-2000:]}" for s, p in logs.items())

    gateway = RpcClients(
        FrontSettings.from_env({"HELPDESK_ENV": "test", "HELPDESK_AMQP_URL": logins["gateway"]})
    )
    try:
        deadline = time.monotonic() + 60
        while not all(gateway.probe.consumers(s) for s in ("tickets", "notifications")):
            assert all(proc.poll() is None for proc in procs), tails()
            assert time.monotonic() < deadline, f"the services did not start\n{tails()}"
            time.sleep(0.3)
        owner = {"id": f"u-{TAG}", "name": "Ann User", "role": "user"}
        support = {"id": f"a-{TAG}", "name": "Sam Support", "role": "admin"}
        ticket = gateway.call(
            "tickets",
            "create_ticket",
            owner,
            {
                "issue_type": "bug",
                "feature": "dashboard",
                "subject": "Reports page is blank",
                "description": "Opening the reports page shows an empty white area instead.",
            },
        )
        gateway.call(
            "tickets",
            "admin_add_message",
            support,
            ticket["id"],
            {"body": "We are looking into it.", "internal": False},
        )
        # The tickets user published the reply's event; the notifications user
        # consumed it and made the owner's notice; the gateway user asked for it.
        while gateway.call("notifications", "unread_count", owner["id"]) != {"unread_count": 1}:
            assert time.monotonic() < deadline, f"no notice for the support reply\n{tails()}"
            time.sleep(0.2)
    finally:
        gateway.close()
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_a_restricted_service_checks_the_topology_and_names_the_missing_set_up(logins):
    from shared.events import TopologyMissing, ensure_topology

    # Where helpdesk-setup declared everything, checking is all it does (no refusal).
    with Connection(logins["notifications"]) as conn:
        ensure_topology(conn, registry.service("notifications").event_queues)
    # On a vhost where it has not run, the service stops naming the missing step
    # rather than a bare access refusal.
    empty = create_vhost(f"acc{TAG}_empty")
    vhost = empty.rsplit("/", 1)[1]
    user = f"hd{TAG}_notifications"
    grant = broker_grants()["notifications"]
    _rabbitmqctl("set_permissions", "-p", vhost, user, grant.configure, grant.write, grant.read)
    try:
        url = logins["notifications"].rsplit("/", 1)[0] + f"/{vhost}"
        with (
            Connection(url) as conn,
            pytest.raises(TopologyMissing, match="run helpdesk-setup first"),
        ):
            ensure_topology(conn, registry.service("notifications").event_queues)
    finally:
        delete_vhost(empty)
