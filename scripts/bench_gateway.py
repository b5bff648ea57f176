#!/usr/bin/env python3
"""Benchmark the gateway against a floor measured in the same run.

Starts, on an isolated vhost and databases, the real stack (tickets, notifications
and the gateway's gunicorn, exactly as ``make run`` starts them, with a high daily
ticket limit and access logs off) and, beside it, the *floor*: the same gunicorn
configuration serving one Falcon route that makes one trivial RPC call to an echo
method of a tiny nameko service. Then it drives each target with wrk, in rounds,
and prints medians of requests/s and p50/p99 latency, with each target's ratio to
the floor.

    .venv/bin/python scripts/bench_gateway.py [--duration 10] [--rounds 3] [--connections 32]
        [--baseline-rev REV | --baseline-tree DIR] [--rev REV]

Targets: list (GET /api/v1/tickets, 20 items), detail (GET one ticket with a few
messages), create (POST /api/v1/tickets, rotating over many users' tokens) and
reply (POST /api/v1/tickets/{id}/messages, rotating over many owners' tickets).
"support reply" (a public support reply, no status, on tickets already in review) and
"support reply + status" (the same reply carrying the status it leaves the ticket in,
one action: alternately awaiting_user and in_review) run side by side, each wrk
thread on tickets of its own in both, so no two requests race for a ticket, with
"status change" (POST .../status alone, alternating the same way): what a one-step
reply costs against a plain reply, and against the two calls it replaces.
"admin queue" (GET /api/v1/admin/tickets, rotating over many admins' tokens)
runs against the real gateway and against the same gateway with its staff
recording replaced by a no-op ("admin queue (no staff recording)", a second
gunicorn from this script): the cost of ``middleware.RecordStaff``.
Two diagnostic rows, "service alone", make the same list/detail RPC calls from the
floor app (no auth, validation or gateway middleware), so a gap to the floor can be
told apart: the tickets service's own cost versus the gateway's. A second floor,
"floor, project RPC", makes the same echo call through the project's own transport
(the gateway's pooled client, an echo service on the ``shared.rpc`` entrypoint):
ratios to it show what the endpoints cost beyond the RPC hop itself. The goals are
judged against the first floor, as defined in the issue. A second table gives CPU
milliseconds per request for each process (and PostgreSQL, RabbitMQ, wrk), read
from /proc around each run.

``--baseline-rev REV`` (or ``--baseline-tree DIR``) measures a change: a second stack
runs REV's code (a detached git worktree in a temporary directory, removed
afterwards; its processes start there with ``PYTHONPATH`` there, its databases are
migrated and its queues declared by its own ``helpdesk-setup``: ``tests.stack.tree_stack``)
and every gateway target (list to admin queue) runs on both, with data of its own on
each, each round alternating which of the two goes first. Interleaved, load from
elsewhere on the machine hits both alike, so their ratio holds where the absolute
figures drift. A last table gives each target's ratios (this tree's over the
baseline's) of median requests/s and p50, the per-round ratios and their median, and
the CPU per request of each stack's processes. ``--rev REV`` measures a worktree of REV instead of this tree
(two commits against each other); the floors and the diagnostic rows stay this
tree's code. Before the rounds, the script checks that each stack's processes run in
their tree and import the tickets domain from it (the paths are printed).
Traffic goes to 127.0.0.1 only. Needs ``wrk`` (``apt-get install -y wrk``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

ECHO_SERVICE = "bench_echo"
# The same echo behind the project's own RPC transport (shared.rpc entrypoint, the
# gateway's pooled client): a second floor, to tell transport gains from the rest.
PROJECT_ECHO_SERVICE = "bench_echo_project"
READER = "bench-reader"
DESCRIPTION = "The dashboard charts stay empty after login, in every browser we have tried here."
TARGET_RATIO = {"list": 0.70, "detail": 0.70, "create": 0.50, "reply": 0.50}
# A target's row on the baseline stack (--baseline-rev/--baseline-tree) is its name
# with this suffix, and so is a baseline process's CPU column.
BASELINE = ", baseline"


# ---------------------------------------------------------------- the floor app


class EchoService:
    """The floor's service: one method that does nothing but answer."""

    name = ECHO_SERVICE

    def echo(self, value):
        return value


