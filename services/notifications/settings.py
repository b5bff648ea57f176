"""The notifications service's settings, read from the environment at start-up.

A new notifications setting is one ``env_setting`` field here; the service reads
it as an attribute of ``config["HELPDESK_SETTINGS"]`` (a ``NotificationsSettings``).
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.config import Settings, database_url, env_setting, whole_number


@dataclass(frozen=True)
class NotificationsSettings(Settings):
    """Every setting of the notifications service."""

    notifications_database_url: str = database_url(
        "HELPDESK_NOTIFICATIONS_DATABASE_URL",
        "postgresql://root@127.0.0.1:5432/helpdesk_notifications",
    )
    # How many instances ``make run`` starts.
    notifications_instances: int = env_setting(
        "HELPDESK_NOTIFICATIONS_INSTANCES", 1, whole_number(1, 16)
    )
