"""The signed-in member of a request, and the viewer the services are asked for."""

from __future__ import annotations

from aiohttp import web

from access import Tier, Viewer
from services import web_sessions
from web.context import web_context
from web.session import Member

#: The request's member, read once per request.
MEMBER: web.RequestKey[Member | None] = web.RequestKey("stratum_member", object)  # type: ignore[arg-type]


async def signed_in(request: web.Request) -> Member | None:
    """The member of this request's session cookie (None: signed out, or the cookie's session was ended on
    the server). A Discord member whose roles were last read more than `web.tier_recheck_seconds` ago is
    re-checked (`web.auth`); the refreshed cookie is written by the `refresh_session` middleware."""
    web_ctx = web_context(request)
    if MEMBER in request:
        return request[MEMBER]
    member = web_ctx.sessions.read(request)
    if member is not None and not await web_sessions.is_live(web_ctx.ctx, member.session, member.user_id):
        member = None  # signed out (or ended by a tier change) on the server: this copy of the cookie too
    if member is not None and not member.demo and web_ctx.auth is not None:
        member = await web_ctx.auth.recheck(member, request)
    request[MEMBER] = member
    return member


def viewer(member: Member | None) -> Viewer:
    """Signed out is Community: the public board is the delayed one."""
    return member.viewer if member is not None else Viewer(Tier.COMMUNITY)


async def require_member(request: web.Request) -> Member:
    member = await signed_in(request)
    if member is None:
        raise web.HTTPSeeOther(f"/signin?next={request.path_qs}")
    return member
