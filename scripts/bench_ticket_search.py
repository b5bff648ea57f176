"""Ticket list and search latency at 10 thousand and a million tickets, against baselines.

    python scripts/bench_ticket_search.py [--sizes 10000,1000000] [--repeats 21]

For each size it creates a fresh database (``helpdesk_bench_<size>_<run>`` on the server
of ``HELPDESK_TICKETS_DATABASE_URL``, or ``--server``), migrates it, loads it with
``load_million_tickets.load`` and times the service's own list handlers (the real
queries, views and cursors, without RPC) next to a baseline, in the same run,
interleaved, reporting medians:

- lists, searches and the queue by due (``sort=due``, ``sla=``): the same handler
  call with the index that serves it dropped
  inside the call's own transaction, which the handler rolls back (so the index is
  unused for that query only, and back for the next);
- deep pages: the keyset condition against the same page fetched with OFFSET.

The databases are dropped afterwards unless ``--keep``.
"""

from __future__ import annotations

import functools
import sys
import time
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts import bench_setup as bench  # noqa: E402
from scripts.load_million_tickets import BENCH_USER  # noqa: E402
from services.tickets import handlers  # noqa: E402
from services.tickets.unit_of_work import TicketsUnitOfWork  # noqa: E402
from shared.db import Connections  # noqa: E402

ADMIN = {"id": "bench-admin", "name": "Bench Admin", "role": "admin"}
USER = {"id": BENCH_USER, "name": "Bench User", "role": "user"}
DEEP_PAGE = 100  # pages of 20: rows 1981-2000
TRGM_INDEX = "tickets_subject_trgm_idx"
# Serves the queue by the soonest owed response and the sla= filters (migration 0004).
DUE_INDEX = "tickets_due_queue_idx"


class _Stopwatch:
    """Times the ``with`` block a case puts around its measured part only, so a
    baseline's set-up (dropping an index) and tear-down (the rollback) are not counted."""

    seconds = 0.0

    def __enter__(self):
        self._started = time.perf_counter()

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self._started


def _timed(fn) -> float:
    watch = _Stopwatch()
    fn(watch)
    return watch.seconds


class _Kept:
    """A connection the handler may close without ending the script's transaction."""

    def __init__(self, connection: sa.Connection):
        self._connection = connection

    def __getattr__(self, name):
        return getattr(self._connection, name)

    def close(self) -> None:
        pass


class _Lending:
    """``Connections`` that lend the script's own connection, in its transaction."""

    def __init__(self, connection: sa.Connection):
        self._connection = connection

    def transaction(self):
        return _Kept(self._connection)

    autocommit = transaction


