"""The service consuming real events from RabbitMQ into its real database."""

from __future__ import annotations

import logging
import uuid

import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY

from services.notifications.domain import HEARD_EVENT_TYPES
from services.notifications.queues import TICKET_EVENTS, TICKET_EVENTS_DEAD
from services.notifications.service import NotificationsService
from services.notifications.tests.support import (
    ADMIN,
    OTHER_ADMIN,
    OWNER,
    scalar,
    ticket_event,
    wait_for,
)
from shared.crypto import generate_key
from shared.events import DELIVERY_LIMIT, queue_depth
from shared.logging import JsonFormatter

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("clean")]


def notices(engine, **where):
    """Stored notices (raw rows, body still sealed), oldest first."""
    clause = " AND ".join(f"{k} = :{k}" for k in where) or "true"
    with engine.connect() as conn:
        rows = conn.execute(sa.text(f"SELECT * FROM notices WHERE {clause} ORDER BY id"), where)
        return [dict(r._mapping) for r in rows]


def handled(engine, *envelopes):
    """True once every envelope's event id is recorded as processed."""
    ids = [uuid.UUID(e["event_id"]) for e in envelopes]

    def all_handled():
        count = scalar(
            engine, "SELECT count(*) FROM processed_events WHERE event_id = ANY(:ids)", ids=ids
        )
        return count == len(ids)

    return all_handled


def logged_handled(caplog, *envelopes):
    """True once the service logged every envelope as handled: an event that causes
    no notice leaves no row to look for (needs INFO records of the service)."""
    ids = {e["event_id"] for e in envelopes}

    def all_logged():
        done = {getattr(r, "event_id", None) for r in caplog.records if r.msg == "event handled"}
        return ids <= done

    return all_logged


@pytest.mark.parametrize(
    ("event_type", "payload", "recipient", "kind"),
    [
        ("message_added", {}, OWNER, "support_reply"),
        (
            "status_changed",
            {"from_status": "in_review", "to_status": "awaiting_user", "status": "awaiting_user"},
            OWNER,
            "status_changed",
        ),
        (
            "status_changed",
            {
                "from_status": "awaiting_user",
                "to_status": "closed",
                "status": "closed",
                "actor_id": None,
                "actor_role": "system",
            },
            OWNER,
            "status_changed",
        ),
        (
            "status_changed",
            {
                "from_status": "in_review",
                "to_status": "resolved",
                "status": "resolved",
                "resolution_note": "Fixed in the export job.",
            },
            OWNER,
            "ticket_resolved",
        ),
        (
            "message_added",
            {"author": "user", "actor_id": OWNER, "actor_role": "user", "assignee_id": ADMIN},
            ADMIN,
            "user_reply",
        ),
        ("ticket_assigned", {"assignee_id": OTHER_ADMIN}, OTHER_ADMIN, "ticket_assigned"),
    ],
)
def test_each_rule_stores_one_notice_for_its_recipient(
    service, publish, engine, event_type, payload, recipient, kind
):
    envelope = ticket_event(event_type, **payload)
    publish(envelope)
    wait_for(handled(engine, envelope))
    (row,) = notices(engine)
    assert (row["recipient_id"], row["kind"], row["ticket_id"]) == (recipient, kind, 1042)
    assert str(row["event_id"]) == envelope["event_id"]
    # Encrypted at rest; the clear title names only the ticket number.
    assert row["body"].startswith("hd2:t1:") and "invoices" not in row["body"]
    assert "invoices" not in row["title"] and "#1042" in row["title"]


@pytest.mark.parametrize(
    ("event_type", "payload"),
    [
        ("message_added", {"internal": True, "body": None, "assignee_id": OTHER_ADMIN}),
        ("message_added", {"owner_id": ADMIN}),  # support replying on their own ticket
        ("message_added", {"author": "user", "actor_id": OWNER, "actor_role": "user"}),
        (
            "status_changed",
            {"from_status": "open", "to_status": "in_review", "caused_by_message_id": 7},
        ),
        ("ticket_assigned", {"assignee_id": ADMIN}),  # took it themselves
        (
            "ticket_closed",
            {
                "from_status": "in_review",
                "status": "closed",
                "actor_id": OWNER,
                "actor_role": "user",
            },
        ),
        ("ticket_created", {}),
    ],
)
def test_events_nobody_hears_of_store_nothing(
    service, publish, engine, caplog, event_type, payload
):
    caplog.set_level(logging.INFO, logger="services.notifications")
    envelope = ticket_event(event_type, **payload)
    # The queue is not bound to the types no rule hears of (services.notifications.queues):
    # put those straight into it, as a broker bound by an earlier version would.
    publish(envelope, direct=event_type not in HEARD_EVENT_TYPES)
    wait_for(logged_handled(caplog, envelope))
    assert notices(engine) == []
    # Not even the claim: handling such an event again changes nothing either.
    assert scalar(engine, "SELECT count(*) FROM processed_events") == 0


