#!/usr/bin/env python3
"""Soak: a steady mixed load on a stack of its own, then errors, memory and queues.

    .venv/bin/python scripts/soak.py [--duration 600] [--rate 20] [--warmup 60]

Starts the real stack (``tests.stack.Stack``: tickets, notifications and the
gateway, as ``make run`` starts them) on a vhost and databases of its own on the
local RabbitMQ and PostgreSQL, and drives it at a steady, bounded rate (``--rate``
requests per second in all) for ``--duration`` seconds, then stops everything.
The mix, over many users (each opens at most the daily limit) and a few admins:
ticket creates, owner replies, public support replies, internal notes, status
changes, assignments, users' and admins' lists and details, searches, notices,
unread counts and reads. Each worker thread owns its own tickets, so its status
changes are never refused by another's.

It reports, and exits 1 unless all hold:

- errors: every answer the mix did not expect (5xx, a refused connection, a 4xx
  the action does not call for) must number zero;
- memory: the resident set (RSS) of every process of the stack, sampled every
  ``--sample`` seconds, stays within 10% of its value at the end of the warm-up;
- queues: the depth of every RabbitMQ queue of the stack's vhost stays flat (no
  backlog growing while the load is steady), and nothing is dead-lettered.

Not part of ``make test``: it takes as long as it is told to. docs/reliability.md
holds the figures of a 10-minute run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.stack import Stack, discard_stack, isolated_stack  # noqa: E402

DESCRIPTION = "The dashboard charts stay empty after I sign in, in every browser I have tried."
TICKETS_PER_USER = 5  # the default daily limit
OWNER_REPLIES_PER_TICKET = 15  # under the hourly message limit per ticket
MEMORY_TOLERANCE = 0.10
PAGE = os.sysconf("SC_PAGE_SIZE")

# (action, weight): the mix, in shares of all requests.
MIX = [
    ("create", 8),
    ("owner_reply", 12),
    ("support_reply", 10),
    ("internal_note", 3),
    ("status", 8),
    ("assign", 3),
    ("user_list", 12),
    ("user_search", 4),
    ("user_detail", 12),
    ("admin_list", 6),
    ("admin_detail", 6),
    ("notices", 8),
    ("unread", 6),
    ("read", 2),
]
# The status moves support makes, from each status (never to closed: the ticket
# stays in play for the whole run).
MOVES = {
    "open": ["in_review", "awaiting_user"],
    "in_review": ["awaiting_user", "resolved"],
    "awaiting_user": ["in_review", "resolved"],
    "resolved": ["in_review"],
}


class Worker(threading.Thread):
    """One client: its own users and tickets, ``rate`` requests per second."""

    def __init__(self, n: int, stack: Stack, admins: list[str], rate: float, until: float):
        super().__init__(name=f"soak-{n}", daemon=True)
        self.stack = stack
        self.rng = random.Random(n)
        self.interval = 1.0 / rate
        self.until = until
        self.http = requests.Session()
        self.admins = [(sub, stack.token(sub, "admin", f"Admin {sub}", 7200)) for sub in admins]
        self.users: list[dict] = []
        self.tickets: list[dict] = []  # {"id", "owner", "status", "replies"}
        self.counts: Counter = Counter()
        self.errors: list[str] = []
        self.actions, weights = zip(*MIX, strict=True)
        self.weights = weights

    # -- plumbing

    def _call(self, action, method, path, token, expect=(200,), **kwargs):
        self.counts[action] += 1
        try:
            result = self.http.request(
                method,
                self.stack.base_url + path,
                headers={"Authorization": f"Bearer {token}"},
                timeout=15,
                **kwargs,
            )
        except requests.RequestException as exc:
            self._error(action, f"{type(exc).__name__}: {exc}")
            return None
        if result.status_code not in expect:
            self._error(action, f"{result.status_code} {result.text[:300]}")
            return None
        return result.json() if result.content else None

    def _error(self, action, text):
        self.counts["errors"] += 1
        if len(self.errors) < 50:
            self.errors.append(f"{action}: {text}")

    def _user(self) -> dict:
        fresh = [u for u in self.users if u["created"] < TICKETS_PER_USER]
        if fresh and self.rng.random() < 0.8:
            return self.rng.choice(fresh)
        sub = f"soak-user-{uuid.uuid4().hex[:10]}"
        user = {"sub": sub, "token": self.stack.token(sub, "user", f"User {sub}", 7200)}
        user["created"] = 0
        self.users.append(user)
        return user

    def _admin(self) -> tuple[str, str]:
        return self.rng.choice(self.admins)

    def _ticket(self):
        return self.rng.choice(self.tickets) if self.tickets else None

    # -- the actions

    def create(self):
        user = self._user()
        body = {
            "issue_type": self.rng.choice(["access", "bug", "billing", "data", "other"]),
            "feature": "dashboard",
            "subject": f"Soak ticket {uuid.uuid4().hex[:8]}",
            "description": DESCRIPTION,
        }
        ticket = self._call("create", "POST", "/api/v1/tickets", user["token"], (201,), json=body)
        user["created"] += 1
        if ticket:
            self.tickets.append({"id": ticket["id"], "owner": user, "status": "open", "replies": 0})

    def owner_reply(self):
        ticket = self._ticket()
        if ticket is None or ticket["replies"] >= OWNER_REPLIES_PER_TICKET:
            return self.create()
        ticket["replies"] += 1
        body = {"body": f"More detail, round {ticket['replies']}: it still happens."}
        if self._call(
            "owner_reply",
            "POST",
            f"/api/v1/tickets/{ticket['id']}/messages",
            ticket["owner"]["token"],
            (201,),
            json=body,
        ) and ticket["status"] in ("awaiting_user", "resolved"):
            ticket["status"] = "in_review"

    def support_reply(self, internal=False):
        ticket = self._ticket()
        if ticket is None:
            return self.create()
        _sub, token = self._admin()
        body = {"body": "Thanks, we are looking into it.", "internal": internal}
        action = "internal_note" if internal else "support_reply"
        if (
            self._call(
                action,
                "POST",
                f"/api/v1/admin/tickets/{ticket['id']}/messages",
                token,
                (201,),
                json=body,
            )
            and not internal
            and ticket["status"] == "open"
        ):
            ticket["status"] = "in_review"

    def internal_note(self):
        self.support_reply(internal=True)

    def status(self):
        ticket = self._ticket()
        if ticket is None:
            return self.create()
        target = self.rng.choice(MOVES[ticket["status"]])
        body = {"status": target}
        if target == "resolved":
            body["resolution_note"] = "Fixed in the release that went out today."
        _sub, token = self._admin()
        if self._call(
            "status", "POST", f"/api/v1/admin/tickets/{ticket['id']}/status", token, json=body
        ):
            ticket["status"] = target

    def assign(self):
        ticket = self._ticket()
        if ticket is None:
            return self.create()
        # To the caller: only known staff can be assigned, and the gateway has just
        # recorded whoever calls (another admin of the pool may not have called yet).
        assignee, token = self._admin()
        self._call(
            "assign",
            "POST",
            f"/api/v1/admin/tickets/{ticket['id']}/assign",
            token,
            json={"assignee_id": assignee},
        )

    def user_list(self):
        if self.users:
            self._call("user_list", "GET", "/api/v1/tickets", self.rng.choice(self.users)["token"])

    def user_search(self):
        if self.users:
            q = self.rng.choice(["soak", "ticket", "#1", "zz-nothing"])
            user = self.rng.choice(self.users)
            self._call("user_search", "GET", "/api/v1/tickets", user["token"], params={"q": q})

    def user_detail(self):
        ticket = self._ticket()
        if ticket is not None:
            self._call(
                "user_detail", "GET", f"/api/v1/tickets/{ticket['id']}", ticket["owner"]["token"]
            )

    def admin_list(self):
        _sub, token = self._admin()
        params = self.rng.choice([{}, {"status": "in_review"}, {"sort": "priority"}])
        self._call("admin_list", "GET", "/api/v1/admin/tickets", token, params=params)

    def admin_detail(self):
        ticket = self._ticket()
        if ticket is not None:
            _sub, token = self._admin()
            self._call("admin_detail", "GET", f"/api/v1/admin/tickets/{ticket['id']}", token)

    def _reader(self) -> str:
        if self.users and self.rng.random() < 0.7:
            return self.rng.choice(self.users)["token"]
        return self._admin()[1]

    def notices(self):
        self._call("notices", "GET", "/api/v1/notifications", self._reader())

    def unread(self):
        self._call("unread", "GET", "/api/v1/notifications/unread-count", self._reader())

    def read(self):
        token = self._reader()
        page = self._call("read", "GET", "/api/v1/notifications", token, params={"unread": "true"})
        if page and page["items"]:
            notice = page["items"][0]["id"]
            self._call("read", "POST", f"/api/v1/notifications/{notice}/read", token)

    def run(self):
        next_at = time.monotonic()
        while next_at < self.until:
            action = self.rng.choices(self.actions, self.weights)[0]
            getattr(self, action)()
            next_at += self.interval
            time.sleep(max(0.0, next_at - time.monotonic()))


# ---------------------------------------------------------------- sampling


def stack_processes(stack: Stack) -> dict[int, str]:
    """pid -> label of every process of the stack (gunicorn's workers included)."""
    groups = {proc.pid: label for label, proc in stack.procs.items()}
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2 :].split()
        group = int(fields[2])  # the process group: each stack process leads its own
        if group in groups:
            pid = int(entry)
            found[pid] = groups[group] + ("" if pid == group else f"/{pid}")
    return found


