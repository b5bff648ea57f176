#!/usr/bin/env python3
"""How long the renderer takes, and how much HTML it makes, for the adversarial corpus.

Renders every text of ``shared/tests/rendering_corpus.py`` (at the description's
and the message's length limits) ``--repeat`` times and prints, per text, the
smallest CPU time of one render (``time.process_time``: steadier than wall time on
a shared machine) and the size of the HTML, worst first, each also as a multiple
of the time for 5,000 characters of ordinary prose measured in the same run (on a
loaded machine the absolute times move with the load; the ratios hardly do). The
contract's bounds are 50 ms and 100 KiB; the tests assert the size, this script
reports the time.

``--baseline-rev REV`` measures a change side by side: ``shared/rendering.py`` as it
was at REV is loaded beside this tree's, and each text is rendered by the two in
turn, repeat by repeat, so both see the same load; the table then gives both times,
their ratio (this tree / REV), and the median ratio and worst times over the texts.

    .venv/bin/python scripts/measure_rendering.py [--repeat 5] [--top 10] [--baseline-rev REV]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from shared.rendering import MAX_HTML_BYTES, render_markdown
from shared.tests.rendering_corpus import every_text

# Ordinary text at the message limit: sentences in paragraphs, a little emphasis.
PROSE = (
    "The dashboard charts stay *empty* after I sign in, on Firefox and Chrome alike. "
    "I cleared the cache and tried again this morning.\n\n"
) * 40


def _cpu(text: str, repeat: int, render=render_markdown) -> tuple[float, int]:
    """The smallest CPU time of ``repeat`` renders of ``text``, and its HTML's size."""
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        html = render(text)
        best = min(best, time.process_time() - started)
    return best, len(html.encode())


@contextlib.contextmanager
def _renderer_at(rev: str):
    """``render_markdown`` of ``shared/rendering.py`` as it was at ``rev``, loaded from
    a temporary copy that is kept while in use (tracebacks read it) and then removed."""
    root = Path(__file__).resolve().parent.parent
    source = subprocess.run(
        ["git", "-C", str(root), "show", f"{rev}:shared/rendering.py"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    with tempfile.TemporaryDirectory(prefix="baseline-rendering-") as folder:
        path = Path(folder) / "baseline_rendering.py"
        path.write_text(source)
        spec = importlib.util.spec_from_file_location("baseline_rendering", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module.render_markdown


def _side_by_side(rev: str, repeat: int, top: int) -> None:
    rows = []
    with _renderer_at(rev) as baseline:
        baseline("warm up *the* parser")
        for name, text in every_text():
            best = [float("inf"), float("inf")]
            for _ in range(repeat):  # interleaved: both see the same moment's load
                for side, render in enumerate((render_markdown, baseline)):
                    best[side] = min(best[side], _cpu(text, 1, render)[0])
            rows.append((best[0], best[1], name))
    rows.sort(key=lambda row: max(row[:2]), reverse=True)
    print(f"{'text':32s} {'this ms':>8s} {rev[:10]:>10s} {'ratio':>6s}")
    for now, before, name in rows[:top]:
        print(f"{name:32s} {now * 1000:8.1f} {before * 1000:10.1f} {now / before:6.2f}")
    print(
        f"median ratio {statistics.median(now / before for now, before, _ in rows):.2f} over "
        f"{len(rows)} texts; worst: this tree {max(r[0] for r in rows) * 1000:.1f} ms, "
        f"{rev} {max(r[1] for r in rows) * 1000:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--top", type=int, default=10)
    parser.add_argument("--baseline-rev", help="compare with shared/rendering.py at this commit")
    args = parser.parse_args()
    if args.baseline_rev:
        _side_by_side(args.baseline_rev, args.repeat, args.top)
        sys.exit(0)
    render_markdown("warm up *the* parser")
    prose, _ = _cpu(PROSE[:5000], args.repeat)
    rows = sorted(((*_cpu(text, args.repeat), name) for name, text in every_text()), reverse=True)
    print(f"{'text':32s} {'cpu ms':>8s} {'x prose':>8s} {'html bytes':>11s}")
    print(f"{'prose@5000 (baseline)':32s} {prose * 1000:8.1f} {1:8.2f}")
    for best, size, name in rows[: args.top]:
        print(f"{name:32s} {best * 1000:8.1f} {best / prose:8.2f} {size:11d}")
    print(
        f"worst: {rows[0][0] * 1000:.1f} ms ({rows[0][2]}, {rows[0][0] / prose:.2f}x prose); "
        f"largest: {max(r[1] for r in rows)} bytes of {MAX_HTML_BYTES} allowed; {len(rows)} texts"
    )


if __name__ == "__main__":
    main()
