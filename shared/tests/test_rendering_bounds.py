"""Rendering is bounded: no text within the limits renders to more than 100 KiB."""

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared import rendering
from shared.rendering import (
    MAX_HTML_BYTES,
    MAX_TABLE_CELLS,
    MAX_TABLE_COLUMNS,
    MAX_TABLE_ROWS,
    build_markdown,
    render_markdown,
)
from shared.tests.rendering_corpus import MESSAGE_LIMIT, _table, every_text

pytestmark = pytest.mark.unit


def _size(html: str) -> int:
    return len(html.encode())


@pytest.mark.parametrize(("name", "text"), every_text(), ids=[n for n, _ in every_text()])
def test_no_adversarial_text_renders_past_the_bound(name, text):
    assert _size(render_markdown(text)) <= MAX_HTML_BYTES


def test_the_issues_table_is_capped():
    # 2,000 characters: 200 columns, then ~540 one-character rows (727,625 bytes before).
    html = render_markdown(_table(200, 2000))
    assert _size(html) < 10 * 1024
    assert "<table>" not in html  # wider than the cap: its lines read as a paragraph


def test_a_table_within_the_caps_still_renders():
    html = render_markdown("| a | b |\n|---|:-:|\n| 1 | 2 |\n| 3 | 4 |")
    assert html.count("<table>") == 1
    assert html.count("<td") == 4


def test_table_columns_and_rows_are_capped():
    wide = render_markdown(_table(MAX_TABLE_COLUMNS + 1, 500))
    assert "<table>" not in wide
    at_cap = render_markdown(_table(MAX_TABLE_COLUMNS, 200))
    assert at_cap.count("<th>") == MAX_TABLE_COLUMNS
    tall = render_markdown("|a|\n|-|\n" + "1\n" * (MAX_TABLE_ROWS + 50))
    assert tall.count("<tr>") == MAX_TABLE_ROWS + 1  # the header's row, then the cap
    assert "1<br>" in tall  # the rows past the cap read on as a paragraph


def test_cells_are_counted_across_a_texts_tables():
    table = "|a|b|c|d|e|f|g|h|i|j|\n" + "|-" * 10 + "|\n" + "|1|2|3|4|5|6|7|8|9|0|\n" * 20
    html = render_markdown("\n\n".join([table] * 10))
    assert html.count("<td>") + html.count("<th>") <= MAX_TABLE_CELLS
    assert html.count("<table>") < 10


def test_a_reference_link_does_not_repeat_its_target_without_bound():
    url = "https://example.com/" + "a" * 900
    # 200 uses: 180 KiB of targets, eleven times the budget (and well inside the CPU one).
    html = render_markdown(f"[a]: {url}\n\n" + "[a] " * 200)
    assert html.count(url) <= 20
    assert "[a]" not in html  # the links past the budget still show their text
    assert re.sub("<[^>]+>", "", html).split() == ["a"] * 200


def test_nesting_too_deep_falls_back_to_the_whole_text():
    text = ">" * 30 + " deep\n\nand the rest"
    html = render_markdown(text)
    assert "the rest" in html  # markdown-it alone drops the blocks after its limit
    assert "<blockquote>" not in html


def test_moderate_nesting_renders_as_markdown():
    html = render_markdown("> > > quoted\n\n- a\n  - b\n    - c")
    assert html.count("<blockquote>") == 3
    assert html.count("<ul>") == 3


def test_an_unclosed_bracket_run_renders_as_text():
    assert render_markdown("[" * MESSAGE_LIMIT) == "<p>" + "[" * MESSAGE_LIMIT + "</p>"


@pytest.mark.parametrize("budget", ["PARSE_BUDGET", "RENDER_BUDGET"])
def test_a_text_past_its_cpu_budget_is_shown_as_plain_text(monkeypatch, budget):
    # A thousand one-line list items took 50-70 ms of markdown-it-py's time: past
    # the budget, the text is shown as typed instead, however far the parse got.
    text = "- #1 <b>\n" * 20  # past the steps between two readings of the clock
    assert "<li>" in render_markdown(text)
    monkeypatch.setattr(rendering, budget, -1.0)
    assert render_markdown(text) == "<p>" + "- #1 &lt;b&gt;<br>\n" * 20 + "</p>"


