"""Due work against the real PostgreSQL: the claim, the locks, the migration's backfill.

Two containers of the service tick at the same moment over the same due rows:
each row is done once (one event each in the outbox). A tick never waits for a
ticket a command holds (no deadlock with commands that reschedule), and the claim
goes through the ``due_work_due`` index. The migration schedules tickets that were
already resolved or awaiting their owner.
"""

import dataclasses
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import eventlet
import psycopg
import pytest
from prometheus_client import REGISTRY

from services.tickets import handlers
from services.tickets.service import TicketsService
from services.tickets.tests.integration.conftest import (
    ADMIN,
    USER,
    new_ticket_fields,
    run_entrypoint,
)
from services.tickets.unit_of_work import TicketsUnitOfWork
from shared.db import Connections, make_engine
from tools.migrate import drop_database, upgrade

pytestmark = pytest.mark.integration

RESOLVE = {"status": "resolved", "resolution_note": "Cleared the stale cache for you."}


@pytest.fixture
def quick(settings):
    """Timings of seconds; the timer itself kept out of the way (an hour)."""
    return dataclasses.replace(
        settings,
        auto_close_after=2,
        auto_close_reminder=1,
        awaiting_reminder_after=1,
        scheduler_interval=3600,
    )


@pytest.fixture
def pair(container_factory, quick):
    """Two started instances of the service on one database."""
    containers = [container_factory(TicketsService, quick.nameko_config()) for _ in range(2)]
    for container in containers:
        container.start()
    return containers


def events_by_type(db) -> Counter:
    return Counter(row[0] for row in db.execute("SELECT type FROM outbox"))


def test_two_instances_ticking_at_once_do_each_piece_once(pair, db):
    first, second = pair
    owners = [dict(USER, id=f"u-{uuid.uuid4().hex[:8]}") for _ in range(12)]
    resolved, awaiting = [], []
    for n, owner in enumerate(owners):
        ticket = run_entrypoint(first, "create_ticket", owner, new_ticket_fields())
        target = RESOLVE if n % 2 else {"status": "awaiting_user"}
        run_entrypoint(first, "change_status", ADMIN, ticket["id"], target)
        (resolved if n % 2 else awaiting).append(ticket["id"])
    before = events_by_type(db)
    time.sleep(2.2)  # everything due
    results = [
        eventlet.spawn(run_entrypoint, container, "run_due_work")
        for container in (first, second, first, second)
    ]
    done = Counter()
    for result in results:
        done.update(result.wait())
    assert done == {"closing_soon": 6, "auto_close": 6, "awaiting_reminder": 6}
    new = events_by_type(db) - before
    # Caught up late: the reminders before the closing are not told (it closes now).
    assert new == {"status_changed": 6, "awaiting_reminder": 6}
    assert db.execute("SELECT count(*) FROM due_work").fetchone()[0] == 0
    statuses = dict(db.execute("SELECT id, status FROM tickets").fetchall())
    assert {statuses[t] for t in resolved} == {"closed"}
    assert {statuses[t] for t in awaiting} == {"awaiting_user"}
    by = db.execute(
        "SELECT DISTINCT by FROM timeline WHERE status = 'closed' AND ticket_id = ANY(%s)",
        (resolved,),
    ).fetchall()
    assert by == [("system",)]


def test_the_reminder_comes_before_the_closing_when_on_time(pair, db):
    first, _ = pair
    ticket = run_entrypoint(first, "create_ticket", USER, new_ticket_fields())
    run_entrypoint(first, "change_status", ADMIN, ticket["id"], RESOLVE)
    assert run_entrypoint(first, "run_due_work") == {}
    time.sleep(1.1)
    assert run_entrypoint(first, "run_due_work") == {"closing_soon": 1}
    body = db.execute("SELECT body FROM outbox WHERE type = 'closing_soon'").fetchone()
    assert body is not None
    time.sleep(1.0)
    assert run_entrypoint(first, "run_due_work") == {"auto_close": 1}
    assert run_entrypoint(first, "run_due_work") == {}


def test_a_tick_skips_a_ticket_a_command_holds(pair, db, tickets_database_url):
    first, _ = pair
    ticket = run_entrypoint(first, "create_ticket", USER, new_ticket_fields())
    run_entrypoint(first, "change_status", ADMIN, ticket["id"], RESOLVE)
    time.sleep(2.2)
    with psycopg.connect(tickets_database_url) as holder:
        holder.execute("SELECT 1 FROM tickets WHERE id = %s FOR UPDATE", (ticket["id"],))
        started = time.monotonic()
        assert run_entrypoint(first, "run_due_work") == {}  # did not wait for the lock
        assert time.monotonic() - started < 2
        holder.rollback()
    assert run_entrypoint(first, "run_due_work") == {"closing_soon": 1, "auto_close": 1}


