"""The dashboard: a second surface over the same services and `access.py` rules as the bot.

`install_web` adds its routes, static files, error pages and session refresh to the one ASGI app
(`app.bootstrap.build_web` calls it when `web.dashboard` is on). Sessions are signed with `web.session_secret`
(a random secret per process when unset: sessions then end with a restart)."""

from __future__ import annotations

import ipaddress
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

from services.context import ServiceContext
from web import auth as discord_auth
from web.context import WebContext
from web.errors import ErrorPages
from web.live import LiveHub
from web.members import SignInRequired, to_sign_in
from web.routes import auth, board, games, integrity, me
from web.routes import signals as signal_routes
from web.session import Sessions
from web.templating import STATIC, environment

log = logging.getLogger(__name__)


class Hooks(Protocol):
    """What the app runs around serving (`app.asgi.Lifespan`): on stop, and as the server begins to drain
    (before it waits for open requests, which a live stream would hold open until its grace ran out)."""

    def on_stop(self, hook: Callable[[], Awaitable[Any]]) -> None: ...

    def on_drain(self, hook: Callable[[], Any]) -> None: ...


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def install_web(root: FastAPI, hooks: Hooks, ctx: ServiceContext, bus: Any, *, billing: Any = None) -> WebContext:
    settings = ctx.settings.web
    secret = settings.session_secret.get_secret_value() if settings.session_secret is not None else None
    if secret is None:
        secret = secrets.token_urlsafe(32)
        log.warning("web.session_secret is not set: a random one is used, so sign-ins end with a restart")
    sessions = Sessions(secret, max_age_seconds=settings.session_max_age_seconds, secure=settings.cookie_secure)
    oauth = ctx.settings.discord
    web_ctx = WebContext(
        ctx=ctx,
        bus=bus,
        sessions=sessions,
        templates=environment(),
        billing=billing,
        demo_sign_in=settings.demo_sign_in and not oauth.oauth_client_id and _loopback(settings.host),
    )
    web_ctx.live = LiveHub(
        ctx,
        bus,
        web_ctx.templates,
        per_member=settings.live_streams_per_member,
        max_streams=settings.live_streams_max,
    )
    hooks.on_drain(web_ctx.live.close_all)
    root.state.web = web_ctx
    root.state.error_pages = ErrorPages()  # a refusal on a dashboard path is a page (`app.asgi`)
    root.add_exception_handler(SignInRequired, to_sign_in)
    root.mount("/static", StaticFiles(directory=STATIC), name="static")
    web_ctx.auth = discord_auth.discord_sign_in(web_ctx)  # Sign in with Discord, when an OAuth client is set
    if web_ctx.auth is not None:
        hooks.on_stop(web_ctx.auth.close)
        root.add_middleware(discord_auth.RefreshSession, sessions=sessions)  # the role re-check's cookie
        root.include_router(discord_auth.router(web_ctx.auth))
    for routes in (auth, board, games, integrity, me, signal_routes):
        root.include_router(routes.router)
    return web_ctx
