"""DISLOCATION: one book's number far from the consensus.

The gap is the book's point minus the consensus point (spreads in home terms, totals), or its
de-vigged probability minus the consensus one (moneyline). The signal points to the side on which
that book offers the better number: a home spread higher than consensus favours the home bettor, a
total higher than consensus favours the under, a lower home probability means a longer home price.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from engine.models import BookLine, Consensus, Market, Side

_EPS = 1e-9


@dataclass(frozen=True, slots=True)
class DislocationHit:
    book: str
    side: Side
    gap: float  # signed, in points (spreads/totals) or probability (moneyline), book minus consensus


def dislocation_side(market: Market, gap: float) -> Side:
    if market == Market.SPREADS:
        return Side.HOME if gap > 0 else Side.AWAY
    if market == Market.TOTALS:
        return Side.UNDER if gap > 0 else Side.OVER
    return Side.AWAY if gap > 0 else Side.HOME


def detect_dislocations(
    consensus: Consensus,
    lines: Mapping[str, BookLine],
    probs: Mapping[str, float],
    *,
    threshold: float,
    min_books: int,
) -> list[DislocationHit]:
    if consensus.books < min_books:
        return []
    hits = []
    for book, line in sorted(lines.items()):
        if consensus.market == Market.H2H:
            gap = probs[book] - consensus.prob_a
        elif line.point is None or consensus.point is None:
            continue
        else:
            gap = line.point - consensus.point
        if abs(gap) >= threshold - _EPS:
            hits.append(DislocationHit(book=book, side=dislocation_side(consensus.market, gap), gap=gap))
    return hits
