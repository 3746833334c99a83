"""Building the audit from the database: every graded signal, its matched null and its opposite side.

One report for every surface. Classes are type × market, each preset, and each score bucket; a
signal belongs to its class, to every preset it passes and to its score bucket, and carries the same
null draws and opposite-side grade into each of them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cache
from itertools import pairwise

from config.settings import Settings
from engine.alert_state import REFUTED, TIERED, UNPROVEN, ClassState, initial
from engine.audit import (
    BOOTSTRAP_REPLICATES,
    ClassAudit,
    ClassSample,
    Trial,
    audit_sample,
    audit_samples,
)
from engine.cover import CoverModel, cover_model_of
from engine.models import Close, Grade, Market, Signal, SignalType
from engine.null import MarketTapes, NullContext, measure_signal
from engine.presets import needs_audit, passes
from engine.providers.closes import CLOSE_SOURCE_LABEL, outcome_against_result
from engine.reports import AuditReport
from engine.walkforward import WalkForward
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


def cover_by_game(settings: Settings, sports: Mapping[str, str]) -> Callable[[str], CoverModel]:
    """A game's cover model by its sport (`sports`, read at each call so later games count; the feed's
    sport when unknown), built once per sport: the hindsight audit and the walk-forward one price alike."""

    @cache
    def of_sport(sport: str) -> CoverModel:
        return cover_model_of(settings, sport)

    return lambda game_id: of_sport(sports.get(game_id, settings.feed.sport))


#: One graded signal as the audit measures it: its own trial, its null draws, its opposite side and its
#: outcome against the final result (where a closes file carries scores).
Measured = tuple[Signal, Trial, list[Trial], Trial | None, str | None]


async def measure(repos: Repositories, settings: Settings, graded: Sequence[tuple[Signal, Grade]]) -> list[Measured]:
    """Each graded signal once, in hindsight: its null drawn from every game of the database with a close."""
    closes = {(c.game_id, c.market): c for c in await repos.closes.all()}
    stored_games = await repos.games.list(limit=1_000_000)
    tips = {g.game.id: g.scheduled_tip for g in stored_games}
    sports = {g.game.id: g.game.sport_key for g in stored_games}
    results = await repos.closes.results()
    tapes = MarketTapes(await repos.quotes.all_timelines())
    ctx = NullContext.of(settings, tapes, closes, tips, cover_by_game(settings, sports))
    candidates = {market: [g for g in tapes.games(market) if (g, market) in closes and g in tips] for market in Market}
    per_signal: list[Measured] = []
    for signal, grade in graded:
        result = None
        score = results.get(signal.game_id)
        if score is not None:
            result = outcome_against_result(signal.market, signal.side, signal.entry.point, *score)
        per_signal.append((signal, *measure_signal(ctx, signal, grade, candidates[signal.market]), result))
    return per_signal


async def build_audit(repos: Repositories, settings: Settings) -> AuditReport:
    clv = settings.clv
    graded = await repos.grades.graded_signals()
    ungraded = await repos.grades.ungraded()
    closes = {(c.game_id, c.market): c for c in await repos.closes.all()}
    per_signal = await measure(repos, settings, graded)

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
        sample(signal.signal_class, "class").add(own, nulls, opposite)
        if result is not None:
            records[signal.signal_class].append(result)
    for signal, _reason in ungraded:
        sample(signal.signal_class, "class").ungraded += 1
    _set_records(samples, records)
    states = await repos.class_states.current()
    class_rows = [
        _with_state(row, states.get(row.name), per_signal, settings)
        for row in audit_samples(samples.values(), clv.tiers, seed=clv.seed)
    ]
    standings = {row.name: row for row in class_rows}

    derived: dict[str, ClassSample] = {}
    for key in settings.presets:
        derived[f"preset:{key}"] = ClassSample(name=f"preset:{key}", kind="preset")
    for name in _bucket_names(clv.score_buckets):
        derived[name] = ClassSample(name=name, kind="score")
    for signal, own, nulls, opposite, result in per_signal:
        for name in _memberships(signal, settings, standings):
            derived[name].add(own, nulls, opposite)
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


def _with_state(row: ClassAudit, state: ClassState | None, per_signal, settings: Settings) -> ClassAudit:
    """A class row with its alert state (as stored, walk-forward), when it was reached, and the record of
    the signals fired since then (all of them when the state never changed)."""
    state = state or initial(row.name)
    since = state.since
    if since is None:
        record = row.forward_record()  # every signal of the class: the row itself, already bootstrapped
    else:
        forward = ClassSample(name=row.name, kind="class")
        for signal, own, nulls, opposite, _result in per_signal:
            if signal.signal_class == row.name and signal.created_at > since:
                forward.add(own, nulls, opposite)
        record = audit_sample(forward, settings.clv.tiers, seed=settings.clv.seed).forward_record()
    reason = state.why() if since is not None else (row.reason or "unproven as its grades came in")
    return replace(row, alert_state=state.state, state_since=since, state_reason=reason, forward=record)


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


def _memberships(signal: Signal, settings: Settings, standings) -> list[str]:
    """The preset and score rows a signal counts in: none when its class is refuted (presets and the score
    rest only on classes that are not)."""
    standing = standings.get(signal.signal_class)
    if standing is not None and standing.alert_state == REFUTED:
        return []
    minimum = settings.clv.preset_min_graded
    names = [
        f"preset:{key}"
        for key, preset in settings.presets.items()
        if passes(signal, preset, standings, min_graded=minimum)
    ]
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


# ---------------------------------------------------------------------- alert states, walk-forward

#: How far the walk-forward audit has decided (the `graded_at` of the last grades it judged).
STATES_CURSOR = "alert_states:graded_at"


class AlertStates:
    """The alert state of every class, kept by the engine service inside each snapshot's transaction.

    Each commit that grades signals re-audits their classes as known at that commit (`WalkForward`) and
    stores every change of state or tier (`class_states`) in the same transaction as the grades that made
    it, so the record is never ahead of or behind the grades. The walk-forward memory is built from the
    database at the first commit that grades anything (a restart resumes there; grades the cursor has not
    judged yet — from before migration 0014 — are judged then, in their order) and then fed each commit's
    quotes and closes. `reset` drops it after a failed commit; the next grading commit rebuilds it.
    """

    def __init__(self, settings: Settings, repos: Repositories) -> None:
        self.settings = settings
        self.repos = repos
        self._walk: WalkForward | None = None
        self._sports: dict[str, str] = {}

    def reset(self) -> None:
        self._walk = None

    async def on_commit(self, tick) -> list[ClassState]:
        """Inside the snapshot's transaction, after its writes: the changes its grades made (stored)."""
        walk = self._walk
        if walk is None:
            return await self._load() if tick.grades else []
        walk.add_lines(tick.lines)
        walk.add_lines(tick.withdrawn, withdrawn=True)
        for close in tick.closes:
            stored = await self.repos.games.get(close.game_id)
            if stored is not None:
                self._sports[close.game_id] = stored.game.sport_key
                walk.add_close(close, stored.scheduled_tip)
        if not tick.grades:
            return []
        changes = walk.grade(tick.grades, tick.at)
        await self._store(changes, tick.at)
        return changes

    async def _store(self, changes: list[ClassState], at: datetime) -> None:
        for change in changes:
            await self.repos.class_states.record(change)
        await self.repos.cursors.set(STATES_CURSOR, at, at)

    async def _load(self) -> list[ClassState]:
        """Build the walk-forward memory from the database (this commit's writes included) and judge the
        grades not judged yet, batch by batch in the order they were committed."""
        repos = self.repos
        stored_games = await repos.games.list(limit=1_000_000)
        tips = {g.game.id: g.scheduled_tip for g in stored_games}
        self._sports = {g.game.id: g.game.sport_key for g in stored_games}
        walk = WalkForward(self.settings, cover_by_game(self.settings, self._sports))
        for line, withdrawn in await repos.quotes.all_timelines():
            walk.tapes.add(line, withdrawn)
        closes = sorted(await repos.closes.all(), key=lambda c: (c.captured_at, c.game_id, c.market.value))
        batches: dict[datetime, list[tuple[Signal, Grade]]] = defaultdict(list)
        for signal, grade in await repos.grades.graded_signals():
            batches[grade.graded_at].append((signal, grade))
        judged = await repos.cursors.get(STATES_CURSOR)
        walk.states = await repos.class_states.current()
        made: list[ClassState] = []
        next_close = 0
        for at in sorted(batches):
            while next_close < len(closes) and closes[next_close].captured_at <= at:
                close = closes[next_close]
                if close.game_id in tips:
                    walk.add_close(close, tips[close.game_id])
                next_close += 1
            if judged is not None and at <= judged:
                walk.absorb(batches[at])
            else:
                changes = walk.grade(batches[at], at)
                await self._store(changes, at)
                made += changes
        for close in closes[next_close:]:
            if close.game_id in tips:
                walk.add_close(close, tips[close.game_id])
        self._walk = walk
        return made


