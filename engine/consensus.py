"""Weighted de-vigged consensus of one game's market across books.

Spreads and totals take the weighted median of the books' main lines (robust to one book hanging a
stale number) and average the de-vigged probability of the books at that line. Moneyline averages
the de-vigged probability of every book. Weights come from config: sharper books count more.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from engine.models import BookComponent, Consensus, Market

_EPS = 1e-9


def weighted_median(pairs: Iterable[tuple[float, float]]) -> float:
    """Median of (value, weight) pairs; exactly half the weight on each side averages the two middles."""
    ordered = sorted(pairs)
    if not ordered:
        raise ValueError("weighted_median of nothing")
    total = sum(weight for _, weight in ordered)
    half = total / 2.0
    running = 0.0
    for index, (value, weight) in enumerate(ordered):
        running += weight
        if running > half + _EPS:
            return value
        if abs(running - half) <= _EPS:
            return (value + ordered[index + 1][0]) / 2.0 if index + 1 < len(ordered) else value
    return ordered[-1][0]


def build_consensus(
    game_id: str,
    market: Market,
    at: datetime,
    components: Iterable[BookComponent],
) -> Consensus | None:
    """The consensus of books' already de-vigged components; None when no book quotes the market."""
    parts = tuple(sorted(components, key=lambda c: c.book))
    if not parts:
        return None
    if market == Market.H2H:
        point = None
        at_line = parts
    else:
        point = weighted_median((c.point, c.weight) for c in parts if c.point is not None)
        nearest = min(abs(c.point - point) for c in parts if c.point is not None)
        at_line = tuple(c for c in parts if c.point is not None and abs(c.point - point) - nearest <= _EPS)
    weight = sum(c.weight for c in at_line)
    prob_a = sum(c.prob_a * c.weight for c in at_line) / weight
    return Consensus(
        game_id=game_id,
        market=market,
        at=at,
        point=point,
        prob_a=prob_a,
        books=len(parts),
        components=parts,
    )