def _floor_app():
    """A Falcon app with one route making one RPC call per request (thread-local clients)."""
    import falcon

    from services.gateway.settings import FrontSettings

    settings = FrontSettings.from_env()
    local = threading.local()

    def proxy():
        # One standalone client per thread, made after fork: the least a gateway can do.
        if getattr(local, "pid", None) != os.getpid():
            from nameko.standalone.rpc import ClusterRpcProxy

            local.rpc = ClusterRpcProxy(settings.nameko_config(), timeout=settings.rpc_timeout)
            local.proxy = local.rpc.start()
            local.pid = os.getpid()
        return local.proxy

    class Floor:
        def on_get(self, req, resp):
            resp.media = {"echo": proxy()[ECHO_SERVICE].echo("ping")}

    from services.gateway.rpc import RpcClients

    clients = RpcClients(settings)

    class ProjectFloor:
        def on_get(self, req, resp):
            resp.media = {"echo": clients.call(PROJECT_ECHO_SERVICE, "echo", "ping")}

    # The same tickets calls the gateway makes, with nothing else around them: the
    # service's own cost, to tell it apart from the gateway's.
    reader = {"id": READER, "name": "Reader", "role": "user"}

    class ServiceList:
        def on_get(self, req, resp):
            resp.media = proxy().tickets.list_tickets(reader, {})

    class ServiceDetail:
        def on_get(self, req, resp, ticket_id):
            resp.media = proxy().tickets.get_ticket(reader, ticket_id)

    app = falcon.App()
    app.add_route("/floor", Floor())
    app.add_route("/floor-project", ProjectFloor())
    app.add_route("/service/tickets", ServiceList())
    app.add_route("/service/tickets/{ticket_id:int}", ServiceDetail())
    return app


def _gateway_without_staff_recording():
    """The baseline of the admin targets: the real gateway (``services.gateway.wsgi``)
    with its staff recording (``middleware.RecordStaff``) replaced by a no-op, so the
    two differ in that middleware only."""
    from services.gateway import app as gateway_app

    class NoStaffRecording:
        def __init__(self, clients):
            pass

        def process_request(self, req, resp):
            pass

    gateway_app.RecordStaff = NoStaffRecording
    from services.gateway import wsgi

    return wsgi.app


if os.environ.get("HELPDESK_BENCH_NO_RECORDING") == "1":
    unrecorded_app = _gateway_without_staff_recording()

if os.environ.get("HELPDESK_BENCH_FLOOR") == "1":
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        floor_app = _floor_app()


def serve_echo(project: bool) -> int:
    """Run an echo nameko service in the foreground (a subprocess of the benchmark):
    with nameko's own ``rpc`` entrypoint, or with the project's (``project``)."""
    import shared.green  # noqa: F401,I001  (before anything imports psycopg)

    from nameko.rpc import rpc as nameko_rpc

    from shared.config import Settings
    from shared.rpc import rpc as project_rpc
    from shared.runner import run_service

    class Echo(EchoService):
        name = PROJECT_ECHO_SERVICE if project else ECHO_SERVICE
        echo = (project_rpc if project else nameko_rpc)(EchoService.echo)

    return run_service(Echo.name, Echo, Settings, argv=[])


# ---------------------------------------------------------------- wrk


def lua_rotating(requests_: list[tuple[str, str, str]], method: str = "POST") -> str:
    """A wrk script sending ``method`` requests round-robin over (path, token, body)
    triples (a GET's body is empty). wrk seeds every thread's random numbers alike, so
    each thread starts a golden-ratio share of the rows further on: threads that all
    started at one random row would send the same user's or ticket's requests at once."""
    rows = ",\n".join(
        # JSON string literals of ASCII text are valid Lua string literals.
        "{" + ", ".join(json.dumps(part) for part in row) + "}"
        for row in requests_
    )
    return f"""
local rows = {{
{rows}
}}
local i = math.random(#rows)
local threads = 0
function setup(thread)
  thread:set("offset", threads)
  threads = threads + 1
end
function init(args)
  i = (i + math.floor(offset * #rows * 0.618034)) % #rows
end
request = function()
  i = (i % #rows) + 1
  local r = rows[i]
  return wrk.format("{method}", r[1], {{["Authorization"] = "Bearer " .. r[2],
    ["Content-Type"] = "application/json"}}, r[3])
end
"""


