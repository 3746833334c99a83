"""What every dashboard handler needs, built once by `web.app.install_web` and kept on the aiohttp app."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

from services.context import ServiceContext

if TYPE_CHECKING:
    from jinja2 import Environment

    from web.session import Sessions

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

WEB_CONTEXT: web.AppKey[WebContext] = web.AppKey("stratum_web", object)  # type: ignore[arg-type]


@dataclass(slots=True)
class WebContext:
    ctx: ServiceContext
    bus: Any  # the engine's event bus (the live feed subscribes to it)
    sessions: Sessions
    templates: Environment
    billing: Any = None  # billing.service.BillingService when Stripe is set up
    auth: Any = None  # web.auth's Discord sign-in when an OAuth client is configured
    demo_sign_in: bool = False  # the loopback "demo Community / demo Pro" sign-in is offered

    @property
    def settings(self):
        return self.ctx.settings


def web_context(request: web.Request) -> WebContext:
    return request.app[WEB_CONTEXT]
