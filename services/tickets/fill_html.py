"""Render and store the HTML of ticket text written before HTML was stored, and copy
resolution notes written before their history was kept.

``python -m services.tickets.fill_html`` fills ``tickets.description_html`` and
``messages.body_html`` where they are NULL (rows older than migration 0002), and
gives each ticket resolved before migration 0006 its note as its first entry in
``resolutions``, in short batches that lock only the rows they change, so the
service keeps serving.
It needs the data keys (the text is sealed), which is why it is not part of the
migration; ``make migrate`` runs it after migrating. Until it has run, views render
such rows on every read. Running it again is harmless: it finds nothing to do.
"""

from __future__ import annotations

import argparse
import sys

from services.tickets.repository import RENDERED_TEXT, TicketRepository
from services.tickets.settings import TicketsSettings
from shared.crypto import Keyring
from shared.data_keys import keyring_or_exit
from shared.db import make_engine, pool_options
from shared.rendering import render_markdown


def fill_html(engine, keyring: Keyring, batch: int = 200) -> dict[str, int]:
    """Render every stored text that has no HTML yet; how many rows, per table."""
    filled = {}
    for table in ("tickets", "messages"):
        filled[table] = 0
        while True:
            with engine.begin() as connection:
                repository = TicketRepository(connection, keyring)
                rows = repository.without_html(table, batch)
                for row in rows:
                    text = row[RENDERED_TEXT[table]]
                    repository.store_html(table, row, render_markdown(text))
            filled[table] += len(rows)
            if len(rows) < batch:
                break
    return filled


def fill_resolutions(engine, keyring: Keyring, batch: int = 200) -> int:
    """Copy each current resolution note with no history into it; how many tickets."""
    copied = 0
    while True:
        with engine.begin() as connection:
            repository = TicketRepository(connection, keyring)
            found = repository.without_resolution_history(batch)
            for ticket_id, resolution in found:
                repository.add_resolution(ticket_id, resolution)
        copied += len(found)
        if len(found) < batch:
            return copied


def main(argv=None) -> int:
    """Fill the missing HTML of the tickets database the settings name."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=200, help="rows per transaction")
    args = parser.parse_args(argv)
    settings = TicketsSettings.from_env_or_exit("fill_html")
    keyring = keyring_or_exit(settings, "fill_html")
    engine = make_engine(settings.tickets_database_url, **pool_options(settings, 1))
    try:
        filled = fill_html(engine, keyring, args.batch)
        copied = fill_resolutions(engine, keyring, args.batch)
    finally:
        engine.dispose()
    print(
        f"fill_html: rendered {filled['tickets']} descriptions, {filled['messages']} messages; "
        f"copied {copied} resolution notes into their history",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
