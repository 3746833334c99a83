"""The odds board of a game: consensus and every book's line per market, as of what the viewer may see."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import access
from access import Viewer
from engine.models import BookLine, Consensus, Game, Market
from services.context import ServiceContext
from services.games import find_game
from services.signals import game_heat

MARKET_ORDER = (Market.SPREADS, Market.TOTALS, Market.H2H)


@dataclass(frozen=True, slots=True)
class MarketBoard:
    market: Market
    consensus: Consensus | None
    lines: tuple[BookLine, ...]


@dataclass(frozen=True, slots=True)
class OddsBoard:
    game: Game
    status: str
    as_of: datetime
    delayed: bool
    markets: tuple[MarketBoard, ...]
    heat: int


async def odds_board(ctx: ServiceContext, query: str, viewer: Viewer, now: datetime) -> OddsBoard:
    stored = await find_game(ctx, query, now)
    game = stored.game
    as_of = access.horizon(viewer.tier, now, ctx.settings.tiers)
    lines = await ctx.repos.quotes.as_of(game.id, as_of)
    boards = []
    for market in MARKET_ORDER:
        consensus = await ctx.repos.consensus.latest_before(game.id, market, as_of + timedelta(microseconds=1))
        boards.append(
            MarketBoard(market=market, consensus=consensus, lines=tuple(ln for ln in lines if ln.market == market))
        )
    return OddsBoard(
        game=game,
        status=stored.status,
        as_of=as_of,
        delayed=not viewer.is_pro,
        markets=tuple(boards),
        heat=await game_heat(ctx, game.id, viewer, now),
    )
