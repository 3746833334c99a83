"""The audit's statistics: the tier rule, the game-level bootstrap and the null sampler's matching."""

from datetime import UTC, datetime, timedelta

import pytest

import engine.null as null_module
from engine.audit import (
    UNPROVEN,
    ClassSample,
    Trial,
    audit_sample,
    bootstrap_lift,
    decide_tier,
    stable_seed,
    wilson_interval,
)
from engine.cover import NormalCoverModel
from engine.integrity import score_bucket
from engine.models import BookLine, Close, Entry, Market, ScoreBreakdown, Side, Signal, SignalType
from engine.null import MarketTapes, NullContext, null_trials, opposite_trial
from tests.engine_builders import settings

RULES = settings().clv.tiers
T0 = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)


def test_wilson_interval_hand_worked():
    low, high = wilson_interval(50, 100)
    assert low == pytest.approx(0.4038, abs=1e-4) and high == pytest.approx(0.5962, abs=1e-4)
    assert wilson_interval(0, 0) == (0.0, 0.0)


@pytest.mark.parametrize(
    ("beats", "graded", "lift", "low", "opposite", "tier", "reason"),
    [
        (300, 500, 0.10, 0.02, 0.40, "S", ""),
        (290, 500, 0.10, 0.02, 0.40, "A", ""),  # 58% is not strictly above 58%
        (55, 100, 0.10, 0.02, 0.40, "A", ""),
        (54, 100, 0.10, 0.02, 0.40, "B", ""),
        (16, 30, 0.10, 0.02, 0.40, "B", ""),
        (15, 29, 0.10, 0.02, 0.40, UNPROVEN, "too few: 29 graded, 30 needed"),
        (52, 100, 0.10, 0.02, 0.40, UNPROVEN, "beat rate 52.0% is not above 52% (tier B)"),
        (300, 500, 0.05, -0.01, 0.40, UNPROVEN, "lift interval crosses zero (-1.0 pts)"),
        (300, 500, 0.0, -0.05, 0.40, UNPROVEN, "no lift: +0.0 pts over the null"),
        (300, 500, 0.10, 0.02, 0.60, UNPROVEN, "the opposite side does as well (60.0%)"),
        (300, 500, None, None, 0.40, UNPROVEN, "no null to compare with"),
    ],
)
def test_tier_needs_the_promised_rate_proven_lift_and_to_beat_the_opposite(
    beats, graded, lift, low, opposite, tier, reason
):
    assert decide_tier(graded, beats, lift, low, opposite, RULES) == (tier, reason)


def _trial(game: str, beat: bool, clv: float = 0.0) -> Trial:
    return Trial(game_id=game, beat=beat, push=False, clv=clv)


def test_bootstrap_resamples_games_hand_worked():
    # Game A: its signal beat, its null did not; game B: neither. Resampling two games gives {A,A} (lift 1),
    # {A,B} (0.5) or {B,B} (0): the 95% percentile interval is [0, 1].
    signals = [_trial("A", True), _trial("B", False)]
    null = [(0, _trial("x", False)), (1, _trial("y", False))]
    low, high = bootstrap_lift(signals, null, seed=1)
    assert (low, high) == (0.0, 1.0)
    assert bootstrap_lift(signals, null, seed=1) == bootstrap_lift(signals, null, seed=1)  # deterministic
    assert bootstrap_lift(signals[:1], null[:1], seed=1) is None  # one game says nothing about games


def test_bootstrap_respects_clustering_within_games():
    # 20 games of 10 signals each: all 10 beat in half the games, none in the others; the null is 50% in
    # every game. A binomial interval over 200 signals would be about ±7 points; games are the real unit.
    signals, null = [], []
    for g in range(20):
        for _ in range(10):
            signals.append(_trial(f"g{g}", g % 2 == 0))
            null.append((len(signals) - 1, _trial("n", True)))
            null.append((len(signals) - 1, _trial("n", False)))
    low, high = bootstrap_lift(signals, null, seed=7)
    assert low < -0.15 and high > 0.15


def test_audit_sample_reports_every_column():
    sample = ClassSample(name="STEAM:totals", kind="class")
    for g in range(40):
        sample.signals.append(_trial(f"g{g}", g % 4 != 0, clv=0.02))  # 30 of 40 beat
        sample.null.extend((g, _trial("n", k % 2 == 0)) for k in range(10))  # null 50% in every game
        sample.opposite.append(_trial(f"g{g}", g % 4 == 0))  # opposite 25%
    sample.ungraded = 3
    row = audit_sample(sample, RULES, seed=1)
    assert (row.graded, row.beats, row.ungraded) == (40, 30, 3)
    assert row.rate == pytest.approx(0.75) and row.null_rate == pytest.approx(0.5)
    assert row.lift == pytest.approx(0.25) and row.opposite_rate == pytest.approx(0.25)
    assert row.mean_clv == pytest.approx(0.02)
    assert row.lift_low is not None and row.lift_low > 0 and row.tier == "B" and row.reason == ""
    keys = {
        "class",
        "graded",
        "beats",
        "pushes",
        "beat_rate",
        "null_rate",
        "lift",
        "lift_low",
        "lift_high",
        "opposite_rate",
        "mean_clv",
        "tier",
        "reason",
    }
    assert keys <= set(row.as_dict())


def test_seeds_are_stable_across_processes():
    assert stable_seed(20260801, "STEAM:totals") == stable_seed(20260801, "STEAM:totals")
    assert stable_seed(20260801, "STEAM:totals") != stable_seed(20260801, "STEAM:spreads")