def test_support_reply_that_moves_the_status_is_one_notice(service, publish, engine, caplog):
    caplog.set_level(logging.INFO, logger="services.notifications")
    action = str(uuid.uuid4())
    reply = ticket_event("message_added", action_id=action, status="in_review")
    moved = ticket_event(
        "status_changed",
        action_id=action,
        from_status="open",
        to_status="in_review",
        caused_by_message_id=7,
    )
    publish(reply)
    publish(moved)
    wait_for(logged_handled(caplog, reply, moved))
    assert [r["kind"] for r in notices(engine)] == ["support_reply"]


def test_resolving_is_exactly_one_ticket_resolved(service, publish, engine, rpc_call):
    resolved = ticket_event(
        "status_changed",
        from_status="in_review",
        to_status="resolved",
        status="resolved",
        resolution_note="Fixed in the export job; please retry.",
    )
    publish(resolved)
    wait_for(handled(engine, resolved))
    (item,) = rpc_call("list_notices", OWNER)["items"]
    assert item["kind"] == "ticket_resolved"
    assert "Fixed in the export job; please retry." in item["body"]


def test_a_team_notice_reaches_every_member_named_once_even_when_redelivered(
    service, publish, engine, caplog
):
    caplog.set_level(logging.INFO, logger="services.notifications")
    members = [ADMIN, OTHER_ADMIN, "admin-3"]
    created = ticket_event("ticket_created", team_key="desk", team_member_ids=members)
    reply = ticket_event(
        "message_added", author="user", actor_id=OWNER, actor_role="user", team_member_ids=members
    )
    for envelope in (created, reply, created, reply):  # each delivered twice
        publish(envelope)
    wait_for(handled(engine, created, reply))
    wait_for(lambda: caplog.text.count("duplicate event skipped") == 2)
    rows = notices(engine)
    assert sorted((r["recipient_id"], r["kind"]) for r in rows) == sorted(
        [(m, "new_ticket") for m in members] + [(m, "user_reply") for m in members]
    )
    # One event, one statement: its notices share the event id.
    assert {str(r["event_id"]) for r in rows if r["kind"] == "new_ticket"} == {created["event_id"]}


def test_one_action_never_tells_a_recipient_twice(service, publish, engine):
    # Even if the producer wrongly sent two telling events for one action.
    action = str(uuid.uuid4())
    first = ticket_event("message_added", action_id=action)
    second = ticket_event(
        "status_changed", action_id=action, from_status="open", to_status="awaiting_user"
    )
    publish(first)
    publish(second)
    wait_for(handled(engine, first, second))
    assert len(notices(engine)) == 1


def test_a_duplicated_event_makes_one_notice(service, publish, engine, caplog):
    caplog.set_level(logging.INFO, logger="services.notifications")
    envelope = ticket_event("message_added")
    publish(envelope)
    publish(envelope)
    wait_for(handled(engine, envelope))
    wait_for(lambda: "duplicate event skipped" in caplog.text)
    assert [str(r["event_id"]) for r in notices(engine)] == [envelope["event_id"]]


def test_the_request_id_of_the_envelope_is_bound_for_logging(service, publish, engine):
    lines = []

    class Collect(logging.Handler):
        def emit(self, record):
            # Formatted where it is logged, as the service's stderr handler does.
            lines.append(self.format(record))

    collect = Collect()
    collect.setFormatter(JsonFormatter())
    logger = logging.getLogger("services.notifications")
    logger.addHandler(collect)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        envelope = ticket_event("message_added", request_id="req-abc-123")
        publish(envelope)
        wait_for(handled(engine, envelope))
        wait_for(lambda: any('"event handled"' in line for line in lines))
    finally:
        logger.removeHandler(collect)
        logger.setLevel(level)
    (line,) = [line for line in lines if '"event handled"' in line]
    assert '"request_id": "req-abc-123"' in line


