"""The board (`/`): today's games as `/heat` ranks them, each with its `/odds` board — the fair (no-vig)
consensus of both sides and every book's line of the three markets, each side's best quote marked.

Pro sees each book under its name, in real time; Community (and signed out) sees each number with how
many books hang it, no names, as of the delay: `services.odds` decides, the page only prints it."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from services import dashboard
from web.context import GET, web_context
from web.format import HEAT, market_view
from web.members import signed_in, viewer
from web.templating import render

router = APIRouter(include_in_schema=False)


@router.api_route("/", methods=GET)
async def board_page(request: Request) -> Response:
    web_ctx = web_context(request)
    member = await signed_in(request)
    now = web_ctx.ctx.clock()
    boards = await dashboard.board(web_ctx.ctx, viewer(member), now)
    games = [
        {
            "game": b.game,
            "status": b.status,
            "heat": b.heat,
            "heat_text": HEAT[b.heat],
            "as_of": b.as_of,
            "markets": [market_view(b.game, m) for m in b.markets],
        }
        for b in boards
    ]
    return render(request, "board.html", member=member, games=games, now=now, delayed=any(b.delayed for b in boards))
