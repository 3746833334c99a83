"""Turning a detector hit into a `Signal`: its side, entry, score and stable id."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from config.settings import Settings
from engine import scoring
from engine.clv import bettor_value
from engine.models import (
    MARKET_SIDES,
    BookLine,
    Consensus,
    Entry,
    Game,
    Market,
    Side,
    Signal,
    SignalType,
    is_side_a,
)
from engine.odds import american_to_decimal


def side_for(market: Market, direction: int) -> Side:
    first, second = MARKET_SIDES[market]
    return first if direction > 0 else second


def signal_id(kind: SignalType, game_id: str, market: Market, side: Side, at: datetime, discriminator: str) -> str:
    """Deterministic: replaying the same tape yields the same ids, so storing a signal twice is a no-op."""
    raw = f"{kind.value}|{game_id}|{market.value}|{side.value}|{at.isoformat()}|{discriminator}"
    return hashlib.sha256(raw.encode()).hexdigest()[:20]


def entry_for(line: BookLine, prob_a: float, side: Side) -> Entry:
    return Entry(
        book=line.book,
        point=line.side_point(side),
        price=line.side_price(side),
        prob=prob_a if is_side_a(line.market, side) else 1.0 - prob_a,
    )


def best_entry(lines: Mapping[str, BookLine], probs: Mapping[str, float], market: Market, side: Side) -> Entry:
    """The best number on `side` across the books: best point, then best price, then book name."""

    def rank(book: str) -> tuple[float, float]:
        line = lines[book]
        point = line.side_point(side)
        value = bettor_value(market, side, point) if point is not None else 0.0
        return (value, american_to_decimal(line.side_price(side)))

    book = max(sorted(lines), key=rank)  # max() keeps the first of equals: the alphabetically first book
    return entry_for(lines[book], probs[book], side)


def build_signal(
    *,
    kind: SignalType,
    game: Game,
    tip: datetime,
    market: Market,
    side: Side,
    now: datetime,
    books: Sequence[str],
    magnitude: float,
    velocity: float | None,
    breadth: float,
    threshold: float,
    entry: Entry,
    consensus: Consensus,
    details: dict[str, Any],
    discriminator: str,
    settings: Settings,
) -> Signal:
    consensus_settings = settings.consensus
    breakdown = scoring.score(
        magnitude=scoring.magnitude_component(magnitude, threshold),
        velocity=scoring.velocity_component(velocity, threshold),
        breadth=breadth,
        sharp=scoring.sharp_component(
            books, consensus_settings.sharp_books, consensus_settings.weight, consensus_settings.operator_map()
        ),
        time_to_tip=scoring.time_to_tip_component(now, tip),
        weights=settings.score.weights,
    )
    return Signal(
        id=signal_id(kind, game.id, market, side, now, discriminator),
        type=kind,
        game_id=game.id,
        market=market,
        side=side,
        created_at=now,
        score=breakdown.total,
        breakdown=breakdown,
        books=tuple(books),
        magnitude=round(magnitude, 6),
        velocity=None if velocity is None else round(velocity, 6),
        entry=entry,
        consensus_point=consensus.side_point(side),
        consensus_prob=round(consensus.side_prob(side), 6),
        commence_time=tip,
        details=details,
    )