@pytest.mark.slow
def test_database_outage_is_ridden_out_and_the_event_handled_once(
    service, publish, engine, broker, notifications_database_url, caplog
):
    """The database refuses connections while the event arrives: the handler fails,
    the message is held (not acked, not lost) and retried in place, more times
    than the queue's delivery limit, without being dead-lettered; once the
    database is back the event is handled exactly once."""
    caplog.set_level(logging.WARNING, logger="services.notifications")
    name = notifications_database_url.rsplit("/", 1)[1]
    admin = sa.create_engine(
        "postgresql+psycopg://root@127.0.0.1:5432/postgres",
        isolation_level="AUTOCOMMIT",
        poolclass=sa.pool.NullPool,
    )
    envelope = ticket_event("message_added")

    def retried_past_the_delivery_limit():
        return caplog.text.count("retrying event in place") > DELIVERY_LIMIT

    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
            conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"
                ),
                {"n": name},
            )
        engine.dispose()
        publish(envelope)
        wait_for(retried_past_the_delivery_limit, timeout=30)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        admin.dispose()
    wait_for(handled(engine, envelope))
    assert len(notices(engine)) == 1
    assert "event handler failed; requeueing" not in caplog.text
    assert queue_depth(broker, TICKET_EVENTS_DEAD.name)[0] == 0


def _counts(counter: str, outcome: str) -> tuple[float, float]:
    """This process's ``counter`` for the consumer's queue, and its events ended ``outcome``."""
    labels = {"service": "notifications", "queue": TICKET_EVENTS.name}
    return (
        REGISTRY.get_sample_value(counter, labels) or 0.0,
        REGISTRY.get_sample_value("helpdesk_events_handled_total", {**labels, "outcome": outcome})
        or 0.0,
    )


def test_malformed_messages_go_straight_to_the_dead_letter_queue(service, publish, broker, engine):
    _, dead_lettered = _counts("helpdesk_event_redeliveries_total", "dead_lettered")
    publish(None, body=b"not an event", content_type="text/plain")
    publish(None, body=b"{not json", content_type="application/json")
    publish(None, body=b'{"type": "message_added", "payload": {}}')
    wait_for(lambda: queue_depth(broker, TICKET_EVENTS_DEAD.name)[0] == 3)
    # The consumer survived them all and still handles good events.
    good = ticket_event("message_added")
    publish(good)
    wait_for(handled(engine, good))
    assert queue_depth(broker, TICKET_EVENTS_DEAD.name)[0] == 3
    # The one that decoded but is no event is counted (the two undecodable ones
    # show in the dead-letter queue's depth only: kombu refused them first).
    assert _counts("helpdesk_event_redeliveries_total", "dead_lettered")[1] - dead_lettered == 1


@pytest.fixture
def read_only_database_url(notifications_database_url, run_id):
    """The service's database, reached as a role that may read notices but write
    nothing: a fault in the handler's dependency that never clears."""
    role = f"helpdesk_ro_{run_id}"
    database = notifications_database_url.rsplit("/", 1)[1]
    admin = sa.create_engine(
        "postgresql+psycopg://root@127.0.0.1:5432/" + database,
        isolation_level="AUTOCOMMIT",
        poolclass=sa.pool.NullPool,
    )
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE ROLE "{role}" LOGIN'))
        conn.execute(
            sa.text(f'GRANT SELECT ON notices, processed_events, idempotency_keys TO "{role}"')
        )
    yield notifications_database_url.replace("//root@", f"//{role}@")
    with admin.connect() as conn:
        conn.execute(
            sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = :r"),
            {"r": role},
        )
        conn.execute(sa.text(f'DROP OWNED BY "{role}"'))
        conn.execute(sa.text(f'DROP ROLE "{role}"'))
    admin.dispose()