def lua_per_thread(groups: list[list[tuple[str, str, str]]], method: str = "POST") -> str:
    """A wrk script whose thread n sends ``method`` requests in order over the
    (path, token, body) triples of ``groups[n]``: each thread keeps to its own rows,
    so requests on one ticket never race between threads."""
    tables = ",\n".join(
        "{" + ",\n".join("{" + ", ".join(json.dumps(p) for p in row) + "}" for row in group) + "}"
        for group in groups
    )
    return f"""
local groups = {{
{tables}
}}
local threads = 0
function setup(thread)
  thread:set("group", threads % #groups + 1)
  threads = threads + 1
end
local i = 0
request = function()
  local rows = groups[group]
  i = (i % #rows) + 1
  local r = rows[i]
  return wrk.format("{method}", r[1], {{["Authorization"] = "Bearer " .. r[2],
    ["Content-Type"] = "application/json"}}, r[3])
end
"""


def _in_review(base, admin, owner, count, threads) -> list[list[int]]:
    """Per wrk thread, ``count`` tickets in review (a first support reply moved each,
    so a support reply on them later is a plain one: no first response, no move)."""
    groups = []
    for _ in range(threads):
        ids = []
        for _ in range(count):
            tid = _http("POST", f"{base}/api/v1/tickets", owner, _ticket(4))["id"]
            _http("POST", f"{base}/api/v1/admin/tickets/{tid}/messages", admin, {"body": "On it."})
            ids.append(tid)
        groups.append(ids)
    return groups


def _alternating(base, admin, owner, count, threads, make_row):
    """Per wrk thread, ``count`` tickets in review (``_in_review``); returns a function
    building that run's script: each ticket moved to the other of
    awaiting_user / in_review, then (a full pass later) back, starting from the status
    it is in now (a run that ended mid-pass left some moved, some not), so every
    move is legal. ``make_row(ticket_id, status)`` -> (path, token, body)."""
    groups = _in_review(base, admin, owner, count, threads)
    other = {"in_review": "awaiting_user", "awaiting_user": "in_review"}

    def script() -> str:
        rows = []
        for ids in groups:
            now = {
                t: _http("GET", f"{base}/api/v1/admin/tickets/{t}", admin)["status"] for t in ids
            }
            rows.append(
                [make_row(t, other[now[t]]) for t in ids] + [make_row(t, now[t]) for t in ids]
            )
        return lua_per_thread(rows)

    return script


def lua_get(token: str | None) -> str:
    header = f'wrk.headers["Authorization"] = "Bearer {token}"' if token else ""
    return f'wrk.method = "GET"\n{header}\n'


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(value) * _UNITS[unit]


def wrk_arguments(description: str, *, duration: int, rounds: int, connections: int):
    """The options every wrk benchmark takes (``--duration``, ``--rounds``,
    ``--connections``, ``--threads``, ``--warmup``, ``--users``); a script adds its own."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--duration", type=int, default=duration, help=f"seconds per wrk run (default {duration})"
    )
    parser.add_argument(
        "--rounds", type=int, default=rounds, help=f"runs per target; medians (default {rounds})"
    )
    parser.add_argument("--connections", type=int, default=connections)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up per target")
    parser.add_argument("--users", type=int, default=200, help="distinct users for create/reply")
    return parser


def run_wrk(url: str, script: str, duration: int, connections: int, threads: int) -> dict:
    """One wrk run; requests/s, p50 and p99 in ms, and non-2xx count."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(script)
    try:
        out = subprocess.run(
            [
                "wrk",
                f"-t{threads}",
                f"-c{connections}",
                f"-d{duration}s",
                "--latency",
                "-s",
                fh.name,
                url,
            ],
            capture_output=True,
            text=True,
            timeout=duration + 60,
            check=True,
        ).stdout
    finally:
        os.unlink(fh.name)
    latency = dict(re.findall(r"^\s*(50|99)(?:\.0+)?%\s+([\d.]+(?:us|ms|s|m))\s*$", out, re.M))
    if set(latency) != {"50", "99"}:
        raise RuntimeError(f"unexpected wrk output for {url}:\n{out}")
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)$", out, re.M)
    return {
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": _ms(latency["50"]),
        "p99": _ms(latency["99"]),
        "non_2xx": int(errors.group(1)) if errors else 0,
        "socket_errors": socket_errors.group(1) if socket_errors else "",
    }


