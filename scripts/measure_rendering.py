#!/usr/bin/env python3
"""How long the renderer takes, and how much HTML it makes, for the adversarial corpus.

Renders every text of ``shared/tests/rendering_corpus.py`` (at the description's
and the message's length limits) ``--repeat`` times and prints, per text, the
smallest CPU time of one render (``time.process_time``: steadier than wall time on
a shared machine) and the size of the HTML, worst first. The contract's bounds are
50 ms and 100 KiB; the tests assert the size, this script reports the time.

    .venv/bin/python scripts/measure_rendering.py [--repeat 5] [--top 10]
"""

from __future__ import annotations

import argparse
import time

from shared.rendering import MAX_HTML_BYTES, render_markdown
from shared.tests.rendering_corpus import every_text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--top", type=int, default=10)
    args = parser.parse_args()
    render_markdown("warm up *the* parser")
    rows = []
    for name, text in every_text():
        best = float("inf")
        for _ in range(args.repeat):
            started = time.process_time()
            html = render_markdown(text)
            best = min(best, time.process_time() - started)
        rows.append((best, len(html.encode()), name))
    rows.sort(reverse=True)
    print(f"{'text':32s} {'cpu ms':>8s} {'html bytes':>11s}")
    for best, size, name in rows[: args.top]:
        print(f"{name:32s} {best * 1000:8.1f} {size:11d}")
    print(
        f"worst: {rows[0][0] * 1000:.1f} ms ({rows[0][2]}); largest: "
        f"{max(r[1] for r in rows)} bytes of {MAX_HTML_BYTES} allowed; {len(rows)} texts"
    )


if __name__ == "__main__":
    main()