def test_commands_racing_the_tick_never_deadlock(pair, db):
    """Owners reply (cancelling their auto-close) while both instances tick."""
    first, second = pair
    ids = []
    for _ in range(10):
        owner = dict(USER, id=f"u-{uuid.uuid4().hex[:8]}")
        ticket = run_entrypoint(first, "create_ticket", owner, new_ticket_fields())
        run_entrypoint(first, "change_status", ADMIN, ticket["id"], RESOLVE)
        ids.append((owner, ticket["id"]))
    time.sleep(2.2)
    work = [eventlet.spawn(run_entrypoint, c, "run_due_work") for c in (first, second)]
    replies = [
        eventlet.spawn(
            run_entrypoint, second, "add_reply", owner, ticket_id, {"body": "Not fixed, sorry."}
        )
        for owner, ticket_id in ids
    ]
    outcomes = []
    for reply in replies:
        try:
            reply.wait()
            outcomes.append("replied")
        except Exception as exc:  # closed by the system first: 409
            outcomes.append(type(exc).__name__)
    for w in work:
        w.wait()
    assert set(outcomes) <= {"replied", "Conflict"}
    statuses = dict(db.execute("SELECT id, status FROM tickets").fetchall())
    for (_owner, ticket_id), outcome in zip(ids, outcomes, strict=True):
        assert statuses[ticket_id] == ("in_review" if outcome == "replied" else "closed")
    # Every ticket ends with no lifecycle work left: replied (cancelled) or closed
    # (done); a replied one owes support's answer, its response clock's work alone.
    run_entrypoint(first, "run_due_work")
    left = db.execute("SELECT ticket_id, kind FROM due_work").fetchall()
    replied = {
        ticket_id for (_o, ticket_id), o in zip(ids, outcomes, strict=True) if o == "replied"
    }
    assert {kind for _t, kind in left} <= {"sla_warning", "sla_breach"}
    assert {ticket_id for ticket_id, _k in left} == replied


def test_the_claim_is_an_index_range(tickets_database_url):
    """The claim's own statement: the due bound is an index condition (a scan filtering
    rows would walk every row not yet due), and no sort."""
    from sqlalchemy.dialects import postgresql

    from services.tickets.repository import _CLAIM_DUE

    engine = make_engine(tickets_database_url, pool_size=1)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SET enable_seqscan = off")  # a tiny table is scanned anyway
            for after, statement in _CLAIM_DUE.items():
                if after:
                    statement = statement.params(
                        after_due_at=datetime(2026, 1, 1, tzinfo=UTC),
                        after_ticket_id=1,
                        after_kind="",
                    )
                sql = statement.compile(
                    dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}
                )
                plan = "\n".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN {sql}"))
                assert "due_work_due" in plan and "Index Cond" in plan, plan
                assert "Sort" not in plan, plan
    finally:
        engine.dispose()


def test_lag_is_measured_from_the_oldest_due_work(pair):
    """Through the repository: nothing due, then a row a minute overdue."""
    first, _ = pair
    settings = first.config["HELPDESK_SETTINGS"]
    engine = make_engine(settings.tickets_database_url, pool_size=1)
    try:
        tickets_uow = TicketsUnitOfWork(Connections(engine), None, settings)
        assert handlers.scheduler_lag(tickets_uow) == 0.0
        ticket = run_entrypoint(first, "create_ticket", USER, new_ticket_fields())
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO due_work VALUES (%s, 'awaiting_reminder', now() - interval '60s')",
                (ticket["id"],),
            )
        assert 59 < handlers.scheduler_lag(tickets_uow) < 120
        # Each tick exports it before it works (then does the reminder).
        assert run_entrypoint(first, "run_due_work") == {"awaiting_reminder": 1}
        exported = REGISTRY.get_sample_value(
            "helpdesk_scheduler_lag_seconds", {"service": "tickets", "job": "due_work"}
        )
        assert 59 < exported < 120
        assert handlers.scheduler_lag(tickets_uow) == 0.0
    finally:
        engine.dispose()


def test_the_migration_schedules_tickets_already_waiting(run_id, monkeypatch):
    url_base = "postgresql://root@127.0.0.1:5432"
    url = f"{url_base}/helpdesk_{run_id}_backfill"
    drop_database(url)
    upgrade("tickets", url, "0006")
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            for ticket_id, status in ((1, "resolved"), (2, "awaiting_user"), (3, "in_review")):
                conn.execute(
                    "INSERT INTO tickets (id, owner_id, issue_type, feature, subject, "
                    "description, priority, priority_rank, status, created_at, updated_at) "
                    "VALUES (%s, 'u', 'bug', 'f', 'subject', 'x', 'high', 1, %s, "
                    "now() - interval '10 days', now())",
                    (ticket_id, status),
                )
                # Entered its status twice: the latest time counts.
                for days in (9, 2):
                    conn.execute(
                        "INSERT INTO timeline (ticket_id, status, by, at) "
                        "VALUES (%s, %s, 'support', now() - make_interval(days => %s))",
                        (ticket_id, status, days),
                    )
        monkeypatch.setenv("HELPDESK_AUTO_CLOSE_AFTER", "5d")
        monkeypatch.delenv("HELPDESK_AUTO_CLOSE_REMINDER", raising=False)
        monkeypatch.delenv("HELPDESK_AWAITING_REMINDER_AFTER", raising=False)
        upgrade("tickets", url)
        with psycopg.connect(url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT d.ticket_id, d.kind, d.due_at - tl.at FROM due_work d "
                "JOIN (SELECT ticket_id, max(at) AS at FROM timeline GROUP BY ticket_id) tl "
                "USING (ticket_id) ORDER BY 1, 2"
            ).fetchall()
        assert rows == [
            (1, "auto_close", timedelta(days=5)),
            (1, "closing_soon", timedelta(days=4)),
            (2, "awaiting_reminder", timedelta(days=3)),
        ]
    finally:
        drop_database(url)
