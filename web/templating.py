"""Server-rendered pages (Jinja2, autoescaped). A template shows what the services returned for the
viewer: it never decides who may see what (access.py does, in the services)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from services.odds_text import EV_AT_FIRE_BASIS, NO_PRICE_NOW, ev_at_fire_text, price_line
from web.context import web_context
from web.session import Member

TEMPLATES = Path(__file__).with_name("templates")
STATIC = Path(__file__).with_name("static")


def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(("html",)),
        undefined=StrictUndefined,  # a missing value is a bug to see, not an empty cell
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["iso"] = lambda at: at.isoformat().replace("+00:00", "Z")
    env.filters["ev_at_fire"] = ev_at_fire_text  # the bot's wording (services.odds_text), one place
    env.globals["EV_AT_FIRE_BASIS"] = EV_AT_FIRE_BASIS
    env.globals["NO_PRICE_NOW"] = NO_PRICE_NOW
    env.globals["price_line"] = price_line  # "Best price now", worded as in Discord
    return env


def render(
    request: Request, template: str, *, member: Member | None, status: int = 200, **context: Any
) -> HTMLResponse:
    """The page `template` for `member` (None: signed out), with what every page shows (who is signed in,
    their tier, the CSRF token for its forms, the demo label)."""
    web_ctx = web_context(request)
    demo = web_ctx.ctx.demo
    page = web_ctx.templates.get_template(template).render(
        member=member,
        csrf=member.csrf if member is not None else "",
        demo_label=demo.label(web_ctx.ctx.clock()) if demo is not None else "",
        delay_minutes=int(web_ctx.settings.tiers.community_delay_seconds // 60),
        **context,
    )
    return HTMLResponse(page, status_code=status)
