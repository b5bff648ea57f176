"""Settings read from the environment, validated once at start-up.

``Settings`` holds what every process shares (environment, broker and its TLS,
logging, data keys, database pools, metrics); a process declares its own settings
in a subclass in its ``settings.py`` (``env_setting`` fields), so this module names
no service. Every process builds its class's settings with ``from_env()``; the
tools build one class spanning every registered service
(``tools.registry.settings_class``).
``HELPDESK_ENV`` unset means ``production``: the local defaults (guest broker, and
a subclass's own, such as a development secret) apply only when a process says
``development`` or ``test``. Secrets have no production default, so a
``production`` process refuses to start without them (``ConfigError``).
"""

from __future__ import annotations

import ipaddress
import logging
import math
import os
import re
import ssl
import sys
from dataclasses import dataclass, field, fields
from urllib.parse import parse_qs, urlsplit

log = logging.getLogger(__name__)

ENVIRONMENTS = ("development", "test", "production")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# A broker URL's schemes: plain, or TLS.
AMQP_SCHEMES = ("amqp", "amqps")


class ConfigError(ValueError):
    """A setting is missing or invalid; the message names the variable."""


_DURATION = re.compile(r"([0-9]{1,9})([smhd])")
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(raw: str) -> int:
    """Seconds in a duration written ``90s``, ``15m``, ``4h``, ``7d`` (or ``0``: none);
    ``ValueError`` saying how to write one."""
    text = raw.strip().lower()
    if text == "0":
        return 0
    match = _DURATION.fullmatch(text)
    if match is None:
        raise ValueError(f"{raw!r} is not a duration like 90s, 15m, 4h or 7d")
    return int(match.group(1)) * _DURATION_UNITS[match.group(2)]


def format_duration(seconds: int) -> str:
    """``seconds`` as an operator writes it: in the largest unit that divides it
    exactly (``86400`` is ``1d``, ``5400`` is ``90m``); the inverse of ``parse_duration``."""
    for unit, size in sorted(_DURATION_UNITS.items(), key=lambda item: -item[1]):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return "0"


def _reader(parse):
    """A reader ``read(env, name, default)`` of one variable, which ``parse(name, raw)``
    turns into its value or refuses with a ``ConfigError``: unset or empty, the
    variable is ``default`` (taken as it is, unchecked). Also a decorator."""

    def read(env, name, default):
        raw = env.get(name)
        return default if raw in (None, "") else parse(name, raw)

    return read


def duration(minimum: int = 0, maximum: int = 366 * 86400):
    """A reader of a duration setting (``parse_duration``), in seconds from
    ``minimum`` to ``maximum``: ``read(env, name, default)``."""

    def parse(name, raw):
        try:
            seconds = parse_duration(raw)
        except ValueError as exc:
            raise ConfigError(f"{name}: {exc}") from None
        if not minimum <= seconds <= maximum:
            raise ConfigError(
                f"{name} must be from {minimum}s to {maximum}s, got {raw!r} ({seconds}s)"
            )
        return seconds

    return _reader(parse)


def postgres_url(name, raw):
    """``raw`` checked to be a PostgreSQL URL naming a database (``ConfigError`` naming ``name``)."""
    parts = urlsplit(raw)
    if parts.scheme not in ("postgresql", "postgres", "postgresql+psycopg"):
        raise ConfigError(f"{name} must be a postgresql:// URL, got scheme {parts.scheme!r}")
    if not parts.path.strip("/"):
        raise ConfigError(f"{name} must name a database")
    return raw


def _data_encryption(env, environment: str) -> bool:
    """``HELPDESK_DATA_ENCRYPTION``: ``on`` (default) or ``off``, the latter only to
    measure the cipher's cost (``scripts/bench_encryption.py``), never in production."""
    raw = (env.get("HELPDESK_DATA_ENCRYPTION") or "on").lower()
    if raw not in ("on", "off"):
        raise ConfigError(f"HELPDESK_DATA_ENCRYPTION must be on or off, got {raw!r}")
    if raw == "off" and environment == "production":
        raise ConfigError("HELPDESK_DATA_ENCRYPTION=off is for measurement only, never production")
    return raw == "on"


