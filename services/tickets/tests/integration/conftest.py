"""Fixtures for the tickets service against the real PostgreSQL and RabbitMQ."""

import os

import eventlet
import psycopg
import pytest
from eventlet.event import Event
from kombu import Connection, Queue
from nameko.extensions import Entrypoint
from nameko.testing.utils import get_container, get_extension

from services.tickets.service import TicketsService
from shared.errors import RateLimited
from shared.events import EVENTS_EXCHANGE, declare_topology

# What these tests read the relay's output from: every ticket event.
EVERY_EVENT = Queue(
    "tests.every-ticket-event", exchange=EVENTS_EXCHANGE, routing_key="tickets.#", durable=True
)

TABLES = "tickets, messages, timeline, ticket_allowance, outbox, idempotency_keys, staff, teams"


@pytest.fixture
def tickets_settings(make_settings, amqp_url, tickets_database_url, data_keys):
    """``tickets_settings(HELPDESK_X=...)``: settings pointing at this session's
    database and vhost, with those overrides."""

    def make(**overrides):
        return make_settings(
            HELPDESK_AMQP_URL=amqp_url,
            HELPDESK_TICKETS_DATABASE_URL=tickets_database_url,
            HELPDESK_DATA_KEYS=data_keys,
            **overrides,
        )

    return make


@pytest.fixture
def settings(tickets_settings):
    """Settings pointing at this session's database and vhost."""
    return tickets_settings()


@pytest.fixture
def service_env(amqp_url, tickets_database_url, data_keys):
    """The environment of a tickets service process under this session's settings
    (``crash_after_commit.py`` runs in one)."""
    return dict(
        os.environ,
        HELPDESK_ENV="test",
        HELPDESK_AMQP_URL=amqp_url,
        HELPDESK_TICKETS_DATABASE_URL=tickets_database_url,
        HELPDESK_DATA_KEYS=data_keys,
    )


@pytest.fixture
def db(tickets_database_url):
    """A plain autocommit connection for looking at what the service stored."""
    with psycopg.connect(tickets_database_url, autocommit=True) as conn:
        yield conn


@pytest.fixture(autouse=True)
def clean(tickets_database_url, amqp_url):
    """Every test starts with empty tables and an empty event queue."""
    with psycopg.connect(tickets_database_url, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE")
    with Connection(amqp_url) as conn:
        declare_topology(conn, [EVERY_EVENT])
        EVERY_EVENT.bind(conn.default_channel).purge()
    yield


@pytest.fixture
def tickets_with(container_factory, tickets_settings):
    """``tickets_with(HELPDESK_X=...)``: a started tickets service container under
    this session's settings with those overrides."""

    def start(**overrides):
        container = container_factory(TicketsService, tickets_settings(**overrides).nameko_config())
        container.start()
        return container

    return start


@pytest.fixture
def tickets(tickets_with):
    """A started tickets service container."""
    return tickets_with()


@pytest.fixture
def two_instances(runner_factory, settings):
    """Two running instances of the tickets service on one database and broker."""
    containers = []
    for _ in range(2):
        runner = runner_factory(settings.nameko_config(), TicketsService)
        runner.start()
        containers.append(get_container(runner, TicketsService))
    return containers


def race(containers, attempts, attempt):
    """Run ``attempt(container)`` ``attempts`` times at once, alternating between
    ``containers``; return (the successes, the ``RateLimited`` errors)."""

    def one(i):
        try:
            return attempt(containers[i % len(containers)])
        except RateLimited as exc:
            return exc

    results = list(eventlet.GreenPool(attempts).imap(one, range(attempts)))
    return (
        [r for r in results if not isinstance(r, RateLimited)],
        [r for r in results if isinstance(r, RateLimited)],
    )


def run_entrypoint(container, method, *args, context_data=None):
    """Run one entrypoint in ``container`` and return its result (or raise its error).

    Unlike nameko's ``entrypoint_hook``, which waits for whichever worker of the
    method finishes first, this waits for the worker it spawned: safe to race.
    """
    entrypoint = get_extension(container, Entrypoint, method_name=method)
    done = Event()

    def handle_result(worker_ctx, result, exc_info):
        if exc_info is not None:
            done.send_exception(exc_info[1])
        else:
            done.send(result)
        return result, exc_info

    container.spawn_worker(
        entrypoint, args, {}, context_data=context_data, handle_result=handle_result
    )
    return done.wait()


@pytest.fixture
def call(tickets):
    """``call(method, *args)``: run one RPC entrypoint in the started container."""

    def run(method, *args, container=None, request_id=None):
        context = {"request_id": request_id} if request_id else None
        return run_entrypoint(container or tickets, method, *args, context_data=context)

    return run


USER = {"id": "u-1", "name": "Ann User", "role": "user"}
OTHER_USER = {"id": "u-2", "name": "Bob Other", "role": "user"}
ADMIN = {"id": "a-1", "name": "Sam Support", "role": "admin"}
ADMIN_2 = {"id": "a-2", "name": "Kim Support", "role": "admin"}


def move_sealed(db, column, from_id, to_id):
    """Copy ticket ``from_id``'s stored ``column`` (sealed, bound to its row) onto
    ticket ``to_id``, as someone with write access to the database could."""
    db.execute(
        f"UPDATE tickets SET {column} = "  # nosec B608 - a column name the test gives
        f"(SELECT {column} FROM tickets WHERE id = %s) WHERE id = %s",
        (from_id, to_id),
    )


def new_ticket_fields(**overrides):
    """Valid ``create_ticket`` fields."""
    fields = {
        "issue_type": "bug",
        "feature": "dashboard",
        "subject": "Charts do not load",
        "description": "The dashboard charts stay empty after I sign in, since Monday morning.",
    }
    fields.update(overrides)
    return fields


def drain(amqp_url, timeout=2.0, expect=None):
    """Ticket events the relay published (JSON bodies, from ``EVERY_EVENT``), acked.

    With ``expect``, waits up to ``timeout`` for that many, then a short while for extras.
    """
    import time

    bodies = []
    with Connection(amqp_url) as conn:
        queue = conn.SimpleQueue(EVERY_EVENT)
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if expect is not None and len(bodies) >= expect:
                remaining = 0.3
            if remaining <= 0:
                break
            try:
                message = queue.get(timeout=remaining)
            except queue.Empty:
                break
            bodies.append(message.payload)
            message.ack()
        queue.close()
    return bodies
