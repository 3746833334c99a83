"""The public CLV audit: per signal class, how often signals beat the close, with an interval and a tier.

Tiers are earned exactly as promised: a rate strictly above the tier's bar over at least its sample
size. The Wilson interval is shown beside every rate so a 60% over 20 signals reads as what it is.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from app.settings import TierRule

Z_95 = 1.959963984540054


def wilson_interval(successes: int, trials: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval for a binomial rate; (0, 0) for no trials."""
    if trials <= 0:
        return (0.0, 0.0)
    p = successes / trials
    denominator = 1.0 + z * z / trials
    centre = (p + z * z / (2.0 * trials)) / denominator
    half = z * math.sqrt(p * (1.0 - p) / trials + z * z / (4.0 * trials * trials)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


def tier_for(beats: int, graded: int, rules: Sequence[TierRule]) -> str:
    """The best tier whose bar is cleared, or "unrated"."""
    if graded <= 0:
        return "unrated"
    rate = beats / graded
    for rule in sorted(rules, key=lambda r: (r.min_rate, r.min_graded), reverse=True):
        if graded >= rule.min_graded and rate > rule.min_rate:
            return rule.name
    return "unrated"


TIER_ORDER = {"unrated": 0, "B": 1, "A": 2, "S": 3}


@dataclass(frozen=True, slots=True)
class ClassAudit:
    name: str  # "STEAM:spreads", or "preset:high_confidence"
    graded: int
    beats: int
    pushes: int
    tier: str
    interval: tuple[float, float]

    @property
    def rate(self) -> float | None:
        return self.beats / self.graded if self.graded else None

    def as_dict(self) -> dict[str, object]:
        return {
            "class": self.name,
            "graded": self.graded,
            "beats": self.beats,
            "pushes": self.pushes,
            "beats_close_rate": self.rate,
            "wilson_95": list(self.interval),
            "tier": self.tier,
        }


def audit_class(name: str, graded: int, beats: int, pushes: int, rules: Sequence[TierRule]) -> ClassAudit:
    return ClassAudit(
        name=name,
        graded=graded,
        beats=beats,
        pushes=pushes,
        tier=tier_for(beats, graded, rules),
        interval=wilson_interval(beats, graded),
    )


def audit_outcomes(name: str, outcomes: Iterable[tuple[bool, bool]], rules: Sequence[TierRule]) -> ClassAudit:
    """Audit a class from (beat, push) pairs."""
    graded = beats = pushes = 0
    for beat, push in outcomes:
        graded += 1
        beats += beat
        pushes += push
    return audit_class(name, graded, beats, pushes, rules)
