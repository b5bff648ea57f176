"""``helpdesk-tickets`` serves and stops cleanly on signals (``--check`` and the
missing-key refusal: tests/test_entry_commands.py)."""

import signal
import subprocess
import sys
import time

import pytest
from nameko.exceptions import UnknownService
from nameko.standalone.rpc import ServiceRpcProxy

from services.tickets.tests.integration.conftest import OTHER_USER, USER, new_ticket_fields
from shared.errors import NotFound, ValidationFailed

pytestmark = [pytest.mark.integration, pytest.mark.slow]

COMMAND = [sys.executable, "-m", "services.tickets"]


@pytest.fixture
def env(process_env):
    return process_env


def _ping_when_up(amqp_url, timeout=30):
    deadline = time.monotonic() + timeout
    with ServiceRpcProxy("tickets", {"AMQP_URI": amqp_url}, timeout=10) as tickets:
        while True:
            try:
                return tickets.ping()
            except UnknownService:  # its queue is not there yet: still starting
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_serves_then_stops_cleanly_on_a_signal(env, amqp_url, signum):
    process = subprocess.Popen(COMMAND, env=env, stderr=subprocess.PIPE, text=True)
    try:
        assert _ping_when_up(amqp_url) == "pong"
        # Over real RPC (JSON over AMQP), as the gateway calls it: bodies and typed errors.
        with ServiceRpcProxy("tickets", {"AMQP_URI": amqp_url}, timeout=10) as tickets:
            ticket = tickets.create_ticket(USER, new_ticket_fields())
            assert tickets.get_ticket(USER, ticket["id"]) == ticket
            with pytest.raises(ValidationFailed) as err:
                tickets.create_ticket(USER, new_ticket_fields(subject=5, user_id="x"))
            assert set(err.value.details) == {"subject", "user_id"}
            with pytest.raises(NotFound):
                tickets.get_ticket(OTHER_USER, ticket["id"])
        started = time.monotonic()
        process.send_signal(signum)
        assert process.wait(timeout=20) == 0
        stopped_in = time.monotonic() - started
        log = process.stderr.read()
        assert '"service stopped"' in log, log[-2000:]
        assert stopped_in < 20
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
