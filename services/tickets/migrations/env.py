"""Alembic environment for the tickets database (``helpdesk-migrate tickets``)."""

from services.tickets.tables import metadata
from tools.migrate import run_migrations

run_migrations(target_metadata=metadata)