def _data_legacy_binding(env) -> bool:
    """``HELPDESK_DATA_LEGACY_BINDING``: ``refuse`` (default) or ``accept`` values
    sealed with the old, row-only binding (an upgrade, until the rotation command
    has re-sealed them; docs/decisions/0004-sealed-value-bindings.md)."""
    raw = (env.get("HELPDESK_DATA_LEGACY_BINDING") or "refuse").lower()
    if raw not in ("refuse", "accept"):
        raise ConfigError(f"HELPDESK_DATA_LEGACY_BINDING must be refuse or accept, got {raw!r}")
    return raw == "accept"


def _amqp_tls(env) -> dict:
    """``HELPDESK_AMQP_CA_FILE`` / ``_CERT_FILE`` / ``_KEY_FILE``, checked to exist."""
    url = env.get("HELPDESK_AMQP_URL", "")
    scheme = urlsplit(url).scheme if url else "amqp"
    if scheme not in AMQP_SCHEMES:
        raise ConfigError(f"HELPDESK_AMQP_URL must be an amqp:// or amqps:// URL, got {scheme!r}")
    values = {}
    for name, attr in (
        ("HELPDESK_AMQP_CA_FILE", "amqp_ca_file"),
        ("HELPDESK_AMQP_CERT_FILE", "amqp_cert_file"),
        ("HELPDESK_AMQP_KEY_FILE", "amqp_key_file"),
    ):
        path = env.get(name) or None
        if path is not None:
            if scheme != "amqps":
                raise ConfigError(f"{name} needs an amqps:// HELPDESK_AMQP_URL")
            if not os.path.isfile(path):
                raise ConfigError(f"{name}: no such file {path!r}")
        values[attr] = path
    if bool(values["amqp_cert_file"]) != bool(values["amqp_key_file"]):
        raise ConfigError("HELPDESK_AMQP_CERT_FILE and HELPDESK_AMQP_KEY_FILE go together")
    return values


def _declared(cls) -> list:
    return [f for f in fields(cls) if "variable" in f.metadata]


def loopback(host: str) -> bool:
    """Whether ``host`` (an address, ``[::1]`` or ``localhost``) is a loopback address;
    a host name other than ``localhost`` may resolve anywhere, so it is not."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def verified_transport(url: str) -> bool:
    """Whether ``url`` is TLS with the server's certificate and host name verified:
    ``amqps://`` (``Settings.amqp_ssl`` always verifies), ``https://``, or a
    PostgreSQL URL with ``sslmode=verify-full``."""
    parts = urlsplit(url)
    if parts.scheme in ("amqps", "https"):
        return True
    if parts.scheme.startswith("postgres"):
        return parse_qs(parts.query).get("sslmode") == ["verify-full"]
    return False


def _allow_unverified(env) -> bool:
    raw = (env.get("HELPDESK_ALLOW_UNVERIFIED_TRANSPORT") or "false").lower()
    if raw not in ("true", "false"):
        raise ConfigError(f"HELPDESK_ALLOW_UNVERIFIED_TRANSPORT must be true or false, got {raw!r}")
    return raw == "true"


def check_transport(env, environment: str, urls: dict) -> None:
    """Production refuses broker/database URLs (``{variable: url}``) that are not
    TLS-verified, unless ``HELPDESK_ALLOW_UNVERIFIED_TRANSPORT=true``, which is
    logged as a warning naming each one."""
    if environment != "production":
        return
    unverified = sorted(name for name, url in urls.items() if url and not verified_transport(url))
    if not unverified:
        return
    if not _allow_unverified(env):
        raise ConfigError(
            f"{', '.join(unverified)} must be TLS-verified in production (amqps://, "
            "sslmode=verify-full), or set HELPDESK_ALLOW_UNVERIFIED_TRANSPORT=true"
        )
    log.warning(
        "HELPDESK_ALLOW_UNVERIFIED_TRANSPORT=true: %s connect without a verified TLS "
        "certificate; anyone on that network can read or change the traffic",
        ", ".join(unverified),
    )


def _amqp_url(env, environment: str) -> str:
    url = env.get("HELPDESK_AMQP_URL")
    if url:
        return url
    # The local default logs in as RabbitMQ's well-known guest: never in production.
    if environment == "production":
        raise ConfigError("HELPDESK_AMQP_URL is required in production")
    return Settings.amqp_url


def sqlalchemy_url(url: str) -> str:
    """A ``postgresql://`` URL as SQLAlchemy's psycopg 3 dialect wants it."""
    scheme, rest = url.split("://", 1)
    return f"postgresql+psycopg://{rest}" if scheme != "postgresql+psycopg" else url


