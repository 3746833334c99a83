"""The signal-integrity audit's statistics: rates, a matched null, lift with a clustered interval, tiers.

A class's beat rate alone says little: a random side taken at the best number across the books can
"beat the close" most of the time when the close is graded loosely, and even when it is graded
strictly the bar for a tier must be cleared *above what chance gives under the same entry rule*.
So every class is reported beside a matched null (random games, same time to tip, random side,
same entry rule and grader) and its opposite side at the same instants, and a tier needs three
things: the promised rate over the promised sample, a lift interval above zero, and a rate above
the opposite side's. Anything else is "unproven", with the reason.

Signals of one game are not independent (one move can fire STEAM and KEY_CROSS, books are shared),
so the lift interval comes from a bootstrap that resamples whole games: each signal's null draws
travel with it.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from config.settings import TierRule

Z_95 = 1.959963984540054
UNPROVEN = "unproven"
TIER_ORDER = {UNPROVEN: 0, "B": 1, "A": 2, "S": 3}
#: Bootstrap replicates for the lift interval; percentile interval, deterministic seed.
BOOTSTRAP_REPLICATES = 2000


def wilson_interval(successes: int, trials: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval for a binomial rate; (0, 0) for no trials."""
    if trials <= 0:
        return (0.0, 0.0)
    p = successes / trials
    denominator = 1.0 + z * z / trials
    centre = (p + z * z / (2.0 * trials)) / denominator
    half = z * math.sqrt(p * (1.0 - p) / trials + z * z / (4.0 * trials * trials)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


def stable_seed(seed: int, name: str) -> int:
    """One seed per class, the same on every machine and run (Python's hash() is salted per process)."""
    return (seed * 1_000_003 + zlib.crc32(name.encode())) & 0xFFFFFFFF


@dataclass(frozen=True, slots=True)
class Trial:
    """One graded entry: a signal's, its opposite side's, or a null draw's."""

    game_id: str
    beat: bool
    push: bool
    clv: float  # expected value per unit staked at the close (CLV%)
    clv_points: float | None = None


@dataclass(slots=True)
class ClassSample:
    """What the audit of one class is computed from.

    `null` pairs each null draw with the index of the signal it was matched to, so the bootstrap can
    resample a game's signals together with their nulls.
    """

    name: str
    kind: str  # "class" (type × market), "preset" or "score"
    signals: list[Trial] = field(default_factory=list)
    null: list[tuple[int, Trial]] = field(default_factory=list)
    opposite: list[Trial] = field(default_factory=list)
    ungraded: int = 0
    record: tuple[int, int, int] | None = None  # wins, losses, pushes against the final result

    def add(self, own: Trial, nulls: Sequence[Trial], opposite: Trial | None) -> None:
        """One graded signal with its null draws (matched to it by index) and its opposite side."""
        index = len(self.signals)
        self.signals.append(own)
        self.null.extend((index, trial) for trial in nulls)
        if opposite is not None:
            self.opposite.append(opposite)


@dataclass(frozen=True, slots=True)
class ForwardRecord:
    """A class's record since its current alert state was reached: its signals fired after `since`,
    graded, with the same null and game bootstrap as the whole record (`engine.integrity`)."""

    graded: int
    beats: int
    null_rate: float | None
    lift: float | None
    lift_low: float | None
    lift_high: float | None

    @property
    def beat_rate(self) -> float | None:
        return self.beats / self.graded if self.graded else None

    def as_dict(self) -> dict[str, object]:
        return {
            "graded": self.graded,
            "beat_rate": _round(self.beat_rate),
            "null_rate": _round(self.null_rate),
            "lift": _round(self.lift),
            "lift_low": _round(self.lift_low),
            "lift_high": _round(self.lift_high),
        }


@dataclass(frozen=True, slots=True)
class ClassAudit:
    name: str
    kind: str
    graded: int
    beats: int
    pushes: int
    ungraded: int
    interval: tuple[float, float]
    null_graded: int
    null_rate: float | None
    lift: float | None
    lift_low: float | None
    lift_high: float | None
    opposite_rate: float | None
    mean_clv: float | None
    mean_clv_points: float | None
    record: tuple[int, int, int] | None
    tier: str
    reason: str
    #: Class rows only (type × market): the alert state (`engine.alert_state`), when it was reached (None:
    #: never changed, unproven from the start), why, and the record of the signals fired since.
    alert_state: str | None = None
    state_since: datetime | None = None
    state_reason: str = ""
    forward: ForwardRecord | None = None

    @property
    def rate(self) -> float | None:
        return self.beats / self.graded if self.graded else None

    @property
    def beat_rate(self) -> float | None:
        return self.rate

    def as_dict(self) -> dict[str, object]:
        record = None
        if self.record is not None:
            wins, losses, pushes = self.record
            record = {"wins": wins, "losses": losses, "pushes": pushes}
        return {
            "class": self.name,
            "kind": self.kind,
            "graded": self.graded,
            "beats": self.beats,
            "pushes": self.pushes,
            "ungraded": self.ungraded,
            "beat_rate": _round(self.rate),
            "wilson_low": _round(self.interval[0]) if self.graded else None,
            "wilson_high": _round(self.interval[1]) if self.graded else None,
            "null_graded": self.null_graded,
            "null_rate": _round(self.null_rate),
            "lift": _round(self.lift),
            "lift_low": _round(self.lift_low),
            "lift_high": _round(self.lift_high),
            "opposite_rate": _round(self.opposite_rate),
            "mean_clv": _round(self.mean_clv),
            "mean_clv_points": _round(self.mean_clv_points),
            "record": record,
            "tier": self.tier,
            "reason": self.reason,
            "alert_state": self.alert_state,
            "state_since": _iso(self.state_since),
            "state_reason": self.state_reason,
            "forward": self.forward.as_dict() if self.forward is not None else None,
        }

    def forward_record(self) -> ForwardRecord:
        """This row's numbers as a record since some instant (the row being the signals fired since)."""
        return ForwardRecord(
            graded=self.graded,
            beats=self.beats,
            null_rate=self.null_rate,
            lift=self.lift,
            lift_low=self.lift_low,
            lift_high=self.lift_high,
        )


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def _rate(trials: Sequence[Trial]) -> float | None:
    return sum(t.beat for t in trials) / len(trials) if trials else None


def bootstrap_lift(
    signals: Sequence[Trial],
    null: Sequence[tuple[int, Trial]],
    *,
    seed: int,
    replicates: int = BOOTSTRAP_REPLICATES,
) -> tuple[float, float] | None:
    """95% percentile interval of (signal rate − null rate), resampling games with replacement.

    A game carries its signals and the null draws matched to them. None when there is nothing to
    resample (fewer than two games, or no null draw).
    """
    games = sorted({t.game_id for t in signals})
    if len(games) < 2 or not null:
        return None  # one game cannot say how much games differ
    index = {game: i for i, game in enumerate(games)}
    count = len(games)
    sig_beats = np.zeros(count)
    sig_n = np.zeros(count)
    null_beats = np.zeros(count)
    null_n = np.zeros(count)
    for trial in signals:
        g = index[trial.game_id]
        sig_n[g] += 1
        sig_beats[g] += trial.beat
    for signal_index, trial in null:
        g = index[signals[signal_index].game_id]
        null_n[g] += 1
        null_beats[g] += trial.beat
    rng = np.random.Generator(np.random.PCG64(seed))
    # Each replicate is a multiset of games: counts per game from one multinomial draw.
    weights = rng.multinomial(count, np.full(count, 1.0 / count), size=replicates)
    s_n = weights @ sig_n
    n_n = weights @ null_n
    with np.errstate(invalid="ignore", divide="ignore"):
        lifts = (weights @ sig_beats) / s_n - (weights @ null_beats) / n_n
    lifts = lifts[np.isfinite(lifts)]
    if lifts.size == 0:
        return None
    low, high = np.quantile(lifts, [0.025, 0.975])
    return (float(low), float(high))


def decide_tier(
    graded: int,
    beats: int,
    lift: float | None,
    lift_low: float | None,
    opposite_rate: float | None,
    rules: Sequence[TierRule],
) -> tuple[str, str]:
    """(tier, reason): the promised bar over the promised sample, and proven lift, and above the opposite side."""
    ordered = sorted(rules, key=lambda r: (r.min_rate, r.min_graded), reverse=True)
    smallest = min((r.min_graded for r in rules), default=1)
    if graded < smallest:
        return UNPROVEN, f"too few: {graded} graded, {smallest} needed"
    rate = beats / graded
    earned = next((r for r in ordered if graded >= r.min_graded and rate > r.min_rate), None)
    if earned is None:
        allowed = [r for r in ordered if graded >= r.min_graded]
        bar = min(allowed, key=lambda r: r.min_rate)
        return UNPROVEN, f"beat rate {100 * rate:.1f}% is not above {100 * bar.min_rate:.0f}% (tier {bar.name})"
    if lift is None or lift_low is None:
        return UNPROVEN, "no null to compare with"
    if lift <= 0:
        return UNPROVEN, f"no lift: {100 * lift:+.1f} pts over the null"
    if lift_low <= 0:
        return UNPROVEN, f"lift interval crosses zero ({100 * lift_low:+.1f} pts)"
    if opposite_rate is not None and rate <= opposite_rate:
        return UNPROVEN, f"the opposite side does as well ({100 * opposite_rate:.1f}%)"
    return earned.name, ""


def audit_sample(sample: ClassSample, rules: Sequence[TierRule], *, seed: int) -> ClassAudit:
    signals = sample.signals
    graded = len(signals)
    beats = sum(t.beat for t in signals)
    rate = _rate(signals)
    null_trials = [t for _, t in sample.null]
    null_rate = _rate(null_trials)
    lift = None if rate is None or null_rate is None else rate - null_rate
    interval = bootstrap_lift(signals, sample.null, seed=stable_seed(seed, sample.name))
    lift_low, lift_high = interval if interval is not None else (None, None)
    opposite_rate = _rate(sample.opposite)
    tier, reason = decide_tier(graded, beats, lift, lift_low, opposite_rate, rules)
    points = [t.clv_points for t in signals if t.clv_points is not None]
    return ClassAudit(
        name=sample.name,
        kind=sample.kind,
        graded=graded,
        beats=beats,
        pushes=sum(t.push for t in signals),
        ungraded=sample.ungraded,
        interval=wilson_interval(beats, graded),
        null_graded=len(null_trials),
        null_rate=null_rate,
        lift=lift,
        lift_low=lift_low,
        lift_high=lift_high,
        opposite_rate=opposite_rate,
        mean_clv=sum(t.clv for t in signals) / graded if graded else None,
        mean_clv_points=sum(points) / len(points) if points else None,
        record=sample.record,
        tier=tier,
        reason=reason,
    )


def audit_samples(samples: Iterable[ClassSample], rules: Sequence[TierRule], *, seed: int) -> list[ClassAudit]:
    return [audit_sample(sample, rules, seed=seed) for sample in samples]
