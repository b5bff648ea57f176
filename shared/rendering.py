"""The one Markdown renderer: ticket text in, sanitized HTML out.

Used for stored descriptions and messages (``*_html`` fields) and for the preview
endpoint, so a preview is exactly what will be shown. Raw HTML in the text is not
rendered (markdown-it's ``html`` option is off, so it comes out escaped, as text),
and the result then passes an allow-list sanitizer (nh3) as a second wall: only the
elements Markdown produces survive, no event handlers, no ``javascript:`` URLs.

A ticket number written ``#1042`` becomes a link to that ticket's page
(``/help-center/tickets/1042``; the admin pages point such links at their own
ticket page). Its target counts against the link budget below like any other link.

Rendering is bounded (docs/decisions/0002-bounded-rendering.md): a few characters of
Markdown can expand into a great deal of HTML (a table's empty cells, a long link
target used by reference again and again, deep nesting), and the renderer is pure
Python running on a service's event loop. So tables, nesting and link targets are
capped while parsing, and a text whose HTML would still exceed ``MAX_HTML_BYTES`` is
shown as escaped plain text instead: every character stays visible, nothing amplifies.
"""

import re
import time
from functools import lru_cache
from html import escape

import nh3
from markdown_it import MarkdownIt
from markdown_it import rules_block as _block_rules
from markdown_it.rules_block import StateBlock
from markdown_it.rules_block.table import escapedSplit
from markdown_it.rules_block.table import table as _gfm_table
from markdown_it.rules_inline import StateInline
from markdown_it.rules_inline import image as _image
from markdown_it.rules_inline import link as _link
from markdown_it.token import Token

from shared.ids import MAX_ROW_ID

# The contract's bound for any text within the length limits.
MAX_HTML_BYTES = 100 * 1024
# A table wider than this is not a table (its lines read as a paragraph); rows past
# MAX_TABLE_ROWS, or past the text's MAX_TABLE_CELLS, continue as a paragraph.
MAX_TABLE_COLUMNS = 20
MAX_TABLE_ROWS = 100
MAX_TABLE_CELLS = 500
# Nesting of blocks (quotes, lists, list items) and of inline spans, as markdown-it
# counts it: also bounds the parser's look-ahead for links, which is quadratic in it.
MAX_NESTING = 16
# Bytes of link targets, image sources and titles per text: a reference link repeats
# its (long) target at each use; past this, links are shown as their text.
MAX_LINK_BYTES = 16 * 1024
# CPU seconds (this thread's) a text may take to parse, and to parse and turn into
# HTML, before it is shown as plain text instead. The caps above bound what a text can
# make, not how long markdown-it-py takes: a text of a thousand one-line list items,
# quotes or e-mail autolinks took 50-70 ms on a quiet 2-core machine, over the
# contract's 50 ms. Prose of the same length takes about 3 ms. CPU time, not wall
# time: a busy process must not turn a plain message into plain text.
PARSE_BUDGET = 0.025
RENDER_BUDGET = 0.035

_ALLOWED_TAGS = {
    "p",
    "br",
    "hr",
    "em",
    "strong",
    "s",
    "code",
    "pre",
    "blockquote",
    "ul",
    "ol",
    "li",
    "a",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "img",
}
_ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "ol": {"start"},
    "th": {"style"},
    "td": {"style"},
}


def _table_columns(state: StateBlock, line: int) -> int:
    """How many columns the delimiter row on ``line`` declares (0: not one)."""
    start = state.bMarks[line] + state.tShift[line]
    cells = escapedSplit(state.src[start : state.eMarks[line]].strip())
    if cells and cells[0] == "":
        cells.pop(0)
    if cells and cells[-1] == "":
        cells.pop()
    return len(cells)


