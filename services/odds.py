"""The odds board of a game: consensus and every book's line per market, as of what the viewer may see,
with each side's best quote found here so the renderer only marks it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import access
from access import Feature, Viewer
from engine.models import MARKET_SIDES, BookLine, Consensus, Game, Market, Side, is_side_a, point_for_side
from engine.odds import american_to_decimal
from services.books import book_names, display_name
from services.context import ServiceContext
from services.games import find_game, game_by_id
from services.signals import game_heat
from storage import CLOSED, StoredGame

MARKET_ORDER = (Market.SPREADS, Market.TOTALS, Market.H2H)


#: (the side's number, its price): what a bettor gets on one side of one book's line.
Quote = tuple[float | None, int]


@dataclass(frozen=True, slots=True)
class LineCount:
    """How many books hang one number: the board's view without book names."""

    point: float | None
    price_a: int
    price_b: int
    books: int


@dataclass(frozen=True, slots=True)
class NamedLine:
    """One book's line under the name members know the book by (Pro only)."""

    name: str
    line: BookLine


@dataclass(frozen=True, slots=True)
class MarketBoard:
    """`best` holds each side's best quote among the books, (side A, side B), so both views can mark it
    without naming the book; None without lines."""

    market: Market
    consensus: Consensus | None  # its per-book `components` only for Pro
    lines: tuple[NamedLine, ...]  # per book, named: Pro only (empty otherwise)
    distribution: tuple[LineCount, ...]  # every tier
    best: tuple[Quote, Quote] | None = None


def distribution(lines: list[BookLine]) -> tuple[LineCount, ...]:
    counts: dict[tuple[float | None, int, int], int] = {}
    for line in lines:
        key = (line.point, line.price_a, line.price_b)
        counts[key] = counts.get(key, 0) + 1
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0][0] or 0.0, item[0][1]))
    return tuple(LineCount(point, a, b, n) for (point, a, b), n in ordered)


def side_quote(market: Market, point: float | None, price_a: int, price_b: int, side: Side) -> Quote:
    """The (number, price) one side of a line offers: the away spread is the home spread negated."""
    return point_for_side(market, point, side), price_a if is_side_a(market, side) else price_b


def quote_rank(market: Market, side: Side, quote: Quote) -> tuple[float, float]:
    """Larger is better for a bettor on `side`: more points first (a higher spread, a lower Over, a higher
    Under), then the higher payout. The number comes first because half a point is worth more than a few
    cents of price near the middle of the distribution."""
    point, price = quote
    if point is None:
        edge = 0.0
    elif market == Market.TOTALS and side == Side.OVER:
        edge = -point
    else:
        edge = point
    return edge, american_to_decimal(price)


def best_quotes(market: Market, lines: Sequence[BookLine]) -> tuple[Quote, Quote] | None:
    """Each side's best quote among `lines` (side A, side B); None when there are none."""
    if not lines:
        return None
    side_a, side_b = MARKET_SIDES[market]
    best = []
    for side in (side_a, side_b):
        quotes = [side_quote(market, ln.point, ln.price_a, ln.price_b, side) for ln in lines]
        best.append(max(quotes, key=lambda q: quote_rank(market, side, q)))
    return best[0], best[1]


def _named(lines: Sequence[BookLine], names: dict[str, str]) -> tuple[NamedLine, ...]:
    """Lines under their display names, in the order a member scans them: alphabetical by that name."""
    named = (NamedLine(display_name(names, ln.book), ln) for ln in lines)
    return tuple(sorted(named, key=lambda n: (n.name.casefold(), n.line.book)))


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
    names = await book_names(ctx) if named else {}
    boards = []
    for market in MARKET_ORDER:
        consensus = await ctx.repos.consensus.latest_before(game.id, market, as_of + timedelta(microseconds=1))
        if consensus is not None and not named:  # its components are per-book numbers, named
            consensus = replace(consensus, components=())
        market_lines = [ln for ln in lines if ln.market == market]
        boards.append(
            MarketBoard(
                market=market,
                consensus=consensus,
                lines=_named(market_lines, names) if named else (),
                distribution=distribution(market_lines),
                best=best_quotes(market, market_lines),
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


# ---------------------------------------------------------------------- the REST API

#: "The last lines" of a closed game: each book's line as of a moment after anything stored.
FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)


async def book_lines(
    ctx: ServiceContext, audience: access.ApiAudience, game_id: str
) -> tuple[StoredGame, list[BookLine]]:
    """Each book's current line of a game (a closed game: its last lines). Raw odds: licence permitting."""
    access.require_raw_odds(audience)
    stored = await game_by_id(ctx, game_id)
    if stored.status == CLOSED:
        return stored, await ctx.repos.quotes.as_of(stored.game.id, FAR_FUTURE)
    return stored, await ctx.repos.quotes.latest([stored.game.id])


async def line_history(
    ctx: ServiceContext,
    audience: access.ApiAudience,
    game_id: str,
    *,
    market: Market | None = None,
    after: tuple[datetime, str, str] | None = None,
    limit: int = 50,
) -> list[BookLine]:
    """Every line the books quoted, by (observed_at, market, book) — unique per poll — after the cursor."""
    access.require_raw_odds(audience)
    stored = await game_by_id(ctx, game_id)
    lines = await ctx.repos.quotes.history(stored.game.id, market, since=after[0] if after else None)
    ordered = sorted(lines, key=lambda ln: (ln.observed_at, ln.market.value, ln.book))
    if after is not None:
        ordered = [ln for ln in ordered if (ln.observed_at, ln.market.value, ln.book) > after]
    return ordered[:limit]


async def consensus_history(
    ctx: ServiceContext,
    game_id: str,
    *,
    market: Market | None = None,
    after: tuple[datetime, str] | None = None,
    limit: int = 50,
) -> list[Consensus]:
    """The de-vigged consensus over time (derived data: every audience), by (at, market) after the cursor."""
    stored = await game_by_id(ctx, game_id)
    rows = await ctx.repos.consensus.history(stored.game.id, market)
    if after is not None:
        rows = [c for c in rows if (c.at, c.market.value) > after]
    return rows[:limit]
