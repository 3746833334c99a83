"""Friendly error pages for the dashboard.

`ErrorPages` is what the app's error dispatch (`app.asgi`) calls for a refusal on one of the dashboard's
paths: a refusal a service raised (`access.UserError` and its kinds: 400, 403, 404) becomes an HTML page
with its status and its message, written for members; the framework's own refusals (no such route, wrong
method, a body too large) and a handler's `HTTPException(403, "…")` likewise, keeping what they tell the
client to do next (`Allow`, `Retry-After`). Anything unexpected was logged with its traceback by the
dispatch and is answered here by a short apology with status 500: never a traceback to the browser. The
REST API, Stripe's endpoint and the health check keep their own (JSON or plain) errors."""

from __future__ import annotations

import logging
from http import HTTPStatus

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from access import UpgradeRequired, UserError
from web.members import signed_in
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
#: What a refusal's page keeps of its headers: what it tells the client to do next.
KEPT_HEADERS = ("Allow", "Retry-After")


#: Where a member upgrades on the web (the bot's messages point to its `/upgrade` command instead).
WEB_UPGRADE_HINT = "Upgrade to Pro on My page (/me) to unlock it."


def member_message(exc: UserError) -> str:
    """A service's refusal in the dashboard's words: the same text, except that an upgrade points to the
    web's Upgrade button rather than the bot's `/upgrade` command."""
    if isinstance(exc, UpgradeRequired):
        name = exc.feature.value[0].upper() + exc.feature.value[1:]
        return f"{name} is a Pro feature. {WEB_UPGRADE_HINT}"
    return str(exc)


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def page_message(status: int, detail: str) -> str:
    """The refusal's own text (e.g. "This form has expired…"), else a plain one: the framework's bare
    reason phrase ("Not Found") says less than ours."""
    text = detail.strip()
    if not text or text == _reason(status):
        return DEFAULT_MESSAGES.get(status, _reason(status) or TITLES[400])
    return text


async def error_page(request: Request, status: int, message: str) -> Response:
    try:
        member = await signed_in(request)
    except Exception:  # an error page must not fail on the session it could not read
        member = None
    title = TITLES.get(status, "That request did not work" if status < 500 else TITLES[500])
    try:
        return render(request, "error.html", member=member, status=status, code=status, title=title, message=message)
    except Exception:  # the page itself failed: still no traceback to the browser
        log.exception("the error page for %s failed", request.url.path)
        return PlainTextResponse(f"{title}. {message}", status_code=status)


class ErrorPages:
    """The dashboard's error pages (`app.asgi.ErrorPages`), set on the app by `web.app.install_web`."""

    async def __call__(self, request: Request, status: int, message: str, headers: dict[str, str]) -> Response:
        response = await error_page(request, status, page_message(status, message))
        for name, value in headers.items():
            if name.title() in KEPT_HEADERS:
                response.headers[name] = value
        return response

    async def user_error(self, request: Request, exc: UserError) -> Response:
        return await error_page(
            request, exc.status, member_message(exc) or TITLES.get(exc.status, "That did not work.")
        )
