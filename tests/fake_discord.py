"""A small fake Discord (REST + gateway) on 127.0.0.1 that the *real* discord.py talks to.

Why: the bot's behaviour lives in discord.py's parsing of Discord payloads (member roles, permissions,
interaction responses, multipart files, allowed mentions). Mocking discord.py objects would test our
mocks; this server instead speaks the wire protocol, so the library builds its own Guild, Member and
Interaction objects exactly as it does in production, and every request the bot makes is recorded.

Scope is what Stratum uses: one guild, text channels, DMs, slash commands (with groups, typed
options, autocomplete), buttons, interaction callbacks / followups / edits, channel messages, member
role changes. Anything else the bot calls answers 404 and lands in :attr:`FakeDiscord.unhandled`.

It is also Discord's OAuth2 for the dashboard's Sign in with Discord: ``GET /oauth2/authorize`` sends the
browser straight back with a one-time code for :attr:`FakeDiscord.oauth_user_id`, ``POST /api/v10/oauth2/token``
exchanges it (client id and secret in basic auth, the same registered ``redirect_uri``), and a Bearer token
reads ``/users/@me`` and ``/users/@me/guilds/{guild}/member``. :meth:`FakeDiscord.listening` runs the
server without patching discord.py; point ``discord.api_base`` / ``discord.oauth_authorize_url`` at it.

discord.py 2.7.1 facts this relies on (read from its source):

* REST base is the class attribute ``discord.http.Route.BASE``; the webhook/interaction adapter uses the
  same ``Route`` class, so one patch covers both.
* A plain ``Client``/``Bot`` never calls ``GET /gateway``: it connects straight to
  ``DiscordWebSocket.DEFAULT_GATEWAY`` with ``?v=10&encoding=json&compress=zlib-stream`` (there is no
  public switch to turn compression off). We honour ``zlib-stream`` (one shared zlib stream, each
  message flushed with ``Z_SYNC_FLUSH``); discord.py also accepts plain TEXT frames, which we use
  when no (or an unsupported) compression is requested.
* ``Client`` waits ``guild_ready_timeout`` (2 s by default) after the last GUILD_CREATE before READY
  fires; :func:`running_bot` lowers it so tests stay fast.
* A 429 is only treated as a rate limit when the response carries a ``Via`` header (otherwise
  discord.py assumes a Cloudflare ban and raises), so the fake sends one.
* ``json_or_text`` only decodes a body whose Content-Type is exactly ``application/json`` (no charset).
* Interaction callbacks are posted with ``?with_response=1`` and discord.py binds a sent View to
  ``interaction.response_message_id`` from the JSON body, so the body must carry it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import itertools
import json
import re
import secrets
import time
import zlib
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urlencode

import discord
import pytest
import yarl
from aiohttp import BodyPartReader, WSMsgType, web
from discord.ext import commands

__all__ = [
    "FakeDiscord",
    "FakeMember",
    "InteractionRecord",
    "InteractionResponse",
    "RoleChange",
    "SentFile",
    "running_bot",
]

T = TypeVar("T")

DISCORD_EPOCH_MS = 1420070400000
FAKE_TOKEN = "fake-token"
FAKE_OAUTH_SECRET = "fake-oauth-client-secret"
OAUTH_SCOPES = frozenset({"identify", "guilds.members.read"})
EPHEMERAL = 64
LOADING = 128
INTENT_GUILD_MEMBERS = 1 << 1

# Option types of application commands (Discord API numbering).
OPT_SUB_COMMAND = 1
OPT_SUB_COMMAND_GROUP = 2
OPT_STRING = 3
OPT_INTEGER = 4
OPT_BOOLEAN = 5
OPT_USER = 6
OPT_CHANNEL = 7
OPT_ROLE = 8
OPT_MENTIONABLE = 9
OPT_NUMBER = 10

_P = discord.Permissions
EVERYONE_PERMISSIONS = _P(
    view_channel=True,
    send_messages=True,
    read_message_history=True,
    embed_links=True,
    attach_files=True,
    add_reactions=True,
    use_application_commands=True,
    use_external_emojis=True,
    create_public_threads=True,
    send_messages_in_threads=True,
    change_nickname=True,
    connect=True,
    speak=True,
).value
MODERATOR_PERMISSIONS = _P(manage_guild=True, manage_roles=True, manage_messages=True, kick_members=True).value
BOT_PERMISSIONS = _P(
    view_channel=True,
    send_messages=True,
    read_message_history=True,
    embed_links=True,
    attach_files=True,
    manage_roles=True,
    mention_everyone=True,
    use_application_commands=True,
).value
VIEW_CHANNEL = _P(view_channel=True).value
#: What the bot's role is allowed in a private channel it posts alerts to.
BOT_CHANNEL_PERMISSIONS = _P(view_channel=True, send_messages=True, embed_links=True, read_message_history=True).value
OVERWRITE_ROLE = 0
OVERWRITE_MEMBER = 1


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()


@dataclass
class FakeMember:
    """A guild member the fake knows about. ``role_ids`` excludes @everyone (as Discord does)."""

    id: int
    name: str
    role_ids: list[int] = field(default_factory=list)
    nick: str | None = None
    bot: bool = False
    joined_at: str = "2024-01-01T00:00:00+00:00"

    def user_payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "username": self.name,
            "global_name": self.name,
            "discriminator": "0",
            "avatar": None,
            "bot": self.bot,
            "public_flags": 0,
        }

    def member_payload(self, *, with_user: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "roles": [str(r) for r in self.role_ids],
            "joined_at": self.joined_at,
            "nick": self.nick,
            "avatar": None,
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "pending": False,
            "flags": 0,
            "communication_disabled_until": None,
        }
        if with_user:
            data["user"] = self.user_payload()
        return data


@dataclass(frozen=True)
class SentFile:
    """A file the bot uploaded (multipart ``files[n]`` part)."""

    filename: str
    data: bytes
    content_type: str | None = None
    field: str = ""


@dataclass(frozen=True)
class RoleChange:
    """One ``PUT``/``DELETE /guilds/{g}/members/{u}/roles/{r}`` the bot made."""

    action: str  # "add" | "remove"
    user_id: int
    role_id: int
    reason: str | None = None


@dataclass
class InteractionResponse:
    """One thing the bot sent back for an interaction.

    ``kind`` is ``"callback"`` (``type`` = 4 message, 5 deferred, 6 deferred update, 7 update message,
    8 autocomplete result, 9 modal), ``"followup"``, ``"edit"`` (PATCH of @original or a followup,
    ``message_id`` says which) or ``"delete"``.
    """

    kind: str
    payload: dict[str, Any]
    files: list[SentFile] = field(default_factory=list)
    type: int | None = None
    message_id: int | None = None

    @property
    def data(self) -> dict[str, Any]:
        """The message-ish part: ``payload["data"]`` for callbacks, the payload itself otherwise."""
        if self.kind == "callback":
            return self.payload.get("data") or {}
        return self.payload

    @property
    def content(self) -> str | None:
        return self.data.get("content")

    @property
    def embeds(self) -> list[dict[str, Any]]:
        return self.data.get("embeds") or []

    @property
    def components(self) -> list[dict[str, Any]]:
        return self.data.get("components") or []

    @property
    def flags(self) -> int:
        return int(self.data.get("flags") or 0)

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & EPHEMERAL)

    @property
    def allowed_mentions(self) -> dict[str, Any] | None:
        return self.data.get("allowed_mentions")

    @property
    def attachments(self) -> list[SentFile]:
        return self.files

    @property
    def choices(self) -> list[dict[str, Any]]:
        """Autocomplete choices (callback type 8)."""
        return self.data.get("choices") or []


class _Waitable:
    """Lets tests await "something changed" without polling sleeps."""

    def __init__(self) -> None:
        self._changed = asyncio.Event()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def _wait(self, check: Callable[[], T | None], within: float, what: str) -> T:
        try:
            async with asyncio.timeout(within):
                while True:
                    result = check()
                    if result is not None and result is not False:
                        return result
                    await self._changed.wait()
        except TimeoutError:
            raise TimeoutError(f"timed out after {within}s waiting for {what}") from None


class InteractionRecord(_Waitable):
    """Everything the bot answered for one injected interaction, in order."""

    def __init__(self, fake: FakeDiscord, payload: dict[str, Any]) -> None:
        super().__init__()
        self._fake = fake
        self.payload = payload
        self.id = int(payload["id"])
        self.token: str = payload["token"]
        self.type: int = payload["type"]
        self.responses: list[InteractionResponse] = []
        # The message that "@original" points to (response message, or the clicked message).
        self.original_message_id: int | None = None
        if payload.get("message"):
            self.original_message_id = int(payload["message"]["id"])

    def __repr__(self) -> str:
        return f"<InteractionRecord id={self.id} type={self.type} responses={len(self.responses)}>"

    def _add(self, response: InteractionResponse) -> None:
        self.responses.append(response)
        self._notify()
        self._fake._notify()

    @property
    def callback(self) -> InteractionResponse | None:
        return next((r for r in self.responses if r.kind == "callback"), None)

    @property
    def followups(self) -> list[InteractionResponse]:
        return [r for r in self.responses if r.kind == "followup"]

    @property
    def edits(self) -> list[InteractionResponse]:
        return [r for r in self.responses if r.kind == "edit"]

    @property
    def original(self) -> dict[str, Any] | None:
        """Current state of the @original message (after edits), as a Discord message object."""
        if self.original_message_id is None:
            return None
        return self._fake.messages.get(self.original_message_id)

    async def response(self, within: float = 5.0) -> InteractionResponse:
        """Wait for the initial callback (the bot must ack within 3 s on real Discord)."""
        return await self._wait(lambda: self.callback, within, f"a callback to interaction {self.id}")

    async def wait_followups(self, count: int = 1, within: float = 5.0) -> list[InteractionResponse]:
        def check() -> list[InteractionResponse] | None:
            found = self.followups
            return found if len(found) >= count else None

        return await self._wait(check, within, f"{count} followup(s) to interaction {self.id}")

    async def wait_edits(self, count: int = 1, within: float = 5.0) -> list[InteractionResponse]:
        def check() -> list[InteractionResponse] | None:
            found = self.edits
            return found if len(found) >= count else None

        return await self._wait(check, within, f"{count} edit(s) to interaction {self.id}")

    async def wait_for(
        self, predicate: Callable[[InteractionRecord], Any], within: float = 5.0
    ) -> InteractionResponse | None:
        """Wait until ``predicate(record)`` is truthy; returns the latest response."""
        await self._wait(lambda: bool(predicate(self)) or None, within, f"predicate on interaction {self.id}")
        return self.responses[-1] if self.responses else None


@dataclass
class _Route:
    method: str
    pattern: re.Pattern[str]
    handler: Callable[..., Awaitable[web.StreamResponse]]


class _GatewayConnection:
    """One websocket session; serialises sends so zlib chunks go out in compression order."""

    def __init__(self, ws: web.WebSocketResponse, compress: str | None) -> None:
        self.ws = ws
        self.compress = compress
        self._zlib = zlib.compressobj() if compress == "zlib-stream" else None
        self._lock = asyncio.Lock()
        self.seq = 0
        self.identified = asyncio.Event()

    async def send(self, payload: dict[str, Any]) -> None:
        async with self._lock:
            if payload.get("op") == 0:
                self.seq += 1
                payload["s"] = self.seq
            text = json.dumps(payload)
            if self._zlib is not None:
                data = self._zlib.compress(text.encode()) + self._zlib.flush(zlib.Z_SYNC_FLUSH)
                await self.ws.send_bytes(data)
            else:
                await self.ws.send_str(text)


class FakeDiscord(_Waitable):
    """Fake Discord API + gateway for one guild, bound to 127.0.0.1 on a free port.

    Recorded state (all keyed by int ids):
      ``channel_messages[channel_id]`` payload dicts the bot posted (``files`` key: list[SentFile],
      ``message`` key: the message object returned, incl. the effective ``mention_roles``/``mentions``);
      ``dms[user_id]`` the same for DM channels; ``role_changes``; ``commands`` (name -> synced
      definition); ``interactions`` (id -> record); ``unhandled`` ("METHOD /path" strings);
      ``requests`` (every REST call as "METHOD /path").
    """

    DEFAULT_GUILD_ID = 1100000000000000001
    BOT_ID = 1100000000000000100
    PRO_ROLE_ID = 1100000000000000201
    MOD_ROLE_ID = 1100000000000000202
    BOT_ROLE_ID = 1100000000000000299
    COMMUNITY_USER_ID = 1100000000000000301
    PRO_USER_ID = 1100000000000000302
    MOD_USER_ID = 1100000000000000303
    OWNER_ID = 1100000000000000399

    def __init__(
        self,
        *,
        guild_id: int = DEFAULT_GUILD_ID,
        guild_name: str = "Stratum Test",
        roles: Mapping[str, int] | None = None,
        role_permissions: Mapping[str, int] | None = None,
        members: Iterable[FakeMember] | None = None,
        channels: Mapping[str, int] | None = None,
        bot_id: int = BOT_ID,
        bot_name: str = "Stratum",
        owner_id: int = OWNER_ID,
    ) -> None:
        super().__init__()
        self.guild_id = guild_id
        self.guild_name = guild_name
        self.owner_id = owner_id
        self.bot_user = FakeMember(bot_id, bot_name, [], bot=True)
        self.application_id = bot_id  # real bots: application id == bot user id
        self.roles: dict[str, int] = dict(
            roles if roles is not None else {"Pro": self.PRO_ROLE_ID, "Moderator": self.MOD_ROLE_ID}
        )
        perms = {"Moderator": MODERATOR_PERMISSIONS}
        perms.update(role_permissions or {})
        self.role_payloads: dict[int, dict[str, Any]] = {
            guild_id: self._role_payload(guild_id, "@everyone", EVERYONE_PERMISSIONS, 0)
        }
        for position, (name, rid) in enumerate(self.roles.items(), start=1):
            self.role_payloads[rid] = self._role_payload(rid, name, perms.get(name, 0), position)
        self.bot_role_id = self.BOT_ROLE_ID
        bot_role = self._role_payload(self.bot_role_id, bot_name, BOT_PERMISSIONS, len(self.roles) + 1)
        bot_role["managed"] = True
        bot_role["tags"] = {"bot_id": str(bot_id)}
        self.role_payloads[self.bot_role_id] = bot_role
        self.bot_user.role_ids = [self.bot_role_id]

        if members is None:
            members = [
                FakeMember(self.COMMUNITY_USER_ID, "community-user", []),
                FakeMember(self.PRO_USER_ID, "pro-user", [self.roles["Pro"]] if "Pro" in self.roles else []),
                FakeMember(
                    self.MOD_USER_ID,
                    "mod-user",
                    [self.roles["Moderator"]] if "Moderator" in self.roles else [],
                ),
            ]
        self.members: dict[int, FakeMember] = {m.id: m for m in members}
        self.members[bot_id] = self.bot_user
        self.channels: dict[str, int] = dict(
            channels
            if channels is not None
            else {
                "steam-alerts": 1100000000000000401,
                "general": 1100000000000000402,
                "mod-log": 1100000000000000403,
            }
        )
        self._channel_names = {cid: name for name, cid in self.channels.items()}
        self._channel_guilds: dict[int, int] = {}  # channels of other servers (`join_guild`) -> their guild
        self.joined_guilds: dict[int, dict[str, Any]] = {}  # guild id -> the GUILD_CREATE body sent
        self._other_users: dict[int, FakeMember] = {}  # members of joined servers (owners), for GET /users
        # Each channel's permission overwrites as Discord sends them (``set_channel_overwrites`` changes them
        # and tells the bot). The alert channel is Pro-only: @everyone denied View Channel, Pro and the bot
        # allowed; every other channel is public.
        self.channel_overwrites: dict[int, list[dict[str, Any]]] = {}
        if "steam-alerts" in self.channels:
            private = [self.overwrite(self.guild_id, deny=VIEW_CHANNEL)]
            if "Pro" in self.roles:
                private.append(self.overwrite(self.roles["Pro"], allow=VIEW_CHANNEL))
            private.append(self.overwrite(self.bot_role_id, allow=BOT_CHANNEL_PERMISSIONS))
            self.channel_overwrites[self.channels["steam-alerts"]] = private

        # Recorded state.
        self.channel_messages: defaultdict[int, list[dict[str, Any]]] = defaultdict(list)
        self.dms: defaultdict[int, list[dict[str, Any]]] = defaultdict(list)
        self.role_changes: list[RoleChange] = []
        self.global_commands: list[dict[str, Any]] = []
        self.guild_commands: defaultdict[int, list[dict[str, Any]]] = defaultdict(list)
        self.interactions: dict[int, InteractionRecord] = {}
        self.messages: dict[int, dict[str, Any]] = {}
        self.unhandled: list[str] = []
        self.requests: list[str] = []
        self.rate_limited: list[str] = []
        self.identify_payloads: list[dict[str, Any]] = []
        self.gateway_queries: list[dict[str, str]] = []
        self.gateway_received: list[dict[str, Any]] = []

        # OAuth2 (the dashboard's Sign in with Discord). ``oauth_user_id`` is who "signs in" at the authorize
        # page (None: the user declines); redirect URIs must be registered, as in the Developer Portal.
        self.oauth_client_id = str(bot_id)
        self.oauth_client_secret = FAKE_OAUTH_SECRET
        self.oauth_redirect_uris: list[str] = []
        self.oauth_user_id: int | None = self.PRO_USER_ID
        self.oauth_codes: dict[str, tuple[int, str, frozenset[str]]] = {}  # code -> user, redirect_uri, scopes
        self.oauth_tokens: dict[str, tuple[int, frozenset[str]]] = {}  # access token -> user, scopes
        self.oauth_refusals: list[str] = []  # why the authorize or token endpoint said no
        self.urls: list[str] = []  # every request as "METHOD /path?query" (the authorize page's too)
        self.authorizations: list[tuple[str, str]] = []  # ("METHOD /path", Authorization header) of REST calls

        # Failure injection.
        self.bot_token = FAKE_TOKEN  # the login (GET /users/@me) with any other bot token answers 401, as Discord does
        # Privileged intents switched off in the Developer Portal: an IDENTIFY asking for one is closed with
        # 4014 (Disallowed intent(s)), as Discord does.
        self.disabled_intents = 0
        self.forbidden_channels: set[int] = set()
        self._failures: list[tuple[str, str, int]] = []  # (method, path prefix, status) answered once
        self.closed_dms: set[int] = set()  # user ids whose DMs answer 403 50007
        self._rate_limits: list[tuple[str, str, float, bool]] = []

        self._dm_channels: dict[int, int] = {}  # dm channel id -> user id
        self._dm_by_user: dict[int, int] = {}
        self._attachments: dict[int, SentFile] = {}
        self._counter = itertools.count(1)
        self._conn: _GatewayConnection | None = None
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._routes = self._build_routes()

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Listen on 127.0.0.1 with an OS-chosen port (never any other interface)."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("GET", "/gateway-ws/", self._gateway)
        app.router.add_route("GET", "/oauth2/authorize", self._oauth_authorize)
        app.router.add_route("*", "/{tail:.*}", self._dispatch_http)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None and server.sockets  # type: ignore[attr-defined]
        self._port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    async def stop(self) -> None:
        if self._conn is not None and not self._conn.ws.closed:
            await self._conn.ws.close(code=1001)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Point discord.py at this server (restored by ``monkeypatch`` at teardown)."""
        monkeypatch.setattr(discord.http.Route, "BASE", self.api_base)
        monkeypatch.setattr(discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(self.gateway_url))

    @contextlib.asynccontextmanager
    async def serve(self, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeDiscord]:
        """``start`` + ``install`` + ``stop`` in one block, for fixtures."""
        await self.start()
        self.install(monkeypatch)
        try:
            yield self
        finally:
            await self.stop()

    @contextlib.asynccontextmanager
    async def listening(self) -> AsyncIterator[FakeDiscord]:
        """``start`` + ``stop`` without patching discord.py: for the dashboard, which is pointed at
        :attr:`api_base` and :attr:`oauth_authorize_url` through its settings."""
        await self.start()
        try:
            yield self
        finally:
            await self.stop()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("FakeDiscord not started")
        return self._port

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v10"

    @property
    def oauth_authorize_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/oauth2/authorize"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway-ws/"

    @property
    def connected(self) -> bool:
        return self._conn is not None and self._conn.identified.is_set() and not self._conn.ws.closed

    @property
    def intents(self) -> int | None:
        """Intents from the latest IDENTIFY."""
        return self.identify_payloads[-1].get("intents") if self.identify_payloads else None

    # ------------------------------------------------------------------ ids and lookups

    def snowflake(self) -> int:
        """A fresh, time-ordered snowflake (so ``discord.utils.snowflake_time`` is sane)."""
        ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        return (ms << 22) | (next(self._counter) & 0x3FFFFF)

    def member(self, key: int | str) -> FakeMember:
        """A member by id or username."""
        if isinstance(key, int):
            return self.members[key]
        for m in self.members.values():
            if m.name == key:
                return m
        raise KeyError(key)

    def role_id(self, key: int | str) -> int:
        if isinstance(key, int):
            return key
        if key == "@everyone":
            return self.guild_id
        return self.roles[key] if key in self.roles else self._role_by_name(key)

    def _role_by_name(self, name: str) -> int:
        for rid, payload in self.role_payloads.items():
            if payload["name"] == name:
                return rid
        raise KeyError(name)

    def channel_id(self, key: int | str) -> int:
        if isinstance(key, int):
            return key
        return self.channels[key.lstrip("#")]

    def permissions_for(self, user_id: int) -> int:
        """Guild-level permissions: @everyone | member roles; administrator/owner means all."""
        if user_id == self.owner_id:
            return discord.Permissions.all().value
        value = self.role_payloads[self.guild_id]["permissions_int"]
        member = self.members.get(user_id)
        for rid in member.role_ids if member else []:
            value |= self.role_payloads[rid]["permissions_int"]
        if value & discord.Permissions(administrator=True).value:
            return discord.Permissions.all().value
        return value

    def _role_payload(self, rid: int, name: str, permissions: int, position: int) -> dict[str, Any]:
        return {
            "id": str(rid),
            "name": name,
            "permissions": str(permissions),
            "permissions_int": permissions,
            "position": position,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "managed": False,
            "mentionable": True,
            "icon": None,
            "unicode_emoji": None,
            "flags": 0,
        }

    def _public_role(self, rid: int) -> dict[str, Any]:
        return {k: v for k, v in self.role_payloads[rid].items() if k != "permissions_int"}

    def _channel_payload(self, cid: int, *, for_user: int | None = None) -> dict[str, Any]:
        if cid in self._dm_channels:
            return self._dm_payload(cid)
        data: dict[str, Any] = {
            "id": str(cid),
            "type": 0,
            "guild_id": str(self._channel_guilds.get(cid, self.guild_id)),
            "name": self._channel_names[cid],
            "position": list(self._channel_names).index(cid),
            "permission_overwrites": [],
            "parent_id": None,
            "topic": None,
            "nsfw": False,
            "rate_limit_per_user": 0,
            "last_message_id": None,
            "flags": 0,
        }
        data["permission_overwrites"] = [dict(o) for o in self.channel_overwrites.get(cid, [])]
        if for_user is not None:
            data["permissions"] = str(self.permissions_for(for_user))
        return data

    @staticmethod
    def overwrite(target_id: int, *, allow: int = 0, deny: int = 0, member: bool = False) -> dict[str, Any]:
        """One permission overwrite as Discord sends it (a role's unless ``member``)."""
        kind = OVERWRITE_MEMBER if member else OVERWRITE_ROLE
        return {"id": str(target_id), "type": kind, "allow": str(allow), "deny": str(deny)}

    async def set_channel_overwrites(self, channel: int | str, overwrites: Iterable[dict[str, Any]]) -> None:
        """Replace a channel's permission overwrites and, when a bot is connected, dispatch CHANNEL_UPDATE
        (a moderator editing the channel's permissions)."""
        cid = self.channel_id(channel)
        self.channel_overwrites[cid] = [dict(o) for o in overwrites]
        if self.connected:
            await self.dispatch("CHANNEL_UPDATE", self._channel_payload(cid))

    def _dm_payload(self, cid: int) -> dict[str, Any]:
        user_id = self._dm_channels[cid]
        user = self.members[user_id] if user_id in self.members else FakeMember(user_id, f"user-{user_id}")
        return {
            "id": str(cid),
            "type": 1,
            "recipients": [user.user_payload()],
            "last_message_id": None,
            "flags": 0,
        }

    def _member_with_permissions(self, member: FakeMember, *, with_user: bool = True) -> dict[str, Any]:
        data = member.member_payload(with_user=with_user)
        data["permissions"] = str(self.permissions_for(member.id))
        return data

    def guild_payload(self) -> dict[str, Any]:
        """The GUILD_CREATE body. Members are only sent with the GUILD_MEMBERS intent, as on Discord."""
        intents = self.intents
        if intents is None or intents & INTENT_GUILD_MEMBERS:
            members = list(self.members.values())
        else:
            members = [self.bot_user]
        return {
            "id": str(self.guild_id),
            "name": self.guild_name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(self.owner_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 1,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "premium_progress_bar_enabled": False,
            "preferred_locale": "en-US",
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "vanity_url_code": None,
            "application_id": None,
            "max_members": 500000,
            "features": [],
            "roles": [self._public_role(rid) for rid in self.role_payloads],
            "emojis": [],
            "stickers": [],
            "channels": [
                {k: v for k, v in self._channel_payload(cid).items() if k != "guild_id"}
                for cid in self.channels.values()
            ],
            "threads": [],
            "members": [m.member_payload() for m in members],
            "member_count": len(self.members),
            "large": False,
            "unavailable": False,
            "joined_at": self.bot_user.joined_at,
            "presences": [],
            "voice_states": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
        }

    # ------------------------------------------------------------------ gateway

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        self.gateway_queries.append(dict(request.query))
        compress = request.query.get("compress")
        conn = _GatewayConnection(ws, compress if compress == "zlib-stream" else None)
        self._conn = conn
        await conn.send({"op": 10, "d": {"heartbeat_interval": 45000}, "s": None, "t": None})
        try:
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    continue
                data = json.loads(msg.data)
                self.gateway_received.append(data)
                await self._on_gateway_message(conn, data)
        finally:
            if self._conn is conn:
                self._conn = None
        return ws

    async def _on_gateway_message(self, conn: _GatewayConnection, data: dict[str, Any]) -> None:
        op = data.get("op")
        if op == 1:  # HEARTBEAT
            await conn.send({"op": 11, "d": None, "s": None, "t": None})
        elif op == 2:  # IDENTIFY
            self.identify_payloads.append(data["d"])
            if data["d"].get("intents", 0) & self.disabled_intents:
                await conn.ws.close(code=4014, message=b"Disallowed intent(s).")
                return
            await conn.send({"op": 0, "t": "READY", "d": self._ready_payload()})
            await conn.send({"op": 0, "t": "GUILD_CREATE", "d": self.guild_payload()})
            conn.identified.set()
            self._notify()
        elif op == 6:  # RESUME: nothing was missed here, just confirm
            await conn.send({"op": 0, "t": "RESUMED", "d": {}})
            conn.identified.set()
        elif op == 8:  # REQUEST_GUILD_MEMBERS
            await self._send_member_chunk(conn, data["d"])

    def _ready_payload(self) -> dict[str, Any]:
        return {
            "v": 10,
            "user": {**self.bot_user.user_payload(), "verified": True, "mfa_enabled": False, "flags": 0},
            "guilds": [{"id": str(self.guild_id), "unavailable": True}],
            "session_id": f"fake-session-{self.snowflake()}",
            "resume_gateway_url": self.gateway_url,
            "application": {"id": str(self.application_id), "flags": 0},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "geo_ordered_rtc_regions": [],
        }

    async def _send_member_chunk(self, conn: _GatewayConnection, d: dict[str, Any]) -> None:
        members = list(self.members.values())
        if d.get("user_ids"):
            wanted = {int(u) for u in d["user_ids"]}
            members = [m for m in members if m.id in wanted]
        elif d.get("query"):
            members = [m for m in members if m.name.startswith(d["query"])]
        payload: dict[str, Any] = {
            "guild_id": str(self.guild_id),
            "members": [m.member_payload() for m in members],
            "chunk_index": 0,
            "chunk_count": 1,
        }
        if d.get("nonce"):
            payload["nonce"] = d["nonce"]
        await conn.send({"op": 0, "t": "GUILD_MEMBERS_CHUNK", "d": payload})

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send a DISPATCH (op 0) event with the next sequence number."""
        conn = self._conn
        if conn is None or conn.ws.closed:
            raise RuntimeError("no bot is connected to the fake gateway")
        await conn.identified.wait()
        await conn.send({"op": 0, "t": event, "d": data})

    async def add_member(self, member: FakeMember) -> None:
        """Add a member and tell the bot (GUILD_MEMBER_ADD), e.g. someone joining after a purchase."""
        self.members[member.id] = member
        if self.connected and (self.intents or 0) & INTENT_GUILD_MEMBERS:
            await self.dispatch("GUILD_MEMBER_ADD", {**member.member_payload(), "guild_id": str(self.guild_id)})

    async def join_guild(
        self,
        guild_id: int,
        *,
        owner: FakeMember,
        channels: Mapping[str, int] | None = None,
        system_channel: str | None = None,
        overwrites: Mapping[str, Iterable[dict[str, Any]]] | None = None,
        name: str = "New Server",
    ) -> dict[str, Any]:
        """Another server adds the bot: dispatch its GUILD_CREATE (after READY discord.py calls
        ``on_guild_join``). Its members are the owner and the bot (with its own managed role there), all
        sent, so discord.py needs no member chunk. Its channels (name -> id, with optional permission
        ``overwrites`` by channel name) are known to the REST side from then on: posts there land in
        ``channel_messages``. ``system_channel`` names the one Discord posts join messages in, or None."""
        channels = dict(channels or {})
        bot_role = self._role_payload(self.snowflake(), self.bot_user.name, BOT_PERMISSIONS, 1)
        bot_role["managed"] = True
        bot_role["tags"] = {"bot_id": str(self.bot_user.id)}
        everyone = self._role_payload(guild_id, "@everyone", EVERYONE_PERMISSIONS, 0)
        for channel_name, cid in channels.items():
            self._channel_names[cid] = channel_name
            self._channel_guilds[cid] = guild_id
            self.channel_overwrites[cid] = [dict(o) for o in (overwrites or {}).get(channel_name, [])]
        self._other_users[owner.id] = owner
        bot_member = {**self.bot_user.member_payload(), "roles": [bot_role["id"]]}
        payload = {
            **self.guild_payload(),
            "id": str(guild_id),
            "name": name,
            "owner_id": str(owner.id),
            "system_channel_id": str(channels[system_channel]) if system_channel else None,
            "roles": [{k: v for k, v in r.items() if k != "permissions_int"} for r in (everyone, bot_role)],
            "channels": [
                {k: v for k, v in self._channel_payload(cid).items() if k != "guild_id"} for cid in channels.values()
            ],
            "members": [bot_member, owner.member_payload()],
            "member_count": 2,
            "joined_at": _now_iso(),
        }
        # A join's GUILD_CREATE has no ``unavailable`` (discord.py reads ``False`` as an outage ending).
        payload.pop("unavailable")
        self.joined_guilds[guild_id] = payload
        await self.dispatch("GUILD_CREATE", payload)
        return payload

    # ------------------------------------------------------------------ interactions

    def _base_interaction(self, itype: int, user_id: int, channel: int | str | None) -> dict[str, Any]:
        cid = self.channel_id(channel) if channel is not None else next(iter(self.channels.values()))
        payload: dict[str, Any] = {
            "id": str(self.snowflake()),
            "application_id": str(self.application_id),
            "type": itype,
            "token": f"fake-token-{self.snowflake()}",
            "version": 1,
            "locale": "en-US",
            "entitlements": [],
            "attachment_size_limit": 10 * 1024 * 1024,
            "channel_id": str(cid),
            "channel": self._channel_payload(cid, for_user=user_id),
            "app_permissions": str(self.permissions_for(self.bot_user.id)),
        }
        if cid in self._dm_channels:
            user = self.members.get(user_id) or FakeMember(user_id, f"user-{user_id}")
            payload["user"] = user.user_payload()
            payload["context"] = 1
            payload["authorizing_integration_owners"] = {"1": str(user_id)}
        else:
            payload["guild_id"] = str(self.guild_id)
            payload["guild"] = {"id": str(self.guild_id), "locale": "en-US", "features": []}
            payload["guild_locale"] = "en-US"
            payload["member"] = self._member_with_permissions(self.member(user_id))
            payload["context"] = 0
            payload["authorizing_integration_owners"] = {"0": str(self.guild_id)}
        return payload

    @property
    def commands(self) -> dict[str, dict[str, Any]]:
        """Synced chat-input definitions by name (guild commands override global ones)."""
        found = {c["name"]: c for c in self.global_commands if c.get("type", 1) == 1}
        found.update({c["name"]: c for c in self.guild_commands[self.guild_id] if c.get("type", 1) == 1})
        return found

    def _command_data(
        self,
        name: str,
        subcommand: str | None,
        options: Mapping[str, Any] | None,
        focused: str | None,
    ) -> dict[str, Any]:
        path = name.split() + (subcommand.split() if subcommand else [])
        root, subs = path[0], path[1:]
        definition = self.commands.get(root)
        option_defs: list[dict[str, Any]] = definition.get("options", []) if definition else []
        for sub in subs:
            match = next((o for o in option_defs if o["name"] == sub), None)
            option_defs = match.get("options", []) if match else []
        types = {o["name"]: o["type"] for o in option_defs}
        if definition is not None:
            unknown = set(options or {}) - set(types)
            if unknown:
                raise ValueError(f"/{' '.join(path)} has no option(s) {sorted(unknown)}; known: {sorted(types)}")

        resolved: dict[str, dict[str, Any]] = {}
        leaf: list[dict[str, Any]] = []
        for opt_name, value in (options or {}).items():
            opt_type = types.get(opt_name) or self._infer_type(value)
            option: dict[str, Any] = {
                "name": opt_name,
                "type": opt_type,
                "value": self._option_value(opt_type, value, resolved, raw=opt_name == focused),
            }
            if opt_name == focused:
                option["focused"] = True
            leaf.append(option)

        nested: list[dict[str, Any]] = leaf
        for depth in range(len(subs) - 1, -1, -1):
            kind = OPT_SUB_COMMAND if depth == len(subs) - 1 else OPT_SUB_COMMAND_GROUP
            nested = [{"name": subs[depth], "type": kind, "options": nested}]

        data: dict[str, Any] = {
            "id": definition["id"] if definition else str(self.snowflake()),
            "name": root,
            "type": 1,
            "options": nested,
        }
        if definition and definition.get("guild_id"):
            data["guild_id"] = definition["guild_id"]
        if resolved:
            data["resolved"] = resolved
        return data

    @staticmethod
    def _infer_type(value: Any) -> int:
        if isinstance(value, bool):
            return OPT_BOOLEAN
        if isinstance(value, int):
            return OPT_INTEGER
        if isinstance(value, float):
            return OPT_NUMBER
        if isinstance(value, FakeMember):
            return OPT_USER
        return OPT_STRING

    def _option_value(self, opt_type: int, value: Any, resolved: dict[str, dict[str, Any]], *, raw: bool) -> Any:
        if raw:  # a focused autocomplete value is whatever the user has typed so far
            return value if isinstance(value, str) else str(value)
        if opt_type == OPT_STRING:
            return str(value)
        if opt_type == OPT_INTEGER:
            return int(value)
        if opt_type == OPT_NUMBER:
            return float(value)
        if opt_type == OPT_BOOLEAN:
            return bool(value)
        if opt_type == OPT_CHANNEL:
            cid = self.channel_id(value)
            entry = self._channel_payload(cid, for_user=self.bot_user.id)
            resolved.setdefault("channels", {})[str(cid)] = {
                k: entry[k] for k in ("id", "name", "type", "permissions", "parent_id", "guild_id") if k in entry
            }
            return str(cid)
        if opt_type == OPT_ROLE or (opt_type == OPT_MENTIONABLE and self._is_role(value)):
            rid = self.role_id(value)
            resolved.setdefault("roles", {})[str(rid)] = self._public_role(rid)
            return str(rid)
        if opt_type in (OPT_USER, OPT_MENTIONABLE):
            member = value if isinstance(value, FakeMember) else self.member(value)
            resolved.setdefault("users", {})[str(member.id)] = member.user_payload()
            if member.id in self.members:
                resolved.setdefault("members", {})[str(member.id)] = self._member_with_permissions(
                    member, with_user=False
                )
            return str(member.id)
        return value

    def _is_role(self, value: Any) -> bool:
        if isinstance(value, FakeMember):
            return False
        if isinstance(value, int):
            return value in self.role_payloads
        return value in self.roles or value == "@everyone"

    async def _inject(self, payload: dict[str, Any]) -> InteractionRecord:
        record = InteractionRecord(self, payload)
        self.interactions[record.id] = record
        await self.dispatch("INTERACTION_CREATE", payload)
        return record

    async def invoke_slash(
        self,
        name: str,
        options: Mapping[str, Any] | None = None,
        *,
        user_id: int | None = None,
        channel_id: int | str | None = None,
        subcommand: str | None = None,
    ) -> InteractionRecord:
        """Fire a chat-input command. ``name`` may hold the path ("watch add") or use ``subcommand``.

        Option types come from the synced definition when there is one (so ints for channel/user/role
        options work); values for channels/roles/users may also be names. Unsynced commands fall back
        to the Python type of each value.
        """
        uid = user_id if user_id is not None else self.COMMUNITY_USER_ID
        payload = self._base_interaction(2, uid, channel_id)
        payload["data"] = self._command_data(name, subcommand, options, None)
        return await self._inject(payload)

    async def invoke_autocomplete(
        self,
        name: str,
        options: Mapping[str, Any] | None = None,
        *,
        focused: str | None = None,
        user_id: int | None = None,
        channel_id: int | str | None = None,
        subcommand: str | None = None,
    ) -> InteractionRecord:
        """Fire an autocomplete request (type 4); ``focused`` defaults to the last option given."""
        opts = dict(options or {})
        if focused is None and opts:
            focused = list(opts)[-1]
        uid = user_id if user_id is not None else self.COMMUNITY_USER_ID
        payload = self._base_interaction(4, uid, channel_id)
        payload["data"] = self._command_data(name, subcommand, opts, focused)
        return await self._inject(payload)

    async def invoke_component(
        self,
        custom_id: str,
        message_id: int,
        *,
        user_id: int | None = None,
        component_type: int = 2,
        values: list[str] | None = None,
        channel_id: int | str | None = None,
    ) -> InteractionRecord:
        """Click a button (or pick select ``values``) on a message the bot sent."""
        message = self.messages.get(message_id)
        if channel_id is None and message is not None:
            channel_id = int(message["channel_id"])
        uid = user_id if user_id is not None else self.COMMUNITY_USER_ID
        payload = self._base_interaction(3, uid, channel_id)
        if message is None:
            message = self._make_message(int(payload["channel_id"]), {}, [], message_id=message_id)
        payload["message"] = message
        payload["data"] = {"custom_id": custom_id, "component_type": component_type}
        if values is not None:
            payload["data"]["values"] = values
        return await self._inject(payload)

    def find_custom_id(self, message_id: int, label: str | None = None) -> str:
        """The custom_id of a button on a stored message (first one, or the one with ``label``)."""
        for row in self.messages[message_id].get("components", []):
            for comp in row.get("components", []):
                if comp.get("custom_id") and (label is None or comp.get("label") == label):
                    return comp["custom_id"]
        raise KeyError(f"no component {label!r} on message {message_id}")

    def custom_ids(self, message_id: int) -> dict[str, str]:
        """Label → custom_id of every component on a stored message (its current state, after edits)."""
        return {
            comp.get("label") or comp["custom_id"]: comp["custom_id"]
            for row in self.messages[message_id].get("components", [])
            for comp in row.get("components", [])
            if comp.get("custom_id")
        }

    async def click(self, message_id: int, label: str, *, user_id: int | None = None) -> InteractionRecord:
        """Click the button labelled ``label`` on a stored message, as it is now."""
        return await self.invoke_component(self.find_custom_id(message_id, label), message_id, user_id=user_id)

    def seed_message(
        self, channel: int | str, *, content: str = "", components: list[dict[str, Any]] | None = None, flags: int = 0
    ) -> int:
        """Store a message "the bot sent" earlier (say, by an older version) without the bot sending it; its id."""
        payload = {"content": content, "components": components or []}
        message = self._make_message(self.channel_id(channel), payload, [], webhook=True, flags=flags)
        return int(message["id"])

    # ------------------------------------------------------------------ messages

    def _mentions(self, content: str, allowed: dict[str, Any] | None) -> tuple[list[int], list[int], bool]:
        """Which users/roles/@everyone would actually be pinged, following Discord's allowed_mentions."""
        users = [int(u) for u in re.findall(r"<@!?(\d+)>", content)]
        roles = [int(r) for r in re.findall(r"<@&(\d+)>", content)]
        everyone = "@everyone" in content or "@here" in content
        if allowed is None:
            return users, roles, everyone
        parse = allowed.get("parse", [])
        allowed_users = {int(u) for u in allowed.get("users", [])}
        allowed_roles = {int(r) for r in allowed.get("roles", [])}
        users = [u for u in users if "users" in parse or u in allowed_users]
        roles = [r for r in roles if "roles" in parse or r in allowed_roles]
        return users, roles, everyone and "everyone" in parse

    def _make_message(
        self,
        channel_id: int,
        payload: dict[str, Any],
        files: list[SentFile],
        *,
        message_id: int | None = None,
        webhook: bool = False,
        flags: int | None = None,
    ) -> dict[str, Any]:
        content = payload.get("content") or ""
        users, roles, everyone = self._mentions(content, payload.get("allowed_mentions"))
        attachments = []
        for index, sent in enumerate(files):
            aid = self.snowflake()
            self._attachments[aid] = sent
            url = f"http://127.0.0.1:{self.port}/attachments/{channel_id}/{aid}/{sent.filename}"
            attachments.append(
                {
                    "id": str(aid),
                    "filename": sent.filename,
                    "size": len(sent.data),
                    "url": url,
                    "proxy_url": url,
                    "content_type": sent.content_type,
                    "index": index,
                }
            )
        message: dict[str, Any] = {
            "id": str(message_id or self.snowflake()),
            "channel_id": str(channel_id),
            "author": self.bot_user.user_payload(),
            "content": content,
            "timestamp": _now_iso(),
            "edited_timestamp": None,
            "tts": bool(payload.get("tts", False)),
            "mention_everyone": everyone,
            "mentions": [self.members[u].user_payload() for u in users if u in self.members],
            "mention_roles": [str(r) for r in roles],
            "attachments": attachments,
            "embeds": payload.get("embeds") or [],
            "components": payload.get("components") or [],
            "pinned": False,
            "type": 0,
            "flags": int(payload.get("flags") or 0) if flags is None else flags,
        }
        if channel_id not in self._dm_channels:
            message["guild_id"] = str(self._channel_guilds.get(channel_id, self.guild_id))
        if webhook:
            message["webhook_id"] = str(self.application_id)
            message["application_id"] = str(self.application_id)
        self.messages[int(message["id"])] = message
        return message

    def _edit_message(self, message_id: int, payload: dict[str, Any], files: list[SentFile]) -> dict[str, Any]:
        message = self.messages[message_id]
        for key in ("content", "embeds", "components", "allowed_mentions"):
            if key in payload:
                message[key] = payload[key] if payload[key] is not None else ([] if key != "content" else "")
        if "flags" in payload and payload["flags"] is not None:
            message["flags"] = int(payload["flags"])
        message["flags"] = int(message.get("flags", 0)) & ~LOADING
        if "attachments" in payload or files:
            # Existing attachments are echoed back with their snowflake id; new files use their index.
            existing = {a["id"] for a in message["attachments"]}
            kept = {str(a["id"]) for a in payload.get("attachments", []) if str(a["id"]) in existing}
            message["attachments"] = [a for a in message["attachments"] if a["id"] in kept]
            fresh = self._make_message(int(message["channel_id"]), {}, files)
            self.messages.pop(int(fresh["id"]))
            message["attachments"] += fresh["attachments"]
        message["edited_timestamp"] = _now_iso()
        return message

    async def wait_for_messages(self, channel: int | str, count: int = 1, within: float = 5.0) -> list[dict]:
        """Wait until the bot posted at least ``count`` messages in a channel (id or name)."""
        cid = self.channel_id(channel)

        def check() -> list[dict[str, Any]] | None:
            found = self.channel_messages.get(cid, [])
            return list(found) if len(found) >= count else None

        return await self._wait(check, within, f"{count} message(s) in channel {cid}")

    async def wait_for_dms(self, user_id: int, count: int = 1, within: float = 5.0) -> list[dict[str, Any]]:
        def check() -> list[dict[str, Any]] | None:
            found = self.dms.get(user_id, [])
            return list(found) if len(found) >= count else None

        return await self._wait(check, within, f"{count} DM(s) to {user_id}")

    async def wait_until(self, predicate: Callable[[], Any], within: float = 5.0) -> Any:
        """Wait until ``predicate()`` is truthy (re-checked whenever the fake records something)."""
        return await self._wait(lambda: predicate() or None, within, "predicate")

    # ------------------------------------------------------------------ failure injection

    def fail_next(self, method: str, path: str, status: int = 503) -> None:
        """Answer the next ``method`` request whose path (after /api/v10) starts with ``path`` with ``status``."""
        self._failures.append((method, path, status))

    def add_user(self, user: FakeMember) -> None:
        """A Discord user who is not a member of the guild (e.g. to sign in with OAuth and be refused)."""
        self._other_users[user.id] = user

    def rate_limit_next(self, method: str, path: str, retry_after: float = 0.05, *, is_global: bool = False) -> None:
        """Answer the next ``method path`` (path after /api/v10, prefix match) with one 429."""
        self._rate_limits.append((method.upper(), path, retry_after, is_global))

    # ------------------------------------------------------------------ HTTP plumbing

    def _build_routes(self) -> list[_Route]:
        table: list[tuple[str, str, Callable[..., Awaitable[web.StreamResponse]]]] = [
            ("GET", r"/users/@me", self._get_me),
            ("POST", r"/oauth2/token", self._oauth_token),
            ("GET", r"/users/@me/guilds/(?P<guild_id>\d+)/member", self._oauth_member),
            ("GET", r"/users/(?P<user_id>\d+)", self._get_user),
            ("POST", r"/users/@me/channels", self._create_dm),
            ("GET", r"/gateway", self._get_gateway),
            ("GET", r"/gateway/bot", self._get_gateway),
            ("GET", r"/oauth2/applications/@me", self._get_application),
            ("GET", r"/applications/(?P<app>\d+)/commands", self._get_commands),
            ("PUT", r"/applications/(?P<app>\d+)/commands", self._put_commands),
            ("GET", r"/applications/(?P<app>\d+)/guilds/(?P<guild_id>\d+)/commands", self._get_commands),
            ("PUT", r"/applications/(?P<app>\d+)/guilds/(?P<guild_id>\d+)/commands", self._put_commands),
            ("GET", r"/channels/(?P<channel_id>\d+)", self._get_channel),
            ("POST", r"/channels/(?P<channel_id>\d+)/messages", self._post_message),
            ("GET", r"/channels/(?P<channel_id>\d+)/messages/(?P<message_id>\d+)", self._get_message),
            ("PATCH", r"/channels/(?P<channel_id>\d+)/messages/(?P<message_id>\d+)", self._patch_message),
            ("DELETE", r"/channels/(?P<channel_id>\d+)/messages/(?P<message_id>\d+)", self._delete_message),
            ("POST", r"/channels/(?P<channel_id>\d+)/typing", self._no_content),
            ("GET", r"/guilds/(?P<guild_id>\d+)", self._get_guild),
            ("GET", r"/guilds/(?P<guild_id>\d+)/channels", self._get_guild_channels),
            ("GET", r"/guilds/(?P<guild_id>\d+)/roles", self._get_roles),
            ("GET", r"/guilds/(?P<guild_id>\d+)/members", self._list_members),
            ("GET", r"/guilds/(?P<guild_id>\d+)/members/(?P<user_id>\d+)", self._get_member),
            ("PUT", r"/guilds/(?P<guild_id>\d+)/members/(?P<user_id>\d+)/roles/(?P<role_id>\d+)", self._put_role),
            (
                "DELETE",
                r"/guilds/(?P<guild_id>\d+)/members/(?P<user_id>\d+)/roles/(?P<role_id>\d+)",
                self._delete_role,
            ),
            ("POST", r"/interactions/(?P<iid>\d+)/(?P<token>[^/]+)/callback", self._interaction_callback),
            ("POST", r"/webhooks/(?P<app>\d+)/(?P<token>[^/]+)", self._followup),
            ("GET", r"/webhooks/(?P<app>\d+)/(?P<token>[^/]+)/messages/(?P<mid>@original|\d+)", self._get_wh_msg),
            ("PATCH", r"/webhooks/(?P<app>\d+)/(?P<token>[^/]+)/messages/(?P<mid>@original|\d+)", self._edit_wh_msg),
            ("DELETE", r"/webhooks/(?P<app>\d+)/(?P<token>[^/]+)/messages/(?P<mid>@original|\d+)", self._del_wh_msg),
        ]
        return [_Route(m, re.compile(p + "$"), h) for m, p, h in table]

    async def _dispatch_http(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if path.startswith("/attachments/"):
            return self._serve_attachment(path)
        prefix = "/api/v10"
        key = f"{request.method} {path}"
        if not path.startswith(prefix):
            self.urls.append(f"{request.method} {request.path_qs}")
            self.unhandled.append(key)
            return _error(404, 0, "Unknown")
        sub = path[len(prefix) :]
        self.requests.append(f"{request.method} {sub}")
        self.urls.append(f"{request.method} {request.path_qs}")
        self.authorizations.append((f"{request.method} {sub}", request.headers.get("Authorization", "")))
        for index, (method, fail_path, status) in enumerate(self._failures):
            if method == request.method and sub.startswith(fail_path):
                del self._failures[index]
                return _error(status, 0, "Injected failure")
        for index, (method, rl_path, retry_after, is_global) in enumerate(self._rate_limits):
            if method == request.method and sub.startswith(rl_path):
                del self._rate_limits[index]
                self.rate_limited.append(f"{request.method} {sub}")
                return _rate_limited(retry_after, is_global)
        for route in self._routes:
            if route.method != request.method:
                continue
            match = route.pattern.match(sub)
            if match:
                response = await route.handler(request, **match.groupdict())
                self._notify()
                return response
        self.unhandled.append(f"{request.method} {sub}")
        self._notify()
        return _error(404, 0, "Unknown")

    def _serve_attachment(self, path: str) -> web.Response:
        parts = path.split("/")
        try:
            sent = self._attachments[int(parts[3])]
        except (IndexError, ValueError, KeyError):
            return _error(404, 0, "Unknown")
        return web.Response(body=sent.data, content_type=sent.content_type or "application/octet-stream")

    async def _no_content(self, request: web.Request, **_: str) -> web.Response:
        return web.Response(status=204)

    # --- users, gateway, application

    async def _get_me(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization", "").startswith("Bearer "):
            user_id = self._bearer(request, "identify")
            if user_id is None:
                return _error(401, 0, "401: Unauthorized")
            user = self.members.get(user_id) or self._other_users.get(user_id)
            if user is None:
                return _error(404, 10013, "Unknown User")
            return _json(user.user_payload())
        if request.headers.get("Authorization") != f"Bot {self.bot_token}":
            return _error(401, 0, "401: Unauthorized")
        return _json({**self.bot_user.user_payload(), "verified": True, "flags": 0})

    # --- OAuth2 (authorization code grant)

    async def _oauth_authorize(self, request: web.Request) -> web.Response:
        """Discord's consent page, minus the page: the configured user "authorizes" at once and the browser
        is sent back to ``redirect_uri`` with a one-time code (or ``error=access_denied``)."""
        self.urls.append(f"{request.method} {request.path_qs}")
        q = request.query
        redirect_uri = q.get("redirect_uri", "")
        scopes = frozenset(q.get("scope", "").split())
        problem = None
        if q.get("client_id") != self.oauth_client_id:
            problem = "unknown client_id"
        elif redirect_uri not in self.oauth_redirect_uris:
            problem = "redirect_uri not registered"
        elif q.get("response_type") != "code":
            problem = "response_type must be code"
        elif not scopes or not scopes <= OAUTH_SCOPES | {"email", "guilds"}:
            problem = "invalid scope"
        if problem is not None:  # Discord shows an error page and never redirects to an unregistered URI
            self.oauth_refusals.append(problem)
            return web.Response(status=400, text=problem)
        back: dict[str, str] = {}
        if self.oauth_user_id is None:
            back["error"] = "access_denied"
        else:
            code = secrets.token_urlsafe(16)
            self.oauth_codes[code] = (self.oauth_user_id, redirect_uri, scopes)
            back["code"] = code
        if "state" in q:
            back["state"] = q["state"]
        return web.Response(status=302, headers={"Location": f"{redirect_uri}?{urlencode(back)}"})

    def _basic_client(self, request: web.Request) -> tuple[str, str] | None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return None
        try:
            client_id, _, secret = base64.b64decode(header[6:], validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return client_id, secret

    async def _oauth_token(self, request: web.Request) -> web.Response:
        form = await request.post()
        client = self._basic_client(request)
        if client is None:  # Discord also takes the secret in the form; Stratum sends basic auth
            client = (str(form.get("client_id", "")), str(form.get("client_secret", "")))
        if client != (self.oauth_client_id, self.oauth_client_secret):
            self.oauth_refusals.append("invalid_client")
            return _json({"error": "invalid_client"}, status=401)
        if form.get("grant_type") != "authorization_code":
            self.oauth_refusals.append("unsupported_grant_type")
            return _json({"error": "unsupported_grant_type"}, status=400)
        grant = self.oauth_codes.pop(str(form.get("code", "")), None)  # single use, even when refused
        if grant is None or grant[1] != form.get("redirect_uri"):
            self.oauth_refusals.append("invalid_grant")
            return _json({"error": "invalid_grant", "error_description": 'Invalid "code" in request.'}, status=400)
        user_id, _, scopes = grant
        token = secrets.token_urlsafe(24)
        self.oauth_tokens[token] = (user_id, scopes)
        body = {"access_token": token, "token_type": "Bearer", "expires_in": 604800, "scope": " ".join(sorted(scopes))}
        body["refresh_token"] = secrets.token_urlsafe(24)
        return _json(body)

    def _bearer(self, request: web.Request, scope: str) -> int | None:
        """The user of the request's OAuth access token when it carries ``scope``."""
        header = request.headers.get("Authorization", "")
        grant = self.oauth_tokens.get(header[7:]) if header.startswith("Bearer ") else None
        if grant is None or scope not in grant[1]:
            return None
        return grant[0]

    async def _oauth_member(self, request: web.Request, guild_id: str) -> web.Response:
        user_id = self._bearer(request, "guilds.members.read")
        if user_id is None:
            return _error(401, 0, "401: Unauthorized")
        member = self.members.get(user_id)
        if member is None or int(guild_id) != self.guild_id:
            return _error(404, 10007, "Unknown Member")
        return _json(member.member_payload())

    async def _get_user(self, request: web.Request, user_id: str) -> web.Response:
        member = self.members.get(int(user_id)) or self._other_users.get(int(user_id))
        if member is None:
            return _error(404, 10013, "Unknown User")
        return _json(member.user_payload())

    async def _get_gateway(self, request: web.Request) -> web.Response:
        return _json(
            {
                "url": self.gateway_url.rstrip("/"),
                "shards": 1,
                "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1},
            }
        )

    async def _get_application(self, request: web.Request) -> web.Response:
        return _json(
            {
                "id": str(self.application_id),
                "name": self.bot_user.name,
                "icon": None,
                "description": "",
                "summary": "",
                "bot_public": False,
                "bot_require_code_grant": False,
                "owner": FakeMember(self.owner_id, "owner").user_payload(),
                "verify_key": "0" * 64,
                "team": None,
                "flags": 0,
                "interactions_endpoint_url": None,
                "rpc_origins": [],
                "tags": [],
                "bot": self.bot_user.user_payload(),
            }
        )

    async def _create_dm(self, request: web.Request) -> web.Response:
        body, _ = await _read_body(request)
        user_id = int(body["recipient_id"])
        cid = self._dm_by_user.get(user_id)
        if cid is None:
            cid = self.snowflake()
            self._dm_by_user[user_id] = cid
            self._dm_channels[cid] = user_id
        return _json(self._dm_payload(cid))

    def dm_channel_id(self, user_id: int) -> int | None:
        """The DM channel the bot opened with ``user_id``, if any."""
        return self._dm_by_user.get(user_id)

    # --- commands

    async def _get_commands(self, request: web.Request, app: str, guild_id: str | None = None) -> web.Response:
        store = self.guild_commands[int(guild_id)] if guild_id else self.global_commands
        return _json(store)

    async def _put_commands(self, request: web.Request, app: str, guild_id: str | None = None) -> web.Response:
        body, _ = await _read_body(request)
        old = self.guild_commands[int(guild_id)] if guild_id else self.global_commands
        old_ids = {(c["name"], c.get("type", 1)): c["id"] for c in old}
        stored = []
        for definition in body:
            command = {
                "type": 1,
                "description": "",
                "options": [],
                "default_member_permissions": None,
                "dm_permission": True,
                "nsfw": False,
                "name_localizations": None,
                "description_localizations": None,
                **definition,
            }
            command["id"] = old_ids.get((command["name"], command["type"])) or str(self.snowflake())
            command["application_id"] = str(self.application_id)
            command["version"] = str(self.snowflake())
            if guild_id:
                command["guild_id"] = guild_id
            stored.append(command)
        if guild_id:
            self.guild_commands[int(guild_id)] = stored
        else:
            self.global_commands = stored
        return _json(stored)

    # --- channels and messages

    def _known_channel(self, cid: int) -> bool:
        return cid in self._channel_names or cid in self._dm_channels

    async def _get_channel(self, request: web.Request, channel_id: str) -> web.Response:
        cid = int(channel_id)
        if not self._known_channel(cid):
            return _error(404, 10003, "Unknown Channel")
        return _json(self._channel_payload(cid))

    async def _post_message(self, request: web.Request, channel_id: str) -> web.Response:
        cid = int(channel_id)
        body, files = await _read_body(request)
        if not self._known_channel(cid):
            return _error(404, 10003, "Unknown Channel")
        if cid in self.forbidden_channels:
            return _error(403, 50013, "Missing Permissions")
        dm_user = self._dm_channels.get(cid)
        if dm_user is not None and dm_user in self.closed_dms:
            return _error(403, 50007, "Cannot send messages to this user")
        message = self._make_message(cid, body, files)
        record = {**body, "files": files, "message": message}
        self.channel_messages[cid].append(record)
        if dm_user is not None:
            self.dms[dm_user].append(record)
        return _json(message)

    async def _get_message(self, request: web.Request, channel_id: str, message_id: str) -> web.Response:
        message = self.messages.get(int(message_id))
        if message is None or message["channel_id"] != channel_id:
            return _error(404, 10008, "Unknown Message")
        return _json(message)

    async def _patch_message(self, request: web.Request, channel_id: str, message_id: str) -> web.Response:
        body, files = await _read_body(request)
        if int(message_id) not in self.messages:
            return _error(404, 10008, "Unknown Message")
        return _json(self._edit_message(int(message_id), body, files))

    async def _delete_message(self, request: web.Request, channel_id: str, message_id: str) -> web.Response:
        if self.messages.pop(int(message_id), None) is None:
            return _error(404, 10008, "Unknown Message")
        return web.Response(status=204)

    # --- guild, members, roles

    async def _get_guild(self, request: web.Request, guild_id: str) -> web.Response:
        if int(guild_id) != self.guild_id:
            return _error(404, 10004, "Unknown Guild")
        data = self.guild_payload()
        for key in ("channels", "members", "threads", "presences", "voice_states"):
            data.pop(key)
        return _json(data)

    async def _get_guild_channels(self, request: web.Request, guild_id: str) -> web.Response:
        return _json([self._channel_payload(cid) for cid in self.channels.values()])

    async def _get_roles(self, request: web.Request, guild_id: str) -> web.Response:
        return _json([self._public_role(rid) for rid in self.role_payloads])

    async def _list_members(self, request: web.Request, guild_id: str) -> web.Response:
        limit = int(request.query.get("limit", "1"))
        after = int(request.query.get("after", "0"))
        members = sorted((m for m in self.members.values() if m.id > after), key=lambda m: m.id)
        return _json([m.member_payload() for m in members[:limit]])

    async def _get_member(self, request: web.Request, guild_id: str, user_id: str) -> web.Response:
        member = self.members.get(int(user_id))
        if member is None or int(guild_id) != self.guild_id:
            return _error(404, 10007, "Unknown Member")
        return _json(member.member_payload())

    async def _change_role(self, request: web.Request, guild_id: str, user_id: str, role_id: str, add: bool):
        member = self.members.get(int(user_id))
        rid = int(role_id)
        if member is None or int(guild_id) != self.guild_id:
            return _error(404, 10007, "Unknown Member")
        if rid not in self.role_payloads or rid == self.guild_id:
            return _error(404, 10011, "Unknown Role")
        bot_top = max(self.role_payloads[r]["position"] for r in self.bot_user.role_ids)
        if self.role_payloads[rid]["position"] >= bot_top:
            return _error(403, 50013, "Missing Permissions")
        reason = request.headers.get("X-Audit-Log-Reason")
        self.role_changes.append(RoleChange("add" if add else "remove", member.id, rid, reason))
        if add and rid not in member.role_ids:
            member.role_ids.append(rid)
        elif not add and rid in member.role_ids:
            member.role_ids.remove(rid)
        if self.connected and (self.intents or 0) & INTENT_GUILD_MEMBERS:
            await self.dispatch("GUILD_MEMBER_UPDATE", {**member.member_payload(), "guild_id": str(self.guild_id)})
        return web.Response(status=204)

    async def _put_role(self, request: web.Request, guild_id: str, user_id: str, role_id: str) -> web.Response:
        return await self._change_role(request, guild_id, user_id, role_id, add=True)

    async def _delete_role(self, request: web.Request, guild_id: str, user_id: str, role_id: str) -> web.Response:
        return await self._change_role(request, guild_id, user_id, role_id, add=False)

    # --- interaction responses

    def _record_for_token(self, token: str) -> InteractionRecord | None:
        return next((r for r in self.interactions.values() if r.token == token), None)

    async def _interaction_callback(self, request: web.Request, iid: str, token: str) -> web.Response:
        record = self.interactions.get(int(iid))
        if record is None or record.token != token:
            return _error(404, 10062, "Unknown interaction")
        body, files = await _read_body(request)
        if record.callback is not None:
            return _error(400, 40060, "Interaction has already been acknowledged.")
        rtype = int(body["type"])
        data = body.get("data") or {}
        channel_id = int(record.payload["channel_id"])
        message: dict[str, Any] | None = None
        if rtype == 4:
            message = self._make_message(channel_id, data, files, webhook=True)
            message["type"] = 20 if record.type == 2 else 19
            record.original_message_id = int(message["id"])
        elif rtype == 5:
            flags = LOADING | (int(data.get("flags") or 0) & EPHEMERAL)
            message = self._make_message(channel_id, {}, [], webhook=True, flags=flags)
            record.original_message_id = int(message["id"])
        elif rtype == 7 and record.original_message_id in self.messages:
            message = self._edit_message(record.original_message_id, data, files)
        record._add(InteractionResponse("callback", body, files, type=rtype, message_id=record.original_message_id))
        if "with_response" not in request.query:
            return web.Response(status=204)
        info: dict[str, Any] = {"id": iid, "type": record.type}
        result: dict[str, Any] = {"interaction": info}
        if rtype in (4, 5, 7) and message is not None:
            info["response_message_id"] = message["id"]
            info["response_message_loading"] = rtype == 5
            info["response_message_ephemeral"] = bool(int(message.get("flags", 0)) & EPHEMERAL)
            result["resource"] = {"type": rtype, "message": message}
        return _json(result)

    async def _followup(self, request: web.Request, app: str, token: str) -> web.Response:
        record = self._record_for_token(token)
        if record is None:
            return _error(404, 10015, "Unknown Webhook")
        body, files = await _read_body(request)
        if record.callback is None:
            return _error(404, 10015, "Unknown Webhook")  # what Discord says before the callback
        channel_id = int(record.payload["channel_id"])
        original = record.original
        if original is not None and int(original.get("flags", 0)) & LOADING:
            # The first followup after a "thinking" defer replaces the loading message.
            message = self._edit_message(record.original_message_id or 0, body, files)
            message["flags"] = int(body.get("flags") or 0) | (int(original["flags"]) & EPHEMERAL)
        else:
            message = self._make_message(channel_id, body, files, webhook=True)
        record._add(InteractionResponse("followup", body, files, message_id=int(message["id"])))
        if request.query.get("wait") in ("1", "true", "True"):
            return _json(message)
        return web.Response(status=204)

    def _resolve_wh_message(self, record: InteractionRecord, mid: str) -> int | None:
        return record.original_message_id if mid == "@original" else int(mid)

    async def _get_wh_msg(self, request: web.Request, app: str, token: str, mid: str) -> web.Response:
        record = self._record_for_token(token)
        message_id = self._resolve_wh_message(record, mid) if record else None
        if message_id is None or message_id not in self.messages:
            return _error(404, 10008, "Unknown Message")
        return _json(self.messages[message_id])

    async def _edit_wh_msg(self, request: web.Request, app: str, token: str, mid: str) -> web.Response:
        record = self._record_for_token(token)
        body, files = await _read_body(request)
        message_id = self._resolve_wh_message(record, mid) if record else None
        if record is None or message_id is None or message_id not in self.messages:
            return _error(404, 10008, "Unknown Message")
        message = self._edit_message(message_id, body, files)
        record._add(InteractionResponse("edit", body, files, message_id=message_id))
        return _json(message)

    async def _del_wh_msg(self, request: web.Request, app: str, token: str, mid: str) -> web.Response:
        record = self._record_for_token(token)
        message_id = self._resolve_wh_message(record, mid) if record else None
        if record is None or message_id is None or self.messages.pop(message_id, None) is None:
            return _error(404, 10008, "Unknown Message")
        record._add(InteractionResponse("delete", {}, [], message_id=message_id))
        return web.Response(status=204)


def _json(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    """JSON with a bare ``Content-Type: application/json``.

    discord.py's ``json_or_text`` compares the header for equality, so aiohttp's default
    ``application/json; charset=utf-8`` would make every body arrive as a str.
    """
    return web.Response(body=json.dumps(data).encode(), status=status, headers=headers, content_type="application/json")


def _error(status: int, code: int, message: str) -> web.Response:
    return _json({"message": message, "code": code}, status=status)


def _rate_limited(retry_after: float, is_global: bool) -> web.Response:
    # discord.py treats a 429 without "Via" as a Cloudflare ban and raises instead of retrying.
    headers = {
        "Via": "1.1 google",
        "Retry-After": str(max(1, round(retry_after))),
        "X-RateLimit-Limit": "5",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset-After": str(retry_after),
        "X-RateLimit-Scope": "global" if is_global else "user",
    }
    body = {"message": "You are being rate limited.", "retry_after": retry_after, "global": is_global}
    return _json(body, status=429, headers=headers)


async def _read_body(request: web.Request) -> tuple[Any, list[SentFile]]:
    """JSON body, or multipart ``payload_json`` + ``files[n]`` parts (as discord.py sends files)."""
    if request.content_type.startswith("multipart/"):
        payload: dict[str, Any] = {}
        files: list[SentFile] = []
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                continue  # nested multipart: discord.py never sends one
            name = part.name or ""
            if part.filename is not None:
                data = bytes(await part.read())
                files.append(SentFile(part.filename, data, part.headers.get("Content-Type"), name))
            elif name == "payload_json":
                payload = json.loads(await part.text())
            else:
                payload[name] = await part.text()
        return payload, files
    raw = await request.read()
    return (json.loads(raw) if raw else {}), []


@contextlib.asynccontextmanager
async def running_bot(
    fake: FakeDiscord,
    bot: commands.Bot | discord.Client,
    *,
    token: str = FAKE_TOKEN,
    within: float = 10.0,
    fast_ready: bool = True,
) -> AsyncIterator[commands.Bot | discord.Client]:
    """Run ``bot.start(token)`` against ``fake`` until it is READY with the guild cached.

    ``setup_hook`` (where bots sync commands) completes before the gateway connects, so once this
    yields the commands are synced too. ``fast_ready`` lowers discord.py's ``guild_ready_timeout``
    (2 s of idle waiting after GUILD_CREATE before READY) — a private attribute, but the public
    alternative is a constructor argument tests don't control for the real bot.
    On exit the bot is closed and its task awaited, so no task is left pending.
    """
    if fast_ready:
        state = bot._connection
        state.guild_ready_timeout = min(state.guild_ready_timeout, 0.05)
    task = asyncio.create_task(bot.start(token), name="fake-discord-bot")
    failure: BaseException | None = None
    try:
        try:
            async with asyncio.timeout(within):
                while True:
                    if task.done():
                        task.result()  # re-raise the startup failure
                        raise RuntimeError("bot.start() returned before the bot became ready")
                    guild = bot.get_guild(fake.guild_id)
                    if bot.is_ready() and guild is not None and not guild.unavailable:
                        break
                    await asyncio.sleep(0.01)
        except TimeoutError:
            raise TimeoutError(
                f"bot not ready after {within}s; requests={fake.requests} unhandled={fake.unhandled}"
            ) from None
        yield bot
    finally:
        await bot.close()
        done, _ = await asyncio.wait({task}, timeout=within)
        if not done:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        elif not task.cancelled():
            failure = task.exception()  # retrieving it also silences "exception never retrieved"
    if failure is not None:
        raise failure
