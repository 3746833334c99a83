"""Security headers on every response of the web server: the dashboard's pages and the machines' answers.

Pages get a Content-Security-Policy with no inline script (every script and style is a file under
/static), no framing (clickjacking), no MIME sniffing, no referrer to other sites, and no storing in a
shared cache: what a page shows depends on who is signed in, so only the member's own browser may keep it
(`private, no-store`, `Vary: Cookie`). Only a real static file (a successful answer under /static/) is
`public`: a refusal there (`/static/`, `/static/..%2fx`) is a page rendered for the member like any other.

The machines' answers — the REST API (`/v1`), Stripe's endpoint (`/stripe/…`) and the health check
(`/healthz`) — get the headers that fit a JSON or plain answer: a policy that allows nothing
(`default-src 'none'`), no framing, no sniffing, no referrer and `no-store`. A path belongs to them only
at a `/` boundary: `/v1x`, `/stripe-x` or `/healthzx` is a dashboard page (a 404 like any other). The hook
is installed on the server itself (`app.asgi`), so every answer carries its headers even
with the dashboard turned off. With it off every path is a machine's, except the API's documentation portal
(`/docs`, `api.portal`): people read it in a browser, so it always gets the pages' headers and policy, and its
assets (`/docs/static/`) are cached like the dashboard's.
"""

from __future__ import annotations

import functools

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
#: The path prefixes that answer machines (each at a `/` boundary: `machine_path`).
MACHINE_PREFIXES = ("/v1", "/stripe", "/healthz")
#: The path prefixes that are pages even with the dashboard off: the documentation portal (`api.portal`).
PAGE_PREFIXES = ("/docs",)
#: Where real static files live (public, cached): the dashboard's and the portal's.
STATIC_PREFIXES = ("/static/", "/docs/static/")
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}
MACHINE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


#: The machines' headers as an ASGI answer carries them (names in lower case).
_MACHINE_RAW = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in MACHINE_HEADERS.items()]


def machine_headers(message: Message) -> None:
    """The machines' headers added to an answer's start where it did not set its own — on every API request,
    so without `MutableHeaders.setdefault`'s scan of the list per header (7 µs an answer; the API's cached
    answers are held near a bare handler's speed, `bench/api.py`)."""
    raw = list(message.get("headers", ()))
    present = {name.lower() for name, _ in raw}
    message["headers"] = raw + [(name, value) for name, value in _MACHINE_RAW if name not in present]


@functools.cache
def _below(prefixes: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(prefix + "/" for prefix in prefixes)


def _under(path: str, prefixes: tuple[str, ...]) -> bool:
    return path in prefixes or path.startswith(_below(prefixes))


def machine_path(path: str) -> bool:
    """Whether `path` is the API's, Stripe's or the health check's: the prefix itself or below it."""
    return _under(path, MACHINE_PREFIXES)


def portal_path(path: str) -> bool:
    """Whether `path` is the documentation portal's: a page whether or not the dashboard is served."""
    return _under(path, PAGE_PREFIXES)


def page_headers(path: str, status: int, headers: MutableHeaders) -> None:
    """A page's headers (set where the answer did not set its own)."""
    for name, value in HEADERS.items():
        headers.setdefault(name, value)
    if path.startswith(STATIC_PREFIXES) and status < 400:
        headers.setdefault("Cache-Control", "public, max-age=3600")
    else:
        headers["Cache-Control"] = "private, no-store"
        headers["Vary"] = "Cookie"


class SecurityHeaders:
    """ASGI middleware: the headers above on every answer, set as it starts (by then its status is final,
    even a static file's, and refusals, redirects and streams pass through here too). `pages`: the
    dashboard is served; without it every path is a machine's but the portal's."""

    def __init__(self, app: ASGIApp, *, pages: bool) -> None:
        self.app = app
        self.pages = pages

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        machine = machine_path(path) or not (self.pages or portal_path(path))

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                if machine:
                    machine_headers(message)
                else:
                    page_headers(path, message["status"], MutableHeaders(scope=message))
            await send(message)

        await self.app(scope, receive, with_headers)
