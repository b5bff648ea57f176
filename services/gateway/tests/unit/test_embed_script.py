"""``GET /help-center/embed.js``: public, loadable from another origin, one fixed file."""

import re

import pytest

from services.gateway.pages import PAGES_DIR

pytestmark = pytest.mark.unit


def test_the_embed_script_is_public_and_loadable_from_another_origin(client):
    result = client.simulate_get("/help-center/embed.js")  # no token
    assert result.status_code == 200
    assert result.headers["Content-Type"].startswith("text/javascript")
    # The pages' own same-origin policy would make a browser refuse it on the host's page.
    assert result.headers["Cross-Origin-Resource-Policy"] == "cross-origin"
    assert result.headers["X-Content-Type-Options"] == "nosniff"
    # The pages' stream parser and notice rules written in, as plain functions: no
    # import, no export.
    for module in ("sse.js", "notices.js"):
        source = (PAGES_DIR / "assets" / "js" / module).read_text()
        assert source.startswith("//") and "import " not in source
        assert re.sub(r"^export ", "", source, flags=re.M).encode() in result.content
    assert not re.search(rb"^\s*// @include", result.content, re.M)
    assert not re.search(rb"^\s*(import|export) ", result.content, re.M)
    assert b'customElements.define("helpdesk-bell"' in result.content
    assert b'customElements.define("helpdesk-link"' in result.content


def test_the_embed_script_builds_no_html_from_strings():
    # The host's page may enforce Trusted Types; notices carry people's text.
    source = "".join(
        (PAGES_DIR / name).read_text()
        for name in ("embed.js", "assets/js/sse.js", "assets/js/notices.js")
    )
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in source, sink
