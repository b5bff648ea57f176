#!/usr/bin/env python3
"""Scale-out on one machine: 1 vs 2 processes of each service, 2 vs 4 gateway workers.

Runs the real stack in several layouts, each on its own vhost and databases and
started as ``make run`` starts it (``tests.stack``), differing only in
``HELPDESK_TICKETS_INSTANCES``, ``HELPDESK_NOTIFICATIONS_INSTANCES`` and
``HELPDESK_GATEWAY_WORKERS``. Each round starts every layout in turn (the order
rotates every round, so no layout always runs first or last), seeds it, warms it
up, drives each target with wrk and stops it again. Reported, as medians:

- requests/s, p50 and p99, and the ratio of requests/s to the baseline layout
  (1 tickets, 1 notifications, 2 gateway workers) measured in the same round;
- CPU milliseconds per request for each component (gateway = gunicorn's master and
  workers, tickets, notifications, PostgreSQL, RabbitMQ), from ``/proc`` before and
  after each run, the same accounting as ``scripts/bench_gateway.py``;
- the busiest single process of each component, as a share of one core during the
  run: a process near 1.0 is the bottleneck that a second one would relieve;
- the 1-minute load average at the start and end of each run (the machine is shared).

    .venv/bin/python scripts/bench_scale.py [--duration 8] [--rounds 3] [--only list,create]

Traffic goes to 127.0.0.1 only. Needs ``wrk`` (``apt-get install -y wrk``).
docs/capacity.md turns these figures into a capacity model.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from scripts.bench_gateway import (  # noqa: E402 - after the path set-up above
    READER,
    _http,
    _proc_table,
    _ticket,
    cpu_by_component,
    lua_get,
    lua_rotating,
    run_wrk,
    wrk_arguments,
)

# name -> (tickets processes, notifications processes, gateway workers)
LAYOUTS = {
    "baseline 1t 1n 2w": (1, 1, 2),
    "tickets x2": (2, 1, 2),
    "notifications x2": (1, 2, 2),
    "gateway 4 workers": (1, 1, 4),
    "all: 2t 2n 4w": (2, 2, 4),
}
BASELINE = "baseline 1t 1n 2w"
COMPONENTS = ("gateway", "tickets", "notifications")


def _descendants(roots: list[int], table: dict) -> list[int]:
    children: dict[int, list[int]] = {}
    for pid, (ppid, _name, _cpu) in table.items():
        children.setdefault(ppid, []).append(pid)
    found, stack = [], list(roots)
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack.extend(children.get(pid, ()))
    return found


def busiest(roots: dict[str, list[int]], before: dict, after: dict, seconds: float) -> dict:
    """Per component, the largest CPU share of one core taken by any one of its processes."""
    shares = {}
    for component, pids in roots.items():
        best = 0.0
        for pid in _descendants(pids, after):
            if pid in before:
                best = max(best, (after[pid][2] - before[pid][2]) / seconds)
        shares[component] = best
    return shares


def build_stack(name: str, layout: tuple[int, int, int], users: int):
    """Start one layout's stack and seed it; return (stack, roots, targets)."""
    from tests.stack import isolated_stack

    tickets, notifications, workers = layout
    stack = isolated_stack(
        f"scale{uuid.uuid4().hex[:6]}",
        {
            "HELPDESK_TICKETS_PER_DAY": "10000",
            "HELPDESK_MESSAGES_PER_HOUR": "100000",
            "HELPDESK_LOG_LEVEL": "WARNING",
            "HELPDESK_TICKETS_INSTANCES": str(tickets),
            "HELPDESK_NOTIFICATIONS_INSTANCES": str(notifications),
            "HELPDESK_GATEWAY_WORKERS": str(workers),
        },
    )
    stack.start()
    stack.wait_ready()
    base = stack.base_url
    reader = stack.token(READER, "user", "Reader")
    for i in range(20):
        _http("POST", f"{base}/api/v1/tickets", reader, _ticket(i))
    detail_id = _http("POST", f"{base}/api/v1/tickets", reader, _ticket(99))["id"]
    tokens = [stack.token(f"bench-user-{i}", "user", f"User {i}") for i in range(users)]
    replies = []
    for token in tokens[: max(1, users // 4)]:
        tid = _http("POST", f"{base}/api/v1/tickets", token, _ticket(1))["id"]
        replies.append(
            (f"/api/v1/tickets/{tid}/messages", token, json.dumps({"body": "Any news?"}))
        )
    creates = [("/api/v1/tickets", t, json.dumps(_ticket(3))) for t in tokens]
    targets = {
        "list": (f"{base}/api/v1/tickets", lua_get(reader)),
        "detail": (f"{base}/api/v1/tickets/{detail_id}", lua_get(reader)),
        "create": (f"{base}/api/v1/tickets", lua_rotating(creates)),
        "reply": (base, lua_rotating(replies)),
    }
    roots = {
        component: [p.pid for k, p in stack.procs.items() if k.split(".")[0] == component]
        for component in COMPONENTS
    }
    print(f"{name}: ready ({', '.join(sorted(stack.procs))})", file=sys.stderr)
    return stack, roots, targets


def main(argv=None) -> int:
    """Run every layout side by side; print Markdown tables of medians and ratios."""
    parser = wrk_arguments(__doc__.splitlines()[0], duration=8, rounds=3, connections=32)
    parser.add_argument(
        "--only", help="comma-separated targets (default: list,detail,create,reply)"
    )
    args = parser.parse_args(argv)
    if not shutil.which("wrk"):
        print("bench_scale: wrk is missing (apt-get install -y wrk)", file=sys.stderr)
        return 2
    from tests.stack import discard_stack

    wanted = [t.strip() for t in (args.only or "list,detail,create,reply").split(",")]
    names = list(LAYOUTS)
    results = {(t, n): [] for t in wanted for n in names}
    for round_ in range(args.rounds):
        order = names[round_ % len(names) :] + names[: round_ % len(names)]
        for name in order:
            # One stack at a time: five at once hold more PostgreSQL connections than
            # a default server allows (max_connections 100; docs/capacity.md).
            stack, roots, targets = build_stack(name, LAYOUTS[name], args.users)
            try:
                for target in wanted:
                    url, script = targets[target]
                    run_wrk(url, script, args.warmup, args.connections, args.threads)
                for target in wanted:
                    url, script = targets[target]
                    result = measure(url, script, roots, args)
                    results[(target, name)].append(result)
                    print(f"round {round_ + 1} {target} {name}: {result}", file=sys.stderr)
            finally:
                discard_stack(stack)
    print(report(results, args, wanted, names))
    return 0


def measure(url: str, script: str, roots: dict, args) -> dict:
    """One wrk run with its CPU per request, busiest processes and load average."""
    load_before = os.getloadavg()[0]
    procs_before, cpu_before = _proc_table(), cpu_by_component(roots)
    started = time.monotonic()
    result = run_wrk(url, script, args.duration, args.connections, args.threads)
    seconds = time.monotonic() - started
    procs_after, cpu_after = _proc_table(), cpu_by_component(roots)
    result["cpu_ms"] = {
        k: 1000 * (cpu_after[k] - cpu_before[k]) / max(1, result["requests"]) for k in cpu_after
    }
    result["busiest"] = busiest(roots, procs_before, procs_after, seconds)
    result["load"] = (load_before, os.getloadavg()[0])
    return result


def report(results: dict, args, targets: list[str], names: list[str]) -> str:
    """Markdown: throughput and ratios, CPU per request, busiest process, load."""
    med = lambda runs, f: statistics.median(f(r) for r in runs)  # noqa: E731
    lines = [
        f"{args.rounds} rounds x {args.duration} s, {args.connections} connections, "
        f"wrk -t{args.threads}; medians; ratio = requests/s / baseline's in the same round",
        "",
        "| target | layout | requests/s | ratio to baseline | p50 ms | p99 ms | non-2xx "
        "| load 1m (min-max) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for target in targets:
        base_runs = results[(target, BASELINE)]
        for name in names:
            runs = results[(target, name)]
            ratios = [r["rps"] / b["rps"] for r, b in zip(runs, base_runs, strict=True)]
            loads = [x for r in runs for x in r["load"]]
            lines.append(
                f"| {target} | {name} | {med(runs, lambda r: r['rps']):.0f} "
                f"| {statistics.median(ratios):.2f} | {med(runs, lambda r: r['p50']):.1f} "
                f"| {med(runs, lambda r: r['p99']):.1f} | {sum(r['non_2xx'] for r in runs)} "
                f"| {min(loads):.1f}-{max(loads):.1f} |"
            )
    components = [*COMPONENTS, "postgres", "rabbitmq", "other", "wrk"]
    lines += [
        "",
        "CPU milliseconds per request by component (medians; both cores count), and the "
        "busiest single process of each service as a share of one core:",
        "",
        "| target | layout | "
        + " | ".join(components)
        + " | total | busiest "
        + " | busiest ".join(COMPONENTS)
        + " |",
        "| --- | --- |" + " ---: |" * (len(components) + 1 + len(COMPONENTS)),
    ]
    for target in targets:
        for name in names:
            runs = results[(target, name)]
            cpu = {c: med(runs, lambda r, c=c: r["cpu_ms"][c]) for c in components}
            share = {c: med(runs, lambda r, c=c: r["busiest"][c]) for c in COMPONENTS}
            lines.append(
                f"| {target} | {name} | "
                + " | ".join(f"{cpu[c]:.2f}" for c in components)
                + f" | {sum(cpu.values()):.2f} | "
                + " | ".join(f"{share[c]:.2f}" for c in COMPONENTS)
                + " |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
