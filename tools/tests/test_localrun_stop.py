"""``make run``'s supervisor stops its processes within one grace period, however many."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from tools.localrun import ProcessSpec, start, stop_all

pytestmark = pytest.mark.unit

# A process that shrugs off SIGTERM, as a service stuck in its shutdown would,
# and says so once it does.
DEAF = (
    "import signal, sys, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "print('deaf', flush=True)\n"
    "time.sleep(60)\n"
)
GRACE = 1.0


def _deaf_processes(count):
    procs = []
    for i in range(1, count + 1):
        spec = ProcessSpec("deaf", i, (sys.executable, "-c", DEAF))
        procs.append(start(spec, dict(os.environ), stdout=subprocess.PIPE))
    for proc in procs:
        assert proc.stdout.readline() == b"deaf\n"
    return procs


def test_processes_that_ignore_sigterm_share_one_grace_period_then_are_killed():
    procs = _deaf_processes(4)
    try:
        began = time.monotonic()
        stop_all(procs, timeout=GRACE)
        waited = time.monotonic() - began
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
    assert [proc.returncode for proc in procs] == [-signal.SIGKILL] * 4
    # One grace period for all four, not one each (4 s); the margin is a busy machine's.
    assert GRACE <= waited < 2.5 * GRACE
