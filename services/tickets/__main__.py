"""``helpdesk-tickets``: run the tickets service (``--check`` validates and exits)."""

import shared.green  # noqa: F401,I001  (must precede psycopg)

import sys

from services.tickets.service import TicketsService
from services.tickets.settings import TicketsSettings
from shared.runner import run_service


def main(argv=None) -> int:
    """Run the tickets service until SIGINT/SIGTERM."""
    return run_service("tickets", TicketsService, TicketsSettings, argv)


if __name__ == "__main__":
    sys.exit(main())
