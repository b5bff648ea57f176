"""Load many tickets fast (COPY) into a tickets database, for benchmarks and drills.

    python scripts/load_million_tickets.py [--count 1000000] [--database-url URL]

The database must already be migrated (``helpdesk-migrate tickets``); the
URL defaults to ``HELPDESK_TICKETS_DATABASE_URL``. Rows look like real ones: varied
subjects from a word list, descriptions encrypted with the configured data keys and
bound to their row ids (so the service can open them), priorities from issue types,
a status mix, response clocks that fit the status (owed and counting while open or in
review, paused while waiting, stopped once closed; due times from the default
targets, so older ones are long past due), one ``open`` timeline entry each, ids in
creation order. Most tickets
belong to ~20-ticket owners; ``bench-user`` owns 500 of them, spread through time.

Secondary indexes on ``tickets`` are dropped before the COPY and rebuilt after it
(as pg_restore does; pass ``--keep-indexes`` not to), so run it against a database
that is not serving traffic. Ids are reserved from the sequence up front.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from datetime import UTC, datetime, timedelta

import psycopg

from services.tickets.settings import DEFAULT_CATALOG, TicketsSettings
from services.tickets.tables import ENCRYPTED_COLUMNS, SEALED_CONTEXT
from shared.catalog import (
    DEFAULT_FIRST_RESPONSE,
    DEFAULT_NEXT_RESPONSE,
    PRIORITIES,
    PRIORITY_BY_ISSUE_TYPE,
)
from shared.crypto import sealed_columns
from shared.data_keys import keyring_from_settings

# Sealed as the tickets repository seals it: bound to the row and its owner.
(DESCRIPTION,) = (
    c
    for c in sealed_columns(ENCRYPTED_COLUMNS, SEALED_CONTEXT)
    if (c.table, c.column) == ("tickets", "description")
)

BENCH_USER = "bench-user"
BENCH_USER_TICKETS = 500
WORDS = [
    "account",
    "admin",
    "alert",
    "api",
    "archive",
    "audit",
    "backup",
    "billing",
    "browser",
    "cache",
    "calendar",
    "card",
    "chart",
    "checkout",
    "client",
    "column",
    "connection",
    "credit",
    "csv",
    "dashboard",
    "data",
    "date",
    "delete",
    "domain",
    "download",
    "duplicate",
    "email",
    "error",
    "export",
    "feature",
    "field",
    "filter",
    "font",
    "form",
    "graph",
    "header",
    "import",
    "integration",
    "invoice",
    "language",
    "layout",
    "license",
    "link",
    "list",
    "login",
    "mobile",
    "notification",
    "number",
    "order",
    "page",
    "password",
    "payment",
    "pdf",
    "permission",
    "phone",
    "plan",
    "printer",
    "profile",
    "refund",
    "report",
    "request",
    "role",
    "schedule",
    "search",
    "session",
    "setting",
    "share",
    "signup",
    "sorting",
    "storage",
    "subscription",
    "sync",
    "table",
    "tax",
    "team",
    "template",
    "timeout",
    "timezone",
    "token",
    "total",
    "upload",
    "user",
    "webhook",
    "widget",
]
PHRASES = (
    "{a} {b} not working",
    "Cannot {verb} {a}",
    "{a} shows wrong {b}",
    "Problem with {a} and {b}",
    "{a} {b} is very slow",
    "Error when I {verb} the {a}",
    "Question about {a} {b}",
)
VERBS = ("open", "save", "export", "import", "update", "delete", "load", "share", "print")
STATUS_MIX = (
    ("open", 25),
    ("in_review", 20),
    ("awaiting_user", 15),
    ("resolved", 15),
    ("closed", 25),
)
ISSUE_TYPES = tuple(PRIORITY_BY_ISSUE_TYPE)
RANK = {p: i for i, p in enumerate(PRIORITIES)}
TICKET_COLUMNS = (
    "id, owner_id, owner_name, issue_type, feature, subject, description, priority, "
    "priority_rank, status, created_at, updated_at, sla_response, sla_started_at, "
    "sla_elapsed, sla_warn_at, sla_due_at, first_response_due_at, first_response_at"
)
FIRST_TARGET = {p: timedelta(seconds=s) for p, s in DEFAULT_FIRST_RESPONSE}
NEXT_TARGET = timedelta(seconds=DEFAULT_NEXT_RESPONSE)
NULL = "\\N"  # COPY's NULL


def response_clock(rng: random.Random, status: str, priority: str, created: datetime) -> list:
    """The clock columns of a ticket in ``status`` (round the clock, default targets):
    sla_response, sla_started_at, sla_elapsed, sla_warn_at, sla_due_at,
    first_response_due_at, first_response_at."""
    first_due = created + FIRST_TARGET[priority]
    if status == "open":  # nobody has answered yet: the first response is owed
        warn = created + FIRST_TARGET[priority] * 0.8
        return ["first", created, 0, warn, first_due, first_due, None]
    answered = created + FIRST_TARGET[priority] * rng.uniform(0.1, 1.5)
    if status == "in_review" and rng.random() < 0.5:  # the owner wrote back since
        since = answered + timedelta(hours=rng.uniform(1, 72))
        return [
            "next",
            since,
            0,
            since + NEXT_TARGET * 0.8,
            since + NEXT_TARGET,
            first_due,
            answered,
        ]
    if status == "awaiting_user" and rng.random() < 0.2:  # paused before any answer
        return ["first", None, 600, None, None, first_due, None]
    return [None, None, 0, None, None, first_due, answered]


def _copy_value(value) -> str:
    if value is None:
        return NULL
    return value.isoformat() if isinstance(value, datetime) else str(value)


def subject(rng: random.Random, serial: int) -> str:
    """A plausible subject; the serial keeps every subject distinct."""
    a, b = rng.sample(WORDS, 2)
    text = rng.choice(PHRASES).format(a=a, b=b, verb=rng.choice(VERBS))
    return f"{text[0].upper()}{text[1:]} (ref {serial:07d})"


def _plain(url: str) -> str:
    scheme, rest = url.split("://", 1)
    return f"postgresql://{rest}"


def _secondary_indexes(conn) -> list[tuple[str, str]]:
    return conn.execute(
        "SELECT i.indexname, i.indexdef FROM pg_indexes i "
        "WHERE i.tablename = 'tickets' AND i.schemaname = current_schema() "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)"
    ).fetchall()


def load(url: str, count: int, keyring, seed: int = 42, keep_indexes: bool = False, log=print):
    """COPY ``count`` tickets (and their first timeline entry) into the database at ``url``."""
    rng = random.Random(seed)
    statuses = [s for s, weight in STATUS_MIX for _ in range(weight)]
    features = [key for key, _label in DEFAULT_CATALOG.features]
    owners = max(1, count // 20)
    # Spread the bench user's tickets evenly through the whole history.
    bench_every = max(1, count // BENCH_USER_TICKETS)
    started = time.monotonic()
    with psycopg.connect(_plain(url)) as conn:
        first = conn.execute("SELECT nextval('tickets_id_seq')").fetchone()[0]
        conn.execute("SELECT setval('tickets_id_seq', %s)", (first + count - 1,))
        conn.commit()
        indexes = [] if keep_indexes else _secondary_indexes(conn)
        for name, _definition in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        start_at = datetime.now(UTC) - timedelta(days=730)
        step = timedelta(days=730) / max(count, 1)
        with (
            conn.cursor() as cur,
            cur.copy(f"COPY tickets ({TICKET_COLUMNS}) FROM STDIN") as tickets_copy,
        ):
            lines = []
            for n in range(count):
                ticket_id = first + n
                owner = BENCH_USER if n % bench_every == 0 else f"user-{rng.randrange(owners):06d}"
                issue_type = rng.choice(ISSUE_TYPES)
                priority = PRIORITY_BY_ISSUE_TYPE[issue_type]
                status = rng.choice(statuses)
                created_at = start_at + step * n
                created = created_at.isoformat()
                clock = "\t".join(
                    _copy_value(v) for v in response_clock(rng, status, priority, created_at)
                )
                description = keyring.encrypt(
                    f"Steps to reproduce ticket {ticket_id}: open the page, wait, see the error "
                    "message, try again later.",
                    DESCRIPTION.binding(ticket_id, {"owner_id": owner}),
                )
                lines.append(
                    f"{ticket_id}\t{owner}\t{owner.title()}\t{issue_type}\t"
                    f"{rng.choice(features)}\t{subject(rng, n)}\t{description}\t{priority}\t"
                    f"{RANK[priority]}\t{status}\t{created}\t{created}\t{clock}\n"
                )
                if len(lines) == 5000:
                    tickets_copy.write("".join(lines))
                    lines.clear()
            if lines:
                tickets_copy.write("".join(lines))
        log(f"copied {count} tickets in {time.monotonic() - started:.1f}s")
        conn.execute(
            "INSERT INTO timeline (ticket_id, status, by, actor_id, at) "
            "SELECT id, 'open', 'user', owner_id, created_at FROM tickets "
            "WHERE id BETWEEN %s AND %s",
            (first, first + count - 1),
        )
        for name, definition in indexes:
            t = time.monotonic()
            conn.execute(definition)
            log(f"rebuilt {name} in {time.monotonic() - t:.1f}s")
        conn.commit()
    with psycopg.connect(_plain(url), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE tickets")
        conn.execute("VACUUM ANALYZE timeline")
    log(f"loaded {count} tickets in {time.monotonic() - started:.1f}s total")
    return first, first + count - 1


def main(argv=None) -> int:
    """Parse arguments and load."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--database-url", help="default: HELPDESK_TICKETS_DATABASE_URL")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--keep-indexes", action="store_true")
    args = parser.parse_args(argv)
    # A local measurement: development unless the environment says otherwise.
    settings = TicketsSettings.from_env({"HELPDESK_ENV": "development", **os.environ})
    url = args.database_url or settings.tickets_database_url
    first, last = load(
        url, args.count, keyring_from_settings(settings), args.seed, args.keep_indexes
    )
    print(f"tickets #{first}..#{last}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
