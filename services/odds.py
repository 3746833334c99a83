"""The odds board of a game: consensus and every book's line per market, as of what the viewer may see."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import access
from access import Feature, Viewer
from engine.models import BookLine, Consensus, Game, Market
from services.context import ServiceContext
from services.games import find_game
from services.signals import game_heat

MARKET_ORDER = (Market.SPREADS, Market.TOTALS, Market.H2H)


@dataclass(frozen=True, slots=True)
class LineCount:
    """How many books hang one number: the board's view without book names."""

    point: float | None
    price_a: int
    price_b: int
    books: int


@dataclass(frozen=True, slots=True)
class MarketBoard:
    market: Market
    consensus: Consensus | None
    lines: tuple[BookLine, ...]  # per book, named: Pro only (empty otherwise)
    distribution: tuple[LineCount, ...]  # every tier


def distribution(lines: list[BookLine]) -> tuple[LineCount, ...]:
    counts: dict[tuple[float | None, int, int], int] = {}
    for line in lines:
        key = (line.point, line.price_a, line.price_b)
        counts[key] = counts.get(key, 0) + 1
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0][0] or 0.0, item[0][1]))
    return tuple(LineCount(point, a, b, n) for (point, a, b), n in ordered)


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
    named = access.allows(viewer.tier, Feature.BOOK_LINES)
    boards = []
    for market in MARKET_ORDER:
        consensus = await ctx.repos.consensus.latest_before(game.id, market, as_of + timedelta(microseconds=1))
        market_lines = [ln for ln in lines if ln.market == market]
        boards.append(
            MarketBoard(
                market=market,
                consensus=consensus,
                lines=tuple(market_lines) if named else (),
                distribution=distribution(market_lines),
            )
        )
    return OddsBoard(
        game=game,
        status=stored.status,
        as_of=as_of,
        delayed=not viewer.is_pro,
        markets=tuple(boards),
        heat=await game_heat(ctx, game.id, viewer, now),
    )
