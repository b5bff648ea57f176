"""The Help Center's web pages, served by the gateway.

Plain HTML, CSS and JavaScript modules from ``services/gateway/pages`` (no build
step). The pages are public documents that carry no data: their scripts call
``/api/v1`` with the bearer token the host platform hands them, like any other
client, so these routes sit outside the API's authentication. Every response is
sent with a strict Content-Security-Policy (scripts only from this origin, no
inline code, Trusted Types for the one place that inserts the server's sanitized
HTML).

In development a sign-in page mints tokens with ``tokens.mint_token``; in any
other environment it is not routed at all, so it answers 404.

Any other path under ``/help-center`` (no route matched) answers 404 with an HTML
"page not found" page in the same layout and headers, so a person following a bad
link sees the Help Center, not the API's JSON error. ``/api/...`` is untouched.
"""

from __future__ import annotations

import hashlib
import re
import string
from dataclasses import dataclass
from pathlib import Path

import falcon

from services.gateway.body import read_json
from services.gateway.schemas import DevTokenBody, load_body
from services.gateway.settings import GatewaySettings
from services.gateway.tokens import mint_token

PAGES_DIR = Path(__file__).with_name("pages")
BASE = "/help-center"
SIGN_IN = f"{BASE}/dev/sign-in"
EMBED = f"{BASE}/embed.js"
DEV_TOKEN_LIFETIME = 8 * 3600

# (route under BASE, view and script name, <title>)
PAGES = (
    ("", "landing", "Help Center"),
    ("/tickets", "tickets", "My Tickets"),
    ("/tickets/new", "new-ticket", "Create New Ticket"),
    ("/tickets/{ticket_id:row_id}", "ticket", "Ticket"),
    ("/admin", "admin", "Support queue"),
    ("/admin/teams", "admin-teams", "Teams · Support"),
    ("/admin/macros", "admin-macros", "Canned replies · Support"),
    ("/admin/dashboard", "admin-dashboard", "Dashboard · Support"),
    ("/admin/tickets/{ticket_id:row_id}", "admin-ticket", "Ticket · Support"),
)
DEV_PAGES = (("/dev/sign-in", "dev-sign-in", "Development sign-in"),)
NOT_FOUND = ("not-found", "Page not found")
# Every path under BASE (routes take precedence over a sink, so this is what is left).
UNDER_BASE = re.compile(rf"^{re.escape(BASE)}(?:/|$)")

ASSET_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}


def content_security_policy(settings: GatewaySettings) -> str:
    """The policy every page and asset is served with."""
    return "; ".join(
        (
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            # Images only from here: a picture in a ticket must not call out to a
            # third party (it would leak the reader's address to whoever wrote it).
            "img-src 'self' data:",
            "connect-src 'self'",
            "font-src 'self'",
            "form-action 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            f"frame-ancestors {settings.frame_ancestors}",
            "require-trusted-types-for 'script'",
            "trusted-types helpdesk-html",
        )
    )


def _security_headers(settings: GatewaySettings) -> dict:
    return {
        "Content-Security-Policy": content_security_policy(settings),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cross-Origin-Resource-Policy": "same-origin",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
        # Revalidate every time (ETag): a deploy is visible at once, never half-cached.
        "Cache-Control": "no-cache",
    }


# A view's line that stands for a partial (PageResource._with_partials), and its values.
_PARTIAL = re.compile(
    r'^([ \t]*)<!-- @include (partials/[a-z-]+\.html)((?: [a-z_]+="[^"]*")*) -->[ \t]*(?:\n|\Z)',
    re.M,
)
_PARAM = re.compile(r'([a-z_]+)="([^"]*)"')


@dataclass(frozen=True)
class _Body:
    """Bytes to send and their ETag, computed once."""

    data: bytes
    etag: str

    @classmethod
    def of(cls, data: bytes) -> _Body:
        return cls(data, hashlib.sha256(data).hexdigest()[:32])


