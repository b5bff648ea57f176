"""Alembic environment for the tickets database (``python -m shared.migrate tickets``)."""

from services.tickets.tables import metadata
from shared.migrate import run_migrations

run_migrations(target_metadata=metadata)
