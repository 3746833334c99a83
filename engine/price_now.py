"""The best price a member can take on one side now, and what it is worth against the fair price now.

The expected value is the grader's own rule (`engine.clv.entry_value`) with the current no-vig consensus in
place of the close: moneyline, decimal × the side's fair probability − 1; spreads and totals, through the
cover model tilted to price the consensus number at the side's fair probability, so +3.5 (−125) and +3
(−105) are compared on one scale (a push refunds the stake). An alert says it; `/signal` says it; a
move whose best entry is already worse than `alerts.max_negative_ev` goes out without a ping.

"Best" is the highest expected value among the books quoting the side now (ties: the better number, then
the book's key), not the best number first as the /odds board's ★ ranks quotes: the member's question is
which price is worth taking, and half a point at −125 can be worth less than the number at −105.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from engine.clv import Ungradable, bettor_value, entry_value
from engine.cover import CoverModel
from engine.models import BookLine, Consensus, Market, Side

__all__ = ["PriceNow", "best_price_now", "ev_against_fair"]


@dataclass(frozen=True, slots=True)
class PriceNow:
    """One side's best price now: the book, its number and price, and its EV against the fair price."""

    side: Side
    book: str | None  # None where the viewer may not see book names (`access.shape_price`)
    point: float | None  # the side's own number (the away spread is the home spread negated)
    price: int
    ev: float  # expected profit per unit staked at this price and number against the fair price
    fair_point: float | None  # the consensus number, as the side sees it
    fair_prob: float  # the side's no-vig consensus probability at `fair_point`
    at: datetime  # the consensus instant the EV is measured against
    books: int  # books in that consensus


def ev_against_fair(
    market: Market, side: Side, point: float | None, price: int, fair: Consensus, cover: CoverModel
) -> float:
    """Expected profit per unit staked of taking `price` at `point` on `side` when `fair` is the truth:
    the grader's `entry_value` against the consensus instead of the close. Raises `Ungradable` when a
    spread or total has no number, ValueError for a price no book can quote."""
    return entry_value(market, side, point, price, fair, cover).ev


def best_price_now(lines: Iterable[BookLine], fair: Consensus | None, side: Side, cover: CoverModel) -> PriceNow | None:
    """Among `lines` (the books' current lines of `fair`'s market), the quote on `side` worth the most
    against `fair`; None without a fair price or a quote that can be valued."""
    if fair is None or not 0.0 < fair.side_prob(side) < 1.0:
        return None
    market = fair.market
    valued: list[tuple[tuple[float, float, str], BookLine, float]] = []
    for line in lines:
        if line.market != market:
            continue
        point, price = line.side_point(side), line.side_price(side)
        try:
            ev = ev_against_fair(market, side, point, price, fair, cover)
        except (Ungradable, ValueError):
            continue
        if math.isfinite(ev):
            number = bettor_value(market, side, point) if point is not None else 0.0
            # Highest EV (to 1e-9, so float noise cannot pick), then the better number, then the book key.
            valued.append(((-round(ev, 9), -number, line.book), line, ev))
    if not valued:
        return None
    _, line, ev = min(valued, key=lambda item: item[0])
    return PriceNow(
        side=side,
        book=line.book,
        point=line.side_point(side),
        price=line.side_price(side),
        ev=ev,
        fair_point=fair.side_point(side),
        fair_prob=fair.side_prob(side),
        at=fair.at,
        books=fair.books,
    )
