"""Sign in with Discord: OAuth2 authorization code with `state` (authlib's client), and the periodic re-check
of the tier (ours).

`GET /auth/discord?next=/path` sends the browser to Discord's authorize page (scopes `identify`, to know
who the member is, and `guilds.members.read`, to read their roles in the configured server) with a
random `state` remembered in a short-lived signed cookie; Discord sends the browser back to
`GET /auth/callback?code&state`. The state must be the one this browser was given (else nothing is
signed in: a login-CSRF defence). The code is exchanged for an access token (server to server, the
client secret in HTTP basic auth, as Discord documents it), the token reads the member and their roles,
the tier comes from the same rule as the bot's (`access.tier_for_roles`: the Pro role, which Stripe
billing grants and takes away), and the token is then dropped: it is never in a URL, a log line or the
cookie, nor kept on the client.

The OAuth2 client is authlib's `AsyncOAuth2Client` (the authorization URL, the code exchange and its error
answers); what is Stratum's stays here: the signed state cookie (`web.session`), where the browser may go
afterwards (`web.redirect.safe_next`), the role and tier check, and its re-check.

A signed-in member's roles are read again after `web.tier_recheck_seconds` with the bot's token
(`GET /guilds/{guild}/members/{user}`): a member who left the server is signed out; a changed tier ends
the member's sessions of the old tier on the server and gives this browser a new one
(`services.web_sessions`); if Discord does not answer, the tier of the last check is kept (never raised)
and the check is tried again shortly. `RefreshSession` writes the re-checked cookie on whatever the
request is answered with.
"""

from __future__ import annotations

import asyncio
import logging
import time
import warnings
from datetime import datetime, timedelta
from typing import Any

import httpx
from fastapi import APIRouter
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import access
from access import Tier
from config.settings import ConfigError
from engine.clock import utc_now
from services import web_sessions
from web.context import GET, WebContext
from web.members import signed_in
from web.redirect import safe_next, see_other
from web.session import COOKIE, Member, Sessions, new_csrf
from web.templating import render

with warnings.catch_warnings():
    # authlib 1.9 prefers the `httpx2` fork and, on plain httpx (this project's HTTP client everywhere),
    # warns once at import that the fallback is deprecated: nothing a member or an operator can act on.
    from authlib import deprecate

    warnings.filterwarnings("ignore", "The httpx module is deprecated", deprecate.AuthlibDeprecationWarning)
    from authlib.integrations.base_client import OAuthError
    from authlib.integrations.httpx_client import AsyncOAuth2Client

log = logging.getLogger(__name__)

SCOPES = "identify guilds.members.read"
CALLBACK_PATH = "/auth/callback"
#: The member a role re-check produced for this request (None: signed out), in the request's state; written
#: back as the session cookie by `RefreshSession`.
REFRESHED = "stratum_refreshed"
ROLES_CACHE_SECONDS = 300.0  # the guild's role names (only needed when the Pro role is configured by name)
RETRY_AFTER_FAILURE = timedelta(seconds=30)  # Discord did not answer a re-check: try again after this
TIMEOUT = httpx.Timeout(10.0)


