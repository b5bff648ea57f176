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

    .venv/bin/python scripts/measure_rendering.py [--repeat 5] [--top 10]
"""

from __future__ import annotations

import argparse
import time

from shared.rendering import MAX_HTML_BYTES, render_markdown
from shared.tests.rendering_corpus import every_text

# Ordinary text at the message limit: sentences in paragraphs, a little emphasis.
PROSE = (
    "The dashboard charts stay *empty* after I sign in, on Firefox and Chrome alike. "
    "I cleared the cache and tried again this morning.\n\n"
) * 40


def _cpu(text: str, repeat: int) -> tuple[float, int]:
    """The smallest CPU time of ``repeat`` renders of ``text``, and its HTML's size."""
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        html = render_markdown(text)
        best = min(best, time.process_time() - started)
    return best, len(html.encode())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--top", type=int, default=10)
    args = parser.parse_args()
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
