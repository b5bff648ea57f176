"""The front processes' settings, read from the environment at start-up.

``FrontSettings`` are those of both processes that answer HTTP, ``helpdesk-gateway``
and ``helpdesk-stream`` (and of ``helpdesk-token``, which mints the tokens they
verify): where they listen, the ``HELPDESK_JWT_*`` settings, the RPC client pool,
CORS, TLS and the load balancers they believe. Only these verify tokens, so only
they read the JWT settings; no other process holds the token-signing secret.
``GatewaySettings`` adds the gateway's own (its port, gunicorn's processes, the
pages' frame-ancestors) and the catalog's: the gateway serves the tickets' catalog
itself (no RPC per ``GET /api/v1/catalog``), so it reads the catalog's settings as
the tickets service does. A gateway-only setting is one ``env_setting`` field here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from services.tickets.settings import CatalogSettings
from shared.config import (
    ConfigError,
    Settings,
    env_setting,
    ip_networks,
    loopback,
    number,
    whole_number,
)

DEV_JWT_SECRET = "helpdesk-development-secret-do-not-use-in-production"
JWT_ALGORITHMS = ("HS256", "RS256", "ES256")


def _tls(env) -> dict:
    """``HELPDESK_TLS_CERT_FILE`` / ``HELPDESK_TLS_KEY_FILE``: the front processes serve HTTPS."""
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
        if parts.scheme == "http" and environment == "production" and not loopback(parts.hostname):
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
        if environment == "production" or not loopback(parts.hostname):
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
        "jwt_jwks_min_interval": number(3600.0)(
            env, "HELPDESK_JWT_JWKS_MIN_INTERVAL", FrontSettings.jwt_jwks_min_interval
        ),
    }


def _http_host(env, environment: str) -> str:
    """``HELPDESK_HTTP_HOST``; development (its published JWT secret and the sign-in
    page that mints admin tokens) is refused on anything but a loopback address."""
    host = env.get("HELPDESK_HTTP_HOST") or FrontSettings.http_host
    if environment == "development" and not loopback(host):
        raise ConfigError(
            f"HELPDESK_ENV=development serves on loopback only (127.0.0.0/8, ::1, localhost), "
            f"got HELPDESK_HTTP_HOST={host!r}"
        )
    return host


@dataclass(frozen=True)
class FrontSettings(Settings):
    """The settings of the processes that answer HTTP, the gateway and the stream, and
    of ``helpdesk-token``, which mints the tokens they verify."""

    http_host: str = "127.0.0.1"
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
    # Origins whose pages may call the API across origins (CORS); none by default.
    cors_origins: tuple = ()
    # Where helpdesk-stream (live notices, an ASGI process) listens, on HELPDESK_HTTP_HOST.
    stream_port: int = env_setting("HELPDESK_STREAM_PORT", 8081, whole_number(1, 65535))
    # HTTPS (both or neither).
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    # The load balancers whose X-Forwarded-For and X-Forwarded-Proto the front processes
    # believe (docs/gateway.md, "Client addresses"); anyone else's are ignored. Loopback
    # by default: a proxy on the same host (make run's front, a local HAProxy).
    trusted_proxies: tuple = env_setting(
        "HELPDESK_TRUSTED_PROXIES", ("127.0.0.1/32", "::1/128"), ip_networks
    )

    @classmethod
    def read_dependent(cls, env, environment: str) -> dict:
        """The JWT settings (production refuses to start without a real secret or
        the public key of RS256/ES256), the host, CORS and TLS, with the shared ones."""
        # First: a front process given no settings at all names the missing secret first.
        jwt = _jwt_settings(env, environment)
        return {
            **super().read_dependent(env, environment),
            **jwt,
            "http_host": _http_host(env, environment),
            "cors_origins": _cors_origins(env.get("HELPDESK_CORS_ORIGINS"), environment),
            **_tls(env),
        }


@dataclass(frozen=True)
class GatewaySettings(FrontSettings, CatalogSettings):
    """Every setting of the gateway."""

    http_port: int = env_setting("HELPDESK_HTTP_PORT", 8080, whole_number(1, 65535))
    # Seconds a client has to send a request's head and body once it starts: a slow
    # client holds one of the gateway's few threads, so bounded, and short.
    request_read_timeout: float = env_setting("HELPDESK_REQUEST_READ_TIMEOUT", 10.0, number(120.0))
    # Who may embed the Help Center pages in a frame (CSP frame-ancestors).
    frame_ancestors: str = "'self'"
    # The gateway's gunicorn: worker processes and threads each.
    gateway_workers: int = env_setting("HELPDESK_GATEWAY_WORKERS", 2, whole_number(1, 256))
    gateway_threads: int = env_setting("HELPDESK_GATEWAY_THREADS", 8, whole_number(1, 1024))

    @classmethod
    def read_dependent(cls, env, environment: str) -> dict:
        """The frame-ancestors, with the front processes' dependent settings."""
        return {
            **super().read_dependent(env, environment),
            "frame_ancestors": _frame_ancestors(env.get("HELPDESK_FRAME_ANCESTORS")),
        }
