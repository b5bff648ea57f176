"""What the cross-service tools (``tools/``) need to know of the notifications service."""

from pathlib import Path

from services.notifications import queues, tables
from services.notifications.settings import NotificationsSettings

NAME = "notifications"
# Its settings (settings.py); the two names below are attributes of them.
SETTINGS = NotificationsSettings
DATABASE_SETTING = "notifications_database_url"
INSTANCES_SETTING = "notifications_instances"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
ENCRYPTED_COLUMNS = tables.ENCRYPTED_COLUMNS
SEALED_CONTEXT = tables.SEALED_CONTEXT
EVENT_QUEUES = queues.QUEUES
