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
    """Drop the database named in ``url`` (tests only), ending its connections."""
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


def schema_drift(metadata, url: str) -> list:
    """How the migrated database at ``url`` differs from ``metadata`` (a service's
    ``tables.py``): empty when they agree (tests only).

    Alembic's ``compare_metadata``, server defaults included; then each declared index
    against the one the migrations made, both as PostgreSQL states them, since Alembic
    compares an index's columns and order but not its method, operator classes or
    ``WHERE``; then the CHECK constraints, which Alembic does not compare at all, the
    same way. The declared ones are built in a transaction that is rolled back.
    """
    import sqlalchemy as sa
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = sa.create_engine(sqlalchemy_url(url), poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_server_default": True})
            drift = list(compare_metadata(context, metadata))
            drift += _index_drift(connection, metadata)
            drift += _check_drift(connection, metadata)
            connection.rollback()
    finally:
        engine.dispose()
    return drift


def _index_drift(connection, metadata) -> list[str]:
    """``name: migrated <stored>; declared <declared>`` for each declared index whose
    definition differs (one that is missing, ``compare_metadata`` reports)."""
    import sqlalchemy as sa

    definition = sa.text(
        "SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema() AND indexname = :name"
    )
    drift = []
    for table in metadata.sorted_tables:
        for index in sorted(table.indexes, key=lambda i: i.name):
            stored = connection.execute(definition, {"name": index.name}).scalar()
            if stored is None:
                continue
            scratch = f"{index.name[:50]}_declared"  # within PostgreSQL's 63 bytes
            ddl = str(sa.schema.CreateIndex(index).compile(dialect=connection.dialect))
            connection.exec_driver_sql(ddl.replace(f"INDEX {index.name} ", f"INDEX {scratch} ", 1))
            declared = connection.execute(definition, {"name": scratch}).scalar()
            declared = declared.replace(f"INDEX {scratch} ", f"INDEX {index.name} ", 1)
            if declared != stored:
                drift.append(f"{index.name}: migrated {stored}; declared {declared}")
    return drift


def _check_drift(connection, metadata) -> list[str]:
    """``table.name: ...`` for each CHECK constraint migrated but not declared, declared
    but not migrated, or declared otherwise, by name and as PostgreSQL states it."""
    import sqlalchemy as sa

    checks = sa.text(
        "SELECT r.relname, c.conname, pg_get_constraintdef(c.oid) FROM pg_constraint c"
        " JOIN pg_class r ON r.oid = c.conrelid"
        " WHERE c.contype = 'c' AND r.relnamespace = current_schema()::regnamespace"
    )
    migrated = {(table, name): stored for table, name, stored in connection.execute(checks)}
    existing = set(sa.inspect(connection).get_table_names())
    drift, scratch_names = [], {}
    for table in metadata.sorted_tables:
        if table.name not in existing:
            continue  # compare_metadata reports the table
        own = [c for c in table.constraints if isinstance(c, sa.CheckConstraint)]
        for check in sorted(own, key=lambda c: str(c.name)):
            if not isinstance(check.name, str):
                drift.append(f"{table.name}: a CHECK without a name ({check.sqltext})")
                continue
            scratch = f"{check.name[:50]}_declared"  # within PostgreSQL's 63 bytes
            scratch_names[(table.name, scratch)] = check.name
            ddl = str(sa.schema.AddConstraint(check).compile(dialect=connection.dialect))
            connection.exec_driver_sql(
                ddl.replace(f"CONSTRAINT {check.name} ", f"CONSTRAINT {scratch} ", 1)
            )
    declared = {
        (table, scratch_names[table, name]): text
        for table, name, text in connection.execute(checks)
        if (table, name) not in migrated
    }
    for table, name in sorted(migrated.keys() | declared.keys()):
        stored, wanted = migrated.get((table, name)), declared.get((table, name))
        if wanted is None:
            drift.append(f"{table}.{name}: migrated {stored}; not declared")
        elif stored is None:
            drift.append(f"{table}.{name}: declared {wanted}; no migration makes it")
        elif wanted != stored:
            drift.append(f"{table}.{name}: migrated {stored}; declared {wanted}")
    return drift


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
