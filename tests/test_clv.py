"""CLV grading and the audit math against hand-worked values."""

from datetime import UTC, datetime

import pytest

from engine.audit import audit_outcomes, tier_for, wilson_interval
from engine.clv import beats_close, clv_points, grade_signal
from engine.models import (
    Close,
    Entry,
    Market,
    ScoreBreakdown,
    Side,
    Signal,
    SignalType,
)
from tests.engine_builders import settings

AT = datetime(2026, 1, 10, 18, 0, tzinfo=UTC)
TIP = datetime(2026, 1, 11, 0, 0, tzinfo=UTC)


def _signal(market, side, entry_point, entry_prob, consensus_point=None, consensus_prob=0.5):
    return Signal(
        id="s1",
        type=SignalType.STEAM,
        game_id="g1",
        market=market,
        side=side,
        created_at=AT,
        score=50,
        breakdown=ScoreBreakdown(0.5, 0.5, 0.5, 0.5, 0.5, 50),
        books=("a", "b", "c", "d"),
        magnitude=0.5,
        velocity=0.1,
        entry=Entry(book="a", point=entry_point, price=-110, prob=entry_prob),
        consensus_point=consensus_point,
        consensus_prob=consensus_prob,
        commence_time=TIP,
    )


def _close(market, point, prob_a):
    return Close(game_id="g1", market=market, captured_at=TIP, at=TIP, point=point, prob_a=prob_a, books=8)


def test_spread_favourite_beats_the_close_by_a_point():
    # Took home -3; the market closed home -4: the home bettor got a point better.
    grade = grade_signal(_signal(Market.SPREADS, Side.HOME, -3.0, 0.5, -3.0), _close(Market.SPREADS, -4.0, 0.5), TIP)
    assert grade.clv_points == pytest.approx(1.0)
    assert grade.beat and not grade.push
    assert grade.close_point == -4.0


def test_spread_underdog_loses_half_a_point():
    # Took away +3.5; the close is home -4, i.e. away +4.
    grade = grade_signal(_signal(Market.SPREADS, Side.AWAY, 3.5, 0.5), _close(Market.SPREADS, -4.0, 0.5), TIP)
    assert grade.close_point == 4.0
    assert grade.clv_points == pytest.approx(-0.5)
    assert not grade.beat and not grade.push


def test_totals_over_and_under():
    close = _close(Market.TOTALS, 212.0, 0.5)
    over = grade_signal(_signal(Market.TOTALS, Side.OVER, 210.5, 0.5), close, TIP)
    under = grade_signal(_signal(Market.TOTALS, Side.UNDER, 210.5, 0.5), close, TIP)
    assert over.clv_points == pytest.approx(1.5) and over.beat
    assert under.clv_points == pytest.approx(-1.5) and not under.beat


def test_equal_point_and_price_is_a_push_not_a_beat():
    grade = grade_signal(_signal(Market.SPREADS, Side.HOME, -3.0, 0.5), _close(Market.SPREADS, -3.0, 0.5), TIP)
    assert grade.clv_points == 0
    assert grade.push and not grade.beat


def test_equal_point_better_price_beats():
    # Same -3, but the side's de-vigged probability rose to 0.52 by the close: the price taken was better.
    grade = grade_signal(_signal(Market.SPREADS, Side.HOME, -3.0, 0.50), _close(Market.SPREADS, -3.0, 0.52), TIP)
    assert grade.clv_prob == pytest.approx(0.02)
    assert grade.beat and not grade.push


def test_moneyline_uses_probability_only():
    # Took the away side at a de-vigged 0.45; the close has home at 0.52, so away at 0.48.
    grade = grade_signal(_signal(Market.H2H, Side.AWAY, None, 0.45), _close(Market.H2H, None, 0.52), TIP)
    assert grade.clv_points is None
    assert grade.close_prob == pytest.approx(0.48)
    assert grade.clv_prob == pytest.approx(0.03)
    assert grade.beat


def test_consensus_view_is_graded_too():
    signal = _signal(Market.SPREADS, Side.HOME, -3.0, 0.5, consensus_point=-3.5, consensus_prob=0.49)
    grade = grade_signal(signal, _close(Market.SPREADS, -4.0, 0.51), TIP)
    assert grade.consensus_clv_points == pytest.approx(0.5)
    assert grade.consensus_clv_prob == pytest.approx(0.02)


def test_clv_points_helpers():
    assert clv_points(Market.H2H, Side.HOME, None, None) is None
    assert beats_close(0.0, 0.0) == (False, True)
    assert beats_close(-0.5, 0.1) == (False, False)


def test_wilson_interval_hand_worked():
    low, high = wilson_interval(50, 100)
    assert low == pytest.approx(0.4038, abs=1e-4)
    assert high == pytest.approx(0.5962, abs=1e-4)
    assert wilson_interval(0, 0) == (0.0, 0.0)
    low, high = wilson_interval(10, 10)
    assert high == pytest.approx(1.0) and low == pytest.approx(0.7225, abs=1e-4)


@pytest.mark.parametrize(
    ("beats", "graded", "tier"),
    [
        (300, 500, "S"),  # 60% over 500
        (290, 500, "A"),  # 58% is not strictly above 58%
        (55, 100, "A"),
        (54, 100, "B"),  # 54% is not above 54%, but above 52%
        (52, 100, "unrated"),
        (16, 30, "B"),
        (15, 29, "unrated"),  # too few
        (31, 50, "B"),  # 62% but under 100 graded
        (0, 0, "unrated"),
    ],
)
def test_tiers_exactly_as_promised(beats, graded, tier):
    assert tier_for(beats, graded, settings().clv.tiers) == tier


def test_audit_outcomes_counts_pushes_as_graded_not_beats():
    audit = audit_outcomes("STEAM:spreads", [(True, False), (False, True), (False, False)], settings().clv.tiers)
    assert (audit.graded, audit.beats, audit.pushes) == (3, 1, 1)
    assert audit.rate == pytest.approx(1 / 3)
    assert audit.tier == "unrated"
