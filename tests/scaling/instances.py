"""Reading several instances' JSON logs to tell who did which piece of work."""

from __future__ import annotations

import json
from itertools import combinations
from pathlib import Path


def json_lines(path: Path) -> list[dict]:
    """The JSON log lines in ``path`` so far (none if the process never wrote it)."""
    text = path.read_text(errors="replace") if path.exists() else ""
    return [json.loads(raw) for raw in text.splitlines() if raw.startswith("{")]


def ids_in(path: Path, wanted: set, key: str = "request_id") -> set:
    """Which of the ``wanted`` values of ``key`` the log lines in ``path`` name."""
    return {line.get(key) for line in json_lines(path)} & wanted


def assert_shared_and_once(found: dict, wanted: set) -> None:
    """``found`` maps each instance to the ids it handled: every wanted id was handled
    by exactly one instance, and every instance took some of them."""
    assert set().union(*found.values()) == wanted, (
        f"never handled: {wanted - set().union(*found.values())}"
    )
    for (a, ids_a), (b, ids_b) in combinations(found.items(), 2):
        assert not ids_a & ids_b, f"handled by both {a} and {b}: {ids_a & ids_b}"
    for name, ids in found.items():
        assert ids, f"{name} handled none of {len(wanted)}: the work was not shared"
