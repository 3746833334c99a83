"""STEAM: several books move the same way, fast.

Within the window (never shorter than two polls of the feed, so a 15-minute tape still sees moves
that straddle two polls), each book's net move is the sum of its own moves; books whose net move
reaches the threshold in one direction are the movers. At least `min_books` movers, one of them
fresh in this snapshot, make a STEAM. Movers are ordered by the book's own `last_update`, so the
first mover is the book that really moved first, not the one the poll happened to see first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from engine.state import Move

_EPS = 1e-9
MIN_SPAN_MINUTES = 1.0


@dataclass(frozen=True, slots=True)
class SteamHit:
    direction: int
    books: tuple[str, ...]  # first mover first
    magnitude: float  # mean net move of the movers
    velocity: float  # magnitude per minute between the first and the last mover
    first_move_at: datetime
    last_move_at: datetime
    window_seconds: float


def steam_window(configured_seconds: float, feed_interval_seconds: float | None) -> float:
    if feed_interval_seconds is None:
        return configured_seconds
    return max(configured_seconds, 2.0 * feed_interval_seconds)


def detect_steam(
    moves: Iterable[Move],
    now: datetime,
    *,
    window_seconds: float,
    threshold: float,
    min_books: int,
    operator: Callable[[str], str] | None = None,
) -> SteamHit | None:
    """The strongest coordinated move in the window ending at `now`, if any.

    `operator` maps a book to its operator: books of one operator count once towards `min_books`.
    """
    since = now - timedelta(seconds=window_seconds)
    net: dict[str, float] = {}
    first_at: dict[str, datetime] = {}
    last_at: dict[str, datetime] = {}
    fresh: set[str] = set()
    for move in moves:
        if move.observed_at <= since or move.observed_at > now:
            continue
        net[move.book] = net.get(move.book, 0.0) + move.direction * move.size
        first_at[move.book] = min(first_at.get(move.book, move.at), move.at)
        last_at[move.book] = max(last_at.get(move.book, move.at), move.at)
        if move.observed_at == now:
            fresh.add(move.book)
    best: SteamHit | None = None
    best_count = 0
    for direction in (1, -1):
        movers = [book for book, value in net.items() if value * direction >= threshold - _EPS]
        distinct = len({operator(book) for book in movers}) if operator is not None else len(movers)
        if distinct < min_books or not fresh.intersection(movers):
            continue
        movers.sort(key=lambda book: (first_at[book], book))
        magnitude = sum(abs(net[book]) for book in movers) / len(movers)
        start = min(first_at[book] for book in movers)
        end = max(last_at[book] for book in movers)
        span = max((end - start).total_seconds() / 60.0, MIN_SPAN_MINUTES)
        hit = SteamHit(
            direction=direction,
            books=tuple(movers),
            magnitude=magnitude,
            velocity=magnitude / span,
            first_move_at=start,
            last_move_at=end,
            window_seconds=window_seconds,
        )
        if best is None or (distinct, hit.magnitude) > (best_count, best.magnitude):
            best_count = distinct
            best = hit
    return best