def env_setting(variable: str, default, read=None, *, transport: bool = False):
    """A settings field read from the environment variable ``variable``.

    ``read(env, variable, default)`` returns the value, ``default`` when unset, and
    raises ``ConfigError`` naming ``variable`` when it is invalid (``whole_number``,
    ``number``, ``database_url``...); without one the raw string is taken.
    ``transport``: a broker or database URL that production wants TLS-verified
    (``check_transport``). A service's ``settings.py`` declares its settings so.
    """
    return field(
        default=default,
        metadata={"variable": variable, "read": read or _text, "transport": transport},
    )


def _text(env, name, default):
    return env.get(name) or default


def whole_number(minimum: int, maximum: int):
    """A reader for ``env_setting``: a whole number from ``minimum`` to ``maximum``."""

    def parse(name, raw):
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
        if not minimum <= value <= maximum:
            raise ConfigError(f"{name} must be between {minimum} and {maximum}, got {value}")
        return value

    return _reader(parse)


def number(maximum: float, minimum: float = 0.0):
    """A reader for ``env_setting``: a finite number above ``minimum``, at most ``maximum``."""

    def parse(name, raw):
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(f"{name} must be a number, got {raw!r}") from None
        if not math.isfinite(value):
            raise ConfigError(f"{name} must be a finite number, got {raw!r}")
        if value <= minimum:
            raise ConfigError(f"{name} must be greater than {minimum}, got {value}")
        if value > maximum:
            raise ConfigError(f"{name} must be at most {maximum}, got {value}")
        return value

    return _reader(parse)


@_reader
def true_or_false(name, raw):
    """A reader for ``env_setting``: ``true`` or ``false`` (any case)."""
    if raw.lower() not in ("true", "false"):
        raise ConfigError(f"{name} must be true or false, got {raw!r}")
    return raw.lower() == "true"


def ip_networks(env, name, default):
    """A reader for ``env_setting``: comma-separated addresses or CIDR networks, as a
    tuple of their canonical text (``10.0.0.7/32``); ``none`` is the empty tuple."""
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    if raw.strip().lower() == "none":
        return ()
    networks = []
    for item in raw.split(","):
        item = item.strip()
        try:
            networks.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            raise ConfigError(
                f"{name} takes IP addresses or CIDR networks (10.0.0.0/8), got {item!r}"
            ) from None
    return tuple(dict.fromkeys(networks))


def database_url(variable: str, default: str):
    """A PostgreSQL database's URL setting, checked for TLS in production."""
    return env_setting(
        variable,
        default,
        lambda env, name, fallback: postgres_url(name, env.get(name, fallback)),
        transport=True,
    )


