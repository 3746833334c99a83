"""The 0-100 signal score, its breakdown, and a game's heat.

Every component is normalised to 0..1 against the signal type's own threshold, so a STEAM on totals
and one on moneylines are scored on the same footing. The weights live in config.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta

from config.settings import ScoreWeights
from engine.models import ScoreBreakdown, Signal

#: A signal this many hours or more before tip gets no time-to-tip credit.
TIME_TO_TIP_HORIZON_HOURS = 24.0
#: A component the signal type has no measure for (a DISLOCATION has no velocity) counts as neutral.
NEUTRAL = 0.5


def _clamp(value: float) -> float:
    return max(0.0, min(1.0, value))


def magnitude_component(magnitude: float, threshold: float) -> float:
    """1.0 at three times the threshold; the threshold itself scores 1/3."""
    return _clamp(magnitude / (3.0 * threshold))


def velocity_component(velocity: float | None, threshold: float) -> float:
    """1.0 for a threshold-sized move per 5 minutes or faster."""
    if velocity is None:
        return NEUTRAL
    return _clamp(velocity * 5.0 / threshold)


def sharp_component(
    books: Sequence[str], sharp_books: Iterable[str], weight_of, operators: Mapping[str, str] | None = None
) -> float:
    """Share of the involved books' weight that belongs to sharp books; one operator's books count once
    (the first of them in the list speaks for the group)."""
    sharp = set(sharp_books)
    if operators:
        seen: set[str] = set()
        unique = []
        for book in books:
            key = operators.get(book, book)
            if key not in seen:
                seen.add(key)
                unique.append(book)
        books = unique
    total = sum(weight_of(book) for book in books)
    if total <= 0:
        return 0.0
    return _clamp(sum(weight_of(book) for book in books if book in sharp) / total)


def time_to_tip_component(at: datetime, tip: datetime) -> float:
    hours = (tip - at).total_seconds() / 3600.0
    return _clamp(1.0 - hours / TIME_TO_TIP_HORIZON_HOURS)


def score(
    *,
    magnitude: float,
    velocity: float,
    breadth: float,
    sharp: float,
    time_to_tip: float,
    weights: ScoreWeights,
) -> ScoreBreakdown:
    parts = {
        "magnitude": _clamp(magnitude),
        "velocity": _clamp(velocity),
        "breadth": _clamp(breadth),
        "sharp": _clamp(sharp),
        "time_to_tip": _clamp(time_to_tip),
    }
    weight_total = sum(getattr(weights, name) for name in parts)
    total = sum(parts[name] * getattr(weights, name) for name in parts) / weight_total
    rounded = {name: round(value, 4) for name, value in parts.items()}
    return ScoreBreakdown(**rounded, total=round(100.0 * total))


def heat(signals: Iterable[Signal], now: datetime, window_seconds: float, thresholds: Sequence[float]) -> int:
    """0-3 from the summed scores of a game's signals in the recent window."""
    since = now - timedelta(seconds=window_seconds)
    load = sum(s.score for s in signals if since < s.created_at <= now)
    return sum(1 for threshold in thresholds if load >= threshold)
