"""The tickets service's settings, read from the environment at start-up.

A new tickets setting is one ``env_setting`` field here (its variable, its local
default, a reader that validates it); the service reads it as an attribute of
``config["HELPDESK_SETTINGS"]`` (a ``TicketsSettings``), handlers as
``uow.settings.<name>``. ``CatalogSettings`` are the ones the catalog publishes,
which the gateway serves too (``services/gateway/settings.py``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from services.tickets import clocks, domain
from services.tickets.catalog_file import (
    DEFAULT_CATALOG_FILE,
    parse_features_variable,
    read_catalog_file,
)
from shared.catalog import (
    DEFAULT_FIRST_RESPONSE,
    DEFAULT_NEXT_RESPONSE,
    PRIORITIES,
)
from shared.config import (
    ConfigError,
    Settings,
    database_url,
    duration,
    env_setting,
    format_duration,
    whole_number,
)

# A response target: at least a second, at most a year.
_RESPONSE_TARGET = duration(1, 366 * 86400)
# How long scheduled work waits: up to a year; 0 turns it off.
_SCHEDULE_DELAY = duration(0, 366 * 86400)


def _seconds(delay: timedelta) -> int:
    return int(delay.total_seconds())


CATALOG_FILE_VARIABLE = "HELPDESK_CATALOG_FILE"
# The shipped defaults, read once (a broken default file fails every import, and its test).
DEFAULT_CATALOG = read_catalog_file(DEFAULT_CATALOG_FILE)


def _catalog(env):
    path = env.get(CATALOG_FILE_VARIABLE)
    return read_catalog_file(path, CATALOG_FILE_VARIABLE) if path else DEFAULT_CATALOG


def _descriptions(env, name, default):
    """The issue types' descriptions, from the catalog file (``HELPDESK_CATALOG_FILE``)."""
    return _catalog(env).descriptions


def _features(env, name, default):
    """``HELPDESK_FEATURES`` (``key:Label,key2:Label 2``) when set, else the catalog file's."""
    raw = env.get(name)
    return parse_features_variable(raw, name) if raw and raw.strip() else _catalog(env).features


def _first_response(env, name, default):
    """``critical=4h,high=8h,medium=24h,low=24h``: each priority's first-response target
    in seconds, as ((priority, seconds), ...) in the catalog's order; a priority left
    out keeps its default."""
    raw = env.get(name)
    if raw in (None, ""):
        return default
    targets, seen = dict(default), set()
    for item in raw.split(","):
        priority, sep, text = item.strip().partition("=")
        priority = priority.strip().lower()
        if not sep or priority not in PRIORITIES:
            raise ConfigError(
                f"{name}: {item.strip()!r} is not priority=duration "
                f"(priorities {', '.join(PRIORITIES)}; e.g. critical=4h)"
            )
        if priority in seen:
            raise ConfigError(f"{name} names {priority} twice")
        seen.add(priority)
        if not text.strip():
            raise ConfigError(f"{name}: {priority} needs a duration, e.g. {priority}=4h")
        targets[priority] = _RESPONSE_TARGET({name: text}, name, None)
    return tuple(targets.items())


def _time_zone(env, name, default):
    """An IANA time zone name (``Europe/Berlin``), checked to exist."""
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"{name}: {raw!r} is not a time zone (an IANA name, e.g. Europe/Berlin)"
        ) from None
    return raw


def _business_hours(env, name, default):
    """A weekly calendar, ``mon-fri 09:00-17:00`` (``clocks.parse_business_hours``),
    checked now; empty or ``always``: round the clock."""
    raw = (env.get(name) or "").strip()
    try:
        clocks.parse_business_hours(raw, ZoneInfo("UTC"))
    except ValueError as exc:
        raise ConfigError(f"{name}: {exc}") from None
    return raw or default


@functools.lru_cache(maxsize=8)
def _policy(first: tuple, next_response: int, hours: str, zone: str) -> clocks.ResponsePolicy:
    calendar = clocks.parse_business_hours(hours, ZoneInfo(zone))
    return clocks.ResponsePolicy(dict(first), next_response, calendar)


def response_policy(settings) -> clocks.ResponsePolicy:
    """The targets and calendar the response clocks count by (built once per set of
    settings; the settings were checked when read)."""
    return _policy(
        settings.sla_first_response,
        settings.sla_next_response,
        settings.sla_business_hours,
        settings.sla_timezone,
    )


