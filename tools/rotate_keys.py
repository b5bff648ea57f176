"""``helpdesk-rotate-keys``: re-encrypt stored text under the active data key, online.

``helpdesk-rotate-keys [SERVICE ...]`` walks every encrypted column a registered
service declares (``ENCRYPTED_COLUMNS`` in its ``tables.py``, named by its
``manifest.py``: ``(table, column, id column)``, or ``(table, column, id column, json field)`` for a value kept inside
a JSON document) by id, in batches. Each batch is one short transaction that locks
only the rows it changes (``FOR UPDATE SKIP LOCKED``: rows a service is changing
right now are skipped and retried), and only rows whose value is not already under
the active key and the current binding are touched, so the services keep serving,
and an interrupted rotation resumes by simply running the command again. Progress
goes to stderr.

It is also the re-seal after the upgrade to context bindings: a value sealed with
the old, row-only binding (``hd1``) is re-sealed bound to its row's
``SEALED_CONTEXT`` (its owner, ticket, recipient...), read from the same locked row.

``--check`` changes nothing: it reports how many values remain under each key id
and the old binding and, for each key, whether a service would still start without
it (``--without KEY`` answers for one key through the exit code: 0 yes, 1 no).

Rotation, step by step (``docs/security.md``): add the new key to every service
and restart them; make it active (``HELPDESK_DATA_ACTIVE_KEY`` or list it first)
and restart them; run this command with the same keys; ``--check --without OLD``;
then remove the old key and restart.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass

import sqlalchemy as sa

from shared.config import Settings
from shared.crypto import (
    LEGACY_PREFIX,
    PREFIX,
    EncryptedColumn,
    Keyring,
    MissingDataKey,
    TamperedValue,
    sealed_columns,
)
from shared.data_keys import keyring_or_exit
from shared.key_check import NOT_ENCRYPTED, count_by_format
from tools import registry


def declared_columns(service: str) -> list[EncryptedColumn]:
    """The ``ENCRYPTED_COLUMNS`` a registered service declares, each bound to its
    table's ``SEALED_CONTEXT``."""
    declared = registry.service(service)
    return sealed_columns(declared.encrypted_columns, declared.sealed_context)


def _stale(column: EncryptedColumn) -> str:
    # Not yet under the active key and the current binding: what rotation re-seals.
    return f"{column.value} IS NOT NULL AND NOT starts_with({column.value}, :current)"


def _current(keyring: Keyring) -> str:
    return f"{PREFIX}:{keyring.active}:"


def _pending(connection, column: EncryptedColumn, keyring: Keyring) -> int:
    return connection.execute(
        sa.text(f"SELECT count(*) FROM {column.table} WHERE {_stale(column)}"),
        {"current": _current(keyring)},
    ).scalar_one()


@dataclass
class ColumnResult:
    """What rotating one column did."""

    label: str
    rotated: int = 0
    tampered: list | None = None
    remaining: int = 0


def rotate_column(
    engine: sa.Engine,
    column: EncryptedColumn,
    keyring: Keyring,
    batch: int = 500,
    progress=None,
    passes: int = 5,
    pause: float = 0.2,
) -> ColumnResult:
    """Re-encrypt every value of ``column`` not under the active key and the current
    binding (the row's context, read from the locked row); return the tally.

    Each batch locks at most ``batch`` rows for one short transaction. Rows locked by
    someone else are skipped and picked up by the next pass; values that fail
    authentication are left as they are and listed in ``tampered``.
    ``MissingDataKey`` propagates: rotating needs every old key.
    """
    result = ColumnResult(column.label, tampered=[])
    bad = set()
    with engine.connect() as connection:
        total = _pending(connection, column, keyring)
    where = _stale(column)
    order = f"ORDER BY {column.id_column} LIMIT :batch FOR UPDATE SKIP LOCKED"
    selected = ", ".join([f"{column.id_column} AS id", f"{column.value} AS value", *column.context])
    columns = f"SELECT {selected} FROM {column.table}"
    first = sa.text(f"{columns} WHERE {where} {order}")
    then = sa.text(f"{columns} WHERE {where} AND {column.id_column} > :after {order}")
    update = sa.text(
        f"UPDATE {column.table} SET {column.assignment()} WHERE {column.id_column} = :id"
    )
    for attempt in range(passes):
        after = None
        while True:
            with engine.begin() as db:
                params = {"current": _current(keyring), "batch": batch, "after": after}
                rows = db.execute(first if after is None else then, params).all()
                if not rows:
                    break
                changes = []
                for row in rows:
                    try:
                        new = keyring.reencrypt(row.value, column.binding(row.id, row._mapping))
                    except TamperedValue:
                        bad.add(row.id)
                        continue
                    changes.append({"id": row.id, "new": new})
                if changes:
                    db.execute(update, changes)
                after = rows[-1].id
            result.rotated += len(changes)
            if progress is not None:
                progress(column.label, result.rotated, total)
        with engine.connect() as connection:
            result.remaining = _pending(connection, column, keyring)
        if result.remaining <= len(bad):
            break
        time.sleep(pause * (attempt + 1))  # rows locked by a service: try them again
    result.tampered = sorted(bad, key=str)
    return result


def _engine(settings: Settings, service: str) -> sa.Engine:
    from shared.db import make_engine, pool_options

    return make_engine(
        registry.service(service).database_url(settings), **pool_options(settings, 1)
    )


