"""Sign-in, the loopback demo sign-in, and sign-out.

Sign-in with Discord (OAuth2 authorization code with `state`) lives in `web.auth`; this module shows the
sign-in page and, in the demo on loopback with no OAuth client configured, a clearly marked
"demo Community / demo Pro" sign-in that stands in for Discord. The demo sign-in form is protected by a
double-submit token (a cookie and a form field a cross-site page cannot read), sign-out by the session's
CSRF token; signing out ends the session on the server (`services.web_sessions`), so a copy of the cookie
is signed out too."""

from __future__ import annotations

import hmac
import secrets

from aiohttp import web

from access import Tier
from engine.clock import utc_now
from services import web_sessions
from web.context import web_context
from web.members import signed_in
from web.redirect import safe_next, see_other
from web.session import CSRF_FIELD, Member, check_csrf, new_csrf
from web.templating import render

SIGNIN_COOKIE = "stratum_signin"
#: The demo members' ids: fixed, so a demo member's watchlist and bets survive a sign-out.
DEMO_USERS = {Tier.COMMUNITY: 1, Tier.PRO: 2}


async def signin_page(request: web.Request) -> web.Response:
    web_ctx = web_context(request)
    member = await signed_in(request)
    token = secrets.token_urlsafe(24)
    response = render(
        request,
        "signin.html",
        member=member,
        next=safe_next(request.query.get("next")),
        discord=web_ctx.auth is not None,
        demo=web_ctx.demo_sign_in,
        signin_token=token,
    )
    response.set_cookie(
        SIGNIN_COOKIE,
        token,
        max_age=900,
        httponly=True,
        secure=web_ctx.sessions.secure,
        samesite="Strict",
        path="/auth",
    )
    return response


async def demo_signin(request: web.Request) -> web.Response:
    web_ctx = web_context(request)
    if not web_ctx.demo_sign_in:
        raise web.HTTPNotFound(text="The demo sign-in is only offered by the demo on this machine.")
    form = await request.post()
    cookie = request.cookies.get(SIGNIN_COOKIE, "")
    sent = str(form.get(CSRF_FIELD, ""))
    if not cookie or not sent or not hmac.compare_digest(cookie, sent):
        raise web.HTTPForbidden(text="This form has expired or did not come from this site. Reload and try again.")
    try:
        tier = Tier(str(form.get("tier", "")))
    except ValueError:
        raise web.HTTPBadRequest(text="Choose demo Community or demo Pro.") from None
    now = web_ctx.ctx.clock()
    member = Member(
        user_id=DEMO_USERS[tier],
        name=f"demo {'Pro' if tier == Tier.PRO else 'Community'}",
        guild_id=web_ctx.settings.discord.guild_id or 0,
        tier=tier,
        checked_at=now.timestamp(),
        csrf=new_csrf(),
        demo=True,
        session=await web_sessions.start(web_ctx.ctx, DEMO_USERS[tier], tier, utc_now()),
    )
    response = see_other(safe_next(form.get("next")))
    web_ctx.sessions.write(response, member)
    response.del_cookie(SIGNIN_COOKIE, path="/auth")
    raise response


async def signout(request: web.Request) -> web.Response:
    web_ctx = web_context(request)
    member = await signed_in(request)
    await check_csrf(request, member)
    if member is not None:
        await web_sessions.end(web_ctx.ctx, member.session)  # every copy of the cookie, not just this one
    response = web.HTTPSeeOther("/")
    web_ctx.sessions.clear(response)
    raise response


def add_routes(app: web.Application) -> None:
    app.router.add_get("/signin", signin_page)
    app.router.add_post("/auth/demo", demo_signin)
    app.router.add_post("/auth/signout", signout)
