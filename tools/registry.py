"""The one list of services the tools work on, and what each declares of itself.

A service that owns a database has a ``manifest.py`` beside its ``service.py`` with
``NAME``, ``SETTINGS`` (its ``shared.config.Settings`` subclass, from its
``settings.py``), ``DATABASE_SETTING`` and ``INSTANCES_SETTING`` (attributes of it),
``MIGRATIONS`` (its Alembic folder), ``ENCRYPTED_COLUMNS`` and ``SEALED_CONTEXT``
(what key rotation walks, and what each value is bound to) and ``EVENT_QUEUES`` (the kombu queues it consumes, declared by ``helpdesk-setup``
before anything publishes). Adding a service is one line in ``MANIFESTS``.
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass
from pathlib import Path

MANIFESTS = (
    "services.tickets.manifest",
    "services.notifications.manifest",
)


@dataclass(frozen=True)
class Service:
    """What the tools need to know of one service (from its ``manifest.py``)."""

    name: str
    settings: type
    database_setting: str
    instances_setting: str
    migrations: Path
    encrypted_columns: tuple
    sealed_context: dict
    event_queues: tuple

    @property
    def command(self) -> str:
        """The console command that runs one instance of the service."""
        return f"helpdesk-{self.name}"

    def database_url(self, settings) -> str:
        """This service's database URL in ``settings``."""
        return getattr(settings, self.database_setting)

    def instances(self, settings) -> int:
        """How many instances of this service ``make run`` starts under ``settings``."""
        return getattr(settings, self.instances_setting)


def _load(module_name: str) -> Service:
    module = importlib.import_module(module_name)
    return Service(
        name=module.NAME,
        settings=module.SETTINGS,
        database_setting=module.DATABASE_SETTING,
        instances_setting=module.INSTANCES_SETTING,
        migrations=Path(module.MIGRATIONS),
        encrypted_columns=tuple(module.ENCRYPTED_COLUMNS),
        sealed_context=dict(module.SEALED_CONTEXT),
        event_queues=tuple(module.EVENT_QUEUES),
    )


@functools.cache
def services() -> tuple[Service, ...]:
    """Every registered service, in ``MANIFESTS`` order."""
    return tuple(_load(name) for name in MANIFESTS)


def settings_class(*more: type) -> type:
    """One ``Settings`` class with every registered service's settings, and ``more``.

    For the tools that span services (set-up, migrations, key rotation) and the
    tests: each service's process reads only its own class. ``make run`` adds the
    front processes' (``tools.localrun.settings_class``).
    """
    bases = (*(service.settings for service in services()), *more)
    return _joined(tuple(dict.fromkeys(bases)))


@functools.cache
def _joined(bases: tuple) -> type:
    return dataclass(frozen=True)(type("HelpdeskSettings", bases, {"__module__": __name__}))


def settings_from_env(environ=None):
    """Every registered service's settings from the environment (``Settings.from_env``)."""
    return settings_class().from_env(environ)


def names() -> tuple[str, ...]:
    """The registered services' names."""
    return tuple(service.name for service in services())


def service(name: str) -> Service:
    """The registered service called ``name`` (``KeyError`` if there is none)."""
    for candidate in services():
        if candidate.name == name:
            return candidate
    raise KeyError(name)


def event_queues() -> tuple:
    """Every queue any service consumes events from."""
    return tuple(queue for service in services() for queue in service.event_queues)
