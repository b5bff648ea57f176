"""What the database benchmarks share: their command line, a loaded database, medians
of a case timed side by side with its baseline.

``bench_ticket_search.py`` and ``bench_scheduler.py`` each load a fresh database per
size with ``load_million_tickets.load`` and time their cases against a baseline in
the same run; this is that scaffolding, once.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts.load_million_tickets import load  # noqa: E402
from services.tickets.settings import TicketsSettings  # noqa: E402
from shared.data_keys import keyring_from_settings  # noqa: E402
from shared.db import make_engine  # noqa: E402
from tools.migrate import drop_database, upgrade  # noqa: E402


def median_ms(samples) -> float:
    """The median of ``samples`` (seconds), in milliseconds."""
    return statistics.median(samples) * 1000


def side_by_side(ours, baseline, repeats: int) -> tuple[float, float]:
    """Medians (ms) of ``ours()`` and ``baseline()``, each returning the seconds it
    measured: two unmeasured rounds first (caches, pools), then ``repeats`` rounds
    interleaved, so drift hits both alike."""
    for _ in range(2):
        ours()
        baseline()
    ours_s, base_s = [], []
    for _ in range(repeats):
        ours_s.append(ours())
        base_s.append(baseline())
    return median_ms(ours_s), median_ms(base_s)


def log(text: str) -> None:
    """Progress, on stderr (stdout is the results table)."""
    print(text, file=sys.stderr, flush=True)


def arguments(description: str, repeats: int = 21) -> argparse.ArgumentParser:
    """The options every database benchmark takes (``--sizes``, ``--repeats``,
    ``--server``, ``--keep``); a script adds its own."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--sizes", default="10000,1000000")
    parser.add_argument("--repeats", type=int, default=repeats)
    parser.add_argument("--server", help="postgresql://... (default: the tickets URL's server)")
    parser.add_argument("--keep", action="store_true", help="keep the bench databases")
    return parser


def local_run(args) -> tuple[TicketsSettings, str, object]:
    """The settings (development unless the environment says otherwise: a local
    measurement), the database server and the keyring of a run."""
    settings = TicketsSettings.from_env({"HELPDESK_ENV": "development", **os.environ})
    return settings, args.server or settings.tickets_database_url, keyring_from_settings(settings)


def sizes(args) -> list[int]:
    """The ticket counts ``--sizes`` names."""
    return [int(s) for s in args.sizes.split(",")]


# Names this run's databases apart from another run's on the same server, so two
# benchmarks (or two runs of one) running at once never drop each other's database.
RUN = uuid.uuid4().hex[:8]


@contextlib.contextmanager
def loaded_database(server: str, name: str, size: int, keyring, keep: bool):
    """A fresh, migrated database ``<name>_<size>_<RUN>`` on ``server`` holding
    ``size`` loaded tickets, as an engine; dropped afterwards unless ``keep``."""
    database = f"{name}_{size}_{RUN}"
    log(f"database {database}" + (" (kept)" if keep else ""))
    url = urlunsplit(urlsplit(server)._replace(path=f"/{database}"))
    drop_database(url)
    upgrade("tickets", url)
    load(url, size, keyring, log=log)
    engine = make_engine(url, pool_size=2)
    try:
        yield engine
    finally:
        engine.dispose()
        if not keep:
            drop_database(url)