class _OAuthClient(AsyncOAuth2Client):
    """authlib's client, one per web app and shared by every sign-in: a token it fetches is returned to the
    sign-in that asked for it and never kept on the client (each is used once and dropped)."""

    def parse_response_token(self, resp: httpx.Response) -> Any:
        token = super().parse_response_token(resp)
        self.token = None
        return token


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
        self._bot_token = discord.token
        self.guild_id = discord.guild_id
        self._api = discord.api_base.rstrip("/")
        self._http = _OAuthClient(
            client_id=discord.oauth_client_id,
            client_secret=discord.oauth_client_secret.get_secret_value(),
            token_endpoint_auth_method="client_secret_basic",  # noqa: S106 - a method's name: Discord documents HTTP basic
            scope=SCOPES,
            timeout=TIMEOUT,
            follow_redirects=False,
        )
        self._roles: dict[int, str] = {}
        self._roles_at = -ROLES_CACHE_SECONDS
        self._retry_at: dict[int, datetime] = {}  # user id -> when a failed re-check may be tried again
        self._inflight: dict[int, asyncio.Task[Tier | None]] = {}

    async def close(self) -> None:
        await self._http.aclose()

    # ------------------------------------------------------------------ the sign-in

    def redirect_uri(self, request: Request) -> str:
        """`<web.public_url>/auth/callback`; with no public URL, this server's own loopback address."""
        settings = self._web_ctx.settings.web
        origin = settings.public_url.rstrip("/")
        if not origin:
            host = settings.host
            server = request.scope.get("server")  # the address and port this server listens on
            port = server[1] if server else settings.port
            if host in ("", "0.0.0.0", "::"):  # noqa: S104 (bound everywhere: the address the browser used)
                origin = f"http://{request.url.netloc}"
            else:
                origin = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
        return origin + CALLBACK_PATH

    async def start(self, request: Request) -> Response:
        """Off to Discord's authorize page, with a fresh `state` (and where to come back to) in a cookie."""
        response = Response(status_code=302)
        state = self._web_ctx.sessions.new_state(response, safe_next(request.query_params.get("next")))
        url, _ = self._http.create_authorization_url(
            self._discord.oauth_authorize_url, state=state, redirect_uri=self.redirect_uri(request), prompt="none"
        )
        response.headers["Location"] = url
        return response

    async def callback(self, request: Request) -> Response:
        sessions = self._web_ctx.sessions
        query = request.query_params
        then = sessions.take_state(request, query.get("state", ""))
        if then is None:
            return await self._page(request, 400, "This sign-in link has expired or did not start here.")
        if "error" in query:  # the member declined, or Discord refused the request
            log.info("Discord sign-in not completed: %s", _plain(query.get("error", "")))
            return await self._page(request, 400, "Sign-in with Discord was cancelled.")
        code = query.get("code", "")
        if not code:
            return await self._page(request, 400, "Discord did not send a sign-in code.")
        try:
            member = await self._sign_in(code, self.redirect_uri(request))
        except NotAMember:
            return await self._page(
                request, 403, "Join the server first: only its members can sign in to the dashboard."
            )
        except _Refused:
            return await self._page(request, 400, "This sign-in link has expired or was already used.")
        except DiscordUnavailable:
            return await self._page(request, 502, "Discord did not answer. Please try again in a moment.")
        response = see_other(then)
        sessions.forget_state(response)
        sessions.write(response, member)
        log.info("member %s signed in to the dashboard (%s)", member.user_id, member.tier.value)
        return response

    async def _page(self, request: Request, status: int, message: str) -> Response:
        member = await signed_in(request)  # whoever was signed in before stays so
        response = render(request, "auth_error.html", member=member, status=status, message=message)
        self._web_ctx.sessions.forget_state(response)  # a state is good for one callback only
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
        """The code for an access token at `{api_base}/oauth2/token` (authlib: the form, basic auth, the
        error answer read as OAuth2's `error`). Discord refusing the code is `_Refused`; not answering, a
        5xx or anything but a bearer token with the scopes asked for is `DiscordUnavailable`."""
        try:
            body = await self._http.fetch_token(f"{self._api}/oauth2/token", code=code, redirect_uri=redirect_uri)
        except OAuthError as exc:  # invalid_grant (expired, reused, not ours), invalid_client (a rotated secret)
            log.info("Discord refused a sign-in code (%s)", _plain(str(exc.error)))
            raise _Refused from None
        except httpx.HTTPStatusError as exc:
            log.warning("Discord's token endpoint answered HTTP %s", exc.response.status_code)
            raise DiscordUnavailable from None
        except httpx.HTTPError as exc:
            log.warning("Discord's token endpoint did not answer: %s", type(exc).__name__)
            raise DiscordUnavailable from None
        except ValueError:  # a body that is not a JSON object
            log.warning("Discord's token endpoint sent an unexpected answer")
            raise DiscordUnavailable from None
        token = body.get("access_token")
        if not isinstance(token, str) or not token or str(body.get("token_type", "")).lower() != "bearer":
            log.warning("Discord's token endpoint sent an unexpected answer")
            raise DiscordUnavailable
        granted = set(str(body.get("scope", SCOPES)).split())
        if not set(SCOPES.split()) <= granted:
            log.info("Discord granted fewer scopes than asked for")
            raise _Refused
        return token

    async def _get(self, path: str, headers: dict[str, str], *, what: str, missing: bool = False) -> Any:
        """`GET {api_base}/{path}`: the JSON body, None for a 404 when `missing` is allowed. `headers` say whose
        request it is (a member's Bearer token or the bot's): the OAuth client's own token is never used."""
        try:
            answer = await self._http.request("GET", f"{self._api}/{path}", headers=headers, withhold_token=True)
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

    async def recheck(self, member: Member, request: Request) -> Member | None:
        """The member with their tier re-read if the last check is older than `web.tier_recheck_seconds`
        (None: they left the server). Discord not answering keeps the last tier, never a higher one."""
        now = self._web_ctx.ctx.clock()
        if member.guild_id != self.guild_id:
            setattr(request.state, REFRESHED, None)  # a session from another server's configuration
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
            setattr(request.state, REFRESHED, None)
            return None
        # a changed tier is a new session: cookies copied before the change no longer open anything
        session = await web_sessions.recheck(ctx, member.session, member.user_id, tier, utc_now())
        if session is None:  # signed out meanwhile (in another tab)
            setattr(request.state, REFRESHED, None)
            return None
        refreshed = self._web_ctx.sessions.rechecked(member, tier, now, session)  # this session's own csrf kept
        setattr(request.state, REFRESHED, refreshed)
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


