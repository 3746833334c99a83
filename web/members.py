"""The signed-in member of a request, and the viewer the services are asked for."""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from access import Tier, Viewer
from services import web_sessions
from web.context import web_context
from web.redirect import see_other
from web.session import Member

#: The request's member, read once per request (kept in the request's state).
MEMBER = "stratum_member"


class SignInRequired(Exception):
    """A page for members only, asked for signed out: answered by `to_sign_in` (a 303 to the sign-in page,
    coming back here afterwards)."""


async def signed_in(request: Request) -> Member | None:
    """The member of this request's session cookie (None: signed out, or the cookie's session was ended on
    the server). A Discord member whose roles were last read more than `web.tier_recheck_seconds` ago is
    re-checked (`web.auth`); the refreshed cookie is written by `web.auth.RefreshSession`."""
    state = request.state
    if hasattr(state, MEMBER):
        return getattr(state, MEMBER)
    web_ctx = web_context(request)
    member = web_ctx.sessions.read(request)
    if member is not None and not await web_sessions.is_live(web_ctx.ctx, member.session, member.user_id):
        member = None  # signed out (or ended by a tier change) on the server: this copy of the cookie too
    if member is not None and not member.demo and web_ctx.auth is not None:
        member = await web_ctx.auth.recheck(member, request)
    setattr(state, MEMBER, member)
    return member


def viewer(member: Member | None) -> Viewer:
    """Signed out is Community: the public board is the delayed one."""
    return member.viewer if member is not None else Viewer(Tier.COMMUNITY)


async def require_member(request: Request) -> Member:
    member = await signed_in(request)
    if member is None:
        raise SignInRequired
    return member


async def to_sign_in(request: Request, _exc: Exception) -> Response:
    """The sign-in page, with this page (path and query, percent-encoded: nothing in it can break out of the
    `Location` header) as where to come back to."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return see_other("/signin?next=" + quote(here, safe="/"))