class _Files:
    """The files under ``root``, found once at start-up; read once, or on every
    request when ``live``.

    Only names found at start-up are served, each under its one spelling
    (``css/app.css``): a request path is a key, never a path on disk, so
    ``css/./app.css`` or ``../x`` is simply unknown, and what is held in memory is
    this fixed set, whatever the requests. ``live`` is for development, so an
    edited page shows on reload without a restart (a new file needs one).
    """

    def __init__(self, root: Path, live: bool, suffixes=None):
        self.root = root.resolve()
        self.live = live
        self._paths = {
            path.relative_to(self.root).as_posix(): path
            for path in sorted(self.root.rglob("*"))
            if path.is_file()
            and path.resolve().is_relative_to(self.root)
            and (suffixes is None or path.suffix in suffixes)
        }
        self._bodies = (
            {}
            if live
            else {name: _Body.of(path.read_bytes()) for name, path in self._paths.items()}
        )

    def __len__(self) -> int:
        """How many files are served (and, unless ``live``, held in memory)."""
        return len(self._bodies) if not self.live else len(self._paths)

    def read(self, relative: str) -> _Body | None:
        """The file named ``relative`` (as found at start-up), or None."""
        if not self.live:
            return self._bodies.get(relative)
        path = self._paths.get(relative)
        return _Body.of(path.read_bytes()) if path is not None else None


def _send(req, resp, body: _Body, content_type: str, headers: dict):
    """Send ``body`` with its ETag, answering a matching ``If-None-Match`` with 304."""
    resp.set_headers(headers)
    resp.etag = body.etag
    resp.content_type = content_type
    if req.if_none_match and any(tag in (body.etag, "*") for tag in req.if_none_match):
        resp.status = falcon.HTTP_304
    else:
        resp.data = body.data  # for a HEAD Falcon sends its length, not the bytes


class PageResource:
    """One HTML page: the shared layout around the page's view."""

    def __init__(self, files: _Files, name: str, title: str, sign_in: str, headers: dict):
        self._files = files
        self._name = name
        self._title = title
        self._sign_in = sign_in
        self._headers = headers
        self._page: _Body | None = None

    def render(self) -> _Body:
        """The page's HTML. Only our own files go in; no request data ever does."""
        if self._page is not None:
            return self._page
        layout = self._files.read("layout.html").data.decode("utf-8")
        view = self._with_partials(
            self._files.read(f"views/{self._name}.html").data.decode("utf-8")
        )
        if "<!-- @include" in view:  # misspelt: it would reach the browser as a comment
            raise ValueError(f"views/{self._name}.html: an @include line that names no partial")
        html = string.Template(layout).substitute(
            title=self._title,
            page=self._name,
            script=self._name,
            sign_in=self._sign_in,
            main=view,
        )
        page = _Body.of(html.encode("utf-8"))
        if not self._files.live:
            self._page = page
        return page

    def _with_partials(self, view: str) -> str:
        """``view`` with each ``<!-- @include partials/x.html key="value" -->`` line
        replaced by that partial (``pages/partials/x.html``), indented as the line is,
        its ``$key`` placeholders filled in and its own includes replaced likewise:
        markup pages share, written once."""

        def partial(match) -> str:
            indent, name, params = match.groups()
            source = self._files.read(name)
            if source is None:
                raise FileNotFoundError(PAGES_DIR / name)
            # substitute, not safe_substitute: a placeholder left unfilled fails at start-up.
            text = string.Template(source.data.decode("utf-8")).substitute(
                dict(_PARAM.findall(params))
            )
            text = self._with_partials(text)
            return "".join(
                indent + line if line.strip() else line for line in text.splitlines(keepends=True)
            )

        return _PARTIAL.sub(partial, view)

    def on_get(self, req, resp, **_params):
        _send(req, resp, self.render(), falcon.MEDIA_HTML, self._headers)


class NotFoundPage:
    """A sink for every path under BASE that no route matched: the HTML 404 page.

    The status stays 404 and the headers are the pages' own; no ETag, so a 404 is
    never answered with a 304.
    """

    def __init__(self, page: PageResource, headers: dict):
        self._page = page
        self._headers = headers

    def __call__(self, req, resp, **_params):
        body = self._page.render()
        resp.set_headers(self._headers)
        resp.status = falcon.HTTP_404
        resp.content_type = falcon.MEDIA_HTML
        resp.data = body.data  # Falcon sends none of it for a HEAD, but its length


