"""The scheduler's tick at 10 thousand and a million tickets, against the claim without its index.

    python scripts/bench_scheduler.py [--sizes 10000,1000000] [--repeats 21] [--due 1000]

For each size it creates a fresh database (``helpdesk_bench_sched_<size>_<run>`` on the
server of ``HELPDESK_TICKETS_DATABASE_URL``, or ``--server``), migrates it, loads it
with ``load_million_tickets.load`` and schedules the loaded tickets as the service
would (every resolved ticket its auto-close and reminder, every awaiting one its
reminder; all in the future, as on a live desk). Then, in the same run:

- **a tick with nothing due**: the claim (``TicketRepository.claim_due``) in a
  transaction, next to the same call with ``due_work_due`` dropped inside that
  transaction (rolled back after), interleaved, medians of ``--repeats``; and the
  whole empty tick (``handlers.run_due_work``: a connection, the claim, the rollback);
- **``--due`` rows due at once** (at most half the resolved tickets, so each set is
  fresh): that many resolved tickets' auto-close made due,
  and one tick doing them all (``handlers.run_due_work``: claim, lock, close, outbox,
  commit, one transaction each), next to the same on another set of tickets with
  ``due_work_due`` dropped (committed, then rebuilt). Reported as the whole tick and
  its median per row.

The databases are dropped afterwards unless ``--keep``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts import bench_setup as bench  # noqa: E402
from scripts.bench_ticket_search import time_cases  # noqa: E402
from services.tickets import handlers  # noqa: E402
from services.tickets.repository import TicketRepository  # noqa: E402
from services.tickets.settings import timings  # noqa: E402
from services.tickets.unit_of_work import TicketsUnitOfWork  # noqa: E402
from shared.db import Connections  # noqa: E402

INDEX = "due_work_due"
CREATE_INDEX = f"CREATE INDEX {INDEX} ON due_work (due_at, ticket_id, kind)"
# Every resolved / awaiting ticket scheduled as the service schedules it, in the future.
_SCHEDULE = """
    INSERT INTO due_work (ticket_id, kind, due_at)
    SELECT id, kind, now() + interval '1 day' + (id %% 10000) * interval '1 minute'
    FROM tickets, unnest(%s::text[]) AS kind
    WHERE status = %s
    ON CONFLICT DO NOTHING
"""


class BenchFailed(RuntimeError):
    """A case did not do what it was timing (the figures would mean nothing)."""


def check(holds: bool, what) -> None:
    """Stop the run when a case did not do its work."""
    if not holds:
        raise BenchFailed(str(what))


# The response clocks as a live desk would have them: what is past told, what is to
# come scheduled (Ticket._schedule_clock). What falls due within a day counts as told
# too, so nothing falls due on its own while a run measures an empty tick.
_TOLD = """
    UPDATE tickets SET sla_notified = CASE WHEN sla_due_at <= now() + interval '1 day'
                                           THEN 'breached' ELSE 'warning' END
    WHERE sla_started_at IS NOT NULL AND sla_warn_at <= now() + interval '1 day'
"""
_SCHEDULE_CLOCKS = """
    INSERT INTO due_work (ticket_id, kind, due_at)
    SELECT id, 'sla_warning', sla_warn_at FROM tickets
    WHERE sla_started_at IS NOT NULL AND sla_notified IS NULL
    UNION ALL
    SELECT id, 'sla_breach', sla_due_at FROM tickets
    WHERE sla_started_at IS NOT NULL AND sla_notified IS DISTINCT FROM 'breached'
    ON CONFLICT DO NOTHING
"""


def schedule_all(engine) -> int:
    """Due rows for every loaded ticket waiting on its owner, and for every running
    response clock; how many in all."""
    with engine.begin() as conn:
        conn.exec_driver_sql(_SCHEDULE, (["auto_close", "closing_soon"], "resolved"))
        conn.exec_driver_sql(_SCHEDULE, (["awaiting_reminder"], "awaiting_user"))
        conn.exec_driver_sql(_TOLD)
        conn.exec_driver_sql(_SCHEDULE_CLOCKS)
        conn.exec_driver_sql("ANALYZE due_work")
        return conn.exec_driver_sql("SELECT count(*) FROM due_work").scalar_one()


def _ids(conn, query: str, count: int) -> list[int]:
    """The first column of ``query``'s rows, at most ``count`` of them (its LIMIT)."""
    return [row[0] for row in conn.exec_driver_sql(query, (count,))]


