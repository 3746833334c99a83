"""Friendly error pages for the dashboard.

A refusal a service raised (`access.UserError` and its kinds: 400, 403, 404) becomes an HTML page with
its status and its message, written for members; aiohttp's own refusals (no such route, wrong method, a
handler's `HTTPForbidden(text=...)`) likewise. Anything unexpected is logged with its traceback and
answered by a short apology with status 500: never a traceback to the browser. The REST API, Stripe's
endpoint and the health check keep their own (JSON or plain) errors."""

from __future__ import annotations

import logging

from aiohttp import web

from access import UpgradeRequired, UserError
from web.context import Handler
from web.members import signed_in
from web.security import machine_path
from web.templating import render

log = logging.getLogger(__name__)

TITLES = {
    400: "That request did not work",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed here",
    413: "Too large",
    429: "Slow down",
    500: "Something went wrong",
    503: "Busy right now",
}
DEFAULT_MESSAGES = {
    404: "There is no page here. The board lists today's games.",
    405: "This address does not take that kind of request.",
    500: "Sorry: something went wrong on our side while making this page. It has been logged; try again shortly.",
}


#: Where a member upgrades on the web (the bot's messages point to its `/upgrade` command instead).
WEB_UPGRADE_HINT = "Upgrade to Pro on My page (/me) to unlock it."


def member_message(exc: UserError) -> str:
    """A service's refusal in the dashboard's words: the same text, except that an upgrade points to the
    web's Upgrade button rather than the bot's `/upgrade` command."""
    if isinstance(exc, UpgradeRequired):
        name = exc.feature.value[0].upper() + exc.feature.value[1:]
        return f"{name} is a Pro feature. {WEB_UPGRADE_HINT}"
    return str(exc)


async def error_page(request: web.Request, status: int, message: str) -> web.Response:
    try:
        member = await signed_in(request)
    except Exception:  # an error page must not fail on the session it could not read
        member = None
    title = TITLES.get(status, "That request did not work" if status < 500 else TITLES[500])
    try:
        return render(request, "error.html", member=member, status=status, code=status, title=title, message=message)
    except Exception:  # the page itself failed: still no traceback to the browser
        log.exception("the error page for %s failed", request.path)
        return web.Response(text=f"{title}. {message}", status=status, content_type="text/plain")


def _message(exc: web.HTTPException) -> str:
    """The handler's own text for a refusal (e.g. "This form has expired…"), else a plain one."""
    text = (exc.text or "").strip()
    if not text or text == f"{exc.status}: {exc.reason}":
        return DEFAULT_MESSAGES.get(exc.status, exc.reason)
    return text


@web.middleware
async def friendly_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    if machine_path(request.path):
        return await handler(request)
    try:
        return await handler(request)
    except UserError as exc:
        return await error_page(
            request, exc.status, member_message(exc) or TITLES.get(exc.status, "That did not work.")
        )
    except web.HTTPException as exc:
        if exc.status < 400:  # redirects pass through
            raise
        response = await error_page(request, exc.status, _message(exc))
        for name in ("Allow", "Retry-After"):  # what the refusal tells the client to do next
            if name in exc.headers:
                response.headers[name] = exc.headers[name]
        return response
    except Exception:
        log.exception("dashboard page %s %s failed", request.method, request.path)
        return await error_page(request, 500, DEFAULT_MESSAGES[500])