class AssetResource:
    """CSS, JavaScript modules and icons under ``pages/assets``."""

    def __init__(self, files: _Files, headers: dict):
        self._files = files
        self._headers = headers

    def on_get(self, req, resp, path):
        data = self._files.read(path)  # only the names found at start-up
        if data is None:
            raise falcon.HTTPNotFound()
        _send(req, resp, data, ASSET_TYPES[Path(path).suffix], self._headers)


_INCLUDE = re.compile(rb"^[ \t]*// @include (assets/js/[a-z-]+\.js)[ \t]*$", re.M)
_EXPORT = re.compile(rb"^export ", re.M)


class EmbedScript:
    """``GET /help-center/embed.js``: the custom elements a host puts in its own pages
    (``docs/embedding.md``).

    Loaded by pages on other origins, so it is the one file served with
    ``Cross-Origin-Resource-Policy: cross-origin`` (the pages' ``same-origin`` would
    make the browser refuse it there).
    """

    def __init__(self, files: _Files, headers: dict):
        self._files = files
        self._headers = {**headers, "Cross-Origin-Resource-Policy": "cross-origin"}
        # Assembled now: a missing file fails at start-up, not on first use.
        self._body = self.assemble()

    def assemble(self) -> _Body:
        """``embed.js`` with each ``// @include assets/js/x.js`` line replaced by that
        module, its ``export`` keywords dropped: one parser (and whatever else the
        pages and the embedded elements share) in one file, and a classic script."""

        def module(match) -> bytes:
            included = self._files.read(match.group(1).decode())
            if included is None:
                raise FileNotFoundError(PAGES_DIR / match.group(1).decode())
            return _EXPORT.sub(b"", included.data)

        source = self._files.read("embed.js")
        if source is None:
            raise FileNotFoundError(PAGES_DIR / "embed.js")
        return _Body.of(_INCLUDE.sub(module, source.data))

    def on_get(self, req, resp):
        body = self.assemble() if self._files.live else self._body
        _send(req, resp, body, ASSET_TYPES[".js"], self._headers)


DEV_TOKEN_BODY = DevTokenBody()


class DevTokenResource:
    """``POST {"sub", "role", "name"?}`` → ``{"token", "expires_in"}``; development only."""

    def __init__(self, settings: GatewaySettings):
        self._settings = settings

    def on_post(self, req, resp):
        claims = load_body(DEV_TOKEN_BODY, read_json(req))
        try:
            token = mint_token(
                self._settings,
                claims["sub"],
                claims["role"],
                claims["name"] or None,
                DEV_TOKEN_LIFETIME,
            )
        except ValueError as exc:  # RS256/ES256: the gateway holds no private key
            raise falcon.HTTPNotImplemented(description=str(exc)) from None
        resp.set_header("Cache-Control", "no-store")
        resp.media = {"token": token, "expires_in": DEV_TOKEN_LIFETIME}


def register_pages(app: falcon.App, settings: GatewaySettings) -> tuple[str, ...]:
    """Route the Help Center's pages and assets (and, in development, the sign-in);
    return the routes added, all public (the pages carry no data).

    The page routes take ticket ids with the app's ``row_id`` converter.
    """
    files = _Files(PAGES_DIR, live=settings.development)
    headers = _security_headers(settings)
    sign_in = SIGN_IN if settings.development else ""
    pages = PAGES + (DEV_PAGES if settings.development else ())
    routes = {}
    for route, name, title in pages:
        page = PageResource(files, name, title, sign_in, headers)
        page.render()  # a missing or broken page fails at start-up, not on first visit
        routes[BASE + route] = page
    routes[f"{BASE}/assets/{{path:path}}"] = AssetResource(
        _Files(PAGES_DIR / "assets", live=settings.development, suffixes=ASSET_TYPES), headers
    )
    routes[EMBED] = EmbedScript(files, headers)
    if settings.development:
        routes[f"{BASE}/dev/token"] = DevTokenResource(settings)
    for route, resource in routes.items():
        app.add_route(route, resource)
    not_found = PageResource(files, *NOT_FOUND, sign_in, headers)
    not_found.render()
    app.add_sink(NotFoundPage(not_found, headers), UNDER_BASE)
    return tuple(routes)
