"""Views share markup through partials (``pages/partials``), put in once at start-up."""

import re

import pytest

from services.gateway.pages import PAGES_DIR, PageResource, _Files

pytestmark = pytest.mark.unit


def test_pages_are_served_with_their_partials_put_in(client):
    user = client.simulate_get("/help-center/tickets/42").text
    support = client.simulate_get("/help-center/admin/tickets/42").text
    for html in (user, support):
        assert "@include" not in html
        assert "$" not in html  # every placeholder filled
        assert html.count('id="resolution-history"') == 1
        assert html.count('id="related"') == 1
        assert html.count('id="facts"') == 1
    assert '<h2 id="resolution-title">✓ Resolution from the Support Team</h2>' in user
    assert '<h2 id="resolution-title">✓ Resolution (shown to the user)</h2>' in support
    # One partial, two fields: each with its own ids, the counted foot written in too.
    for field, box, rows in (
        ("reply-resolution", "reply-resolution", 3),
        ("resolution", "resolution-input", 4),
    ):
        assert f'<div class="field" id="{field}-field" hidden>' in support
        assert (
            f'<textarea id="{box}" rows="{rows}" aria-describedby="{field}-hint {field}-counter {field}-error">'
            in support
        )
        assert f'<span class="counter" id="{field}-counter"></span>' in support
    # Put in at the include line's indentation, so the page reads as one file.
    assert '\n              <p class="field-error" id="reply-error" hidden></p>\n' in user


def test_every_partial_is_used():
    sources = [path.read_text() for path in (PAGES_DIR / "views").glob("*.html")]
    sources += [path.read_text() for path in (PAGES_DIR / "partials").glob("*.html")]
    used = {
        name
        for source in sources
        for name in re.findall(r"<!-- @include partials/([a-z-]+)\.html", source)
    }
    assert used == {path.stem for path in (PAGES_DIR / "partials").glob("*.html")}


def test_a_missing_partial_or_value_or_a_misspelt_include_fails_at_first_render(tmp_path):
    (tmp_path / "views").mkdir()
    (tmp_path / "partials").mkdir()
    (tmp_path / "layout.html").write_text("<main>$main</main>")
    (tmp_path / "partials" / "greeting.html").write_text("<p>$word</p>\n")
    (tmp_path / "views" / "unfilled.html").write_text("<!-- @include partials/greeting.html -->\n")
    (tmp_path / "views" / "missing.html").write_text("<!-- @include partials/nope.html -->\n")
    (tmp_path / "views" / "fine.html").write_text(
        '  <!-- @include partials/greeting.html word="hi" -->\n'
    )
    (tmp_path / "views" / "last.html").write_text(
        '<!-- @include partials/greeting.html word="hi" -->'
    )
    (tmp_path / "views" / "misspelt.html").write_text("<!-- @include partials/Greeting.html -->\n")
    files = _Files(tmp_path, live=False)

    def render(name):
        return PageResource(files, name, "T", "", {}).render().data.decode()

    assert render("fine") == "<main>  <p>hi</p>\n</main>"
    assert render("last") == "<main><p>hi</p>\n</main>"  # no newline after the line
    with pytest.raises(KeyError):
        render("unfilled")
    with pytest.raises(FileNotFoundError):
        render("missing")
    with pytest.raises(ValueError, match="names no partial"):
        render("misspelt")
