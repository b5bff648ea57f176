"""Alembic environment for the notifications database (``python -m shared.migrate notifications``)."""

from services.notifications.tables import metadata
from shared.migrate import run_migrations

run_migrations(target_metadata=metadata)
