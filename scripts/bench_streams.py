#!/usr/bin/env python3
"""Benchmark one ``helpdesk-stream`` process: idle streams and notice latency.

Starts the real stack (as ``make run`` does) on an isolated vhost and databases,
then, in one stream process:

1. opens ``--streams`` idle streams (default 5,000, spread over ``--users`` people)
   over raw sockets, and reads the process's RSS before and after (memory per
   stream) and its CPU while they sit idle for ``--idle`` seconds;
2. under a bounded mixed write load on the gateway (``--writers`` threads opening
   tickets and replying, as scripts/bench_gateway.py's create/reply targets do), times
   ``--samples`` support replies from the moment the reply is sent to the moment its
   ``event: notice`` arrives on the owner's stream, and reports median and p99 next to
   what a polling page would wait (half its polling interval on average).

    .venv/bin/python scripts/bench_streams.py [--streams 5000] [--idle 60] [--samples 100]

The file-descriptor limit is raised in-process (``resource.setrlimit``) before the
stack starts, so the stream process inherits room for every stream. Traffic goes to
127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import os
import resource
import selectors
import socket
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "scripts"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from bench_gateway import _http, _proc_table, _ticket  # noqa: E402

PATH = "/api/v1/notifications/stream"
# The pages' bell polls every 10 s, the embedded bell every 30 s (bell.js, embed.js).
POLL_S = {"pages' bell": 10.0, "embedded bell": 30.0}


def raise_fd_limit(wanted: int) -> int:
    """Raise this process's open-file limit (inherited by the stack) to ``wanted``."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def rss_kb(pid: int) -> int:
    """Resident set size of ``pid`` in KiB."""
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def open_stream(host: str, port: int, token: str) -> socket.socket:
    """A socket with the stream request sent (its answer not read yet)."""
    sock = socket.create_connection((host, port), timeout=30)
    sock.sendall(
        f"GET {PATH} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {token}\r\n"
        "Accept: text/event-stream\r\n\r\n".encode()
    )
    return sock


