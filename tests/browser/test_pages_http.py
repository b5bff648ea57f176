"""How the gateway serves the pages: public HTML, a strict policy, safe assets.

These run in the browser suite's process because they are about the pages; most
talk to the running stack over HTTP, the environment checks build the gateway
app for each environment (the pages' routes depend only on the settings).
"""

from __future__ import annotations

import re

import jwt
import pytest
import requests
from falcon import testing

from services.gateway.app import create_app
from services.gateway.settings import GatewaySettings
from services.gateway.tests.fakes import FakeClients

pytestmark = pytest.mark.browser

PAGES = (
    "/help-center",
    "/help-center/tickets",
    "/help-center/tickets/new",
    "/help-center/tickets/42",
    "/help-center/admin",
    "/help-center/admin/tickets/42",
    "/help-center/dev/sign-in",
)
SECRET = "pages-test-secret-that-is-long-enough-0123456789"


def policy(header: str) -> dict:
    """A Content-Security-Policy header as {directive: [sources]}."""
    directives = {}
    for part in header.split(";"):
        name, *sources = part.split()
        directives[name] = sources
    return directives


def app_client(env: str, **extra) -> testing.TestClient:
    settings = GatewaySettings.from_env(
        {
            "HELPDESK_ENV": env,
            "HELPDESK_JWT_SECRET": SECRET,
            "HELPDESK_AMQP_URL": "amqp://helpdesk:pw@rabbitmq:5672/helpdesk",
            # Production wants verified TLS to the broker; these tests never connect.
            "HELPDESK_ALLOW_UNVERIFIED_TRANSPORT": "true",
            **extra,
        }
    )
    return testing.TestClient(create_app(settings, FakeClients()))


def test_every_page_is_public_html_under_a_strict_policy(stack):
    for path in PAGES:
        response = requests.get(stack.base_url + path, timeout=10)  # no token: pages are public
        assert response.status_code == 200, path
        assert response.headers["Content-Type"].startswith("text/html"), path
        csp = policy(response.headers["Content-Security-Policy"])
        assert csp["default-src"] == ["'none'"]
        assert csp["script-src"] == ["'self'"]
        assert csp["style-src"] == ["'self'"]
        assert csp["object-src"] == ["'none'"]
        assert csp["base-uri"] == ["'none'"]
        assert csp["frame-ancestors"] == ["'self'"]
        assert csp["require-trusted-types-for"] == ["'script'"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        html = response.text
        # Nothing inline for the policy to have to refuse.
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), path
        assert not re.search(r"\son[a-z]+\s*=", html), path
        assert "style=" not in html and "<style" not in html, path
        assets = re.findall(r'(?:src|href)="(/help-center/assets/[^"]+)"', html)
        assert len(assets) == 3, assets  # icon, stylesheet, the page's module
        for asset in assets:
            assert requests.get(stack.base_url + asset, timeout=10).status_code == 200, asset


def test_every_module_a_page_imports_is_served(stack):
    """Walk the import graph from each page script: no missing module, right type."""
    seen, todo = set(), []
    for path in PAGES:
        html = requests.get(stack.base_url + path, timeout=10).text
        todo += re.findall(r'<script type="module" src="([^"]+)"', html)
    while todo:
        url = todo.pop()
        if url in seen:
            continue
        seen.add(url)
        response = requests.get(stack.base_url + url, timeout=10)
        assert response.status_code == 200, url
        assert response.headers["Content-Type"].startswith("text/javascript"), url
        for relative in re.findall(r'from "(\.{1,2}/[^"]+)"', response.text):
            todo.append(requests.compat.urljoin(url, relative))
    assert len(seen) >= 10


def test_assets_are_only_files_of_the_assets_folder(stack):
    base = stack.base_url + "/help-center/assets"
    for path in (
        "/../pages.py",
        "/%2e%2e/layout.html",
        "/..%2f..%2fpages.py",
        "/js/nothing.js",
        "/../views/ticket.html",
    ):
        assert requests.get(base + path, timeout=10).status_code == 404, path
    css = requests.get(base + "/css/app.css", timeout=10)
    assert css.headers["Content-Type"].startswith("text/css")
    again = requests.get(
        base + "/css/app.css", headers={"If-None-Match": css.headers["ETag"]}, timeout=10
    )
    assert again.status_code == 304 and not again.content
    page = requests.get(stack.base_url + "/help-center", timeout=10)
    head = requests.head(stack.base_url + "/help-center", timeout=10)
    assert head.status_code == 200 and not head.content
    assert head.headers["Content-Length"] == str(len(page.content))
    assert head.headers["ETag"] == page.headers["ETag"]


def test_dev_sign_in_exists_only_in_development():
    for env in ("test", "production"):
        client = app_client(env)
        assert client.simulate_get("/help-center/dev/sign-in").status_code == 404
        minted = client.simulate_post("/help-center/dev/token", json={"sub": "x", "role": "admin"})
        assert minted.status_code == 404
        page = client.simulate_get("/help-center/tickets")
        assert 'data-sign-in=""' in page.text  # the pages know not to offer it
    client = app_client("development")
    assert client.simulate_get("/help-center/dev/sign-in").status_code == 200
    page = client.simulate_get("/help-center/tickets")
    assert 'data-sign-in="/help-center/dev/sign-in"' in page.text


def test_dev_token_endpoint_mints_what_the_api_accepts_and_refuses_bad_input(stack):
    url = stack.base_url + "/help-center/dev/token"
    response = requests.post(url, json={"sub": "dana", "role": "admin", "name": "Dana"}, timeout=10)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    token = response.json()["token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert (claims["sub"], claims["role"], claims["name"]) == ("dana", "admin", "Dana")
    listed = requests.get(
        stack.base_url + "/api/v1/admin/tickets",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert listed.status_code == 200

    bad = requests.post(url, json={"sub": " ", "role": "owner", "exp": 1}, timeout=10)
    assert bad.status_code == 422
    details = bad.json()["error"]["details"]
    assert set(details) == {"sub", "role", "exp"}
    form = requests.post(url, data={"sub": "dana", "role": "admin"}, timeout=10)
    assert form.status_code == 415
    assert requests.get(url, timeout=10).status_code == 405


def test_frame_ancestors_follow_the_setting():
    client = app_client("production", HELPDESK_FRAME_ANCESTORS="'self' https://portal.example.com")
    csp = policy(client.simulate_get("/help-center").headers["Content-Security-Policy"])
    assert csp["frame-ancestors"] == ["'self'", "https://portal.example.com"]
