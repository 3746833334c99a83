"""Sign-in, the loopback demo sign-in, and sign-out.

Sign-in with Discord (OAuth2 authorization code with `state`) lives in `web.auth`; this module shows the
sign-in page and, in the demo on loopback with no OAuth client configured, a clearly marked
"demo Community / demo Pro" sign-in that stands in for Discord. The demo sign-in form is protected by a
double-submit token (a cookie and a form field a cross-site page cannot read), sign-out by the session's
CSRF token; signing out ends the session on the server (`services.web_sessions`), so a copy of the cookie
is signed out too."""

from __future__ import annotations

import secrets

from fastapi import APIRouter
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from access import Tier
from engine.clock import utc_now
from services import web_sessions
from web.context import GET, web_context
from web.members import signed_in
from web.redirect import safe_next, see_other
from web.session import CSRF_FIELD, FORGED, Member, check_csrf, form_fields, new_csrf, same_secret
from web.templating import render

SIGNIN_COOKIE = "stratum_signin"
#: The demo members' ids: fixed, so a demo member's watchlist and bets survive a sign-out.
DEMO_USERS = {Tier.COMMUNITY: 1, Tier.PRO: 2}

router = APIRouter(include_in_schema=False)


@router.api_route("/signin", methods=GET)
async def signin_page(request: Request) -> Response:
    web_ctx = web_context(request)
    member = await signed_in(request)
    token = secrets.token_urlsafe(24)
    response = render(
        request,
        "signin.html",
        member=member,
        next=safe_next(request.query_params.get("next")),
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
        samesite="Strict",  # type: ignore[arg-type]  # written as given
        path="/auth",
    )
    return response


@router.post("/auth/demo")
async def demo_signin(request: Request) -> Response:
    web_ctx = web_context(request)
    if not web_ctx.demo_sign_in:
        raise HTTPException(404, "The demo sign-in is only offered by the demo on this machine.")
    form = await form_fields(request)
    cookie = request.cookies.get(SIGNIN_COOKIE, "")
    sent = form.get(CSRF_FIELD, "")
    if not cookie or not sent or not same_secret(sent, cookie):
        raise HTTPException(403, FORGED)
    try:
        tier = Tier(form.get("tier", ""))
    except ValueError:
        raise HTTPException(400, "Choose demo Community or demo Pro.") from None
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
    response.delete_cookie(SIGNIN_COOKIE, path="/auth")
    return response


@router.post("/auth/signout")
async def signout(request: Request) -> Response:
    web_ctx = web_context(request)
    member = await signed_in(request)
    await check_csrf(request, member)
    if member is not None:
        await web_sessions.end(web_ctx.ctx, member.session)  # every copy of the cookie, not just this one
    response = see_other("/")
    web_ctx.sessions.clear(response)
    return response
