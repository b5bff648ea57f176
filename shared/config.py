"""Settings read from the environment, validated once at start-up.

``Settings`` holds what every process shares (environment, addresses, broker,
logging, data keys, the gateway's JWT and HTTP settings); a service declares its
own settings in a subclass in its ``settings.py`` (``env_setting`` fields), so
this module names no service. Every process builds its class's settings with
``from_env()``; the tools build one class spanning every registered service
(``tools.registry.settings_class``).
``HELPDESK_ENV`` unset means ``production``: the local defaults (guest broker,
development JWT secret, the sign-in page) apply only when a process says
``development`` (loopback addresses only) or ``test``. Secrets have no production
default, so a ``production`` process refuses to start without them (``ConfigError``).

Only the gateway verifies tokens, so only it (and the token-minting command) reads
the ``HELPDESK_JWT_*`` settings; every other process passes
``verifies_tokens=False`` and neither needs nor holds the token-signing secret.
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

DEV_JWT_SECRET = "helpdesk-development-secret-do-not-use-in-production"
ENVIRONMENTS = ("development", "test", "production")
JWT_ALGORITHMS = ("HS256", "RS256", "ES256")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class ConfigError(ValueError):
    """A setting is missing or invalid; the message names the variable."""


def env_int(env, name, default, minimum=None, maximum=None):
    """``env[name]`` as a whole number within bounds, ``default`` when unset or empty."""
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if minimum is not None and value < minimum or maximum is not None and value > maximum:
        raise ConfigError(f"{name} must be between {minimum} and {maximum}, got {value}")
    return value


def env_float(env, name, default, minimum=0.0, maximum=None):
    """``env[name]`` as a finite number above ``minimum``, ``default`` when unset or empty."""
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, got {raw!r}")
    if value <= minimum:
        raise ConfigError(f"{name} must be greater than {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{name} must be at most {maximum}, got {value}")
    return value


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


def duration(minimum: int = 0, maximum: int = 366 * 86400):
    """A reader of a duration setting (``parse_duration``), in seconds from
    ``minimum`` to ``maximum``: ``read(env, name, default)``."""

    def read(env, name, default):
        raw = env.get(name)
        if raw in (None, ""):
            return default
        try:
            seconds = parse_duration(raw)
        except ValueError as exc:
            raise ConfigError(f"{name}: {exc}") from None
        if not minimum <= seconds <= maximum:
            raise ConfigError(
                f"{name} must be from {minimum}s to {maximum}s, got {raw!r} ({seconds}s)"
            )
        return seconds

    return read


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
    if scheme not in ("amqp", "amqps"):
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


def _tls(env) -> dict:
    """``HELPDESK_TLS_CERT_FILE`` / ``HELPDESK_TLS_KEY_FILE``: the gateway serves HTTPS."""
    cert = env.get("HELPDESK_TLS_CERT_FILE") or None
    key = env.get("HELPDESK_TLS_KEY_FILE") or None
    if bool(cert) != bool(key):
        raise ConfigError("set both HELPDESK_TLS_CERT_FILE and HELPDESK_TLS_KEY_FILE, or neither")
    return {"tls_cert_file": cert, "tls_key_file": key}


def _frame_ancestors(raw: str | None) -> str:
    """``HELPDESK_FRAME_ANCESTORS``: the CSP ``frame-ancestors`` sources of the web pages."""
    if not raw or not raw.strip():
        return "'self'"
    sources = raw.split()
    for source in sources:
        if source in ("'self'", "'none'"):
            continue
        if not re.fullmatch(
            r"(https?:)|((https?://)?[A-Za-z0-9*][A-Za-z0-9.*-]*(:(\d+|\*))?)", source
        ):
            raise ConfigError(f"HELPDESK_FRAME_ANCESTORS has an invalid source {source!r}")
    return " ".join(sources)


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _cors_origins(raw: str | None, environment: str) -> tuple[str, ...]:
    """``HELPDESK_CORS_ORIGINS``: the origins whose pages may call the API.

    Comma-separated ``scheme://host[:port]``, written as a browser sends ``Origin``
    (lower case, no default port); no path, no ``*`` (every site could then read a
    caller's answers with a token it got hold of). Production takes https only,
    but for loopback.
    """
    if not raw or not raw.strip():
        return ()
    origins = []
    for item in raw.split(","):
        item = item.strip()
        if not item:
            continue
        if "*" in item:
            raise ConfigError("HELPDESK_CORS_ORIGINS never takes '*': list each origin")
        parts = urlsplit(item)
        try:
            port = parts.port
        except ValueError:
            port = -1
        if (
            parts.scheme not in _DEFAULT_PORTS
            or not parts.hostname
            or port == -1
            or parts.path
            or parts.query
            or parts.fragment
            or parts.username is not None
            or item.endswith(("?", "#"))
        ):
            raise ConfigError(
                f"HELPDESK_CORS_ORIGINS takes scheme://host[:port] origins, got {item!r}"
            )
        if parts.scheme == "http" and environment == "production" and not _loopback(parts.hostname):
            raise ConfigError(f"HELPDESK_CORS_ORIGINS must be https:// in production, got {item!r}")
        host = parts.hostname.lower()
        if ":" in host:
            host = f"[{host}]"
        origin = f"{parts.scheme}://{host}"
        if port is not None and port != _DEFAULT_PORTS[parts.scheme]:
            origin += f":{port}"
        origins.append(origin)
    return tuple(dict.fromkeys(origins))


def _check_public_key(algorithm: str, public_key: str) -> None:
    # Parsed now: a key that cannot verify anything must stop start-up, not turn every
    # signed request into a 500.
    from jwt.algorithms import get_default_algorithms
    from jwt.exceptions import InvalidKeyError

    try:
        get_default_algorithms()[algorithm].prepare_key(public_key)
    except (InvalidKeyError, ValueError, TypeError) as exc:
        raise ConfigError(
            f"HELPDESK_JWT_PUBLIC_KEY(_FILE) is not a usable {algorithm} public key: {exc}"
        ) from None


def _jwks_url(raw: str | None, environment: str, algorithm: str) -> str | None:
    """``HELPDESK_JWT_JWKS_URL``: where the host publishes its signing keys.

    https, or http to a loopback address outside production (a local identity
    provider, the tests): the keys decide who is an admin, so they never travel
    in the clear over a network. Only RS256/ES256 publish keys.
    """
    if not raw:
        return None
    parts = urlsplit(raw)
    name = "HELPDESK_JWT_JWKS_URL"
    if not parts.hostname:
        raise ConfigError(f"{name} must be an absolute URL, got {raw!r}")
    if parts.scheme == "http":
        if environment == "production" or not _loopback(parts.hostname):
            raise ConfigError(
                f"{name} must be https:// (http:// only to a loopback address outside production)"
            )
    elif parts.scheme != "https":
        raise ConfigError(f"{name} must be an https:// URL, got scheme {parts.scheme!r}")
    if algorithm == "HS256":
        raise ConfigError(
            f"{name} needs HELPDESK_JWT_ALGORITHM RS256 or ES256 (HS256 has no public keys)"
        )
    return raw


def _jwt_settings(env, environment: str) -> dict:
    """The ``jwt_*`` fields from ``HELPDESK_JWT_*``, for a process that verifies tokens.

    Production needs a real HS256 secret (32+ characters, not the development one);
    RS256/ES256 need ``HELPDESK_JWT_PUBLIC_KEY`` or ``HELPDESK_JWT_PUBLIC_KEY_FILE``,
    or the host's key set at ``HELPDESK_JWT_JWKS_URL`` (one or the other, not both).
    """
    algorithm = env.get("HELPDESK_JWT_ALGORITHM", "HS256").upper()
    if algorithm not in JWT_ALGORITHMS:
        raise ConfigError(f"HELPDESK_JWT_ALGORITHM must be one of {JWT_ALGORITHMS}")
    secret = env.get("HELPDESK_JWT_SECRET") or None
    public_key = env.get("HELPDESK_JWT_PUBLIC_KEY") or None
    key_file = env.get("HELPDESK_JWT_PUBLIC_KEY_FILE")
    if key_file and not public_key:
        try:
            with open(key_file, encoding="utf-8") as fh:
                public_key = fh.read()
        except OSError as exc:
            raise ConfigError(f"HELPDESK_JWT_PUBLIC_KEY_FILE unreadable: {exc}") from None
    jwks_url = _jwks_url(env.get("HELPDESK_JWT_JWKS_URL"), environment, algorithm)
    if jwks_url and public_key:
        raise ConfigError(
            "Set HELPDESK_JWT_JWKS_URL or HELPDESK_JWT_PUBLIC_KEY(_FILE), not both: "
            "which keys count must be unambiguous"
        )
    if algorithm == "HS256":
        if secret is None:
            if environment == "production":
                raise ConfigError("HELPDESK_JWT_SECRET is required in production")
            secret = DEV_JWT_SECRET
        if environment == "production" and (secret == DEV_JWT_SECRET or len(secret) < 32):
            raise ConfigError(
                "HELPDESK_JWT_SECRET must be a real secret of at least 32 characters in production"
            )
    elif jwks_url:
        pass  # keys come from the host, fetched when the first token needs one
    elif not public_key:
        raise ConfigError(
            f"HELPDESK_JWT_PUBLIC_KEY(_FILE) or HELPDESK_JWT_JWKS_URL is required for {algorithm}"
        )
    else:
        _check_public_key(algorithm, public_key)
    return {
        "jwt_algorithm": algorithm,
        "jwt_secret": secret if algorithm == "HS256" else None,
        "jwt_public_key": public_key if algorithm != "HS256" else None,
        "jwt_issuer": env.get("HELPDESK_JWT_ISSUER") or None,
        "jwt_audience": env.get("HELPDESK_JWT_AUDIENCE") or None,
        "jwt_jwks_url": jwks_url,
        # Seconds between two fetches of the key set, however many unknown kids arrive.
        "jwt_jwks_min_interval": env_float(
            env, "HELPDESK_JWT_JWKS_MIN_INTERVAL", Settings.jwt_jwks_min_interval, maximum=3600.0
        ),
    }


def _declared(cls) -> list:
    return [f for f in fields(cls) if "variable" in f.metadata]


def _http_host(env, environment: str) -> str:
    """``HELPDESK_HTTP_HOST``; development (its published JWT secret and the sign-in
    page that mints admin tokens) is refused on anything but a loopback address."""
    host = env.get("HELPDESK_HTTP_HOST") or Settings.http_host
    if environment == "development" and not _loopback(host):
        raise ConfigError(
            f"HELPDESK_ENV=development serves on loopback only (127.0.0.0/8, ::1, localhost), "
            f"got HELPDESK_HTTP_HOST={host!r}"
        )
    return host


def _loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve anywhere
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


# A process that verifies no token holds no token key (``verifies_tokens=False``).
_NO_JWT = {
    "jwt_secret": None,
    "jwt_public_key": None,
    "jwt_issuer": None,
    "jwt_audience": None,
    "jwt_jwks_url": None,
}


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

    def read(env, name, default):
        return env_int(env, name, default, minimum, maximum)

    return read


def number(maximum: float, minimum: float = 0.0):
    """A reader for ``env_setting``: a finite number above ``minimum``, at most ``maximum``."""

    def read(env, name, default):
        return env_float(env, name, default, minimum, maximum)

    return read


def true_or_false(env, name, default):
    """A reader for ``env_setting``: ``true`` or ``false`` (any case)."""
    raw = env.get(name)
    if raw in (None, ""):
        return default
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
    """The settings every process shares; a service's own extend it (``env_setting``)."""

    # Unset means production: a deployment that forgets HELPDESK_ENV must not get the
    # development secret and sign-in page. make run and the tests say development/test.
    env: str = "production"
    http_host: str = "127.0.0.1"
    http_port: int = env_setting("HELPDESK_HTTP_PORT", 8080, whole_number(1, 65535))
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    # Read only by a process that verifies tokens (the gateway); None in the others.
    jwt_algorithm: str = "HS256"
    jwt_secret: str | None = DEV_JWT_SECRET
    jwt_public_key: str | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    # The host's JWKS (RS256/ES256): keys picked by the token's kid, refreshed on rotation.
    jwt_jwks_url: str | None = None
    jwt_jwks_min_interval: float = 30.0
    # Bounded: a request must never wait longer than a person would.
    rpc_timeout: float = env_setting("HELPDESK_RPC_TIMEOUT", 5.0, number(600.0))
    rpc_pool_size: int = env_setting("HELPDESK_RPC_POOL_SIZE", 8, whole_number(1, 256))
    # Seconds a client has to send a request's head and body once it starts: a slow
    # client holds one of the gateway's few threads, so bounded, and short.
    request_read_timeout: float = env_setting("HELPDESK_REQUEST_READ_TIMEOUT", 10.0, number(120.0))
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
    # Who may embed the Help Center pages in a frame (CSP frame-ancestors).
    frame_ancestors: str = "'self'"
    # Origins whose pages may call the API across origins (CORS); none by default.
    cors_origins: tuple = ()
    # The gateway's gunicorn: worker processes, threads each, and HTTPS (both or neither).
    gateway_workers: int = env_setting("HELPDESK_GATEWAY_WORKERS", 2, whole_number(1, 256))
    gateway_threads: int = env_setting("HELPDESK_GATEWAY_THREADS", 8, whole_number(1, 1024))
    # Where helpdesk-stream (live notices, an ASGI process) listens, on HELPDESK_HTTP_HOST.
    stream_port: int = env_setting("HELPDESK_STREAM_PORT", 8081, whole_number(1, 65535))
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    # The load balancers whose X-Forwarded-For and X-Forwarded-Proto the front processes
    # believe (docs/gateway.md, "Client addresses"); anyone else's are ignored. Loopback
    # by default: a proxy on the same host (make run's front, a local HAProxy).
    trusted_proxies: tuple = env_setting(
        "HELPDESK_TRUSTED_PROXIES", ("127.0.0.1/32", "::1/128"), ip_networks
    )
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
    def response_targets(self) -> dict:
        """The catalog's ``response_targets``: ``{"first": {priority: s}, "next": s}``."""
        return {"first": dict(self.sla_first_response), "next": self.sla_next_response}

    @property
    def development(self) -> bool:
        return self.env == "development"

    @property
    def production(self) -> bool:
        return self.env == "production"

    @classmethod
    def from_env(cls, environ=None, *, verifies_tokens: bool = True) -> Settings:
        """Read and validate every setting of ``cls``; raise ``ConfigError``.

        The fields declared with ``env_setting`` (here and in a service's subclass)
        are read by their readers; the others, which depend on one another or on
        the environment's name, below.

        ``verifies_tokens``: whether this process verifies (or mints) JWTs. True
        (the default) for the gateway and ``helpdesk-token``: the ``HELPDESK_JWT_*``
        settings are read and validated, and production refuses to start without
        a real ``HELPDESK_JWT_SECRET`` (or the public key of RS256/ES256). False for
        every other process (the nameko services, set-up, migrations, key
        rotation): no ``HELPDESK_JWT_*`` variable is read or required, and the
        settings carry no JWT secret, public key, issuer or audience.
        """
        env = os.environ if environ is None else environ
        name = env.get("HELPDESK_ENV") or "production"
        if name not in ENVIRONMENTS:
            raise ConfigError(f"HELPDESK_ENV must be one of {ENVIRONMENTS}, got {name!r}")

        jwt = _jwt_settings(env, name) if verifies_tokens else _NO_JWT
        log_level = env.get("HELPDESK_LOG_LEVEL", cls.log_level).upper()
        if log_level not in LOG_LEVELS:
            raise ConfigError(f"HELPDESK_LOG_LEVEL must be one of {LOG_LEVELS}, got {log_level!r}")
        declared = _declared(cls)
        settings = cls(
            env=name,
            http_host=_http_host(env, name),
            amqp_url=_amqp_url(env, name),
            **jwt,
            log_level=log_level,
            data_encryption=_data_encryption(env, name),
            data_legacy_binding=_data_legacy_binding(env),
            frame_ancestors=_frame_ancestors(env.get("HELPDESK_FRAME_ANCESTORS")),
            cors_origins=_cors_origins(env.get("HELPDESK_CORS_ORIGINS"), name),
            **_amqp_tls(env),
            **_tls(env),
            **{
                f.name: f.metadata["read"](env, f.metadata["variable"], f.default) for f in declared
            },
        )
        # Those set: a process given no database URL (the gateway) connects to none.
        transport = ["HELPDESK_AMQP_URL"]
        transport += [f.metadata["variable"] for f in declared if f.metadata["transport"]]
        check_transport(env, name, {var: env.get(var) for var in transport})
        return settings

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