def make_due(engine, count: int) -> list[int]:
    """``count`` resolved tickets' auto-close made due a minute ago (their reminders
    dropped, as they would have been sent); their ids."""
    with engine.begin() as conn:
        ids = _ids(
            conn,
            "SELECT ticket_id FROM due_work WHERE kind = 'auto_close' "
            "AND due_at > now() ORDER BY ticket_id LIMIT %s",
            count,
        )
        conn.exec_driver_sql(
            "DELETE FROM due_work WHERE kind = 'closing_soon' AND ticket_id = ANY(%s)", (ids,)
        )
        conn.exec_driver_sql(
            "UPDATE due_work SET due_at = now() - interval '1 minute' "
            "WHERE kind = 'auto_close' AND ticket_id = ANY(%s)",
            (ids,),
        )
    return ids


def make_clocks_due(engine, count: int) -> list[int]:
    """``count`` running response clocks (of tickets not used before) made a fresh
    owed response at risk since a minute ago, due in an hour: their warnings due;
    their ids."""
    with engine.begin() as conn:
        ids = _ids(
            conn,
            "SELECT id FROM tickets WHERE sla_started_at IS NOT NULL "
            "AND sla_due_at < now() + interval '30 minutes' ORDER BY id LIMIT %s",
            count,
        )
        conn.exec_driver_sql(
            "UPDATE tickets SET sla_warn_at = now() - interval '1 minute', "
            "sla_due_at = now() + interval '1 hour', sla_notified = NULL WHERE id = ANY(%s)",
            (ids,),
        )
        for kind, column in (("sla_warning", "sla_warn_at"), ("sla_breach", "sla_due_at")):
            conn.exec_driver_sql(
                f"INSERT INTO due_work (ticket_id, kind, due_at) "  # nosec B608 - fixed names
                f"SELECT id, '{kind}', {column} FROM tickets WHERE id = ANY(%s) "
                "ON CONFLICT (ticket_id, kind) DO UPDATE SET due_at = EXCLUDED.due_at",
                (ids,),
            )
    return ids


def time_claims(engine, keyring, settings, repeats: int) -> tuple[float, float]:
    """Medians (ms) of the empty claim with its index, and with it dropped."""

    def claim(drop: bool) -> float:
        with engine.connect() as conn:
            conn.begin()
            if drop:
                conn.exec_driver_sql(f"DROP INDEX {INDEX}")
            repository = TicketRepository(conn, keyring, timings=timings(settings))
            started = time.perf_counter()
            found = repository.claim_due()
            elapsed = time.perf_counter() - started
            conn.rollback()
        check(found is None, found)
        return elapsed

    return bench.side_by_side(lambda: claim(False), lambda: claim(True), repeats)


def time_empty_tick(uow, repeats: int) -> float:
    """Median (ms) of a whole tick that finds nothing due."""
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        done = handlers.run_due_work(uow)
        samples.append(time.perf_counter() - started)
        check(not done, done)
    return bench.median_ms(samples)


# Per kind of due work timed: how to make ``count`` of it due, and the SQL counting
# the tickets it was done on (among ``ids``).
_DUE_CASES = {
    "auto_close": (
        make_due,
        "SELECT count(*) FROM tickets WHERE status = 'closed' AND id = ANY(%s)",
    ),
    "sla_warning": (
        make_clocks_due,
        "SELECT count(*) FROM tickets WHERE sla_notified = 'warning' AND id = ANY(%s)",
    ),
}


def time_due_tick(engine, uow, count: int, kind: str = "auto_close") -> tuple[float, float]:
    """One tick doing ``count`` due pieces of ``kind``: (whole tick s, median ms per row)."""
    make, done_sql = _DUE_CASES[kind]
    ids = make(engine, count)
    per_row = []
    original = handlers.domain.DUE_WORK[kind]

    def timed(ticket, now, audience):
        # The row's own work is timed by the tick's wall clock; this only counts rows.
        per_row.append(time.perf_counter())
        return original(ticket, now, audience)

    handlers.domain.DUE_WORK[kind] = timed
    try:
        started = time.perf_counter()
        done = handlers.run_due_work(uow, batch=count + 10)
        elapsed = time.perf_counter() - started
    finally:
        handlers.domain.DUE_WORK[kind] = original
    # A loaded clock may fall due on its own during a long run: it is done too.
    check(done[kind] == count, done)
    with engine.connect() as conn:
        finished = conn.exec_driver_sql(done_sql, (ids,)).scalar_one()
    check(finished == count, finished)
    gaps = [b - a for a, b in zip(per_row, per_row[1:], strict=False)]
    return elapsed, bench.median_ms(gaps)


