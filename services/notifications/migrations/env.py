"""Alembic environment for the notifications database (``helpdesk-migrate notifications``)."""

from services.notifications.tables import metadata
from tools.migrate import run_migrations

run_migrations(target_metadata=metadata)