def cases(engine: sa.Engine, keyring, settings):
    """(name, our call, baseline call, baseline name) for every measured query."""

    connections = Connections(engine)

    def handler(name, actor, params, without=None):
        def run(watch):
            if not without:
                with watch:
                    uow = TicketsUnitOfWork(connections, keyring, settings)
                    getattr(handlers, name)(handlers.Command(actor, params), uow)
                return
            with engine.connect() as connection:  # rolled back when the block ends
                # The index is gone for this query only, inside a transaction that is
                # never committed (a catalog change, no data touched).
                connection.execute(sa.text(f"DROP INDEX {without}"))
                with watch:
                    uow = TicketsUnitOfWork(_Lending(connection), keyring, settings)
                    getattr(handlers, name)(handlers.Command(actor, params), uow)

        return run

    def search(label, name, actor, q):
        return (
            f"{label} search q={q!r}",
            handler(name, actor, {"q": q}),
            handler(name, actor, {"q": q}, without=TRGM_INDEX),
            "trigram index unused",
        )

    def sql(query, **params):
        def run(watch):
            with watch, connections.autocommit() as connection:
                connection.execute(sa.text(query), params).all()

        return run

    # The deep page: keyset cursor vs OFFSET for the same rows (SQL only, both sides).
    with connections.autocommit() as connection:
        last_before = connection.execute(
            sa.text("SELECT id FROM tickets ORDER BY id DESC OFFSET :n LIMIT 1"),
            {"n": (DEEP_PAGE - 1) * 20 - 1},
        ).scalar()
    columns = "id, subject, issue_type, feature, status, priority, created_at, updated_at"

    return [
        (
            "user list, first page",
            handler("list_tickets", USER, {}),
            handler("list_tickets", USER, {}, without="tickets_owner_id_idx"),
            "owner index unused",
        ),
        (
            "admin queue, first page, sort=priority",
            handler("admin_list_tickets", ADMIN, {"sort": "priority"}),
            handler(
                "admin_list_tickets",
                ADMIN,
                {"sort": "priority"},
                without="tickets_priority_queue_idx",
            ),
            "priority index unused",
        ),
        (
            "admin queue, first page, sort=due",
            handler("admin_list_tickets", ADMIN, {"sort": "due"}),
            handler("admin_list_tickets", ADMIN, {"sort": "due"}, without=DUE_INDEX),
            "due index unused",
        ),
        (
            "admin queue, sla=at_risk, sort=due",
            handler("admin_list_tickets", ADMIN, {"sort": "due", "sla": "at_risk"}),
            handler(
                "admin_list_tickets", ADMIN, {"sort": "due", "sla": "at_risk"}, without=DUE_INDEX
            ),
            "due index unused",
        ),
        (
            f"admin queue, page {DEEP_PAGE} (SQL, keyset)",
            sql(
                f"SELECT {columns} FROM tickets WHERE id < :id ORDER BY id DESC LIMIT 21",
                id=last_before,
            ),
            sql(
                f"SELECT {columns} FROM tickets ORDER BY id DESC OFFSET :n LIMIT 21",
                n=(DEEP_PAGE - 1) * 20,
            ),
            "same page with OFFSET",
        ),
        search("admin, rare", "admin_list_tickets", ADMIN, "ref 00042"),
        search("admin, common word", "admin_list_tickets", ADMIN, "invoice"),
        search("admin, no match", "admin_list_tickets", ADMIN, "zebra crossing"),
        search("user's own", "list_tickets", USER, "invoice"),
    ]


def time_cases(engine, keyring, settings, size: int, repeats: int, only=None) -> list[tuple]:
    """Time every case (those whose name contains ``only``, when given) on a loaded
    database: (name, size, median ms, baseline name, baseline median ms) each.
    ``bench_scheduler.py`` times the queue by due with it, beside its ticks."""
    rows = []
    for name, fn, baseline, baseline_name in cases(engine, keyring, settings):
        if only and only not in name:
            continue
        ours, base = bench.side_by_side(
            functools.partial(_timed, fn), functools.partial(_timed, baseline), repeats
        )
        rows.append((name, size, ours, baseline_name, base))
        bench.log(f"{size:>9} {name}: {ours:.2f} ms vs {base:.2f} ms")
    return rows


def bench_size(server: str, size: int, repeats: int, keyring, settings, keep: bool, only=None):
    """Load ``size`` tickets into a fresh database and time every case."""
    with bench.loaded_database(server, "helpdesk_bench", size, keyring, keep) as engine:
        return time_cases(engine, keyring, settings, size, repeats, only)


def table(rows) -> str:
    """The results as a Markdown table."""
    lines = [
        "| query | tickets | median ms | baseline | baseline median ms | baseline / ours |",
        "| --- | ---: | ---: | --- | ---: | ---: |",
    ]
    for name, size, ours, baseline_name, base in rows:
        lines.append(
            f"| {name} | {size:,} | {ours:.2f} | {baseline_name} | {base:.2f} | {base / ours:.1f}x |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    """Run the benchmark and print the table."""
    parser = bench.arguments(__doc__.splitlines()[0])
    parser.add_argument("--only", help="time only the queries whose name contains this")
    args = parser.parse_args(argv)
    settings, server, keyring = bench.local_run(args)
    rows = []
    for size in bench.sizes(args):
        rows += bench_size(server, size, args.repeats, keyring, settings, args.keep, args.only)
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
