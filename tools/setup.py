"""``helpdesk-setup``: the one-shot set-up that runs before any service starts.

It waits for PostgreSQL and RabbitMQ to answer, creates each registered service's
database if missing and applies every migration (``tools.migrate``), then declares
the broker's exchanges and every queue a service consumes (``tools.registry``), so an
event published before its consumer first runs still waits for it. Every step is
idempotent, so it runs on each ``docker compose up``, before each upgrade's new code,
and at each ``make run``. Exit 0 on success.

It is the one process with administrative credentials. Given them, it also gives
each service its own logins, with the permissions ``tools/access.py`` lists:

- ``HELPDESK_POSTGRES_ADMIN_URL`` (a superuser, e.g. ``.../postgres``): each
  service's database URL names a role and password; the role is made (or its
  password reset) without superuser, database or role creation, may connect to its
  own database only and read and change its rows only. Migrations run as the
  administrator. ``HELPDESK_<SERVICE>_POSTGRES_ADMIN_URL`` is the same for one
  service's database when it lives on a server of its own (one PostgreSQL cluster
  per service, as on Kubernetes: deploy/kubernetes/); it wins over the shared one.
- ``HELPDESK_RABBITMQ_MANAGEMENT_URL`` (``https://admin:password@host:15671/``, the
  management API): each ``HELPDESK_<SERVICE>_AMQP_URL`` (and the gateway's) names a
  user, password and vhost; the user is made with its configure/write/read and topic
  permissions. ``HELPDESK_AMQP_URL`` is then the administrator's.
- ``HELPDESK_BACKUP_DATABASE_URL`` (``postgresql://role:password@host:port/...``;
  only its role and password count, and it needs an administrator for every
  service's database): the backups' login, made (or its password reset) on each
  server that holds a service's database. It may connect to those databases and
  read every row (PostgreSQL's predefined ``pg_read_all_data``: enough for
  ``pg_dump``), and change nothing: no superuser, database or role creation,
  replication or row-security bypass. Unset: no such login is made.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import ssl
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import psycopg
from kombu import Connection
from psycopg import sql

from shared.announcements import declare_announcements
from shared.config import AMQP_SCHEMES, ConfigError, Settings, check_transport
from shared.events import declare_topology
from tools import migrate, registry
from tools.access import DATABASE_PRIVILEGES, broker_grants

# The backups' read-only login (deploy/backup/backup.sh's role), made when given.
BACKUP_SETTING = "HELPDESK_BACKUP_DATABASE_URL"


def _redacted(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"{parts.scheme}://{host}{f':{parts.port}' if parts.port else ''}{parts.path}"


def wait_for(name: str, attempt, deadline: float, interval: float = 1.0) -> None:
    """Call ``attempt`` until it succeeds or ``deadline`` (monotonic) passes."""
    while True:
        try:
            attempt()
            return
        except Exception as exc:  # any failure to connect means "not yet"
            if time.monotonic() >= deadline:
                raise SystemExit(f"helpdesk-setup: {name} did not answer in time: {exc}") from None
            print(f"helpdesk-setup: waiting for {name}: {exc}", file=sys.stderr)
            time.sleep(interval)


def _postgres_ready(url: str):
    # The maintenance database: the service's own may not exist yet.
    maintenance = urlsplit(migrate.plain_url(url))._replace(path="/postgres").geturl()
    return lambda: psycopg.connect(maintenance, connect_timeout=5).close()


def _broker(settings: Settings, timeout: float) -> Connection:
    # ``amqp_ssl`` verifies the broker's certificate and name for an amqps:// URL.
    return Connection(settings.amqp_url, connect_timeout=timeout, ssl=settings.amqp_ssl or False)


def _broker_ready(settings: Settings):
    def attempt():
        with _broker(settings, 5) as conn:
            conn.connect()

    return attempt


@dataclass(frozen=True)
class Access:
    """The administrative logins, and each service's login to create (none: skip)."""

    postgres_admin_url: str | None = None
    management_url: str | None = None
    # service -> its amqp(s):// URL (user, password, vhost)
    broker_logins: dict = field(default_factory=dict)
    # service -> the administrator of the server holding that service's database
    service_postgres_admin_urls: dict = field(default_factory=dict)
    # postgresql:// URL naming the backups' read-only role and its password
    backup_url: str | None = None

    def postgres_admin_for(self, service: str) -> str | None:
        """The administrator's URL for ``service``'s database server (None: none given)."""
        return self.service_postgres_admin_urls.get(service, self.postgres_admin_url)


