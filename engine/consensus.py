"""Weighted de-vigged consensus of one game's market across books.

Spreads and totals take the weighted median of the books' main lines (robust to one book hanging a
stale number) and average the de-vigged probability of the books at that line. Moneyline averages
the de-vigged probability of every book. Weights come from config: sharper books count more.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import replace
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


def share_operator_weight(parts: tuple[BookComponent, ...], operators: Mapping[str, str]) -> tuple[BookComponent, ...]:
    """Books of one operator share one book's weight: each present member gets its weight divided by
    the number of members present, so a group quoting the same number counts once."""
    present = Counter(operators.get(c.book, c.book) for c in parts)
    if all(n == 1 for n in present.values()):
        return parts
    return tuple(
        replace(c, weight=c.weight / present[operators.get(c.book, c.book)]) if c.book in operators else c
        for c in parts
    )


def build_consensus(
    game_id: str,
    market: Market,
    at: datetime,
    components: Iterable[BookComponent],
    operators: Mapping[str, str] | None = None,
) -> Consensus | None:
    """The consensus of books' already de-vigged components; None when no book quotes the market.

    `operators` maps grouped books to their operator: `books` then counts operators, not brands.
    """
    parts = tuple(sorted(components, key=lambda c: c.book))
    if not parts:
        return None
    books = len(parts)
    if operators:
        parts = share_operator_weight(parts, operators)
        books = len({operators.get(c.book, c.book) for c in parts})
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
        books=books,
        components=parts,
    )