# ---------------------------------------------------------------------- walk-forward, out of sample


@dataclass(frozen=True, slots=True)
class SplitRow:
    """A class (or a pool of classes in one state) tested out of sample: its alert state at the split, as
    earned from the grades committed before it, and the audit of its signals fired from the split on."""

    name: str
    state: ClassState
    first_graded: int  # grades committed before the split
    second: ClassAudit  # the signals fired at or after the split, graded; tiered on their own


async def split_audit(repos: Repositories, settings: Settings, at: datetime) -> tuple[list[SplitRow], list[SplitRow]]:
    """States earned before `at`, tested on what fired from `at` on: (per class, pooled per state).

    The states are the stored walk-forward ones (`class_states`), as they gated alerts at `at`; the test
    rows use the whole record's hindsight null (`measure`), tiered by the same rule on the later signals
    alone, so a state that held up shows a later lift interval on the same side of zero."""
    clv = settings.clv
    graded = await repos.grades.graded_signals()
    states = await repos.class_states.before(at)
    first = defaultdict(int)
    for signal, grade in graded:
        if grade.graded_at < at:
            first[signal.signal_class] += 1
    later = await measure(repos, settings, [(s, g) for s, g in graded if s.created_at >= at])  # draws: per signal
    per_class: dict[str, ClassSample] = {}
    pools: dict[str, ClassSample] = {}
    names = sorted({m[0].signal_class for m in later} | set(first), key=_class_order)
    held = {name: states.get(name) or initial(name) for name in names}
    for name in names:
        per_class[name] = ClassSample(name=name, kind="class")
    for state in (TIERED, UNPROVEN, REFUTED):
        pools[state] = ClassSample(name=f"{state} at the split", kind="pool")
    for signal, own, nulls, opposite, _result in later:
        name = signal.signal_class
        per_class[name].add(own, nulls, opposite)
        pools[held[name].state].add(own, nulls, opposite)
    rows = [
        SplitRow(name, held[name], first[name], audit_sample(per_class[name], clv.tiers, seed=clv.seed))
        for name in names
    ]
    pooled = [
        SplitRow(
            pools[state].name,
            ClassState(name=pools[state].name, state=state, tier=UNPROVEN, since=None),
            sum(first[n] for n in names if held[n].state == state),
            audit_sample(pools[state], clv.tiers, seed=clv.seed),
        )
        for state in (TIERED, UNPROVEN, REFUTED)
    ]
    return rows, pooled


def _class_order(name: str) -> tuple[int, int]:
    kind, _, market = name.partition(":")
    kinds = [k.value for k in SignalType]
    markets = [m.value for m in Market]
    return (kinds.index(kind) if kind in kinds else 99, markets.index(market) if market in markets else 99)
