"""The one Markdown renderer: ticket text in, sanitized HTML out.

Used for stored descriptions and messages (``*_html`` fields) and for the preview
endpoint, so a preview is exactly what will be shown. Raw HTML in the text is not
rendered (markdown-it's ``html`` option is off, so it comes out escaped, as text),
and the result then passes an allow-list sanitizer (nh3) as a second wall: only the
elements Markdown produces survive, no event handlers, no ``javascript:`` URLs.
"""

from functools import lru_cache

import nh3
from markdown_it import MarkdownIt

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


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    # "js-default": CommonMark without raw HTML, plus tables and strikethrough.
    md = MarkdownIt("js-default", {"linkify": False, "typographer": False, "breaks": True})
    return md


# Rendering is pure and costs more than the rest of a ticket read; the same texts
# are read again and again (a thread is re-read on every refresh), so keep recent
# results in this process's memory, where the texts are anyway while served.
@lru_cache(maxsize=4096)
def render_markdown(text: str) -> str:
    """Render user-written Markdown to HTML that is safe to insert into a page."""
    html = _markdown().render(text or "")
    return nh3.clean(
        html,
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
        filter_style_properties={"text-align"},
    ).strip()
