"""A whole stack on a private PostgreSQL cluster and a private RabbitMQ node.

The fault tests restart the broker and the database under traffic; they must never
touch the machine's shared ones, so the module's stack runs on its own
(``tests.backing``). The cluster and the node live for the whole session: starting
them costs several seconds each.
"""

import pytest

from tests.backing import PrivateBroker, PrivatePostgres
from tests.stack import Stack
from tools.migrate import upgrade


@pytest.fixture(scope="session")
def private_postgres():
    cluster = PrivatePostgres().start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def private_broker():
    node = PrivateBroker().start()
    yield node
    node.stop()


@pytest.fixture(scope="session")
def fault_stack(run_id, private_postgres, private_broker):
    """The stack every fault test drives: real processes on the private backing services."""
    urls = {}
    for service in ("tickets", "notifications"):
        urls[service] = private_postgres.url(f"helpdesk_{service}")
        upgrade(service, urls[service])
    stack = Stack(
        f"f{run_id}",
        {
            "HELPDESK_AMQP_URL": private_broker.url,
            "HELPDESK_TICKETS_DATABASE_URL": urls["tickets"],
            "HELPDESK_NOTIFICATIONS_DATABASE_URL": urls["notifications"],
            # Enough tickets a day for each burst's owners.
            "HELPDESK_TICKETS_PER_DAY": "50",
        },
    )
    stack.start()
    stack.wait_ready()
    yield stack
    stack.close()