def check(settings: Settings, services, keyring: Keyring | None, out=None) -> dict:
    """Print and return ``{key_id: values}`` over every declared column of ``services``,
    and how many values are still under the old binding."""
    out = out or sys.stdout
    totals: dict[str, int] = {}
    legacy = 0
    for service in services:
        engine = _engine(settings, service)
        try:
            with engine.connect() as connection:
                for column in declared_columns(service):
                    counts: dict[str, int] = {}
                    column_legacy = 0
                    for (prefix, key_id), n in count_by_format(connection, column).items():
                        counts[key_id] = counts.get(key_id, 0) + n
                        column_legacy += n if prefix == LEGACY_PREFIX else 0
                    shown = "  ".join(f"{k}: {n}" for k, n in sorted(counts.items())) or "empty"
                    if column_legacy:
                        shown += f"  (old binding: {column_legacy})"
                    print(f"{service:<14} {column.label:<28} {shown}", file=out)
                    for key_id, n in counts.items():
                        totals[key_id] = totals.get(key_id, 0) + n
                    legacy += column_legacy
        finally:
            engine.dispose()
    if legacy:
        print(
            f"old binding ({LEGACY_PREFIX}): {legacy} values: run the rotation to re-seal "
            "them; keep HELPDESK_DATA_LEGACY_BINDING=accept until it is done",
            file=out,
        )
    else:
        print(
            f"old binding ({LEGACY_PREFIX}): 0 values: "
            "HELPDESK_DATA_LEGACY_BINDING=refuse (the default) is safe",
            file=out,
        )
    if keyring is not None:
        print(f"active key: {keyring.active}", file=out)
        for key_id in sorted(set(totals) | set(keyring.key_ids)):
            n = totals.get(key_id, 0)
            if key_id == NOT_ENCRYPTED:
                print(f"{n} values are not encrypted: they are refused when read", file=out)
            elif key_id == keyring.active:
                print(f"key {key_id}: {n} values (active: keep it)", file=out)
            elif n:
                print(
                    f"key {key_id}: {n} values still need it: without it the services "
                    "refuse to start; run the rotation first",
                    file=out,
                )
            elif key_id in keyring.key_ids:
                print(f"key {key_id}: 0 values: safe to remove", file=out)
            else:
                print(f"key {key_id}: 0 values", file=out)
    return totals


def rotate(settings: Settings, services, keyring: Keyring, batch: int, err=None) -> int:
    """Rotate every declared column of ``services``; return a process exit code."""
    err = err or sys.stderr

    def progress(label, done, total):
        print(f"  {label}: {done}/{total} re-encrypted", file=err, flush=True)

    code = 0
    for service in services:
        engine = _engine(settings, service)
        try:
            for column in declared_columns(service):
                print(
                    f"{service}: {column.label} -> key {keyring.active}, binding {PREFIX}",
                    file=err,
                    flush=True,
                )
                result = rotate_column(engine, column, keyring, batch, progress)
                if result.tampered:
                    code = 1
                    shown = ", ".join(str(i) for i in result.tampered[:20])
                    print(
                        f"  {column.label}: {len(result.tampered)} values failed "
                        f"authentication and were left as they are (ids {shown})",
                        file=err,
                    )
                if result.remaining > len(result.tampered):
                    code = 1
                    print(
                        f"  {column.label}: {result.remaining - len(result.tampered)} values "
                        "stayed locked by the services; run the command again",
                        file=err,
                    )
                print(f"  {column.label}: done, {result.rotated} re-encrypted", file=err)
        finally:
            engine.dispose()
    return code


def main(argv=None) -> int:
    """Entry point: rotate (default) or ``--check``; see the module doc."""
    parser = argparse.ArgumentParser(
        prog="helpdesk-rotate-keys",
        description="Re-encrypt stored text under the active data key, online and resumable.",
    )
    parser.add_argument("services", nargs="*", metavar="SERVICE", help=", ".join(registry.names()))
    parser.add_argument("--check", action="store_true", help="report only; change nothing")
    parser.add_argument(
        "--without", metavar="KEY", help="with --check: exit 0 only if KEY is no longer needed"
    )
    parser.add_argument("--batch", type=int, default=500, help="rows per transaction (500)")
    args = parser.parse_args(argv)
    unknown = set(args.services) - set(registry.names())
    if unknown:
        parser.error(f"unknown service(s): {', '.join(sorted(unknown))}")
    if args.without and not args.check:
        parser.error("--without goes with --check")
    if not 1 <= args.batch <= 10_000:
        parser.error("--batch must be from 1 to 10000")
    services = args.services or list(registry.names())
    prog = "helpdesk-rotate-keys"
    settings = registry.settings_class().from_env_or_exit(prog)
    keyring = keyring_or_exit(settings, prog)
    try:
        if args.check:
            totals = check(settings, services, keyring)
            if args.without:
                needed = totals.get(args.without, 0)
                if args.without == keyring.active:
                    print(f"key {args.without} is the active key: it is needed", file=sys.stderr)
                    return 1
                return 1 if needed else 0
            return 0
        return rotate(settings, services, keyring, args.batch)
    except MissingDataKey as exc:
        print(
            f"helpdesk-rotate-keys: {exc}; keep every old key in HELPDESK_DATA_KEYS while rotating",
            file=sys.stderr,
        )
        return 2
