"""What every dashboard handler needs, built once by `web.app.install_web` and kept on the app's state
(`request.app.state.web`): no globals, so two apps in one process (the tests' rigs) never share one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.requests import Request

from services.context import ServiceContext

if TYPE_CHECKING:
    from jinja2 import Environment

    from web.live import LiveHub
    from web.session import Sessions

#: The methods of a page's route: HEAD answers as GET does, without the body (uvicorn drops it), as every
#: page always has (FastAPI's routes, unlike Starlette's, take only the methods they are given).
GET = ["GET", "HEAD"]


@dataclass(slots=True)
class WebContext:
    ctx: ServiceContext
    bus: Any  # the engine's event bus (the live feed subscribes to it)
    sessions: Sessions
    templates: Environment
    billing: Any = None  # billing.service.BillingService when Stripe is set up
    auth: Any = None  # web.auth's Discord sign-in when an OAuth client is configured
    demo_sign_in: bool = False  # the loopback "demo Community / demo Pro" sign-in is offered
    live: LiveHub | None = None  # the open live streams and their publishers (`web.live`)

    @property
    def settings(self):
        return self.ctx.settings


def web_context(request: Request) -> WebContext:
    return request.app.state.web
