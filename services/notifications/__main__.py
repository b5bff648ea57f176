"""``helpdesk-notifications``: run the notifications service in the foreground."""

import shared.green  # noqa: F401,I001  (must precede psycopg)

import sys

from services.notifications.service import NotificationsService
from services.notifications.settings import NotificationsSettings
from shared.runner import run_service


def main(argv=None) -> int:
    """Start the service with settings from the environment (``--check`` for a dry run)."""
    return run_service("notifications", NotificationsService, NotificationsSettings, argv)


if __name__ == "__main__":
    sys.exit(main())