def test_the_budget_is_kept_only_where_a_render_sets_it():
    # The parser itself (tests, the gate's reference) parses any text to the end.
    text = "- a\n" * 1000
    assert len(build_markdown().parse(text, {"deadline": None})) == 1000 * 5 + 2


def test_the_fallback_is_escaped_plain_text():
    # Past the bound, the text is shown as it was typed: escaped, its lines kept.
    text = ">" * 20 + " <b>x</b> & y\nnext"
    assert render_markdown(text) == (
        "<p>" + "&gt;" * 20 + " &lt;b&gt;x&lt;/b&gt; &amp; y<br>\nnext</p>"
    )


# Markdown's significant characters and a few words, so generated texts build
# tables, lists, quotes, links, references and emphasis, not just prose.
_PIECES = st.sampled_from(
    [
        "|", "-", ":", ">", "*", "_", "~", "`", "#", "[", "]", "(", ")", "<", ">", "!",
        "&", ";", "\\", "\"", "=", "1.", " ", "  ", "\n", "\n\n", "a", "ab:c", "a@b",
        "[a]", "[a]: https://example.com/" + "x" * 200 + "\n", "|a|b|\n|-|-|\n",
        "&quot;", "&#x41;", "- ", "> ", "```\n", "    ",
    ]
)  # fmt: skip


@st.composite
def _texts(draw):
    limit = draw(st.sampled_from([2000, 5000]))
    # Sometimes a table's header first, of any width, so the units below become rows.
    columns = draw(st.integers(0, 300))
    head = "|" + "a|" * columns + "\n|" + "-|" * columns + "\n" if columns else ""
    unit = "".join(draw(st.lists(_PIECES, min_size=1, max_size=12)))
    # Repetition is how Markdown amplifies: a unit repeated up to the limit.
    return (head + unit * (limit // len(unit) + 1))[:limit]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_texts())
def test_every_text_within_the_limits_renders_within_the_bound(text):
    html = render_markdown(text)
    assert _size(html) <= MAX_HTML_BYTES
    assert not re.search(r"<(script|iframe|style)", html)


# The renderer's parser, and markdown-it's own order of paragraph terminators that
# its gate replaces (shared.rendering._gate_paragraph_interruptions): same output.
_GATED, _REFERENCE = build_markdown(), build_markdown(gated=False)


def _parsed(md, text: str) -> list:
    tokens = md.parse(text, {"table_cells_left": MAX_TABLE_CELLS})
    return [(t.type, t.tag, t.level, t.map, t.content, t.attrs) for t in tokens]


@pytest.mark.parametrize(("name", "text"), every_text(), ids=[n for n, _ in every_text()])
def test_the_gate_parses_each_adversarial_text_as_markdown_it_does(name, text):
    assert _parsed(_GATED, text) == _parsed(_REFERENCE, text)


# Lines that start (or would interrupt a paragraph with) every kind of block.
_LINES = st.sampled_from(
    [
        "", "a", "text", "- a", "* b", "+ c", "1. x", "2) y", "> q", ">", "# h", "#", "###### h",
        "---", "***", "___", "- - -", "===", "```", "~~~", "``` py", "| a | b |", "|-|-|",
        "|:-:|--:|", "a | b", "-|-", "  indented", "    code", "\t- tab", "<div>", "<!-- c -->",
        "[r]: /u", "[r]", "  - nested", "   > quoted", "1. ", "-", "*a*", "#1042",
    ]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(_LINES, min_size=1, max_size=30))
def test_the_gate_parses_any_mix_of_lines_as_markdown_it_does(lines):
    text = "\n".join(lines)
    assert _parsed(_GATED, text) == _parsed(_REFERENCE, text)
