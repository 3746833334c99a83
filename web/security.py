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
is installed on the server itself (`app.bootstrap.build_web`), so every answer carries its headers even
with the dashboard turned off.
"""

from __future__ import annotations

from aiohttp import web

from web.context import WEB_CONTEXT

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
#: The path prefixes that answer machines (each at a `/` boundary: `machine_path`).
MACHINE_PREFIXES = ("/v1", "/stripe", "/healthz")
STATIC_PREFIX = "/static/"
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


def machine_path(path: str) -> bool:
    """Whether `path` is the API's, Stripe's or the health check's: the prefix itself or below it."""
    return any(path == prefix or path.startswith(prefix + "/") for prefix in MACHINE_PREFIXES)


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """The headers of `response`, set as it is sent (aiohttp's `on_response_prepare`): by then its status is
    final, even a static file's (found or not is only known there), and raised refusals, redirects,
    streams and the API's sub-application pass through here too."""
    if machine_path(request.path) or WEB_CONTEXT not in request.config_dict:  # no dashboard: no pages
        for name, value in MACHINE_HEADERS.items():
            response.headers.setdefault(name, value)
        return
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    if request.path.startswith(STATIC_PREFIX) and response.status < 400:
        response.headers.setdefault("Cache-Control", "public, max-age=3600")
    else:
        response.headers["Cache-Control"] = "private, no-store"
        response.headers["Vary"] = "Cookie"
