"""Sign in with Discord: OAuth2 authorization code with `state`, and the periodic re-check of the tier.

`GET /auth/discord?next=/path` sends the browser to Discord's authorize page (scopes `identify`, to know
who the member is, and `guilds.members.read`, to read their roles in the configured server) with a
random `state` remembered in a short-lived signed cookie; Discord sends the browser back to
`GET /auth/callback?code&state`. The state must be the one this browser was given (else nothing is
signed in: a login-CSRF defence). The code is exchanged for an access token (server to server, the
client secret in HTTP basic auth), the token reads the member and their roles, the tier comes from the
same rule as the bot's (`access.tier_for_roles`: the Pro role, which Stripe billing grants and takes
away), and the token is then dropped: it is never in a URL, a log line or the cookie.

A signed-in member's roles are read again after `web.tier_recheck_seconds` with the bot's token
(`GET /guilds/{guild}/members/{user}`): a member who left the server is signed out; a changed tier ends
the member's sessions of the old tier on the server and gives this browser a new one
(`services.web_sessions`); if Discord does not answer, the tier of the last check is kept (never raised)
and the check is tried again shortly.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
from aiohttp import web

import access
from access import Tier
from config.settings import ConfigError
from engine.clock import utc_now
from services import web_sessions
from web.context import Handler, WebContext, web_context
from web.members import signed_in
from web.redirect import safe_next, see_other
from web.session import COOKIE, Member, new_csrf
from web.templating import render

log = logging.getLogger(__name__)

SCOPES = "identify guilds.members.read"
CALLBACK_PATH = "/auth/callback"
#: The member a role re-check produced for this request (None: signed out), written back by `refresh_session`.
REFRESHED: web.RequestKey[Member | None] = web.RequestKey("stratum_refreshed_member", object)  # type: ignore[arg-type]
ROLES_CACHE_SECONDS = 300.0  # the guild's role names (only needed when the Pro role is configured by name)
RETRY_AFTER_FAILURE = timedelta(seconds=30)  # Discord did not answer a re-check: try again after this
TIMEOUT = httpx.Timeout(10.0)


class DiscordUnavailable(Exception):
    """Discord did not answer as expected (timeout, 5xx, 429, an unexpected body). Never carries a token."""


class NotAMember(Exception):
    """The user is not (or no longer) a member of the configured server."""


class DiscordAuth:
    """The Discord sign-in of one web app: its HTTP client, the guild's role names, the re-check."""

    def __init__(self, web_ctx: WebContext) -> None:
        discord = web_ctx.settings.discord
        if discord.oauth_client_secret is None:
            raise ConfigError(
                "discord.oauth_client_id is set but STRATUM_DISCORD__OAUTH_CLIENT_SECRET is not: "
                "Sign in with Discord needs both"
            )
        if not discord.guild_id:
            raise ConfigError("discord.guild_id must be set for Sign in with Discord (whose roles give the tier)")
        if discord.token is None:
            raise ConfigError(
                "STRATUM_DISCORD__TOKEN must be set for Sign in with Discord (the bot re-reads members' roles)"
            )
        self._web_ctx = web_ctx
        self._discord = discord
        self._client_id = discord.oauth_client_id
        self._secret = discord.oauth_client_secret
        self._bot_token = discord.token
        self.guild_id = discord.guild_id
        self._api = discord.api_base.rstrip("/")
        self._http = httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False)
        self._roles: dict[int, str] = {}
        self._roles_at = -ROLES_CACHE_SECONDS
        self._retry_at: dict[int, datetime] = {}  # user id -> when a failed re-check may be tried again
        self._inflight: dict[int, asyncio.Task[Tier | None]] = {}

    async def close(self, _app: web.Application | None = None) -> None:
        await self._http.aclose()

    # ------------------------------------------------------------------ the sign-in

    def redirect_uri(self, request: web.Request) -> str:
        """`<web.public_url>/auth/callback`; with no public URL, this server's own loopback address."""
        settings = self._web_ctx.settings.web
        origin = settings.public_url.rstrip("/")
        if not origin:
            host = settings.host
            sockname = request.transport.get_extra_info("sockname") if request.transport is not None else None
            port = sockname[1] if sockname else settings.port
            if host in ("", "0.0.0.0", "::"):  # noqa: S104 (bound everywhere: the address the browser used)
                origin = f"http://{request.host}"
            else:
                origin = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
        return origin + CALLBACK_PATH

    async def start(self, request: web.Request) -> web.StreamResponse:
        """Off to Discord's authorize page, with a fresh `state` (and where to come back to) in a cookie."""
        probe = web.Response()  # collects the state cookie
        state = self._web_ctx.sessions.new_state(probe, safe_next(request.query.get("next")))
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self._client_id,
                "redirect_uri": self.redirect_uri(request),
                "scope": SCOPES,
                "state": state,
                "prompt": "none",
            }
        )
        authorize = self._discord.oauth_authorize_url
        response = web.HTTPFound(f"{authorize}{'&' if '?' in authorize else '?'}{query}")
        _copy_cookies(probe, response)
        raise response

    async def callback(self, request: web.Request) -> web.StreamResponse:
        web_ctx = self._web_ctx
        probe = web.Response()  # collects the state cookie's deletion, copied onto whatever is answered
        then = web_ctx.sessions.take_state(request, probe, request.query.get("state", ""))
        if then is None:
            return await self._page(request, probe, 400, "This sign-in link has expired or did not start here.")
        if "error" in request.query:  # the member declined, or Discord refused the request
            reason = "".join(c for c in request.query.get("error", "")[:40] if c.isalnum() or c == "_")
            log.info("Discord sign-in not completed: %s", reason)
            return await self._page(request, probe, 400, "Sign-in with Discord was cancelled.")
        code = request.query.get("code", "")
        if not code:
            return await self._page(request, probe, 400, "Discord did not send a sign-in code.")
        try:
            member = await self._sign_in(code, self.redirect_uri(request))
        except NotAMember:
            return await self._page(
                request, probe, 403, "Join the server first: only its members can sign in to the dashboard."
            )
        except _Refused:
            return await self._page(request, probe, 400, "This sign-in link has expired or was already used.")
        except DiscordUnavailable:
            return await self._page(request, probe, 502, "Discord did not answer. Please try again in a moment.")
        response = see_other(then)
        _copy_cookies(probe, response)
        web_ctx.sessions.write(response, member)
        log.info("member %s signed in to the dashboard (%s)", member.user_id, member.tier.value)
        raise response

    async def _page(self, request: web.Request, probe: web.Response, status: int, message: str) -> web.Response:
        member = await signed_in(request)  # whoever was signed in before stays so
        response = render(request, "auth_error.html", member=member, status=status, message=message)
        _copy_cookies(probe, response)
        return response

    async def _sign_in(self, code: str, redirect_uri: str) -> Member:
        token = await self._exchange(code, redirect_uri)
        bearer = {"Authorization": f"Bearer {token}"}
        user = await self._get("users/@me", bearer, what="the signed-in user")
        data = await self._get(f"users/@me/guilds/{self.guild_id}/member", bearer, what="the member", missing=True)
        if data is None:
            raise NotAMember
        try:
            user_id = int(user["id"])
        except (KeyError, TypeError, ValueError):
            raise DiscordUnavailable("no user id") from None
        tier = await self._tier(data)
        name = str(data.get("nick") or user.get("global_name") or user.get("username") or user_id)[:64]
        return Member(
            user_id=user_id,
            name=name,
            guild_id=self.guild_id,
            tier=tier,
            checked_at=self._web_ctx.ctx.clock().timestamp(),
            csrf=new_csrf(),
            session=await web_sessions.start(self._web_ctx.ctx, user_id, tier, utc_now()),
        )

    async def _exchange(self, code: str, redirect_uri: str) -> str:
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
        try:
            answer = await self._http.post(
                f"{self._api}/oauth2/token",
                data=form,
                auth=(self._client_id, self._secret.get_secret_value()),
                headers={"Accept": "application/json"},
            )
        except httpx.HTTPError as exc:
            log.warning("Discord's token endpoint did not answer: %s", type(exc).__name__)
            raise DiscordUnavailable from None
        if 400 <= answer.status_code < 500 and answer.status_code != 429:
            log.info("Discord refused a sign-in code (HTTP %s)", answer.status_code)
            raise _Refused
        if answer.status_code != 200:
            log.warning("Discord's token endpoint answered HTTP %s", answer.status_code)
            raise DiscordUnavailable
        try:
            body = answer.json()
            token = body["access_token"]
            if not isinstance(token, str) or not token or str(body.get("token_type", "")).lower() != "bearer":
                raise ValueError
        except (ValueError, KeyError, TypeError):
            log.warning("Discord's token endpoint sent an unexpected answer")
            raise DiscordUnavailable from None
        granted = set(str(body.get("scope", SCOPES)).split())
        if not set(SCOPES.split()) <= granted:
            log.info("Discord granted fewer scopes than asked for")
            raise _Refused
        return token

    async def _get(self, path: str, headers: dict[str, str], *, what: str, missing: bool = False) -> Any:
        """`GET {api_base}/{path}`: the JSON body, None for a 404 when `missing` is allowed."""
        try:
            answer = await self._http.get(f"{self._api}/{path}", headers=headers)
        except httpx.HTTPError as exc:
            log.warning("Discord did not answer the request for %s: %s", what, type(exc).__name__)
            raise DiscordUnavailable from None
        if answer.status_code == 404 and missing:
            return None
        if answer.status_code != 200:
            log.warning("Discord answered HTTP %s to the request for %s", answer.status_code, what)
            raise DiscordUnavailable
        try:
            body = answer.json()
        except ValueError:
            raise DiscordUnavailable from None
        if not isinstance(body, dict | list):
            raise DiscordUnavailable
        return body

    def _bot(self) -> dict[str, str]:
        return {"Authorization": f"Bot {self._bot_token.get_secret_value()}"}

    async def _tier(self, member: dict[str, Any]) -> Tier:
        """The bot's rule over the member's roles (names read with the bot token when the Pro role is a name)."""
        try:
            role_ids = [int(r) for r in member.get("roles") or []]
        except (TypeError, ValueError):
            raise DiscordUnavailable("bad roles") from None
        names = await self._role_names() if not self._discord.pro_role.strip().isdigit() else {}
        return access.tier_for_roles([(rid, names.get(rid, "")) for rid in role_ids], self._discord)

    async def _role_names(self) -> dict[int, str]:
        if time.monotonic() - self._roles_at < ROLES_CACHE_SECONDS:
            return self._roles
        roles = await self._get(f"guilds/{self.guild_id}/roles", self._bot(), what="the server's roles")
        try:
            self._roles = {int(r["id"]): str(r.get("name", "")) for r in roles}
        except (KeyError, TypeError, ValueError):
            raise DiscordUnavailable("bad roles") from None
        self._roles_at = time.monotonic()
        return self._roles

    # ------------------------------------------------------------------ the re-check

    async def recheck(self, member: Member, request: web.Request) -> Member | None:
        """The member with their tier re-read if the last check is older than `web.tier_recheck_seconds`
        (None: they left the server). Discord not answering keeps the last tier, never a higher one."""
        now = self._web_ctx.ctx.clock()
        if member.guild_id != self.guild_id:
            request[REFRESHED] = None  # a session from another server's configuration
            return None
        if now.timestamp() - member.checked_at < self._web_ctx.settings.web.tier_recheck_seconds:
            return member
        retry_at = self._retry_at.get(member.user_id)
        if retry_at is not None and now < retry_at:
            return member
        task = self._inflight.get(member.user_id)
        if task is None:  # one re-check per member at a time, however many requests arrive together
            task = asyncio.ensure_future(self._reread(member.user_id))
            self._inflight[member.user_id] = task
            task.add_done_callback(lambda _t, uid=member.user_id: self._inflight.pop(uid, None))
        try:
            tier = await asyncio.shield(task)
        except DiscordUnavailable:
            self._retry_at[member.user_id] = now + RETRY_AFTER_FAILURE
            return member  # the last check's tier until Discord answers again
        self._retry_at.pop(member.user_id, None)
        ctx = self._web_ctx.ctx
        if tier is None:
            log.info("member %s is no longer in the server: signed out of the dashboard", member.user_id)
            await web_sessions.end(ctx, member.session)
            request[REFRESHED] = None
            return None
        # a changed tier is a new session: cookies copied before the change no longer open anything
        session = await web_sessions.recheck(ctx, member.session, member.user_id, tier, utc_now())
        if session is None:  # signed out meanwhile (in another tab)
            request[REFRESHED] = None
            return None
        refreshed = self._web_ctx.sessions.rechecked(member, tier, now, session)  # this session's own csrf kept
        request[REFRESHED] = refreshed
        return refreshed

    async def _reread(self, user_id: int) -> Tier | None:
        """The member's tier from their roles now (None: not in the server), read with the bot's token."""
        path = f"guilds/{self.guild_id}/members/{user_id}"
        data = await self._get(path, self._bot(), what="a member's roles", missing=True)
        if data is None:
            return None
        if not isinstance(data, dict):
            raise DiscordUnavailable
        return await self._tier(data)


