"""The tickets service's settings, read from the environment at start-up.

A new tickets setting is one ``env_setting`` field here (its variable, its local
default, a reader that validates it); the service reads it as an attribute of
``config["HELPDESK_SETTINGS"]`` (a ``TicketsSettings``), handlers as
``uow.settings.<name>``. ``CatalogSettings`` are the ones the catalog publishes,
which the gateway serves too (``services/gateway/settings.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.catalog import DEFAULT_FEATURES
from shared.config import ConfigError, Settings, database_url, env_setting, whole_number


def _features(env, name, default):
    """``key:Label,key2:Label 2`` -> tuple of (key, label)."""
    raw = env.get(name)
    if not raw:
        return default
    features = []
    for item in raw.split(","):
        key, _, label = item.strip().partition(":")
        key = key.strip()
        if not key or not key.replace("_", "").replace("-", "").isalnum():
            raise ConfigError(f"{name} has an invalid key {key!r}")
        features.append((key, label.strip() or key.replace("_", " ").title()))
    if len({k for k, _ in features}) != len(features):
        raise ConfigError(f"{name} lists a key twice")
    return tuple(features)


@dataclass(frozen=True)
class CatalogSettings(Settings):
    """What the ticket form offers and allows (``GET /api/v1/catalog``)."""

    features: tuple = env_setting("HELPDESK_FEATURES", DEFAULT_FEATURES, _features)
    # An owner's new tickets per UTC day.
    tickets_per_day: int = env_setting("HELPDESK_TICKETS_PER_DAY", 5, whole_number(1, 10_000))
    # An owner's messages per ticket in any rolling hour (support is not limited).
    messages_per_hour: int = env_setting("HELPDESK_MESSAGES_PER_HOUR", 20, whole_number(1, 100_000))


@dataclass(frozen=True)
class TicketsSettings(CatalogSettings):
    """Every setting of the tickets service."""

    tickets_database_url: str = database_url(
        "HELPDESK_TICKETS_DATABASE_URL", "postgresql://root@127.0.0.1:5432/helpdesk_tickets"
    )
    # How many instances ``make run`` starts.
    tickets_instances: int = env_setting("HELPDESK_TICKETS_INSTANCES", 1, whole_number(1, 16))
