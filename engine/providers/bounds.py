"""Bounds a quote must lie within to be believed: American prices, spread points and totals.

A parsed quote can be well-formed and still absurd: a price of 1e19 or 10**30 (which SQLite cannot even
store as an INTEGER, so one such quote used to lose the whole snapshot), a spread of a billion points, a
total of zero. No book quotes those, so they are feed faults like any malformed value: each is rejected
with a reason and the rest of the snapshot is kept.

The bounds are per market, with per-sport overrides (a WNBA total is not an NBA total). They come from
`[feed.bounds]` in config.toml; `DEFAULT_BOUNDS` mirrors its documented defaults so a caller that passes
none (benchmarks, tests of the parser) still never lets an unstorable number through.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from config import settings as config
from engine.models import BookLine, EventOdds, Market, Rejection

__all__ = ["DEFAULT_BOUNDS", "FeedBounds", "QuoteBounds", "apply_bounds", "bounds_from_settings"]


@dataclass(frozen=True, slots=True)
class QuoteBounds:
    """One market's limits: |price| <= max_price (|price| >= 100 is the parser's own rule), and the
    point (spreads: the home team's; totals: the total) within [min_point, max_point] when given."""

    max_price: int
    min_point: float | None = None
    max_point: float | None = None

    def reason(self, line: BookLine) -> str | None:
        """Why `line` is out of these bounds, or None when it is within them."""
        limit = self.max_price
        for price in (line.price_a, line.price_b):
            if price > limit or price < -limit:
                return f"price {_short(price)} out of bounds (|price| <= {limit})"
        point = line.point
        if point is not None:
            low, high = self.min_point, self.max_point
            if (low is not None and point < low) or (high is not None and point > high):
                return f"point {_short(point)} out of bounds ({_edge(low)}..{_edge(high)})"
        return None


@dataclass(frozen=True, slots=True)
class FeedBounds:
    """Per-market bounds, and per-sport replacements of some markets' bounds."""

    markets: Mapping[Market, QuoteBounds]
    sports: Mapping[str, Mapping[Market, QuoteBounds]] = field(default_factory=dict)

    def for_sport(self, sport_key: str) -> Mapping[Market, QuoteBounds]:
        override = self.sports.get(sport_key)
        if not override:
            return self.markets
        return {**self.markets, **override}


#: The documented defaults of `[feed.bounds]` (config.toml): real moneyline long shots reach +50000,
#: and a game all but decided in play is quoted -100000 (Bovada, All-Star 2022, tests/fixtures); spread
#: and total prices stay near -110 (±10000 leaves room for any alternate juice); no basketball spread
#: comes near 60 points; NBA totals sit near 200-250 and WNBA ones near 150-180.
DEFAULT_BOUNDS = FeedBounds(
    markets={
        Market.H2H: QuoteBounds(max_price=100_000),
        Market.SPREADS: QuoteBounds(max_price=10_000, min_point=-60.0, max_point=60.0),
        Market.TOTALS: QuoteBounds(max_price=10_000, min_point=100.0, max_point=400.0),
    },
    sports={"basketball_wnba": {Market.TOTALS: QuoteBounds(max_price=10_000, min_point=100.0, max_point=250.0)}},
)


def bounds_from_settings(settings: config.FeedBounds) -> FeedBounds:
    """The engine's frozen bounds from `[feed.bounds]` (plain values: the parser stays free of pydantic)."""

    def quote(market: config.MarketBounds) -> QuoteBounds:
        return QuoteBounds(market.max_price, market.min_point, market.max_point)

    def markets(section: config.FeedBounds | config.SportBounds) -> dict[Market, QuoteBounds]:
        found = {}
        for market in (Market.H2H, Market.SPREADS, Market.TOTALS):
            value = getattr(section, market.value)
            if value is not None:
                found[market] = quote(value)
        return found

    return FeedBounds(markets(settings), {sport: markets(section) for sport, section in settings.sports.items()})


def apply_bounds(event: EventOdds, bounds: FeedBounds, rejections: list[Rejection]) -> EventOdds:
    """`event` without its out-of-bounds lines, each recorded in `rejections`; `event` itself when every
    line is within bounds (the usual case: no copy)."""
    limits = bounds.for_sport(event.game.sport_key)
    kept: list[BookLine] | None = None
    for index, line in enumerate(event.lines):
        market_bounds = limits.get(line.market)
        reason = market_bounds.reason(line) if market_bounds is not None else None
        if reason is None:
            if kept is not None:
                kept.append(line)
            continue
        if kept is None:
            kept = list(event.lines[:index])
        rejections.append(Rejection(reason, event.game.id, line.book, line.market.value))
    if kept is None:
        return event
    return EventOdds(event.game, tuple(kept))


def _short(value: float) -> str:
    """`repr`, cut short: an integer of hundreds of digits cannot even become a float."""
    text = repr(value)
    return text if len(text) <= 24 else f"{text[:12]}...({len(text)} chars)"


def _edge(value: float | None) -> str:
    return "" if value is None else f"{value:g}"
