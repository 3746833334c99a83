"""Security headers on every dashboard response.

A Content-Security-Policy with no inline script (every script and style is a file under /static), no
framing (clickjacking), no MIME sniffing, no referrer to other sites, and no storing of a page in a
shared cache: what a page shows depends on who is signed in, so only the member's own browser may keep
it (`private, no-store`)."""

from __future__ import annotations

from aiohttp import web

from web.context import Handler

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
API_PREFIXES = ("/v1/", "/v1", "/stripe", "/healthz")
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith(API_PREFIXES):  # the REST API and Stripe's endpoint answer machines
        return await handler(request)
    try:
        response = await handler(request)
    except web.HTTPException as exc:  # redirects and refusals carry the headers too
        _apply(exc, request)
        raise
    _apply(response, request)
    return response


def _apply(response: web.StreamResponse, request: web.Request) -> None:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    if request.path.startswith("/static/"):
        response.headers.setdefault("Cache-Control", "public, max-age=3600")
    else:
        response.headers["Cache-Control"] = "private, no-store"
        response.headers["Vary"] = "Cookie"
