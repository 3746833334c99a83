"""A game's page (`/games/{id}`): its line-movement chart (consensus and books, signals marked, the member's
own bets) with a market switcher, its odds board, its signals with their grades once graded, and its close.

The chart is `services.downloads.line_chart`, the PNG `/chart` posts in Discord, with the same tier rules
(Community: delayed, no per-book lines, no bets); the rest is `services.dashboard.game_page`."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from services import dashboard, downloads
from services.games import parse_market
from services.odds import MARKET_ORDER
from services.odds_text import MARKET_NAMES
from web.context import GET, web_context
from web.format import HEAT, close_text, market_view, signal_row
from web.members import signed_in, viewer
from web.templating import render

router = APIRouter(include_in_schema=False)


@router.api_route("/games/{game_id}", methods=GET)
async def game_page(request: Request, game_id: str) -> Response:
    web_ctx = web_context(request)
    member = await signed_in(request)
    market = parse_market(request.query_params.get("market", MARKET_ORDER[0].value))
    page = await dashboard.game_page(web_ctx.ctx, viewer(member), game_id, web_ctx.ctx.clock())
    game = page.stored.game
    return render(
        request,
        "game.html",
        member=member,
        game=game,
        game_status=page.stored.status,
        heat_text=HEAT[page.board.heat],
        as_of=page.board.as_of,
        delayed=page.board.delayed,
        market=market.value,
        markets=[(m.value, MARKET_NAMES[m]) for m in MARKET_ORDER],
        board=[market_view(game, m) for m in page.board.markets],
        signals=[signal_row(s.view, game, s.grade) for s in page.signals],
        graded=page.graded,
        closes=[(MARKET_NAMES[c.market], close_text(game, c), c.books, c.source) for c in page.closes],
    )


@router.api_route("/games/{game_id}/chart/{market}.png", methods=GET)
async def chart_png(request: Request, game_id: str, market: str) -> Response:
    web_ctx = web_context(request)
    member = await signed_in(request)
    _, png = await downloads.line_chart(web_ctx.ctx, viewer(member), game_id, market, web_ctx.ctx.clock())
    return Response(png, media_type="image/png")