def access_from_env(env, settings: Settings) -> Access:
    """``Access`` from the environment and every service's ``settings``
    (``registry.settings_from_env``); ``ConfigError`` naming a bad variable."""
    admins = {}
    for name in ("HELPDESK_POSTGRES_ADMIN_URL", *_service_admin_settings()):
        url = env.get(name) or None
        if url and urlsplit(url).scheme not in ("postgresql", "postgres"):
            raise ConfigError(f"{name} must be a postgresql:// URL")
        admins[name] = url
    admin = admins.pop("HELPDESK_POSTGRES_ADMIN_URL")
    management = env.get("HELPDESK_RABBITMQ_MANAGEMENT_URL") or None
    logins = {}
    if management:
        parts = urlsplit(management)
        if parts.scheme not in ("http", "https") or not parts.username:
            raise ConfigError(
                "HELPDESK_RABBITMQ_MANAGEMENT_URL must be http(s)://user:password@host:port/"
            )
        vhost = urlsplit(settings.amqp_url).path
        for service in broker_grants():
            name = f"HELPDESK_{service.upper()}_AMQP_URL"
            url = env.get(name) or ""
            login = urlsplit(url)
            if login.scheme not in AMQP_SCHEMES or not login.username or not login.password:
                raise ConfigError(f"{name} must be amqp(s)://user:password@host/vhost")
            if login.path != vhost:
                raise ConfigError(f"{name} must name the vhost of HELPDESK_AMQP_URL ({vhost!r})")
            logins[service] = url
    check_transport(
        env,
        settings.env,
        {
            "HELPDESK_POSTGRES_ADMIN_URL": admin,
            "HELPDESK_RABBITMQ_MANAGEMENT_URL": management,
            **admins,
        },
    )
    per_service = {
        service: admins[name] for name, service in _service_admin_settings().items() if admins[name]
    }
    access = Access(admin, management, logins, per_service, env.get(BACKUP_SETTING) or None)
    if access.backup_url:
        _check_backup_login(access, settings)
    return access


def _check_backup_login(access: Access, settings: Settings) -> None:
    """``ConfigError`` naming ``BACKUP_SETTING`` unless its URL names a role of its own
    and its password, and every service's database has an administrator to make it."""
    parts = urlsplit(access.backup_url)
    if parts.scheme not in ("postgresql", "postgres") or not parts.username or not parts.password:
        raise ConfigError(f"{BACKUP_SETTING} must be postgresql://role:password@host:port/database")
    missing = [s.name for s in registry.services() if not access.postgres_admin_for(s.name)]
    if missing:
        raise ConfigError(
            f"{BACKUP_SETTING} needs HELPDESK_POSTGRES_ADMIN_URL (or the service's own "
            f"HELPDESK_<SERVICE>_POSTGRES_ADMIN_URL) to make its role; none for "
            f"{', '.join(missing)}"
        )
    # Making it would strip an administrator of superuser, or give a service every row.
    role = unquote(parts.username)
    for service in registry.services():
        others = (access.postgres_admin_for(service.name), service.database_url(settings))
        if role in {unquote(urlsplit(other).username or "") for other in others}:
            raise ConfigError(
                f"{BACKUP_SETTING} must name a role of its own, not {role!r} "
                f"({service.name}'s database administrator or service role)"
            )


def _service_admin_settings() -> dict:
    """``HELPDESK_<SERVICE>_POSTGRES_ADMIN_URL`` -> service, for each service with a database."""
    return {
        f"HELPDESK_{service.name.upper()}_POSTGRES_ADMIN_URL": service.name
        for service in registry.services()
    }


def _in_database(admin_url: str, database: str) -> str:
    return urlunsplit(urlsplit(admin_url)._replace(path=f"/{database}"))


