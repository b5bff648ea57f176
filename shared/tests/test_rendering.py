"""The one renderer: Markdown in, only Markdown's elements out, nothing executable."""

import re
from html.parser import HTMLParser

import pytest

from shared.rendering import render_markdown


class _Elements(HTMLParser):
    """Collects the real elements and attributes of an HTML fragment (not text)."""

    def __init__(self):
        super().__init__()
        self.tags = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def elements(html):
    parser = _Elements()
    parser.feed(html)
    return parser.tags


pytestmark = pytest.mark.unit


def test_markdown_renders():
    html = render_markdown("**Bold** and *em*\n\n- one\n- two\n\n`code`")
    assert "<strong>Bold</strong>" in html and "<em>em</em>" in html
    assert "<ul>" in html and "<li>one</li>" in html and "<code>code</code>" in html


@pytest.mark.parametrize(
    "payload",
    [
        "<script>alert(1)</script>",
        '<img src=x onerror="alert(1)">',
        '<a href="javascript:alert(1)">x</a>',
        "[click](javascript:alert(1))",
        "[click](JaVaScRiPt:alert(1))",
        "![img](javascript:alert(1))",
        '<svg onload="alert(1)">',
        "<iframe src=//evil></iframe>",
        '<div style="background:url(javascript:alert(1))">x</div>',
        "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    ],
)
def test_nothing_executable_survives(payload):
    for tag, attrs in elements(render_markdown(payload)):
        assert tag not in {"script", "iframe", "svg", "object", "embed", "style"}
        assert not [name for name in attrs if name.startswith("on")]
        for name in ("href", "src"):
            value = (attrs.get(name) or "").strip().lower()
            assert not value.startswith(("javascript:", "data:", "vbscript:")), (tag, attrs)
        assert "url(" not in (attrs.get("style") or "")


def test_raw_html_is_shown_as_text():
    assert render_markdown("<b>hi</b>") == "<p>&lt;b&gt;hi&lt;/b&gt;</p>"


def test_links_are_safe_and_kept():
    html = render_markdown("[docs](https://example.com/a?b=1)")
    assert 'href="https://example.com/a?b=1"' in html
    assert "noopener" in html


def test_empty_text_renders_empty():
    assert render_markdown("") == ""


@pytest.mark.parametrize(
    "text,linked",
    [
        ("See #12 and #13.", ["12", "13"]),
        ("**#7** again", ["7"]),
        ("`#12` in code, [x #12](https://a.example) in a link", []),
        ("issue#12, /#3, &#35;4, #12abc, #0, #1234567890123456789", []),
        ("#999999999999999999", ["999999999999999999"]),
    ],
)
def test_ticket_numbers_link_to_their_ticket_pages(text, linked):
    html = render_markdown(text)
    assert re.findall(r'href="/help-center/tickets/([0-9]+)"', html) == linked
    assert html.count("<a ") == len(linked) + ("https://a.example" in text)