@pytest.mark.slow
def test_an_event_that_always_fails_is_dead_lettered_after_the_delivery_limit(
    container_factory,
    make_settings,
    amqp_url,
    data_keys,
    read_only_database_url,
    publish,
    broker,
    caplog,
):
    """The handler's database refuses every write, for good: the event is retried
    up to the queue's delivery limit, then parked in the dead-letter queue instead
    of looping forever (and nothing was stored)."""
    caplog.set_level(logging.WARNING, logger="services.notifications")
    broken = make_settings(
        HELPDESK_AMQP_URL=amqp_url,
        HELPDESK_NOTIFICATIONS_DATABASE_URL=read_only_database_url,
        HELPDESK_DATA_KEYS=data_keys,
    )
    container = container_factory(NotificationsService, broken.nameko_config())
    container.start()
    redelivered, retried = _counts("helpdesk_event_redeliveries_total", "retried")
    envelope = ticket_event("message_added")
    publish(envelope)
    wait_for(lambda: queue_depth(broker, TICKET_EVENTS_DEAD.name)[0] == 1, timeout=40)
    assert caplog.text.count("event handler failed; requeueing") >= DELIVERY_LIMIT
    # The metrics the dead-letter and redelivery alerts watch saw each attempt.
    now_redelivered, now_retried = _counts("helpdesk_event_redeliveries_total", "retried")
    assert now_retried - retried >= DELIVERY_LIMIT
    assert now_redelivered - redelivered >= DELIVERY_LIMIT - 1
    container.stop()
    assert queue_depth(broker, TICKET_EVENTS.name)[0] == 0


@pytest.mark.slow
def test_events_published_while_the_service_is_down_are_all_handled_once(
    container_factory, config, publish, broker, engine
):
    burst = [ticket_event("message_added", ticket_id=n) for n in range(1, 201)]
    for envelope in burst:
        publish(envelope)
    wait_for(lambda: queue_depth(broker, TICKET_EVENTS.name) == (200, 0), timeout=5)
    container_factory(NotificationsService, config).start()
    wait_for(handled(engine, *burst), timeout=60)
    assert scalar(engine, "SELECT count(*) FROM notices") == 200
    assert scalar(engine, "SELECT count(DISTINCT event_id) FROM notices") == 200
    assert sorted(r["ticket_id"] for r in notices(engine)) == list(range(1, 201))


@pytest.mark.slow
def test_two_instances_share_the_queue_without_duplicates(
    container_factory, config, publish, broker, engine
):
    for _ in range(2):
        container_factory(NotificationsService, config).start()
    assert queue_depth(broker, TICKET_EVENTS.name)[1] == 2
    events = [ticket_event("message_added", ticket_id=n) for n in range(1, 151)]
    for envelope in events:  # every event delivered twice, as after a relay crash
        publish(envelope)
        publish(envelope)
    wait_for(handled(engine, *events), timeout=60)
    wait_for(lambda: queue_depth(broker, TICKET_EVENTS.name)[0] == 0)
    assert scalar(engine, "SELECT count(*) FROM notices") == 150
    assert scalar(engine, "SELECT count(DISTINCT event_id) FROM notices") == 150


def test_the_service_refuses_to_start_without_its_data_key(
    container_factory, make_settings, amqp_url, notifications_database_url
):
    production = make_settings(
        HELPDESK_ENV="production",
        HELPDESK_JWT_SECRET="x" * 40,
        HELPDESK_AMQP_URL=amqp_url,
        HELPDESK_NOTIFICATIONS_DATABASE_URL=notifications_database_url,
        HELPDESK_ALLOW_UNVERIFIED_TRANSPORT="true",  # the local broker and database
    )
    container = container_factory(NotificationsService, production.nameko_config())
    with pytest.raises(RuntimeError, match="no data keys"):
        container.start()


def test_the_service_refuses_to_start_if_stored_notices_need_a_missing_key(
    service, publish, engine, container_factory, make_settings, amqp_url, notifications_database_url
):
    envelope = ticket_event("message_added")
    publish(envelope)
    wait_for(handled(engine, envelope))
    other_key_only = make_settings(
        HELPDESK_AMQP_URL=amqp_url,
        HELPDESK_NOTIFICATIONS_DATABASE_URL=notifications_database_url,
        HELPDESK_DATA_KEYS=f"t2={generate_key()}",
    )
    container = container_factory(NotificationsService, other_key_only.nameko_config())
    with pytest.raises(RuntimeError, match="'t1': 1 values"):
        container.start()
