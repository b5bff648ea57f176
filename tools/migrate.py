"""``helpdesk-migrate``: create each service's database if missing and apply its migrations.

``helpdesk-migrate [SERVICE ...]`` (every registered service by default) is what
``make migrate`` runs; ``helpdesk-setup`` calls ``upgrade`` too. Each service names
its Alembic folder in its ``manifest.py`` (``tools.registry``), and its
``migrations/env.py`` calls ``run_migrations``.
"""

from __future__ import annotations

import argparse
import sys
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from shared.config import sqlalchemy_url
from tools import registry


def plain_url(url: str) -> str:
    """A database URL as psycopg wants it (``postgresql://``, no SQLAlchemy driver)."""
    scheme, rest = url.split("://", 1)
    return f"postgresql://{rest}" if scheme.startswith("postgres") else url


def ensure_database(url: str) -> bool:
    """Create the database named in ``url`` if it does not exist; True if created."""
    parts = urlsplit(plain_url(url))
    name = parts.path.lstrip("/")
    maintenance = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(maintenance, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            return False
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return True


def drop_database(url: str) -> None:
    """Drop the database named in ``url``, ending its connections (for the tests and
    the benchmark scripts, which make throwaway databases; never used on a live one)."""
    parts = urlsplit(plain_url(url))
    name = parts.path.lstrip("/")
    maintenance = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(maintenance, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def alembic_config(service: str, url: str):
    """An Alembic ``Config`` for ``service``'s migrations against ``url``."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(registry.service(service).migrations))
    cfg.set_main_option("sqlalchemy.url", sqlalchemy_url(url).replace("%", "%%"))
    return cfg


def upgrade(service: str, url: str, revision: str = "head") -> None:
    """Create ``service``'s database if needed and migrate it to ``revision``."""
    from alembic import command

    ensure_database(url)
    command.upgrade(alembic_config(service, url), revision)


def run_migrations(target_metadata=None) -> None:
    """The body of every service's ``migrations/env.py`` (online mode only)."""
    import sqlalchemy as sa
    from alembic import context

    engine = sa.create_engine(
        context.config.get_main_option("sqlalchemy.url"), poolclass=sa.pool.NullPool
    )
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


def main(argv=None) -> int:
    """Migrate the named services (all by default) to their newest schema."""
    parser = argparse.ArgumentParser(
        prog="helpdesk-migrate", description="Create and migrate each service's database."
    )
    parser.add_argument("services", nargs="*", metavar="SERVICE", help=", ".join(registry.names()))
    args = parser.parse_args(argv)
    unknown = set(args.services) - set(registry.names())
    if unknown:
        parser.error(f"unknown service(s): {', '.join(sorted(unknown))}")
    settings = registry.settings_class().from_env_or_exit("helpdesk-migrate")
    for service in args.services or registry.names():
        url = registry.service(service).database_url(settings)
        upgrade(service, url)
        print(f"{service}: migrated {urlsplit(plain_url(url)).path.lstrip('/')}", file=sys.stderr)
    return 0