def test_score_buckets():
    assert [score_bucket(s, [40, 55, 70]) for s in (0, 39, 40, 54, 55, 69, 70, 100)] == [
        "score:0-39",
        "score:0-39",
        "score:40-54",
        "score:40-54",
        "score:55-69",
        "score:55-69",
        "score:70-100",
        "score:70-100",
    ]


# ------------------------------------------------------------------ the null sampler


def _line(game: str, book: str, point: float, at: datetime, price_a: int = -110, price_b: int = -110) -> BookLine:
    return BookLine(game, book, Market.SPREADS, point, price_a, price_b, at, at)


def _world():
    tips = {f"g{i}": T0 + timedelta(hours=10 + i) for i in range(4)}
    timeline = []
    for game, tip in tips.items():
        for minutes_before in (600, 300, 120, 30, 5):
            at = tip - timedelta(minutes=minutes_before)
            timeline.append((_line(game, "a", -3.0, at), False))
            timeline.append((_line(game, "b", -3.5, at, -105, -115), False))
    closes = {
        (game, Market.SPREADS): Close(game, Market.SPREADS, tip, tip - timedelta(minutes=5), -3.5, 0.5, 2)
        for game, tip in tips.items()
    }
    cover = NormalCoverModel(10.0, 15.0)
    ctx = NullContext(
        tapes=MarketTapes(timeline),
        closes=closes,
        tips=tips,
        cover_for=lambda g: cover,
        max_age=timedelta(minutes=30),
        draws=10,
        seed=3,
    )
    return ctx, tips


def _signal(kind: SignalType, game: str, tip: datetime, to_tip: timedelta, side=Side.HOME, book="a") -> Signal:
    return Signal(
        id=f"{kind}-{game}",
        type=kind,
        game_id=game,
        market=Market.SPREADS,
        side=side,
        created_at=tip - to_tip,
        score=50,
        breakdown=ScoreBreakdown(0.5, 0.5, 0.5, 0.5, 0.5, 50),
        books=(book,),
        magnitude=1.0,
        velocity=None,
        entry=Entry(book, -3.0, -110, 0.5),
        consensus_point=-3.5,
        consensus_prob=0.5,
        commence_time=tip,
    )


def test_null_draws_match_market_time_to_tip_and_entry_rule(monkeypatch):
    ctx, tips = _world()
    seen = []
    real = null_module.grade_entry_trial

    def spy(ctx_, game_id, market, side, entry, at):
        seen.append((game_id, market, side, entry, at))
        return real(ctx_, game_id, market, side, entry, at)

    monkeypatch.setattr(null_module, "grade_entry_trial", spy)
    to_tip = timedelta(hours=2)
    signal = _signal(SignalType.STEAM, "g0", tips["g0"], to_tip)
    trials = null_trials(ctx, signal, sorted(tips))
    assert len(trials) == 10
    assert all(market == Market.SPREADS for _, market, *_ in seen)
    assert all(at == tips[game] - to_tip for game, *_, at in seen)  # the same time to tip in every game
    assert {side for _, _, side, _, _ in seen} == {Side.HOME, Side.AWAY}  # a random side
    # STEAM's entry rule: the best number on the side — home −3.0 (book a), away +3.5 (book b).
    for _, _, side, entry, _ in seen:
        assert (entry.book, entry.point) == (("a", -3.0) if side == Side.HOME else ("b", 3.5))
    again = null_trials(ctx, signal, sorted(tips))
    assert again == trials  # seeded per signal


def test_dislocation_null_takes_the_best_number_and_opposite_keeps_the_book(monkeypatch):
    ctx, tips = _world()
    seen = []
    real = null_module.grade_entry_trial

    def spy(ctx_, game_id, market, side, entry, at):
        seen.append(entry)
        return real(ctx_, game_id, market, side, entry, at)

    monkeypatch.setattr(null_module, "grade_entry_trial", spy)
    signal = _signal(SignalType.DISLOCATION, "g1", tips["g1"], timedelta(hours=2), book="b")
    null_trials(ctx, signal, sorted(tips))
    # The stricter baseline: the best number on the drawn side (home −3.0 at a, away +3.5 at b), not a random book.
    assert {(entry.book, entry.point) for entry in seen} == {("a", -3.0), ("b", 3.5)}
    seen.clear()
    opposite = opposite_trial(ctx, signal)
    assert opposite is not None and opposite.game_id == "g1"
    assert seen[0].book == "b" and seen[0].point == 3.5  # the same book's other side


def test_null_skips_entries_the_close_cannot_grade():
    ctx, tips = _world()
    # 3 minutes before tip: every game's close (5 minutes before tip) is older than the entry.
    signal = _signal(SignalType.STEAM, "g0", tips["g0"], timedelta(minutes=3))
    assert null_trials(ctx, signal, sorted(tips)) == []


def test_a_preset_chosen_by_class_lift_never_carries_a_tier_of_its_own():
    from dataclasses import replace

    from engine.integrity import _in_sample_guard

    sample = ClassSample(name="preset:high_confidence", kind="preset")
    for g in range(40):
        sample.signals.append(_trial(f"g{g}", g % 4 != 0))
        sample.null.extend((g, _trial("n", k % 2 == 0)) for k in range(10))
    row = audit_sample(sample, RULES, seed=1)
    assert row.tier == "B"  # the statistics alone would tier it
    guarded = _in_sample_guard(row, settings())
    assert guarded.tier == UNPROVEN and guarded.reason.startswith("in-sample")
    config = settings()
    config.presets["high_confidence"].class_lift = ""  # a preset on score alone is not chosen by the table
    assert _in_sample_guard(row, config).tier == "B"
    assert _in_sample_guard(replace(row, kind="class", name="STEAM:totals"), settings()).tier == "B"