def _copy_cookies(source: web.StreamResponse, target: web.StreamResponse) -> None:
    for cookie in source.cookies.values():
        target.cookies[cookie.key] = cookie


class _Refused(Exception):
    """Discord refused the code (expired, reused, not ours): the member starts again."""


@web.middleware
async def refresh_session(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Write the cookie of a member whose roles were re-read during this request (or clear it)."""
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        _write_refreshed(request, exc)
        raise
    _write_refreshed(request, response)
    return response


def _write_refreshed(request: web.Request, response: web.StreamResponse) -> None:
    if REFRESHED not in request or response.prepared:
        return
    member = request[REFRESHED]
    sessions = web_context(request).sessions
    if COOKIE in response.cookies:
        return  # the handler itself signed in or out: its cookie wins
    if member is None:
        sessions.clear(response)
    else:
        sessions.write(response, member)


def install(app: web.Application, web_ctx: WebContext) -> DiscordAuth | None:
    """Sign in with Discord when an OAuth client is configured: its routes, the cookie refresh, cleanup."""
    if not web_ctx.settings.discord.oauth_client_id:
        return None
    auth = DiscordAuth(web_ctx)
    web_ctx.auth = auth
    app.middlewares.append(refresh_session)
    app.on_cleanup.append(auth.close)

    async def start(request: web.Request) -> web.StreamResponse:
        return await web_context(request).auth.start(request)

    async def callback(request: web.Request) -> web.StreamResponse:
        return await web_context(request).auth.callback(request)

    app.router.add_get("/auth/discord", start)
    app.router.add_get(CALLBACK_PATH, callback)
    return auth
