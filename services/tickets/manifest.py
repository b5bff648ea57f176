"""What the cross-service tools (``tools/``) need to know of the tickets service."""

from pathlib import Path

from services.tickets import tables
from services.tickets.settings import TicketsSettings

NAME = "tickets"
# Its settings (settings.py); the two names below are attributes of them.
SETTINGS = TicketsSettings
DATABASE_SETTING = "tickets_database_url"
INSTANCES_SETTING = "tickets_instances"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
ENCRYPTED_COLUMNS = tables.ENCRYPTED_COLUMNS
SEALED_CONTEXT = tables.SEALED_CONTEXT
# The tickets service publishes events and consumes none.
EVENT_QUEUES = ()