def _make_login(conn, role: str, password: str, inherit: bool) -> None:
    """Create ``role`` as an unprivileged login with ``password``, or reset an existing
    one's attributes and password to exactly that."""
    exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
    conn.execute(
        sql.SQL(
            "{} ROLE {} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION "
            "NOBYPASSRLS {} PASSWORD {}"
        ).format(
            sql.SQL("ALTER" if exists else "CREATE"),
            sql.Identifier(role),
            sql.SQL("INHERIT" if inherit else "NOINHERIT"),
            sql.Literal(password),
        )
    )


def grant_database(admin_url: str, service: str, service_url: str) -> None:
    """Make ``service_url``'s role (no superuser), migrate its database as the
    administrator, and let the role connect to that database only and read and
    change its rows only. Idempotent; re-running resets the password."""
    parts = urlsplit(migrate.plain_url(service_url))
    role, database = unquote(parts.username or ""), parts.path.lstrip("/")
    if not role or parts.password is None:
        raise ConfigError(f"the {service} database URL must name its own role and password")
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
        _make_login(conn, role, unquote(parts.password), inherit=False)
    owned = _in_database(admin_url, database)
    migrate.upgrade(service, owned)
    with psycopg.connect(owned, autocommit=True, connect_timeout=10) as conn:
        ident = {"db": sql.Identifier(database), "role": sql.Identifier(role)}
        for statement in (
            # No one but the administrator and this role may even connect.
            "REVOKE ALL ON DATABASE {db} FROM PUBLIC",
            "GRANT CONNECT ON DATABASE {db} TO {role}",
            "REVOKE ALL ON SCHEMA public FROM PUBLIC",
            "GRANT USAGE ON SCHEMA public TO {role}",
            f"GRANT {DATABASE_PRIVILEGES['tables']} ON ALL TABLES IN SCHEMA public TO {{role}}",
            f"GRANT {DATABASE_PRIVILEGES['sequences']} ON ALL SEQUENCES IN SCHEMA public "
            "TO {role}",
            # The schema version is the migrations' business.
            "REVOKE INSERT, UPDATE, DELETE ON alembic_version FROM {role}",
        ):
            conn.execute(sql.SQL(statement).format(**ident))


def grant_backup(admin_url: str, backup_url: str, databases) -> None:
    """Make ``backup_url``'s role on ``admin_url``'s server: a login that may connect to
    ``databases`` and read every row there, and change nothing. Idempotent;
    re-running resets the password and attributes."""
    parts = urlsplit(backup_url)
    role = unquote(parts.username or "")
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
        # INHERIT: pg_dump reads with the rights of pg_read_all_data, not SET ROLE.
        _make_login(conn, role, unquote(parts.password or ""), inherit=True)
        member = sql.SQL("GRANT pg_read_all_data TO {}").format(sql.Identifier(role))
        if conn.info.server_version >= 160000:
            # From 16 inheriting is the grant's own option, kept on a repeated GRANT.
            member += sql.SQL(" WITH INHERIT TRUE")
        conn.execute(member)
        for database in databases:
            conn.execute(
                sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
                    sql.Identifier(database), sql.Identifier(role)
                )
            )


