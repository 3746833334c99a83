"""Building the audit from the database: every graded signal, its matched null and its opposite side.

One report for every surface. Classes are type × market, each preset, and each score bucket; a
signal belongs to its class, to every preset it passes and to its score bucket, and carries the same
null draws and opposite-side grade into each of them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from functools import cache
from itertools import pairwise

from config.settings import Settings
from engine.audit import BOOTSTRAP_REPLICATES, UNPROVEN, ClassAudit, ClassSample, Trial, audit_samples
from engine.cover import CoverModel, cover_model_for
from engine.models import Close, Market, Signal, SignalType
from engine.null import MarketTapes, NullContext, null_trials, opposite_trial
from engine.presets import needs_audit, passes
from engine.providers.closes import CLOSE_SOURCE_LABEL, outcome_against_result
from engine.reports import AuditReport
from storage import Repositories

GUIDE = "docs/signal-integrity.md"
CONSENSUS_CLOSE_LABEL = "closing consensus (last pre-tip snapshot, no vig)"


def score_bucket(score: int, edges: Sequence[int]) -> str:
    """ "score:40-54" for edges [40, 55, 70]: buckets are [0, 40), [40, 55), [55, 70), [70, 100]."""
    bounds = [0, *sorted(edges), 101]
    for low, high in pairwise(bounds):
        if low <= score < high:
            return f"score:{low}-{min(high - 1, 100)}"
    return f"score:{score}"


def _bucket_names(edges: Sequence[int]) -> list[str]:
    bounds = [0, *sorted(edges), 101]
    return [f"score:{low}-{min(high - 1, 100)}" for low, high in pairwise(bounds)]


async def build_audit(repos: Repositories, settings: Settings) -> AuditReport:
    clv = settings.clv
    graded = await repos.grades.graded_signals()
    ungraded = await repos.grades.ungraded()
    closes = {(c.game_id, c.market): c for c in await repos.closes.all()}
    stored_games = await repos.games.list(limit=1_000_000)
    tips = {g.game.id: g.scheduled_tip for g in stored_games}
    sports = {g.game.id: g.game.sport_key for g in stored_games}
    results = await repos.closes.results()

    @cache
    def cover_of_sport(sport: str) -> CoverModel:
        return cover_model_for(sport, sd_spreads=clv.fallback_sd_spreads, sd_totals=clv.fallback_sd_totals)

    def cover_for(game_id: str) -> CoverModel:
        return cover_of_sport(sports.get(game_id, settings.feed.sport))

    tapes = MarketTapes(await repos.quotes.all_timelines())
    ctx = NullContext(
        tapes=tapes,
        closes=closes,
        tips=tips,
        cover_for=cover_for,
        max_age=timedelta(seconds=clv.close_max_age_seconds),
        draws=clv.null_draws,
        seed=clv.seed,
        devig_method=settings.consensus.devig,
    )
    candidates = {market: [g for g in tapes.games(market) if (g, market) in closes and g in tips] for market in Market}

    # Each graded signal once: its own trial, its null draws, its opposite side, its result.
    per_signal: list[tuple[Signal, Trial, list[Trial], Trial | None, str | None]] = []
    for signal, grade in graded:
        own = Trial(
            game_id=signal.game_id, beat=grade.beat, push=grade.push, clv=grade.clv_ev, clv_points=grade.clv_points
        )
        result = None
        score = results.get(signal.game_id)
        if score is not None:
            result = outcome_against_result(signal.market, signal.side, signal.entry.point, *score)
        per_signal.append(
            (signal, own, null_trials(ctx, signal, candidates[signal.market]), opposite_trial(ctx, signal), result)
        )

    samples: dict[str, ClassSample] = {}

    def sample(name: str, kind: str) -> ClassSample:
        if name not in samples:
            samples[name] = ClassSample(name=name, kind=kind)
        return samples[name]

    for kind in SignalType:
        for market in Market:
            if any(s.type == kind and s.market == market for s, *_ in per_signal) or any(
                s.type == kind and s.market == market for s, _ in ungraded
            ):
                sample(f"{kind.value}:{market.value}", "class")
    # Class rows first: presets are defined from the classes' measured lift.
    records: dict[str, list[str]] = defaultdict(list)
    for signal, own, nulls, opposite, result in per_signal:
        _add(sample(signal.signal_class, "class"), own, nulls, opposite)
        if result is not None:
            records[signal.signal_class].append(result)
    for signal, _reason in ungraded:
        sample(signal.signal_class, "class").ungraded += 1
    _set_records(samples, records)
    class_rows = audit_samples(samples.values(), clv.tiers, seed=clv.seed)
    standings = {row.name: row for row in class_rows}

    derived: dict[str, ClassSample] = {}
    for key in settings.presets:
        derived[f"preset:{key}"] = ClassSample(name=f"preset:{key}", kind="preset")
    for name in _bucket_names(clv.score_buckets):
        derived[name] = ClassSample(name=name, kind="score")
    for signal, own, nulls, opposite, result in per_signal:
        for name in _memberships(signal, settings, standings):
            _add(derived[name], own, nulls, opposite)
            if result is not None:
                records[name].append(result)
    for signal, _reason in ungraded:
        for name in _memberships(signal, settings, standings):
            derived[name].ungraded += 1
    _set_records(derived, records)
    rows = class_rows + [
        _in_sample_guard(row, settings) for row in audit_samples(derived.values(), clv.tiers, seed=clv.seed)
    ]
    counts = await repos.signals.count_by_type()
    return AuditReport(
        classes=tuple(rows),
        signals_by_type={kind.value: counts.get(kind, 0) for kind in SignalType},
        close_source=_close_label(
            [closes[(s.game_id, s.market)] for s, _ in graded if (s.game_id, s.market) in closes]
        ),
        method={
            "entry": "best number across the books on the signal's side at its instant (DISLOCATION: that "
            "book's quote), its own price, vig included",
            "close": f"no-vig close observed strictly after the signal, at most {clv.close_max_age_seconds:.0f} s "
            "before tip",
            "beats_close": "expected value of the entry at the close > 0 (cover model for spreads and totals)",
            "null": f"{clv.null_draws} draws per signal: random game of the replay, same market and time to tip, "
            "random side, same entry rule and grader",
            "lift_interval": f"95% percentile, {BOOTSTRAP_REPLICATES} bootstrap replicates resampling games",
            "seed": clv.seed,
            "tiers": [{"name": r.name, "min_rate": r.min_rate, "min_graded": r.min_graded} for r in clv.tiers],
            "guide": GUIDE,
        },
    )


def _in_sample_guard(row: ClassAudit, settings: Settings) -> ClassAudit:
    """A preset chosen by this very table's class lifts is measured on the signals that chose it: its rate
    is biased upwards, so it never carries a tier of its own (its classes' rows do)."""
    if row.kind != "preset" or row.tier == UNPROVEN:
        return row
    preset = settings.presets.get(row.name.removeprefix("preset:"))
    if preset is None or not needs_audit(preset):
        return row
    return replace(row, tier=UNPROVEN, reason=f"in-sample: chosen by this table's class lifts (would be {row.tier})")


def _set_records(samples: dict[str, ClassSample], records: dict[str, list[str]]) -> None:
    for name, row_sample in samples.items():
        outcomes = records.get(name)
        if outcomes:
            row_sample.record = (outcomes.count("win"), outcomes.count("loss"), outcomes.count("push"))


def _add(target: ClassSample, own: Trial, nulls: list[Trial], opposite: Trial | None) -> None:
    index = len(target.signals)
    target.signals.append(own)
    target.null.extend((index, trial) for trial in nulls)
    if opposite is not None:
        target.opposite.append(opposite)


def _memberships(signal: Signal, settings: Settings, standings) -> list[str]:
    names = [f"preset:{key}" for key, preset in settings.presets.items() if passes(signal, preset, standings)]
    names.append(score_bucket(signal.score, settings.clv.score_buckets))
    return names


def _close_label(closes) -> str:
    """What the graded signals were graded against."""
    sources = {close.source for close in closes}
    if sources == {"external"}:
        return CLOSE_SOURCE_LABEL
    if "external" in sources:
        return f"{CONSENSUS_CLOSE_LABEL}; some games: {CLOSE_SOURCE_LABEL}"
    return CONSENSUS_CLOSE_LABEL


def close_map(closes: Sequence[Close]) -> dict[tuple[str, Market], Close]:
    return {(c.game_id, c.market): c for c in closes}
