"""Fixtures for end-to-end tests: a running stack of real processes."""

import contextlib
import itertools

import pytest

from tests.stack import Stack, discard_stack, isolated_stack

_counter = itertools.count(1)


@contextlib.contextmanager
def _stacks(run_id):
    """A factory ``make(**env)`` whose stacks are discarded when the block ends."""
    made: list[Stack] = []

    def make(**env) -> Stack:
        stack = isolated_stack(f"e{run_id}_{next(_counter)}", env)
        made.append(stack)
        stack.start()
        stack.wait_ready()
        return stack

    try:
        yield make
    finally:
        for stack in made:
            discard_stack(stack)


@pytest.fixture(scope="module")
def make_stack(run_id):
    """Factory: ``make_stack(**env)`` starts a fresh, isolated stack and waits until ready.

    Each stack gets its own databases and vhost, and is torn down once the module's
    tests are done: kept for the whole session, a dozen idle stacks held their
    processes and database connections, and the last modules ran short of both.
    """
    with _stacks(run_id) as make:
        yield make


@pytest.fixture(scope="module")
def clock_stack(make_stack):
    """A module's own stack whose response clocks run out within a test: a critical
    ticket owes its first response in 3 seconds (high 1 hour, medium 2, low a day; a
    next response 90 minutes), and the scheduler looks for due work every second."""
    return make_stack(
        HELPDESK_SLA_FIRST_RESPONSE="critical=3s,high=1h,medium=2h,low=1d",
        HELPDESK_SLA_NEXT_RESPONSE="90m",
        HELPDESK_SCHEDULER_INTERVAL="1s",
    )


@pytest.fixture(scope="session")
def _session_stacks(run_id):
    """``make_stack`` for the stacks many modules share, torn down after the session."""
    with _stacks(run_id) as make:
        yield make


@pytest.fixture(scope="session")
def stack(_session_stacks):
    """The shared stack most end-to-end and browser tests use (development settings)."""
    return _session_stacks()


@pytest.fixture(scope="session")
def team_stack(_session_stacks):
    """A stack for the tests of teams: a team routes (and may assign) every new ticket
    whose feature or issue type it takes, so teams never go on the shared stack."""
    return _session_stacks()
