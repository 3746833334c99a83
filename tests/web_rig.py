"""The dashboard on a real loopback server over a copy of the template database, on a fixed clock; and the
same with Sign in with Discord configured against the loopback fake Discord, with the browser's path through it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx
from pydantic import SecretStr

from app.bootstrap import App, build_app, start_web
from config.settings import Settings
from tests.backends import copy_database
from tests.engine_builders import settings as base_settings
from tests.fake_discord import FAKE_TOKEN, FakeDiscord

#: The dashboard's session secret in `discord_rig`, so a test can read the cookies it signs.
SESSION_SECRET = "a session secret for the tests"


@dataclass
class WebRig:
    app: App
    base: str
    now: datetime

    def client(self, **kwargs) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base, follow_redirects=False, **kwargs)


def web_settings() -> Settings:
    config = base_settings()
    config.web.cookie_secure = False  # plain http on loopback
    return config


@asynccontextmanager
async def web_rig(
    template: tuple[str, datetime],
    tmp_path: Path,
    config: Settings | None = None,
    clock: Callable[[], datetime] | None = None,
) -> AsyncIterator[WebRig]:
    """`clock`: the app's clock (default: fixed at the template's moment)."""
    path, now = template
    db = copy_database(path, tmp_path)
    app = await build_app(config or web_settings(), db_path=db, source="test", clock=clock or (lambda: now))
    server = await start_web(app)
    try:
        yield WebRig(app, f"http://127.0.0.1:{server.port}", now)
    finally:
        await app.close()


async def demo_sign_in(http: httpx.AsyncClient, tier: str) -> None:
    """The loopback demo sign-in, as a browser does it: the page's token in the form and its cookie."""
    page = await http.get("/signin")
    token = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    answer = await http.post("/auth/demo", data={"csrf": token, "tier": tier, "next": "/"})
    assert answer.status_code == 303, answer.text


@asynccontextmanager
async def discord_rig(
    template: tuple[str, datetime],
    tmp_path: Path,
    *,
    pro_role: str = "Pro",
    secure: bool = False,
    clock: Callable[[], datetime] | None = None,
) -> AsyncIterator[tuple[WebRig, FakeDiscord]]:
    """The dashboard with Sign in with Discord configured against a fresh fake Discord."""
    fake = FakeDiscord()
    async with fake.listening():
        config = web_settings()
        discord = config.discord
        discord.oauth_client_id = fake.oauth_client_id
        discord.oauth_client_secret = SecretStr(fake.oauth_client_secret)
        discord.token = SecretStr(FAKE_TOKEN)
        discord.guild_id = fake.guild_id
        discord.pro_role = pro_role
        discord.api_base = fake.api_base
        discord.oauth_authorize_url = fake.oauth_authorize_url
        config.web.cookie_secure = secure
        config.web.session_secret = SecretStr(SESSION_SECRET)
        async with web_rig(template, tmp_path, config, clock) as rig:
            fake.oauth_redirect_uris.append(f"{rig.base}/auth/callback")  # as registered in the Developer Portal
            yield rig, fake


async def sign_in(http: httpx.AsyncClient, then: str = "/") -> httpx.Response:
    """The browser's path: the dashboard → Discord's authorize page → the callback. The callback's answer."""
    start = await http.get("/auth/discord", params={"next": then})
    assert start.status_code == 302, start.text
    authorize = await http.get(start.headers["location"])
    assert authorize.status_code == 302, authorize.text
    return await http.get(authorize.headers["location"])


def session_cookie(http: httpx.AsyncClient) -> str | None:
    return next((c.value for c in http.cookies.jar if c.name == "stratum_session"), None)