def _bounded_table(state: StateBlock, start_line: int, end_line: int, silent: bool) -> bool:
    """GFM tables, at most MAX_TABLE_COLUMNS wide and within the text's cell budget."""
    if start_line + 2 > end_line:
        return False
    # Tried at every line of every paragraph (as a terminator): a line that cannot
    # be a delimiter row (only pipes, dashes, colons and spaces; a list item's "- a"
    # is not one) is turned down before it is split into cells.
    delimiter = state.bMarks[start_line + 1] + state.tShift[start_line + 1]
    if delimiter >= state.eMarks[start_line + 1] or state.src[delimiter] not in "|-:":
        return False
    if state.src[delimiter : state.eMarks[start_line + 1]].strip("|-: \t"):
        return False
    columns = _table_columns(state, start_line + 1)
    cells_left = state.env.get("table_cells_left", MAX_TABLE_CELLS)
    rows = min(MAX_TABLE_ROWS, cells_left // columns - 1) if columns else 0
    if not 0 < columns <= MAX_TABLE_COLUMNS or rows < 0:
        return False
    # Header, delimiter and at most ``rows`` body rows: the table ends there.
    if not _gfm_table(state, start_line, min(end_line, start_line + 2 + rows), silent):
        return False
    if not silent:
        body_rows = max(0, state.line - start_line - 2)
        state.env["table_cells_left"] = cells_left - columns * (1 + body_rows)
    return True


# Where a ticket number's link points: the Help Center's page of that ticket.
TICKET_PAGE = "/help-center/tickets/{}"
_TICKET_NUMBER = re.compile(r"#([1-9][0-9]{0,17})(?![0-9A-Za-z_])")


def _ticket_link(state: StateInline, silent: bool) -> bool:
    """``#1042`` -> a link to ticket 1042's page: not inside another link, not after
    a word character, ``&`` or ``/`` (``issue#1``, ``/#1`` stay text), and only
    numbers a ticket id can be."""
    if state.src[state.pos] != "#" or state.linkLevel > 0:
        return False
    if state.pos > 0 and (state.src[state.pos - 1].isalnum() or state.src[state.pos - 1] in "_&/"):
        return False
    match = _TICKET_NUMBER.match(state.src, state.pos)
    if match is None or int(match.group(1)) > MAX_ROW_ID:
        return False
    if not silent:
        token = state.push("link_open", "a", 1)
        token.attrs = {"href": TICKET_PAGE.format(match.group(1))}
        token.info = "ticket"
        token = state.push("text", "", 0)
        token.content = match.group(0)
        state.push("link_close", "a", -1)
    state.pos = match.end()
    return True


def _closable(rule):
    """An inline rule for ``[``/``![`` that gives up at once when no ``]`` follows:
    without it, a text of ``[`` costs quadratic time looking for one."""

    def bounded(state: StateInline, silent: bool) -> bool:
        if state.src.find("]", state.pos, state.posMax) < 0:
            return False
        return rule(state, silent)

    return bounded


# The rules that can interrupt a paragraph, by the first character (after its
# indentation) of the line they would start at; each turns every other line down
# at its first check. A table can start at any line: its delimiter row is the next.
_INTERRUPTS_WITH = {
    "`": (_block_rules.fence,),
    "~": (_block_rules.fence,),
    ">": (_block_rules.blockquote,),
    "*": (_block_rules.hr, _block_rules.list_block),
    "-": (_block_rules.hr, _block_rules.list_block),
    "_": (_block_rules.hr,),
    "+": (_block_rules.list_block,),
    "<": (_block_rules.html_block,),
    "#": (_block_rules.heading,),
    **dict.fromkeys("0123456789", (_block_rules.list_block,)),
}


def _gate_paragraph_interruptions(md: MarkdownIt) -> None:
    """At each line of a paragraph, try only the rules that could interrupt it there.

    markdown-it tries every rule that can interrupt a paragraph (table, fence, quote,
    rule, list, HTML, heading) at every line of one, twice when it first looks for a
    setext underline: a Python call each that returns at its first check, which made
    texts of many short lines the slowest to render
    (docs/decisions/0002-bounded-rendering.md). One terminator takes their place and
    calls, in markdown-it's order, only those the line's first character allows. The
    output is markdown-it's own: ``shared/tests/test_rendering_bounds.py`` compares
    the two parsers on the adversarial corpus and on generated texts.
    """
    ruler = md.block.ruler
    # ``__rules__`` is markdown-it's list of rules with the chains they terminate.
    interrupters = [rule.fn for rule in ruler.__rules__ if "paragraph" in rule.alt]
    for rule in list(ruler.__rules__):
        if "paragraph" in rule.alt:
            ruler.at(rule.name, rule.fn, {"alt": [a for a in rule.alt if a != "paragraph"]})
    anywhere = (_bounded_table,)
    by_character = {
        char: tuple(fn for fn in interrupters if fn in (*anywhere, *starting))
        for char, starting in _INTERRUPTS_WITH.items()
    }

    def interrupts(state: StateBlock, line: int, end_line: int, silent: bool) -> bool:
        position = state.bMarks[line] + state.tShift[line]
        character = state.src[position] if position < state.eMarks[line] else ""
        rules = by_character.get(character, anywhere)
        return any(rule(state, line, end_line, True) for rule in rules)

    # Last in the block chain, after the paragraph that always matches: it only
    # ever runs as a paragraph's terminator.
    ruler.push("paragraph_interruption", interrupts, {"alt": ["paragraph"]})


class _OverBudget(Exception):
    """The text has taken its CPU budget: it is shown as plain text."""


# Reading a thread's CPU clock is a system call (about 0.7 us here, as long as a rule's
# whole check): it is read at every 16th block or inline step, a few hundred
# microseconds apart at the most.
_CLOCK_EVERY = 16


def _check_budget(env: dict) -> None:
    deadline = env.get("deadline")
    if deadline is None:
        return
    env["steps"] = steps = env["steps"] + 1
    if steps % _CLOCK_EVERY == 0 and time.thread_time() > deadline:
        raise _OverBudget


def _spend_block(state: StateBlock, line: int, end_line: int, silent: bool) -> bool:
    # First in the block chain: runs at every block markdown-it starts, at every depth.
    _check_budget(state.env)
    return False


def _spend_inline(state: StateInline, silent: bool) -> bool:
    # First in the inline chain: runs at every position markdown-it tries its rules at.
    _check_budget(state.env)
    return False


def build_markdown(*, gated: bool = True) -> MarkdownIt:
    """The renderer's parser: CommonMark without raw HTML, plus tables and
    strikethrough, with the caps above; ``gated=False`` leaves markdown-it's own
    paragraph terminators (the reference the gate is tested against)."""
    md = MarkdownIt(
        "js-default",
        {"linkify": False, "typographer": False, "breaks": True, "maxNesting": MAX_NESTING},
    )
    md.block.ruler.at("table", _bounded_table, {"alt": ["paragraph", "reference"]})
    md.inline.ruler.at("link", _closable(_link))
    md.inline.ruler.at("image", _closable(_image))
    md.inline.ruler.before("link", "ticket_link", _ticket_link)
    if gated:
        _gate_paragraph_interruptions(md)
    # Only when the parse's env holds a "deadline" (``render_markdown`` sets one).
    md.block.ruler.before("table", "budget", _spend_block)
    md.inline.ruler.before("text", "budget", _spend_inline)
    return md


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    return build_markdown()


def _link_bytes(token: Token) -> int:
    return sum(len(str(token.attrs.get(name) or "")) for name in ("href", "src", "title"))


def _bound_links(tokens: list[Token]) -> None:
    """Past MAX_LINK_BYTES of targets in the text, links become their text."""
    budget = MAX_LINK_BYTES
    for block in tokens:
        if block.type != "inline" or not block.children:
            continue
        children, dropping = [], False
        for token in block.children:
            if token.type == "link_open":
                budget -= _link_bytes(token)
                dropping = budget < 0
                if dropping:
                    continue
            elif token.type == "link_close" and dropping:
                dropping = False
                continue
            elif token.type == "image":
                budget -= _link_bytes(token)
                if budget < 0:
                    token = Token("text", "", 0, content=token.content)
            children.append(token)
        block.children = children


def _plain_text(text: str) -> str:
    """The text escaped, its line breaks kept: at most a few times its length."""
    return "<p>" + escape(text, quote=False).replace("\n", "<br>\n") + "</p>"


def _nesting_exhausted(tokens: list[Token]) -> bool:
    # At MAX_NESTING markdown-it silently drops the rest of the text's blocks.
    return any(t.level >= MAX_NESTING - 1 for t in tokens)


# No cache: stored text is rendered once, when written, and its HTML stored beside
# it by its caller; a cache of up to 100 KiB per entry would be unbounded memory.
def render_markdown(text: str) -> str:
    """Render user-written Markdown to HTML that is safe to insert into a page.

    At most ``MAX_HTML_BYTES`` of UTF-8 for any text within the contract's limits:
    a text whose Markdown would render larger, or would take longer than the CPU
    budget (``PARSE_BUDGET``, ``RENDER_BUDGET``), is rendered as escaped plain text.
    """
    text = text or ""
    md = _markdown()
    started = time.thread_time()
    env = {"table_cells_left": MAX_TABLE_CELLS, "deadline": started + PARSE_BUDGET, "steps": 0}
    try:
        tokens = md.parse(text, env)
    except _OverBudget:
        return _plain_text(text)
    if _nesting_exhausted(tokens):
        return _plain_text(text).strip()
    _bound_links(tokens)
    markup = md.renderer.render(tokens, md.options, {})
    # What is left, sanitizing, costs about what rendering did: checked once, here.
    if time.thread_time() > started + RENDER_BUDGET:
        return _plain_text(text)
    html = nh3.clean(
        markup,
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
        filter_style_properties={"text-align"},
    ).strip()
    if len(html.encode()) > MAX_HTML_BYTES:
        return _plain_text(text)
    return html
