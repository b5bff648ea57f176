"""The start-up check of stored values against the keyring: SQL scans of every
declared encrypted column, counting values by binding version and key id.

A service whose stored values need a key it lacks, or are under the old binding
while it refuses it, must not start (``shared.data_keyring.DataKeyring`` calls
``check_stored_keys``); ``helpdesk-rotate-keys`` reads the same counts.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa

from shared.crypto import LEGACY_PREFIX, PREFIXES, EncryptedColumn, Keyring, MissingDataKey

log = logging.getLogger(__name__)

NOT_ENCRYPTED = "(not encrypted)"


def stored_formats(connection, encrypted_columns) -> dict[tuple[str, str], int]:
    """(binding version, key id) of stored values -> how many, over ``encrypted_columns``
    (a service's ``ENCRYPTED_COLUMNS``).

    Reads every declared column once (a sequential scan), which is what a start-up
    check costs. Values not in the encrypted format count under
    ``(NOT_ENCRYPTED, NOT_ENCRYPTED)``.
    """
    totals: dict[tuple[str, str], int] = {}
    for entry in encrypted_columns:
        for found, n in count_by_format(connection, EncryptedColumn(*entry)).items():
            totals[found] = totals.get(found, 0) + n
    return totals


def count_by_format(connection, column: EncryptedColumn) -> dict[tuple[str, str], int]:
    """How many stored values of ``column`` are under each (binding version, key id)."""
    prefixes = ", ".join(f"'{prefix}:'" for prefix in PREFIXES)
    ours = f"left({column.value}, 4) IN ({prefixes})"
    rows = connection.execute(
        sa.text(
            f"SELECT CASE WHEN {ours} THEN split_part({column.value}, ':', 1) "
            f"ELSE '{NOT_ENCRYPTED}' END AS prefix, "
            f"CASE WHEN {ours} THEN split_part({column.value}, ':', 2) "
            f"ELSE '{NOT_ENCRYPTED}' END AS key_id, "
            f"count(*) AS n FROM {column.table} WHERE {column.value} IS NOT NULL GROUP BY 1, 2"
        )
    ).all()
    return {(row.prefix, row.key_id): row.n for row in rows}


def count_by_key(connection, column: EncryptedColumn) -> dict[str, int]:
    """How many stored values of ``column`` are under each key id."""
    counts: dict[str, int] = {}
    for (_, key_id), n in count_by_format(connection, column).items():
        counts[key_id] = counts.get(key_id, 0) + n
    return counts


class LegacyBindingRefused(MissingDataKey):
    """Stored values are under the old binding and this process refuses them
    (a ``MissingDataKey``: the same refusal to start, the same handling)."""


def check_stored_keys(engine, encrypted_columns, keyring: Keyring) -> None:
    """Raise ``MissingDataKey`` (with what to do) if stored values need absent keys,
    or ``LegacyBindingRefused`` if some are under the old binding and the keyring
    refuses it; log how many remain when it accepts them."""
    with engine.connect() as connection:
        formats = stored_formats(connection, encrypted_columns)
    plain = formats.pop((NOT_ENCRYPTED, NOT_ENCRYPTED), 0)
    if plain:
        raise MissingDataKey(
            f"{plain} stored values are not encrypted (written with "
            "HELPDESK_DATA_ENCRYPTION=off, or by hand): this database is not fit to serve"
        )
    missing: dict[str, int] = {}
    for (_, key_id), n in formats.items():
        if key_id not in keyring.key_ids:
            missing[key_id] = missing.get(key_id, 0) + n
    if missing:
        counts = ", ".join(f"{key_id!r}: {n} values" for key_id, n in sorted(missing.items()))
        raise MissingDataKey(
            f"stored ticket text needs data keys that are not configured ({counts}); "
            "add them to HELPDESK_DATA_KEYS / HELPDESK_DATA_KEY_FILE, or finish the "
            "rotation (helpdesk-rotate-keys) before removing a key"
        )
    legacy = sum(n for (prefix, _), n in formats.items() if prefix == LEGACY_PREFIX)
    if legacy and not keyring.accept_legacy:
        raise LegacyBindingRefused(
            f"{legacy} stored values are sealed with the old binding ({LEGACY_PREFIX}, "
            "row only); to upgrade, set HELPDESK_DATA_LEGACY_BINDING=accept, start, and "
            "re-seal them with helpdesk-rotate-keys"
        )
    if legacy:
        log.warning(
            "%d stored values are still sealed with the old binding (%s); re-seal them "
            "with helpdesk-rotate-keys, then set HELPDESK_DATA_LEGACY_BINDING=refuse",
            legacy,
            LEGACY_PREFIX,
        )
    elif keyring.accept_legacy:
        log.warning(
            "HELPDESK_DATA_LEGACY_BINDING=accept but no stored value needs it: "
            "set it to refuse (the default) and restart"
        )
