#!/usr/bin/env python3
"""A ticket's view at 3,000 messages: the bounded view against the whole thread.

Creates a fresh database (``helpdesk_measure_view`` on the server of
``HELPDESK_TICKETS_DATABASE_URL``), opens one ticket through the service's own
handler and adds ``--messages`` messages to it (a few hundred characters of
Markdown each, sealed and rendered as the service stores them). Then times, in the
same run, interleaved, ``--repeats`` times each, and reports medians and the size of
the JSON the RPC would carry:

- **bounded**: ``handlers.get_ticket`` as it is now (the latest 50 messages and a
  count of the earlier ones), plus ``json.dumps`` of its answer;
- **whole thread, HTML stored**: the same view with every message (what the view
  was before it was bounded, with rendered HTML already at hand, as the old render
  cache gave it when warm);
- **whole thread, rendered on read**: the same, rendering every message's Markdown
  on the read (the old code whenever its cache did not hold the thread).

The database is dropped afterwards unless ``--keep``.

    .venv/bin/python scripts/measure_ticket_view.py [--messages 3000] [--repeats 11]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services.tickets import handlers, views  # noqa: E402
from services.tickets.settings import TicketsSettings  # noqa: E402
from services.tickets.unit_of_work import TicketsUnitOfWork  # noqa: E402
from shared.data_keys import keyring_from_settings  # noqa: E402
from shared.db import Connections, make_engine  # noqa: E402
from shared.rendering import render_markdown  # noqa: E402
from tools.migrate import drop_database, upgrade  # noqa: E402

USER = {"id": "measure-user", "name": "Measure User", "role": "user"}
ADMIN = {"id": "measure-admin", "name": "Measure Admin", "role": "admin"}
BODY = (
    "Thanks for the update. I tried **again** this morning:\n\n"
    "1. signed out and in\n2. cleared the cache\n3. opened the *dashboard*\n\n"
    "The charts still stay empty; see [the status page](https://status.example.com). "
    "Message {i}."
)


def _fill(engine, keyring, settings, count: int, log) -> int:
    uow = TicketsUnitOfWork(Connections(engine), keyring, settings)
    fields = {
        "issue_type": "bug",
        "feature": "dashboard",
        "subject": "Charts stay empty",
        "description": "The dashboard charts stay empty after I sign in, since Monday.",
    }
    ticket_id = handlers.create_ticket(handlers.Command(USER, fields), uow)["id"]
    for start in range(0, count, 500):
        uow = TicketsUnitOfWork(Connections(engine), keyring, settings)
        with uow:
            for i in range(start, min(count, start + 500)):
                ticket = uow.tickets.lock(ticket_id, reserve_message=True)
                author = ADMIN if i % 2 else USER
                body = BODY.format(i=i)
                at = ticket["message_at"]
                uow.tickets.write(
                    ticket,
                    [
                        {
                            "id": ticket["message_id"],
                            "ticket_id": ticket_id,
                            "author": "support" if i % 2 else "user",
                            "author_id": author["id"],
                            "author_name": author["name"],
                            "internal": False,
                            "body": body,
                            "body_html": render_markdown(body),
                            "created_at": at,
                        }
                    ],
                    # A public message marks its ticket's last activity.
                    {"updated_at": at, "last_message_at": at},
                )
            uow.commit()
        log(f"{min(count, start + 500)} messages")
    return ticket_id


def main(argv=None) -> int:
    """Load the ticket, time the three views, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=11)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    settings = TicketsSettings.from_env({"HELPDESK_ENV": "development", **os.environ})
    keyring = keyring_from_settings(settings)
    url = urlunsplit(
        urlsplit(settings.tickets_database_url)._replace(path="/helpdesk_measure_view")
    )

    def log(text):
        print(text, file=sys.stderr, flush=True)

    drop_database(url)
    upgrade("tickets", url)
    engine = make_engine(url, pool_size=2)
    try:
        ticket_id = _fill(engine, keyring, settings, args.messages, log)

        def bounded():
            uow = TicketsUnitOfWork(Connections(engine), keyring, settings)
            return handlers.get_ticket(handlers.Command(USER, ticket_id=ticket_id), uow)

        def whole(render: bool):
            def view():
                uow = TicketsUnitOfWork(Connections(engine), keyring, settings)
                with uow.autocommit():
                    ticket = uow.tickets.view(
                        ticket_id, False, owner_id=USER["id"], messages_limit=10**9
                    )
                if render:
                    for message in ticket["messages"]:
                        message["body_html"] = render_markdown(message["body"])
                return views.ticket_view(ticket, support=False)

            return view

        cases = {
            "bounded (latest 50)": bounded,
            "whole thread, HTML stored": whole(False),
            "whole thread, rendered on read": whole(True),
        }
        samples = {name: [] for name in cases}
        sizes = {}
        for round_ in range(args.repeats + 1):
            for name, case in cases.items():
                started = time.perf_counter()
                sizes[name] = len(json.dumps(case()))
                if round_:  # the first round warms pools and caches
                    samples[name].append(time.perf_counter() - started)
        print(f"| view of a ticket with {args.messages:,} messages | median ms | JSON bytes |")
        print("| --- | ---: | ---: |")
        for name in cases:
            print(f"| {name} | {statistics.median(samples[name]) * 1000:.1f} | {sizes[name]:,} |")
    finally:
        engine.dispose()
        if not args.keep:
            drop_database(url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