def rss_bytes(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return None


def queue_depths(vhost: str) -> dict[str, int]:
    out = subprocess.run(
        ["rabbitmqctl", "-q", "list_queues", "-p", vhost, "--no-table-headers", "name", "messages"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    depths = {}
    for line in out.splitlines():
        name, _, count = line.rpartition("\t")
        if name and count.isdigit():
            depths[name] = int(count)
    return depths


def load_average() -> str:
    """The 1, 5 and 15-minute load averages (other sessions share the cores)."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


# ---------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of load")
    parser.add_argument("--rate", type=float, default=20.0, help="requests per second, in all")
    parser.add_argument("--warmup", type=float, default=60.0, help="seconds before the baseline")
    parser.add_argument("--sample", type=float, default=10.0, help="seconds between samples")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--json", type=Path, help="also write the report here")
    args = parser.parse_args()
    if not 0 < args.warmup < args.duration or args.rate <= 0 or args.workers < 1:
        parser.error("need 0 < --warmup < --duration, --rate > 0 and --workers >= 1")

    tag = f"soak{uuid.uuid4().hex[:8]}"
    # At WARNING: the access log would grow with the run.
    stack = isolated_stack(tag, {"HELPDESK_LOG_LEVEL": "WARNING"})
    vhost = stack.env["HELPDESK_AMQP_URL"].rsplit("/", 1)[1]
    report: dict = {"duration": args.duration, "rate": args.rate, "warmup": args.warmup}
    try:
        stack.start()
        stack.wait_ready()
        started = time.monotonic()
        until = started + args.duration
        admins = [f"soak-admin-{i}" for i in range(3)]
        workers = [
            Worker(n, stack, admins, args.rate / args.workers, until) for n in range(args.workers)
        ]
        for worker in workers:
            worker.start()
        samples = []  # (seconds since start, {label: rss}, {queue: depth}, load)
        while time.monotonic() < until:
            time.sleep(min(args.sample, max(0.0, until - time.monotonic())))
            procs = stack_processes(stack)
            rss = {label: rss_bytes(pid) for pid, label in procs.items()}
            samples.append(
                (
                    round(time.monotonic() - started),
                    {k: v for k, v in rss.items() if v is not None},
                    queue_depths(vhost),
                    load_average(),
                )
            )
            done = sum(sum(w.counts.values()) - w.counts["errors"] for w in workers)
            errors = sum(w.counts["errors"] for w in workers)
            print(
                f"t={samples[-1][0]:>4}s requests={done} errors={errors} "
                f"rss_mib={ {k: round(v / 2**20, 1) for k, v in samples[-1][1].items()} } "
                f"queued={sum(samples[-1][2].values())} load={samples[-1][3]}",
                flush=True,
            )
        for worker in workers:
            worker.join(30)
        report.update(judge(samples, workers, args.warmup))
    finally:
        discard_stack(stack)
    print(json.dumps({k: v for k, v in report.items() if k != "samples"}, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0 if report["ok"] else 1


def judge(samples, workers, warmup: float) -> dict:
    """The verdict: errors, memory growth after the warm-up, queue depths."""
    counts = sum((w.counts for w in workers), Counter())
    errors = [e for w in workers for e in w.errors]
    baseline_at = min(samples, key=lambda s: abs(s[0] - warmup))
    after = [s for s in samples if s[0] >= baseline_at[0]]
    memory = {}
    for label, base in baseline_at[1].items():
        values = [s[1][label] for s in after if label in s[1]]
        memory[label] = {
            "at_warmup_mib": round(base / 2**20, 1),
            "max_mib": round(max(values) / 2**20, 1),
            "last_mib": round(values[-1] / 2**20, 1),
            "max_growth": round(max(values) / base - 1, 3),
        }
    queues = {}
    for name in {q for s in samples for q in s[2]}:
        depths = [s[2].get(name, 0) for s in after]
        queues[name] = {"max": max(depths), "last": depths[-1]}
    memory_ok = all(m["max_growth"] <= MEMORY_TOLERANCE for m in memory.values())
    # Flat: no backlog at the end, and never more than a moment's worth of messages.
    # A dead letter is a notice that will not be told: none may appear.
    queues_ok = all(
        q["last"] <= 5 and q["max"] <= 50 and not (name.endswith(".dead") and q["max"])
        for name, q in queues.items()
    )
    requests_done = sum(v for k, v in counts.items() if k != "errors")
    return {
        "requests": requests_done,
        "by_action": {k: v for k, v in sorted(counts.items()) if k != "errors"},
        "errors": counts["errors"],
        "error_samples": errors[:20],
        "memory": memory,
        "queues": queues,
        "load": [s[3] for s in samples],
        "ok": counts["errors"] == 0 and memory_ok and queues_ok,
        "memory_ok": memory_ok,
        "queues_ok": queues_ok,
        "samples": [{"t": s[0], "rss": s[1], "queues": s[2], "load": s[3]} for s in samples],
    }


if __name__ == "__main__":
    sys.exit(main())