def bench_size(server, size, repeats, due, keyring, settings, keep):
    """Load ``size`` tickets into a fresh database and time every case."""
    rows = []
    with bench.loaded_database(server, "helpdesk_bench_sched", size, keyring, keep) as engine:
        scheduled = schedule_all(engine)
        with engine.connect() as conn:
            resolved = conn.exec_driver_sql(
                "SELECT count(*) FROM due_work WHERE kind = 'auto_close'"
            ).scalar_one()
        # Two sets of tickets (with and without the index), each closed once.
        args_due, due = due, min(due, resolved // 2)
        bench.log(f"{size:>9} tickets, {scheduled:,} due rows scheduled")
        uow = TicketsUnitOfWork(Connections(engine), keyring, settings)
        ours, base = time_claims(engine, keyring, settings, repeats)
        rows.append(
            ("claim, nothing due", size, scheduled, f"{ours:.2f} ms", f"{base:.2f} ms", base / ours)
        )
        bench.log(f"{size:>9} claim, nothing due: {ours:.2f} ms vs {base:.2f} ms")
        tick = time_empty_tick(uow, repeats)
        rows.append(("whole tick, nothing due", size, scheduled, f"{tick:.2f} ms", "", None))
        bench.log(f"{size:>9} whole empty tick: {tick:.2f} ms")
        with engine.connect() as conn:
            running = conn.exec_driver_sql(
                "SELECT count(*) FROM tickets WHERE sla_started_at IS NOT NULL"
            ).scalar_one()
        for kind, count, what in (
            ("auto_close", due, "due auto-closes"),
            ("sla_warning", min(args_due, running // 2), "response clocks at risk at once"),
        ):
            indexed, indexed_row = time_due_tick(engine, uow, count, kind)
            with engine.begin() as conn:
                conn.exec_driver_sql(f"DROP INDEX {INDEX}")
            try:
                scanned, scanned_row = time_due_tick(engine, uow, count, kind)
            finally:
                with engine.begin() as conn:
                    conn.exec_driver_sql(CREATE_INDEX)
            rows.append(
                (
                    f"tick doing {count:,} {what}",
                    size,
                    scheduled,
                    f"{indexed:.2f} s ({indexed_row:.2f} ms/row)",
                    f"{scanned:.2f} s ({scanned_row:.2f} ms/row)",
                    scanned / indexed,
                )
            )
            bench.log(f"{size:>9} {count} {kind} due: {indexed:.2f} s vs {scanned:.2f} s")
        # The queue by due, beside the ticks, on the same tickets.
        for name, _size, ours, baseline_name, base in time_cases(
            engine, keyring, settings, size, repeats, only="due"
        ):
            rows.append(
                (
                    f"{name} ({baseline_name} in the baseline)",
                    size,
                    scheduled,
                    f"{ours:.2f} ms",
                    f"{base:.2f} ms",
                    base / ours,
                )
            )
    return rows


def table(rows) -> str:
    """The results as a Markdown table."""
    lines = [
        "| case | tickets | due rows | median, with the index | without it | without / with |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, size, scheduled, ours, base, ratio in rows:
        shown = f"{ratio:.1f}x" if ratio is not None else ""
        lines.append(f"| {name} | {size:,} | {scheduled:,} | {ours} | {base} | {shown} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    """Run the benchmark and print the table."""
    parser = bench.arguments(__doc__.splitlines()[0])
    parser.add_argument("--due", type=int, default=1000, help="rows due at once")
    args = parser.parse_args(argv)
    settings, server, keyring = bench.local_run(args)
    rows = []
    for size in bench.sizes(args):
        rows += bench_size(server, size, args.repeats, args.due, keyring, settings, args.keep)
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
