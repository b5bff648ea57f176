"""Fixtures for end-to-end tests: a running stack of real processes."""

import itertools

import pytest

from tests.stack import Stack, create_database, create_vhost, delete_vhost
from tools.migrate import drop_database

_counter = itertools.count(1)


@pytest.fixture(scope="session")
def make_stack(run_id):
    """Factory: ``make_stack(**env)`` starts a fresh, isolated stack and waits until ready.

    Each stack gets its own databases and vhost; all are torn down after the session.
    """
    made = []

    def make(**env) -> Stack:
        tag = f"e{run_id}_{next(_counter)}"
        amqp = create_vhost(tag)
        tickets_db = create_database(tag, "tickets")
        notifications_db = create_database(tag, "notifications")
        stack = Stack(
            tag,
            {
                "HELPDESK_AMQP_URL": amqp,
                "HELPDESK_TICKETS_DATABASE_URL": tickets_db,
                "HELPDESK_NOTIFICATIONS_DATABASE_URL": notifications_db,
                **env,
            },
        )
        made.append((stack, amqp, tickets_db, notifications_db))
        stack.start()
        stack.wait_ready()
        return stack

    yield make
    for stack, amqp, tickets_db, notifications_db in made:
        stack.close()
        delete_vhost(amqp)
        drop_database(tickets_db)
        drop_database(notifications_db)


@pytest.fixture(scope="session")
def stack(make_stack):
    """The shared stack most end-to-end and browser tests use (development settings)."""
    return make_stack()


@pytest.fixture(scope="session")
def team_stack(make_stack):
    """A stack for the tests of teams: a team routes (and may assign) every new ticket
    whose feature or issue type it takes, so teams never go on the shared stack."""
    return make_stack()
