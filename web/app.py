"""The dashboard: a second surface over the same services and `access.py` rules as the bot.

`install_web` adds its routes, static files and middleware to the embedded web server's app (the wiring
point, `app.bootstrap.build_web`, calls it). Sessions are signed with `web.session_secret` (a random
secret per process when unset: sessions then end with a restart)."""

from __future__ import annotations

import ipaddress
import logging
import secrets
from typing import Any

from aiohttp import web

from services.context import ServiceContext
from web import auth as discord_auth
from web.context import WEB_CONTEXT, WebContext
from web.errors import friendly_errors
from web.routes import auth, board, games, integrity, me
from web.routes import signals as signal_routes
from web.session import Sessions
from web.templating import STATIC, environment

log = logging.getLogger(__name__)


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def install_web(app: web.Application, ctx: ServiceContext, bus: Any, *, billing: Any = None) -> WebContext:
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
    app[WEB_CONTEXT] = web_ctx
    app.middlewares.append(friendly_errors)  # error pages get the security headers like any page (`web.security`)
    app.router.add_static("/static/", STATIC, name="static")
    discord_auth.install(app, web_ctx)  # Sign in with Discord, when an OAuth client is configured
    auth.add_routes(app)
    board.add_routes(app)
    games.add_routes(app)
    integrity.add_routes(app)
    me.add_routes(app)
    signal_routes.add_routes(app)
    return web_ctx