def timings(settings) -> domain.Timings:
    """How long the scheduled work waits (auto-close, reminders), from the settings'
    seconds (0: off)."""

    def delay(seconds: int) -> timedelta | None:
        return timedelta(seconds=seconds) if seconds else None

    return domain.Timings(
        auto_close_after=delay(settings.auto_close_after),
        auto_close_reminder=delay(settings.auto_close_reminder),
        awaiting_reminder_after=delay(settings.awaiting_reminder_after),
    )


@dataclass(frozen=True)
class CatalogSettings(Settings):
    """What the ticket form offers and allows (``GET /api/v1/catalog``)."""

    # Each issue type's description, and the features (catalog_file.py says how).
    issue_type_descriptions: tuple = env_setting(
        CATALOG_FILE_VARIABLE, DEFAULT_CATALOG.descriptions, _descriptions
    )
    features: tuple = env_setting("HELPDESK_FEATURES", DEFAULT_CATALOG.features, _features)
    # An owner's new tickets per UTC day.
    tickets_per_day: int = env_setting("HELPDESK_TICKETS_PER_DAY", 5, whole_number(1, 10_000))
    # An owner's messages per ticket in any rolling hour (support is not limited).
    messages_per_hour: int = env_setting("HELPDESK_MESSAGES_PER_HOUR", 20, whole_number(1, 100_000))
    # Response targets in seconds: the first response per priority, the next response.
    sla_first_response: tuple = env_setting(
        "HELPDESK_SLA_FIRST_RESPONSE", DEFAULT_FIRST_RESPONSE, _first_response
    )
    sla_next_response: int = env_setting(
        "HELPDESK_SLA_NEXT_RESPONSE", DEFAULT_NEXT_RESPONSE, _RESPONSE_TARGET
    )

    @property
    def response_targets(self) -> dict:
        """The catalog's ``response_targets``: ``{"first": {priority: s}, "next": s}``."""
        return {"first": dict(self.sla_first_response), "next": self.sla_next_response}


@dataclass(frozen=True)
class TicketsSettings(CatalogSettings):
    """Every setting of the tickets service."""

    tickets_database_url: str = database_url(
        "HELPDESK_TICKETS_DATABASE_URL", "postgresql://root@127.0.0.1:5432/helpdesk_tickets"
    )
    # How many instances ``make run`` starts.
    tickets_instances: int = env_setting("HELPDESK_TICKETS_INSTANCES", 1, whole_number(1, 16))
    # The response clocks count only in these business hours, local to this zone
    # (empty: round the clock).
    sla_business_hours: str = env_setting("HELPDESK_SLA_BUSINESS_HOURS", "", _business_hours)
    sla_timezone: str = env_setting("HELPDESK_SLA_TIMEZONE", "UTC", _time_zone)
    # Scheduled work, in seconds (docs/tickets.md, "Scheduled work"); 0 turns it off.
    auto_close_after: int = env_setting(
        "HELPDESK_AUTO_CLOSE_AFTER", _seconds(domain.AUTO_CLOSE_AFTER), _SCHEDULE_DELAY
    )
    auto_close_reminder: int = env_setting(
        "HELPDESK_AUTO_CLOSE_REMINDER", _seconds(domain.AUTO_CLOSE_REMINDER), _SCHEDULE_DELAY
    )
    awaiting_reminder_after: int = env_setting(
        "HELPDESK_AWAITING_REMINDER_AFTER",
        _seconds(domain.AWAITING_REMINDER_AFTER),
        _SCHEDULE_DELAY,
    )
    # How often each instance looks for due work: at most an hour, since due work
    # waits up to one interval past its time.
    scheduler_interval: int = env_setting("HELPDESK_SCHEDULER_INTERVAL", 30, duration(1, 3600))

    def __post_init__(self):
        after, reminder = self.auto_close_after, self.auto_close_reminder
        if after and reminder and reminder >= after:
            raise ConfigError(
                f"HELPDESK_AUTO_CLOSE_REMINDER ({format_duration(reminder)}) must be shorter "
                f"than HELPDESK_AUTO_CLOSE_AFTER ({format_duration(after)}), or 0 for no reminder"
            )
