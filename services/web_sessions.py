"""Dashboard sessions on the server, so that signing out ends a session and not only one browser's cookie.

The session cookie is signed and carries who the member is; a copy of it (a shared computer, a stolen
cookie) would otherwise stay signed in until it expires, whatever the member does. Each sign-in therefore
starts a session row with a random id that the cookie names, and a request is signed in only while that
row exists: signing out deletes it, which ends every copy of the cookie at once. The role re-check
(`web.auth`) renews the session when the tier is unchanged; when it finds another tier, the member's
sessions holding the old tier end and this browser gets a new session with the new one, so a cookie
copied before the change no longer opens anything.

The check is one primary-key read per signed-in request. Times are the real clock's (sessions are a
security matter, never a demo's time).
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from access import Tier
from services.context import ServiceContext


async def start(ctx: ServiceContext, user_id: int, tier: Tier, now: datetime) -> str:
    """A new session for `user_id` at `tier`: its id, for the cookie. Expired sessions are forgotten here."""
    session_id = secrets.token_urlsafe(24)
    lifetime = timedelta(seconds=ctx.settings.web.session_max_age_seconds)
    async with ctx.repos.db.transaction():
        await ctx.repos.web_sessions.delete_renewed_before(now - lifetime)
        await ctx.repos.web_sessions.add(session_id, user_id, tier.value, now)
    return session_id


async def is_live(ctx: ServiceContext, session_id: str, user_id: int) -> bool:
    """Whether the session a cookie names is still open (not signed out, not ended by a tier change)."""
    if not session_id:
        return False  # a cookie from before sessions were kept on the server
    return await ctx.repos.web_sessions.tier(session_id, user_id) is not None


async def end(ctx: ServiceContext, session_id: str) -> None:
    """Sign out: every copy of the cookie naming this session is signed out from now on."""
    if session_id:
        async with ctx.repos.db.transaction():
            await ctx.repos.web_sessions.delete(session_id)


async def recheck(ctx: ServiceContext, session_id: str, user_id: int, tier: Tier, now: datetime) -> str | None:
    """After the member's roles were read again and gave `tier`: the session id the rewritten cookie names
    (the same one, renewed, when the tier is unchanged; a new one when it changed, with the member's
    sessions of another tier ended), or None when the session was ended meanwhile (signed out)."""
    sessions = ctx.repos.web_sessions
    async with ctx.repos.db.transaction():
        held = await sessions.tier(session_id, user_id) if session_id else None
        if held is None:
            return None
        if held == tier.value:
            await sessions.renew(session_id, now)
            return session_id
        await sessions.delete_other_tiers(user_id, tier.value)
        renewed = secrets.token_urlsafe(24)
        await sessions.add(renewed, user_id, tier.value, now)
        return renewed
