"""``helpdesk-notifications`` handles events that were waiting before it ever
started, and stops on SIGTERM (``--check`` and the missing-key refusal:
tests/test_entry_commands.py)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest
from nameko.exceptions import UnknownService
from nameko.standalone.rpc import ServiceRpcProxy

from services.notifications.tests.support import OWNER, ticket_event, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.usefixtures("clean")]

COMMAND = [sys.executable, "-m", "services.notifications"]


@pytest.fixture
def env(process_env):
    return process_env


def _call_when_up(config, method, *args, timeout=30):
    deadline = time.monotonic() + timeout
    with ServiceRpcProxy("notifications", config, timeout=10) as proxy:
        while True:
            try:
                return getattr(proxy, method)(*args)
            except UnknownService:  # its queue is not there yet: still starting
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)


def test_handles_waiting_events_then_stops_cleanly(env, config, publish):
    waiting = ticket_event("message_added")
    publish(waiting)  # before the process exists
    process = subprocess.Popen(COMMAND, env=env, stderr=subprocess.PIPE, text=True)
    try:
        assert _call_when_up(config, "ping") == "pong"

        def the_waiting_notice():
            return _call_when_up(config, "unread_count", OWNER)["unread_count"] == 1

        wait_for(the_waiting_notice)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
        assert '"service stopped"' in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