@dataclass(frozen=True)
class Settings:
    """The settings every process shares; a process's own extend it (``env_setting``)."""

    # Unset means production: a deployment that forgets HELPDESK_ENV must not get the
    # development secret and sign-in page. make run and the tests say development/test.
    env: str = "production"
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    log_level: str = "INFO"
    # Raw key material spec for the at-rest cipher; parsed by shared.data_keys.
    data_keys: str | None = env_setting("HELPDESK_DATA_KEYS", None)
    data_key_file: str | None = env_setting("HELPDESK_DATA_KEY_FILE", None)
    data_active_key: str | None = env_setting("HELPDESK_DATA_ACTIVE_KEY", None)
    # False only for measuring the cipher's cost; refused in production.
    data_encryption: bool = True
    # True only during an upgrade: open values under the old (row-only) binding.
    data_legacy_binding: bool = False
    # TLS to the broker (an ``amqps://`` URL): CA bundle and optional client cert.
    amqp_ca_file: str | None = None
    amqp_cert_file: str | None = None
    amqp_key_file: str | None = None
    # A service instance's database connections (shared/db.py, docs/operations.md,
    # "Connection budgets"): each of its two pools keeps up to db_pool_size and opens
    # up to db_max_overflow more under a burst.
    db_pool_size: int = env_setting("HELPDESK_DB_POOL_SIZE", 10, whole_number(1, 200))
    db_max_overflow: int = env_setting("HELPDESK_DB_MAX_OVERFLOW", 10, whole_number(0, 200))
    # The database URLs lead to a PgBouncer in transaction pooling: no server-side
    # prepared statements (a statement prepared on one server connection is not on
    # the next one PgBouncer lends).
    db_transaction_pooler: bool = env_setting(
        "HELPDESK_DB_TRANSACTION_POOLER", False, true_or_false
    )
    # Where a nameko service process serves its Prometheus metrics (shared/metrics.py);
    # no endpoint without a port. One port per process: give each instance its own.
    metrics_host: str = env_setting("HELPDESK_METRICS_HOST", "127.0.0.1")
    metrics_port: int | None = env_setting("HELPDESK_METRICS_PORT", None, whole_number(1, 65535))

    @property
    def development(self) -> bool:
        return self.env == "development"

    @property
    def production(self) -> bool:
        return self.env == "production"

    @classmethod
    def from_env(cls, environ=None) -> Settings:
        """Read and validate every setting of ``cls``; raise ``ConfigError``.

        The fields declared with ``env_setting`` (here and in a subclass) are read
        by their readers; the others, which are read together or depend on the
        environment's name, by ``read_dependent``.
        """
        env = os.environ if environ is None else environ
        name = env.get("HELPDESK_ENV") or "production"
        if name not in ENVIRONMENTS:
            raise ConfigError(f"HELPDESK_ENV must be one of {ENVIRONMENTS}, got {name!r}")

        dependent = cls.read_dependent(env, name)
        declared = _declared(cls)
        settings = cls(
            env=name,
            **dependent,
            **{
                f.name: f.metadata["read"](env, f.metadata["variable"], f.default) for f in declared
            },
        )
        # Those set: a process given no database URL connects to none.
        transport = ["HELPDESK_AMQP_URL"]
        transport += [f.metadata["variable"] for f in declared if f.metadata["transport"]]
        check_transport(env, name, {var: env.get(var) for var in transport})
        return settings

    @classmethod
    def read_dependent(cls, env, environment: str) -> dict:
        """The fields that are not one ``env_setting`` each (read together, or by the
        environment's name ``environment``), by name; raise ``ConfigError``.

        A subclass with such fields extends it, adding its own to ``super()``'s.
        """
        log_level = env.get("HELPDESK_LOG_LEVEL", cls.log_level).upper()
        if log_level not in LOG_LEVELS:
            raise ConfigError(f"HELPDESK_LOG_LEVEL must be one of {LOG_LEVELS}, got {log_level!r}")
        return {
            "amqp_url": _amqp_url(env, environment),
            "log_level": log_level,
            "data_encryption": _data_encryption(env, environment),
            "data_legacy_binding": _data_legacy_binding(env),
            **_amqp_tls(env),
        }

    @classmethod
    def from_env_or_exit(cls, prog: str, environ=None, **kwargs) -> Settings:
        """``from_env``, or, when a setting is missing or invalid, one line naming it
        on stderr (``<prog>: configuration error: ...``) and exit status 2: how
        every command refuses to start."""
        try:
            return cls.from_env(environ, **kwargs)
        except ConfigError as exc:
            print(f"{prog}: configuration error: {exc}", file=sys.stderr)
            raise SystemExit(2) from None

    @property
    def amqp_ssl(self) -> dict | None:
        """TLS options for kombu/nameko (``ssl=``), or None for a plain ``amqp://`` URL.

        With ``amqps://`` the broker's certificate is verified against
        ``HELPDESK_AMQP_CA_FILE`` (else the system's CAs) *and* its host name is
        checked; kombu's bare ``ssl=True`` would skip the host name check.
        """
        parts = urlsplit(self.amqp_url)
        if parts.scheme != "amqps":
            return None
        options = {"cert_reqs": ssl.CERT_REQUIRED, "server_hostname": parts.hostname}
        if self.amqp_ca_file:
            options["ca_certs"] = self.amqp_ca_file
        if self.amqp_cert_file:
            options["certfile"] = self.amqp_cert_file
            options["keyfile"] = self.amqp_key_file
        return options

    def nameko_config(self) -> dict:
        """The config dict a nameko ``ServiceContainer``/``ServiceRunner`` takes."""
        config = {
            "AMQP_URI": self.amqp_url,
            "max_workers": 10,
            "parent_calls_tracked": 10,
            "serializer": "json",
            "HELPDESK_SETTINGS": self,
        }
        if self.amqp_ssl is not None:
            config["AMQP_SSL"] = self.amqp_ssl
        return config