def _plain(code: str) -> str:
    """An OAuth2 error code as it may go in a log line: short, letters, digits and `_` only."""
    return "".join(c for c in code[:40] if c.isalnum() or c == "_")


class _Refused(Exception):
    """Discord refused the code (expired, reused, not ours): the member starts again."""


class RefreshSession:
    """ASGI middleware: the cookie of a member whose roles were re-read during this request is written (or
    cleared, when they were signed out) on whatever the request is answered with, a page, a redirect, an
    error page or a stream, unless the handler itself signed in or out (its cookie wins)."""

    def __init__(self, app: ASGIApp, sessions: Sessions) -> None:
        self.app = app
        self.sessions = sessions

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_cookie(message: Message) -> None:
            state = scope.get("state") or {}
            if message["type"] == "http.response.start" and REFRESHED in state:
                self._write(MutableHeaders(scope=message), state[REFRESHED])
            await send(message)

        await self.app(scope, receive, with_cookie)

    def _write(self, headers: MutableHeaders, member: Member | None) -> None:
        if any(value.startswith(f"{COOKIE}=") for value in headers.getlist("set-cookie")):
            return
        carrier = Response()
        if member is None:
            self.sessions.clear(carrier)
        else:
            self.sessions.write(carrier, member)
        for value in carrier.headers.getlist("set-cookie"):
            headers.append("set-cookie", value)


def router(auth: DiscordAuth) -> APIRouter:
    """Sign in with Discord's two routes."""
    routes = APIRouter(include_in_schema=False)

    @routes.api_route("/auth/discord", methods=GET)
    async def start(request: Request) -> Response:
        return await auth.start(request)

    @routes.api_route(CALLBACK_PATH, methods=GET)
    async def callback(request: Request) -> Response:
        return await auth.callback(request)

    return routes


def discord_sign_in(web_ctx: WebContext) -> DiscordAuth | None:
    """Sign in with Discord when an OAuth client is configured (a configuration missing what it needs is a
    `ConfigError` at startup)."""
    if not web_ctx.settings.discord.oauth_client_id:
        return None
    return DiscordAuth(web_ctx)