class NoticeClock:
    """Reads a set of streams in one thread and records when each ``event: notice``
    arrives on each of them."""

    def __init__(self, socks: list[socket.socket]):
        self.arrivals: dict[int, list[float]] = {i: [] for i in range(len(socks))}
        self._buffers = {i: b"" for i in range(len(socks))}
        self._changed = threading.Condition()
        self._selector = selectors.DefaultSelector()
        for i, sock in enumerate(socks):
            sock.setblocking(False)
            self._selector.register(sock, selectors.EVENT_READ, i)
        self._stopped = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stopped:
            for key, _ in self._selector.select(timeout=0.2):
                i = key.data
                try:
                    chunk = key.fileobj.recv(65536)
                except BlockingIOError:
                    continue
                now = time.monotonic()
                if not chunk:
                    self._selector.unregister(key.fileobj)
                    continue
                buffer = self._buffers[i] + chunk
                found = buffer.count(b"event: notice\n")
                # Keep a tail in case the marker was split between reads.
                self._buffers[i] = buffer[buffer.rfind(b"event: notice\n") + 14 :][-64:]
                if found:
                    with self._changed:
                        self.arrivals[i].extend([now] * found)
                        self._changed.notify_all()

    def wait_for(self, i: int, count: int, timeout: float) -> float | None:
        """When stream ``i`` had seen ``count`` notices, or None after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.arrivals[i]) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._changed.wait(left)
            return self.arrivals[i][count - 1]

    def stop(self):
        self._stopped = True
        self._thread.join()


def write_load(base: str, tokens: list[str], stop: threading.Event, done: list[int]):
    """One writer: open a ticket, reply on it, repeat, rotating over ``tokens``."""
    i = 0
    while not stop.is_set():
        token = tokens[i % len(tokens)]
        i += 1
        try:
            tid = _http("POST", f"{base}/api/v1/tickets", token, _ticket(i))["id"]
            _http("POST", f"{base}/api/v1/tickets/{tid}/messages", token, {"body": "Any news?"})
            done.append(2)
        except OSError:
            time.sleep(0.1)  # a refused or slow request: the load goes on


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values``, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def cpu_seconds(pid: int) -> float:
    """CPU seconds ``pid`` has used so far."""
    return _proc_table()[pid][2]


def main(argv=None) -> int:
    """Run the benchmark; print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=5000, help="idle streams (default 5000)")
    parser.add_argument("--users", type=int, default=50, help="people the idle streams belong to")
    parser.add_argument("--idle", type=int, default=60, help="seconds to sample idle CPU")
    parser.add_argument("--samples", type=int, default=100, help="timed support replies")
    parser.add_argument("--owners", type=int, default=20, help="people whose notices are timed")
    parser.add_argument("--writers", type=int, default=4, help="threads of write load")
    args = parser.parse_args(argv)

    limit = raise_fd_limit(args.streams + args.owners + 1024)
    if limit < args.streams + args.owners + 100:
        print(f"bench_streams: open-file limit {limit} is too low", file=sys.stderr)
        return 2

    from tests.stack import discard_stack, isolated_stack

    stack = isolated_stack(
        f"bstream{uuid.uuid4().hex[:6]}",
        {
            "HELPDESK_TICKETS_PER_DAY": "10000",
            "HELPDESK_MESSAGES_PER_HOUR": "100000",
            "HELPDESK_LOG_LEVEL": "WARNING",
        },
    )
    idle: list[socket.socket] = []
    timed: list[socket.socket] = []
    try:
        stack.start()
        stack.wait_ready()
        stream_pid = stack.procs["stream.1"].pid
        url = urlsplit(stack.stream_url)
        base = stack.base_url
        rows = []

        # 1. Idle streams: memory and CPU.
        time.sleep(2)
        rss_before = rss_kb(stream_pid)
        tokens = [stack.token(f"idle-{i}", "user", f"Idle {i}") for i in range(args.users)]
        started = time.monotonic()
        for n in range(args.streams):
            idle.append(open_stream(url.hostname, url.port, tokens[n % len(tokens)]))
        for sock in idle:
            head = sock.recv(4096)
            if not head.startswith(b"HTTP/1.1 200"):
                raise SystemExit(f"bench_streams: a stream was refused: {head[:80]!r}")
        opened_s = time.monotonic() - started
        time.sleep(2)
        rss_after = rss_kb(stream_pid)
        cpu0, t0 = cpu_seconds(stream_pid), time.monotonic()
        time.sleep(args.idle)
        idle_cpu = (cpu_seconds(stream_pid) - cpu0) / (time.monotonic() - t0)
        rows += [
            ("idle streams held", f"{len(idle):,}"),
            ("opening them (each asks the unread count once)", f"{opened_s:.1f} s"),
            (
                "stream process RSS before / after",
                f"{rss_before / 1024:.0f} MiB / {rss_after / 1024:.0f} MiB",
            ),
            ("memory per stream", f"{(rss_after - rss_before) / len(idle):.1f} KiB"),
            (f"stream process CPU while idle ({args.idle} s)", f"{100 * idle_cpu:.2f} % of a core"),
        ]

        # 2. Notice latency under write load.
        admin = stack.token("bench-admin", "admin", "Bench Support")
        owners = [stack.token(f"owner-{i}", "user", f"Owner {i}") for i in range(args.owners)]
        tickets = [
            _http("POST", f"{base}/api/v1/tickets", t, _ticket(i))["id"]
            for i, t in enumerate(owners)
        ]
        timed = [open_stream(url.hostname, url.port, t) for t in owners]
        clock = NoticeClock(timed)
        time.sleep(1)
        writers_tokens = [stack.token(f"writer-{i}", "user", f"Writer {i}") for i in range(50)]
        stop, done = threading.Event(), []
        threads = [
            threading.Thread(
                target=write_load, args=(base, writers_tokens, stop, done), daemon=True
            )
            for _ in range(args.writers)
        ]
        for thread in threads:
            thread.start()
        time.sleep(2)  # the load is under way
        latencies, lost = [], 0
        load_started, done_before = time.monotonic(), len(done)
        for s in range(args.samples):
            i = s % len(owners)
            expected = len(clock.arrivals[i]) + 1
            sent = time.monotonic()
            _http(
                "POST",
                f"{base}/api/v1/admin/tickets/{tickets[i]}/messages",
                admin,
                {"body": f"Reply {s}: please try again now."},
            )
            arrived = clock.wait_for(i, expected, timeout=10)
            if arrived is None:
                lost += 1
            else:
                latencies.append(arrived - sent)
            time.sleep(0.1)
        writes_per_s = 2 * (len(done) - done_before) / (time.monotonic() - load_started)
        stop.set()
        for thread in threads:
            thread.join()
        clock.stop()
        rows += [
            (
                "write load meanwhile",
                f"{args.writers} threads, {writes_per_s:.0f} writes/s (create + reply)",
            ),
            (
                f"support reply sent -> `event: notice` ({len(latencies)} replies)",
                f"median {1000 * statistics.median(latencies):.0f} ms, "
                f"p99 {1000 * percentile(latencies, 0.99):.0f} ms",
            ),
            ("replies whose notice never came (10 s)", str(lost)),
        ]
        rows += [
            (f"{name} polling every {poll:.0f} s, expected delay", f"{poll / 2:.0f} s on average")
            for name, poll in POLL_S.items()
        ]
        print(f"cores: {os.cpu_count()}\n")
        print("| measure | value |\n| --- | --- |")
        for name, value in rows:
            print(f"| {name} | {value} |")
        return 0
    finally:
        for sock in idle + timed:
            sock.close()
        discard_stack(stack)


if __name__ == "__main__":
    sys.exit(main())
