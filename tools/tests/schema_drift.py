"""How a migrated database differs from a service's ``tables.py``, for
``tools/tests/test_tables_match_migrations.py`` (decision 0029)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from shared.config import sqlalchemy_url


def schema_drift(metadata, url: str) -> list:
    """How the migrated database at ``url`` differs from ``metadata`` (a service's
    ``tables.py``): empty when they agree.

    Alembic's ``compare_metadata``, server defaults included; then each declared index
    against the one the migrations made, both as PostgreSQL states them, since Alembic
    compares an index's columns and order but not its method, operator classes or
    ``WHERE``; then the CHECK constraints, which Alembic does not compare at all, the
    same way. The declared ones are built in a transaction that is rolled back.
    """
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
