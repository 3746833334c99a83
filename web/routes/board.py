"""The board: today's games with their heat and tip times (each member's own zone, by `time.js`)."""

from __future__ import annotations

from aiohttp import web

from services import signals
from web.context import web_context
from web.members import signed_in, viewer
from web.templating import render


async def board_page(request: web.Request) -> web.Response:
    web_ctx = web_context(request)
    member = await signed_in(request)
    now = web_ctx.ctx.clock()
    ranked = await signals.heat_board(web_ctx.ctx, viewer(member), now)
    return render(request, "board.html", member=member, games=ranked, now=now)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/", board_page)
