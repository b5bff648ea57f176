"""A tickets service process that dies (SIGKILL) right after a commit, before publishing.

Run by ``test_outbox.py`` in a subprocess: the relay's wake-up, which the unit of
work calls just after committing, kills the process instead, so the committed
event is in the outbox and was never published.

With ``--serve`` it creates nothing itself: it serves RPC calls from the broker until
the first command's commit kills it, after its commit and before its reply and ack
(``test_redelivery.py``), so the broker delivers that request again.
"""

import shared.green  # noqa: F401,I001  (must precede psycopg)

import os
import signal
import sys

from nameko.runners import ServiceRunner
from nameko.testing.utils import get_container

from services.tickets.service import TicketsService
from services.tickets.tests.integration.conftest import USER, new_ticket_fields, run_entrypoint
from services.tickets.settings import TicketsSettings
from shared.outbox import OutboxRelay


class KillOnWake(OutboxRelay):
    """Never publishes; the post-commit wake-up kills the process."""

    def start(self):
        pass

    def wake(self):
        os.kill(os.getpid(), signal.SIGKILL)


class CrashingTickets(TicketsService):
    relay = KillOnWake("tickets_database_url")


def main() -> int:
    runner = ServiceRunner(TicketsSettings.from_env().nameko_config())
    runner.add_service(CrashingTickets)
    runner.start()
    if "--serve" in sys.argv:
        runner.wait()  # until a command's commit kills the process
        return 3
    container = get_container(runner, CrashingTickets)
    run_entrypoint(container, "create_ticket", USER, new_ticket_fields())
    return 3  # not reached: the commit's wake-up killed the process


if __name__ == "__main__":
    sys.exit(main())