class ManagementApi:
    """RabbitMQ's management HTTP API, as the administrator in its URL."""

    def __init__(self, url: str, ca_file: str | None = None, timeout: float = 10.0):
        parts = urlsplit(url)
        credentials = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
        self._auth = "Basic " + base64.b64encode(credentials.encode()).decode()
        netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
        self._base = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/") + "/api", "", ""))
        self._context = (
            ssl.create_default_context(cafile=ca_file) if parts.scheme == "https" else None
        )
        self._timeout = timeout

    def request(self, method: str, path: str, body=None):
        """``method`` ``/api{path}``; the decoded JSON answer (None when empty)."""
        request = urllib.request.Request(  # noqa: S310 - http(s) only (access_from_env)
            self._base + path,
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={"Authorization": self._auth, "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(  # noqa: S310 - http(s) only
            request, timeout=self._timeout, context=self._context
        ) as response:
            data = response.read()
        return json.loads(data) if data else None


def grant_broker(api: ManagementApi, logins: dict) -> None:
    """Make each service's broker user (``logins``: service -> URL) with its grants."""
    for service, url in logins.items():
        parts = urlsplit(url)
        user, password = unquote(parts.username), unquote(parts.password)
        vhost = quote(unquote(parts.path[1:]) or "/", safe="")
        grant = broker_grants()[service]
        api.request("PUT", f"/vhosts/{vhost}", {})
        # No tags: no management UI, no administrator rights.
        api.request("PUT", f"/users/{quote(user, safe='')}", {"password": password, "tags": ""})
        api.request(
            "PUT",
            f"/permissions/{vhost}/{quote(user, safe='')}",
            {"configure": grant.configure, "write": grant.write, "read": grant.read},
        )
        for exchange, (write, read) in grant.topics.items():
            api.request(
                "PUT",
                f"/topic-permissions/{vhost}/{quote(user, safe='')}",
                {"exchange": exchange, "write": write, "read": read},
            )


def declare_queues(settings: Settings) -> tuple:
    """Declare the exchanges and every registered service's queues; return the queues."""
    queues = registry.event_queues()
    with _broker(settings, 10) as conn:
        declare_topology(conn, queues)
        # The stream servers bind to it, and their login may not declare it.
        declare_announcements(conn)
    return queues


def setup(settings: Settings, timeout: float, access: Access | None = None) -> None:
    """Wait for the backing services, migrate every database (giving each service its
    own role when ``access`` has the administrator's, and the backups theirs when it
    has their URL), make each broker user when ``access`` has the management API, and
    declare the topology."""
    access = access or Access()
    deadline = time.monotonic() + timeout
    # administrator's URL -> the service databases on that server
    servers: dict = {}
    for service in registry.services():
        url = service.database_url(settings)
        admin = access.postgres_admin_for(service.name)
        if admin:
            wait_for(f"PostgreSQL ({_redacted(admin)})", _postgres_ready(admin), deadline)
            grant_database(admin, service.name, url)
            servers.setdefault(admin, []).append(urlsplit(url).path.lstrip("/"))
            print(
                f"helpdesk-setup: {service.name}: migrated; role for {_redacted(url)}",
                file=sys.stderr,
            )
            continue
        wait_for(f"PostgreSQL ({_redacted(url)})", _postgres_ready(url), deadline)
        migrate.upgrade(service.name, url)
        print(f"helpdesk-setup: {service.name}: migrated {_redacted(url)}", file=sys.stderr)
    if access.backup_url:
        # access_from_env made sure every service database has an administrator.
        for admin, databases in servers.items():
            grant_backup(admin, access.backup_url, databases)
            print(
                f"helpdesk-setup: backup role on {_redacted(admin)}: {', '.join(databases)}",
                file=sys.stderr,
            )
    if access.management_url:
        # First: it also makes the vhost (with the administrator's permissions on it).
        api = ManagementApi(access.management_url, settings.amqp_ca_file)
        wait_for("RabbitMQ management API", lambda: api.request("GET", "/whoami"), deadline)
        grant_broker(api, access.broker_logins)
        print(f"helpdesk-setup: broker users: {', '.join(access.broker_logins)}", file=sys.stderr)
    wait_for(f"RabbitMQ ({_redacted(settings.amqp_url)})", _broker_ready(settings), deadline)
    names = ", ".join(queue.name for queue in declare_queues(settings))
    print(f"helpdesk-setup: broker topology declared (queues: {names})", file=sys.stderr)


def main(argv=None) -> int:
    """Run the set-up with settings from the environment; non-zero exit on failure."""
    parser = argparse.ArgumentParser(
        prog="helpdesk-setup",
        description="Create and migrate the databases, then declare the broker's queues.",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        help="seconds to wait for PostgreSQL and RabbitMQ (default 120)",
    )
    args = parser.parse_args(argv)
    try:
        settings = registry.settings_from_env()
        access = access_from_env(os.environ, settings)
    except ConfigError as exc:
        print(f"helpdesk-setup: configuration error: {exc}", file=sys.stderr)
        return 2
    setup(settings, args.timeout, access)
    return 0