# ---------------------------------------------------------------- CPU accounting

_TICKS = os.sysconf("SC_CLK_TCK")


def _proc_table() -> dict[int, tuple[int, str, float]]:
    """pid -> (parent pid, command name, CPU seconds used so far) for every process."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                raw = fh.read()
        except OSError:
            continue  # gone meanwhile
        name = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()
        # fields[1] is the parent pid; fields[11]/[12] are utime/stime in ticks.
        table[int(entry)] = (int(fields[1]), name, (int(fields[11]) + int(fields[12])) / _TICKS)
    return table


def cpu_by_component(roots: dict[str, list[int]]) -> dict[str, float]:
    """CPU seconds used so far by each named process tree, PostgreSQL, RabbitMQ and wrk.

    ``roots`` maps a component to the pids of its processes; their descendants (the
    gunicorn workers) count too. Everything else on the machine is "other".
    """
    table = _proc_table()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _name, _cpu) in table.items():
        children.setdefault(ppid, []).append(pid)
    owner: dict[int, str] = {}
    for component, pids in roots.items():
        stack = list(pids)
        while stack:
            pid = stack.pop()
            owner[pid] = component
            stack.extend(children.get(pid, ()))
    by_name = {"postgres": "postgres", "beam.smp": "rabbitmq"}
    totals = dict.fromkeys([*roots, "postgres", "rabbitmq", "other"], 0.0)
    for pid, (_ppid, name, cpu) in table.items():
        totals[owner.get(pid) or by_name.get(name, "other")] += cpu
    # wrk has exited by the time of the second reading: its CPU is in our children's usage.
    children_usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    totals["wrk"] = children_usage.ru_utime + children_usage.ru_stime
    return totals


# ---------------------------------------------------------------- set-up


def _http(method, url, token=None, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def _ticket(i: int) -> dict:
    return {
        "issue_type": ("bug", "billing", "data", "other", "access")[i % 5],
        "feature": "dashboard",
        "subject": f"Benchmark ticket number {i}",
        "description": DESCRIPTION,
    }


def _gateway_targets(stack, args) -> tuple[dict, int]:
    """Make the data of the targets served by ``stack``'s gateway (``GATEWAY_TARGETS``);
    their (url, script) by name, and the id of the ticket the detail target reads."""
    base = stack.base_url
    reader = stack.token(READER, "user", "Reader")
    for i in range(20):
        _http("POST", f"{base}/api/v1/tickets", reader, _ticket(i))
    detail_id = _http("POST", f"{base}/api/v1/tickets", reader, _ticket(99))["id"]
    for i in range(3):
        _http(
            "POST",
            f"{base}/api/v1/tickets/{detail_id}/messages",
            reader,
            {"body": f"Message {i}: still broken."},
        )
    tokens = [stack.token(f"bench-user-{i}", "user", f"User {i}") for i in range(args.users)]
    replies = []
    for token in tokens[: max(1, args.users // 4)]:
        tid = _http("POST", f"{base}/api/v1/tickets", token, _ticket(1))["id"]
        replies.append(
            (
                f"/api/v1/tickets/{tid}/messages",
                token,
                json.dumps({"body": "Any update on this?"}),
            )
        )
    creates = [("/api/v1/tickets", t, json.dumps(_ticket(3))) for t in tokens]
    # Support staff working the queue, many of them: each request is an admin's,
    # which the real gateway records once per worker (middleware.RecordStaff).
    admins = [
        ("/api/v1/admin/tickets", stack.token(f"bench-admin-{i}", "admin", f"Admin {i}"), "")
        for i in range(args.admins)
    ]
    # Support replies: plain, carrying a status, and the status change alone.
    agent = stack.token("bench-agent", "admin", "Agent")
    owner = stack.token("bench-owner", "user", "Owner")
    reply_body = "Thanks, we are looking into it."
    # The plain reply on the same footing as the moves below: tickets already in
    # review, each wrk thread on tickets of its own (wrk seeds every thread's
    # random start alike, so rotating threads would race for the same tickets).
    plain = lua_per_thread(
        [
            [
                (
                    f"/api/v1/admin/tickets/{tid}/messages",
                    agent,
                    json.dumps({"body": reply_body}),
                )
                for tid in ids
            ]
            for ids in _in_review(base, agent, owner, args.support_tickets, args.threads)
        ]
    )

    def moves(action, body):
        """Rows of ``action`` (messages, status) with ``body(status)``, per thread."""
        return _alternating(
            base,
            agent,
            owner,
            args.support_tickets,
            args.threads,
            lambda t, status: (
                f"/api/v1/admin/tickets/{t}/{action}",
                agent,
                json.dumps(body(status)),
            ),
        )

    targets = {
        "list": (f"{base}/api/v1/tickets", lua_get(reader)),
        "detail": (f"{base}/api/v1/tickets/{detail_id}", lua_get(reader)),
        "create": (f"{base}/api/v1/tickets", lua_rotating(creates)),
        "reply": (base, lua_rotating(replies)),
        "support reply": (base, plain),
        "support reply + status": (
            base,
            moves("messages", lambda status: {"body": reply_body, "status": status}),
        ),
        "status change": (base, moves("status", lambda status: {"status": status})),
        "admin queue": (base, lua_rotating(admins, "GET")),
    }
    return targets, detail_id


@contextlib.contextmanager
def _worktree(rev: str):
    """A detached git worktree of ``rev`` in a temporary directory, removed afterwards."""
    git = ["git", "-C", str(ROOT), "worktree"]
    with tempfile.TemporaryDirectory(prefix="bench-tree-") as tmp:
        tree = Path(tmp) / rev.replace("/", "_")
        subprocess.run([*git, "add", "--detach", "--quiet", str(tree), rev], check=True)
        try:
            yield tree
        finally:
            subprocess.run([*git, "remove", "--force", str(tree)], check=True)


def _running_code(stack) -> str:
    """Where ``stack``'s processes import their code from: each process's working
    directory must be its tree, and the tickets domain and the gateway's app, imported
    as they import them (same interpreter, environment and directory), from there."""
    for label, proc in stack.procs.items():
        cwd = os.readlink(f"/proc/{proc.pid}/cwd")
        if Path(cwd) != stack.tree:
            raise RuntimeError(f"{label} runs in {cwd}, not {stack.tree}")
    probe = "import services.tickets.domain as t, services.gateway.app as g\nprint(t.__file__, g.__file__)"
    files = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=stack.tree,
        env=stack.env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for file in files:
        if not Path(file).is_relative_to(stack.tree):
            raise RuntimeError(f"{stack.tag} imports {file}, outside {stack.tree}")
    return ", ".join(files)


def _interleaved(names: list[str], round_: int) -> list[str]:
    """The order of one round: each target right before (even rounds) or after (odd)
    its baseline, so load that drifts during a run hits both alike."""
    order = []
    for name in names:
        if name.endswith(BASELINE):
            continue
        pair = [name, name + BASELINE] if name + BASELINE in names else [name]
        order += pair if round_ % 2 == 0 else pair[::-1]
    return order


def main(argv=None) -> int:
    """Run the benchmark; print a Markdown table of medians and ratios to the floor."""
    parser = wrk_arguments(__doc__.splitlines()[0], duration=10, rounds=3, connections=32)
    parser.add_argument("--admins", type=int, default=50, help="distinct admins for the queue")
    parser.add_argument(
        "--tickets-instances", type=int, default=1, help="tickets service processes (default 1)"
    )
    parser.add_argument(
        "--support-tickets",
        type=int,
        default=100,
        help="tickets per wrk thread for the support reply targets (default 100)",
    )
    parser.add_argument(
        "--only", help="comma-separated targets to run (default: all; the floor always runs)"
    )
    parser.add_argument(
        "--rev", help="measure a worktree of this commit instead of the current tree"
    )
    baseline = parser.add_mutually_exclusive_group()
    baseline.add_argument(
        "--baseline-rev",
        help="also run the gateway targets on a second stack from a worktree of this "
        "commit, rounds interleaved, and print the ratios to it",
    )
    baseline.add_argument("--baseline-tree", help="as --baseline-rev, from this directory")
    parser.add_argument("--serve-echo", choices=("nameko", "project"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_echo:
        return serve_echo(args.serve_echo == "project")
    if not shutil.which("wrk"):
        print("bench_gateway: wrk is missing (apt-get install -y wrk)", file=sys.stderr)
        return 2

    from tests.stack import discard_stack, free_port, isolated_stack, tree_stack
    from tools.localrun import BIN, start, stop

    tag = f"bench{uuid.uuid4().hex[:6]}"
    stack_env = {
        "HELPDESK_TICKETS_PER_DAY": "10000",
        "HELPDESK_MESSAGES_PER_HOUR": "100000",
        "HELPDESK_LOG_LEVEL": "WARNING",
        "HELPDESK_TICKETS_INSTANCES": str(args.tickets_instances),
    }
    with contextlib.ExitStack() as cleanup:
        if args.rev:
            stack = tree_stack(tag, cleanup.enter_context(_worktree(args.rev)), stack_env)
        else:
            stack = isolated_stack(tag, stack_env)
        cleanup.callback(discard_stack, stack)
        baseline_tree = args.baseline_tree and Path(args.baseline_tree).resolve()
        if args.baseline_rev:
            baseline_tree = cleanup.enter_context(_worktree(args.baseline_rev))
        baseline_stack = None
        if baseline_tree:
            baseline_stack = tree_stack(f"{tag}b", baseline_tree, stack_env)
            cleanup.callback(discard_stack, baseline_stack)
        # The floor and the echo services are this tree's code, whichever tree is measured.
        own_env = dict(stack.env)
        if args.rev:
            del own_env["PYTHONPATH"]  # tree_stack's, pointing at the other tree
        floor_port = free_port()
        floor_env = own_env | {"HELPDESK_HTTP_PORT": str(floor_port), "HELPDESK_BENCH_FLOOR": "1"}
        floor_env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        unrecorded_port = free_port()
        unrecorded_env = own_env | {
            "HELPDESK_HTTP_PORT": str(unrecorded_port),
            "HELPDESK_BENCH_NO_RECORDING": "1",
        }
        unrecorded_env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        extra = []
        cleanup.callback(lambda: [stop(proc) for proc in extra])
        stack.start()
        if baseline_stack:
            baseline_stack.start()
        for kind in ("nameko", "project"):
            log = open(stack.log_path(f"bench_echo_{kind}.1"), "ab")  # noqa: SIM115 - kept by the process
            extra.append(
                start(_spec(sys.executable, __file__, "--serve-echo", kind), own_env, log, log)
            )
        floor_argv = (
            str(BIN / "gunicorn"),
            "--config",
            "python:services.gateway.gunicorn_conf",
            "--pythonpath",
            str(Path(__file__).parent),
            "bench_gateway:floor_app",
        )
        log = open(stack.log_path("floor.1"), "ab")  # noqa: SIM115
        extra.append(start(_spec(*floor_argv), floor_env, log, log))
        log = open(stack.log_path("unrecorded.1"), "ab")  # noqa: SIM115
        unrecorded_argv = (*floor_argv[:-1], "bench_gateway:unrecorded_app")
        extra.append(start(_spec(*unrecorded_argv), unrecorded_env, log, log))
        stack.wait_ready()
        code = {stack.tag: _running_code(stack)}
        if baseline_stack:
            baseline_stack.wait_ready()
            code[baseline_stack.tag] = _running_code(baseline_stack)
        for name, files in code.items():
            print(f"{name} runs {files}", file=sys.stderr)
        floor_base = f"http://127.0.0.1:{floor_port}"
        floor_url = f"{floor_base}/floor"
        _wait_until_echo(floor_url)
        _wait_until_echo(f"{floor_base}/floor-project")

        gateway, detail_id = _gateway_targets(stack, args)
        unrecorded_base = f"http://127.0.0.1:{unrecorded_port}"
        _wait_until_ready(f"{unrecorded_base}/readyz")
        targets = {
            "floor": (floor_url, lua_get(None)),
            "floor, project RPC": (f"{floor_base}/floor-project", lua_get(None)),
            "list": gateway["list"],
            "list, service alone": (f"{floor_base}/service/tickets", lua_get(None)),
            "detail": gateway["detail"],
            "detail, service alone": (f"{floor_base}/service/tickets/{detail_id}", lua_get(None)),
            **gateway,
            "admin queue (no staff recording)": (unrecorded_base, gateway["admin queue"][1]),
        }
        if args.only:
            wanted = {"floor", "floor, project RPC", *(t.strip() for t in args.only.split(","))}
            unknown = wanted - set(targets)
            if unknown:
                raise SystemExit(f"bench_gateway: unknown targets {sorted(unknown)}")
            targets = {k: v for k, v in targets.items() if k in wanted}
        if baseline_stack:
            # The same targets, with data of their own, on the baseline's gateway.
            theirs, _ = _gateway_targets(baseline_stack, args)
            targets = {
                **targets,
                **{name + BASELINE: theirs[name] for name in targets if name in theirs},
            }
        # A script may be a function making it afresh for each run (tickets' states).
        current = lambda script: script() if callable(script) else script  # noqa: E731
        for url, script in targets.values():  # warm every worker's pool and caches
            run_wrk(url, current(script), args.warmup, args.connections, args.threads)
        roots = {
            "gateway": [stack.procs["gateway.1"].pid],
            "tickets": [p.pid for k, p in stack.procs.items() if k.startswith("tickets.")],
            "notifications": [
                p.pid for k, p in stack.procs.items() if k.startswith("notifications.")
            ],
            "floor app": [extra[2].pid],
            "gateway, no recording": [extra[3].pid],
            "echo services": [extra[0].pid, extra[1].pid],
        }
        if baseline_stack:
            for component in ("gateway", "tickets", "notifications"):
                roots[component + BASELINE] = [
                    p.pid for k, p in baseline_stack.procs.items() if k.startswith(f"{component}.")
                ]
        results = {name: [] for name in targets}
        for round_ in range(args.rounds):
            for name in _interleaved(list(targets), round_):
                url, script = targets[name]
                script = current(script)  # before the CPU reading: its reads are not the run's
                before = cpu_by_component(roots)
                result = run_wrk(url, script, args.duration, args.connections, args.threads)
                after = cpu_by_component(roots)
                # CPU milliseconds per request, by component (both cores count).
                result["cpu_ms"] = {
                    k: 1000 * (after[k] - before[k]) / max(1, result["requests"]) for k in after
                }
                results[name].append(result)
                print(f"round {round_ + 1} {name}: {result}", file=sys.stderr)
        print(report(results, args))
        if baseline_stack:
            print(baseline_report(results, args, code))
        return 0


def _spec(*argv):
    from tools.localrun import ProcessSpec

    return ProcessSpec("bench", 1, tuple(argv))


def _wait_until_ready(url, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                if resp.status == 200:
                    return
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.3)


def _wait_until_echo(url, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        try:
            if _http("GET", url) == {"echo": "ping"}:
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.3)


def report(results: dict, args) -> str:
    """The Markdown table: medians per target and the ratio of requests/s to the floor."""
    med = {
        name: {k: statistics.median(r[k] for r in runs) for k in ("rps", "p50", "p99")}
        for name, runs in results.items()
    }
    floor = med["floor"]["rps"]
    project_floor = med["floor, project RPC"]["rps"]
    lines = [
        f"{args.rounds} rounds x {args.duration} s, {args.connections} connections, "
        f"wrk -t{args.threads}, {args.tickets_instances} tickets process(es); medians",
        "",
        "| target | requests/s | p50 ms | p99 ms | ratio to floor | target ratio "
        "| ratio to project-RPC floor | non-2xx |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, m in med.items():
        ratio = m["rps"] / floor if floor else 0.0
        project_ratio = m["rps"] / project_floor if project_floor else 0.0
        wanted = TARGET_RATIO.get(name)
        verdict = (
            "" if wanted is None else (f"{wanted:.0%} " + ("ok" if ratio >= wanted else "BELOW"))
        )
        errors = sum(r["non_2xx"] for r in results[name])
        lines.append(
            f"| {name} | {m['rps']:.0f} | {m['p50']:.2f} | {m['p99']:.2f} | {ratio:.2f} "
            f"| {verdict} | {project_ratio:.2f} | {errors} |"
        )
    if {"support reply", "support reply + status", "status change"} <= set(med):
        reply, one_step = med["support reply"], med["support reply + status"]
        status = med["status change"]
        # Two calls in a row: each request's time adds up (1 / rps is the time of one).
        two_calls = (
            1 / (1 / reply["rps"] + 1 / status["rps"]) if reply["rps"] and status["rps"] else 0
        )
        lines += [
            "",
            f"One-step reply: {one_step['rps']:.0f} req/s against {reply['rps']:.0f} for a plain "
            f"support reply (ratio {one_step['rps'] / reply['rps']:.2f}; p50 "
            f"{one_step['p50']:.2f} ms against {reply['p50']:.2f} ms), and against "
            f"{two_calls:.0f} reply-then-status pairs/s done as two calls "
            f"(ratio {one_step['rps'] / two_calls:.2f}).",
        ]
    components = list(next(iter(results.values()))[0]["cpu_ms"])
    lines += [
        "",
        "CPU milliseconds per request, by process (medians; both cores count):",
        "",
        "| target | " + " | ".join(components) + " | total |",
        "| --- |" + " ---: |" * (len(components) + 1),
    ]
    for name, runs in results.items():
        cpu = {c: statistics.median(r["cpu_ms"][c] for r in runs) for c in components}
        cells = " | ".join(f"{cpu[c]:.2f}" for c in components)
        lines.append(f"| {name} | {cells} | {sum(cpu.values()):.2f} |")
    return "\n".join(lines)


def baseline_report(results: dict, args, code: dict) -> str:
    """The side-by-side table: each gateway target against its baseline row (medians
    of interleaved rounds, ratios after/before), with the CPU its stack's processes
    spent per request."""
    med = {
        name: {k: statistics.median(r[k] for r in runs) for k in ("rps", "p50", "p99")}
        for name, runs in results.items()
    }

    def cpu(name, suffix):
        return {
            c: statistics.median(r["cpu_ms"][c + suffix] for r in results[name])
            for c in ("gateway", "tickets", "notifications")
        }

    lines = [
        "",
        f"Against the baseline ({args.baseline_rev or args.baseline_tree}), rounds "
        "interleaved; ratios are this tree's over the baseline's:",
        *(f"- {tag}: {files}" for tag, files in code.items()),
        "",
        "| target | requests/s | baseline | ratio | per-round ratios: median (each) | p50 ms | baseline "
        "| p50 ratio | tickets CPU ms/req | baseline | stack CPU ms/req | baseline |",
        "| --- |" + " ---: |" * 11,
    ]
    for name in results:
        theirs = name + BASELINE
        if theirs not in results:
            continue
        ours_m, base_m = med[name], med[theirs]
        # Each round's pair ran back to back: the median of their ratios is the
        # reading least moved by load that came and went between rounds.
        per_round = [
            a["rps"] / b["rps"] for a, b in zip(results[name], results[theirs], strict=True)
        ]
        rounds = (
            f"{statistics.median(per_round):.2f} (" + ", ".join(f"{r:.2f}" for r in per_round) + ")"
        )
        ours_cpu, base_cpu = cpu(name, ""), cpu(theirs, BASELINE)
        lines.append(
            f"| {name} | {ours_m['rps']:.0f} | {base_m['rps']:.0f} "
            f"| {ours_m['rps'] / base_m['rps']:.2f} | {rounds} "
            f"| {ours_m['p50']:.2f} | {base_m['p50']:.2f} | {ours_m['p50'] / base_m['p50']:.2f} "
            f"| {ours_cpu['tickets']:.2f} | {base_cpu['tickets']:.2f} "
            f"| {sum(ours_cpu.values()):.2f} | {sum(base_cpu.values()):.2f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
