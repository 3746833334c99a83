"""The one grader (signals and members' bets) against hand-worked values.

Expected values are worked by hand from the normal cover model, whose masses are Φ differences:
Φ(0.05) = 0.519939 (σ = 10, half a point of a ±0.5 bin) and Φ(0.1) = 0.539828 (1.5 points at σ = 15).
"""

from datetime import UTC, datetime, timedelta

import pytest

from engine.clv import EV_EPS, Ungradable, close_usable, clv_points, entry_value, grade_bet, grade_signal
from engine.cover import NormalCoverModel
from engine.models import Bet, Close, Entry, Market, ScoreBreakdown, Side, Signal, SignalType

AT = datetime(2026, 1, 10, 18, 0, tzinfo=UTC)
TIP = datetime(2026, 1, 11, 0, 0, tzinfo=UTC)
COVER = NormalCoverModel(sd_spreads=10.0, sd_totals=15.0)
MINUS_110 = 1.0 + 100.0 / 110.0  # 1.909091


def _signal(market, side, point, price=-110, consensus_point=None, consensus_prob=0.5):
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
        entry=Entry(book="a", point=point, price=price, prob=0.5),
        consensus_point=consensus_point,
        consensus_prob=consensus_prob,
        commence_time=TIP,
    )


def _close(market, point, prob_a, at=TIP - timedelta(minutes=5)):
    return Close(game_id="g1", market=market, captured_at=TIP, at=at, point=point, prob_a=prob_a, books=8)


def test_moneyline_clv_is_decimal_times_no_vig_close_minus_one():
    # +150 (decimal 2.5) on away; the close has home at 0.58, so away at 0.42: 2.5 × 0.42 − 1 = +5%.
    grade = grade_signal(_signal(Market.H2H, Side.AWAY, None, price=150), _close(Market.H2H, None, 0.58), TIP, COVER)
    assert grade.clv_ev == pytest.approx(0.05, abs=1e-9)
    assert grade.beat and not grade.push
    assert grade.close_prob == pytest.approx(0.42)
    assert grade.clv_prob == pytest.approx(0.42 - 0.4, abs=1e-6)  # close no-vig minus the price's implied 0.40


def test_moneyline_at_the_closing_fair_price_with_vig_loses_the_vig():
    # −110 on a side that closed at exactly 50% no-vig: 1.909091 × 0.5 − 1 = −4.545%: not a push, a loss.
    grade = grade_signal(_signal(Market.H2H, Side.HOME, None), _close(Market.H2H, None, 0.5), TIP, COVER)
    assert grade.clv_ev == pytest.approx(MINUS_110 * 0.5 - 1.0)
    assert grade.clv_ev == pytest.approx(-0.045455, abs=1e-6)
    assert not grade.beat and not grade.push


def test_spread_half_point_through_a_key_number_is_worth_the_push_weight():
    # Away +3.5 against an away +3 close at 50%. The away margin X ~ N(−3, 10) discretised: P(X = −3) =
    # 2Φ(0.05) − 1 = 0.039878. +3.5 wins when X ≥ −3: 0.5 + 0.019939; loses when X ≤ −4: 0.5 − 0.019939.
    value = entry_value(Market.SPREADS, Side.AWAY, 3.5, -110, _close(Market.SPREADS, -3.0, 0.5), COVER)
    assert value.win == pytest.approx(0.519939, abs=1e-6)
    assert value.lose == pytest.approx(0.480061, abs=1e-6)
    assert value.push == 0.0
    # At −110 half a point on 3 is not enough: 0.519939 × 0.909091 − 0.480061 = −0.007389.
    assert value.ev == pytest.approx(-0.007389, abs=1e-6) and not value.beat
    # At +100 it is: 0.519939 − 0.480061 = +0.039878.
    plus = entry_value(Market.SPREADS, Side.AWAY, 3.5, 100, _close(Market.SPREADS, -3.0, 0.5), COVER)
    assert plus.ev == pytest.approx(0.039878, abs=1e-6) and plus.beat


def test_spread_at_the_close_point_and_the_fair_price_is_a_push():
    # +100 at the closing number of a 50% close: win == lose, EV exactly 0 — the only real "push" of CLV.
    value = entry_value(Market.SPREADS, Side.HOME, -3.0, 100, _close(Market.SPREADS, -3.0, 0.5), COVER)
    assert value.win == pytest.approx(value.lose)
    assert value.push == pytest.approx(0.039878, abs=1e-6)  # the game can land on 3
    assert abs(value.ev) <= EV_EPS and value.is_push and not value.beat


def test_totals_over_and_under_by_the_cover_model():
    # Close 212 at 50%, σ = 15: the over at 210.5 wins when T ≥ 211, P = Φ(0.1) = 0.539828.
    close = _close(Market.TOTALS, 212.0, 0.5)
    over = grade_signal(_signal(Market.TOTALS, Side.OVER, 210.5), close, TIP, COVER)
    under = grade_signal(_signal(Market.TOTALS, Side.UNDER, 210.5), close, TIP, COVER)
    assert over.clv_points == pytest.approx(1.5) and under.clv_points == pytest.approx(-1.5)
    assert over.clv_ev == pytest.approx(0.539828 * (MINUS_110 - 1) - 0.460172, abs=1e-6)  # +0.030581
    assert over.beat
    assert under.clv_ev == pytest.approx(0.460172 * (MINUS_110 - 1) - 0.539828, abs=1e-6)  # −0.121490
    assert not under.beat


def test_the_tilt_reproduces_the_closing_no_vig_probability():
    # A close at 55% for the home side at −3: at the closing number win / (win + lose) is 0.55.
    value = entry_value(Market.SPREADS, Side.HOME, -3.0, -110, _close(Market.SPREADS, -3.0, 0.55), COVER)
    assert value.win / (value.win + value.lose) == pytest.approx(0.55, abs=1e-9)


def test_consensus_view_is_kept_beside_the_verdict():
    signal = _signal(Market.SPREADS, Side.HOME, -3.0, consensus_point=-3.5, consensus_prob=0.49)
    grade = grade_signal(signal, _close(Market.SPREADS, -4.0, 0.51), TIP, COVER)
    assert grade.consensus_clv_points == pytest.approx(0.5)
    assert grade.consensus_clv_prob == pytest.approx(0.02)
    assert grade.clv_points == pytest.approx(1.0)


def test_bets_and_signals_share_the_grader():
    bet = Bet(
        id=7,
        guild_id=1,
        user_id=2,
        game_id="g1",
        market=Market.TOTALS,
        side=Side.OVER,
        point=210.5,
        price=-110,
        book=None,
        placed_at=AT,
    )
    close = _close(Market.TOTALS, 212.0, 0.5)
    assert (
        grade_bet(bet, close, TIP, COVER).clv_ev
        == grade_signal(_signal(Market.TOTALS, Side.OVER, 210.5), close, TIP, COVER).clv_ev
    )


def test_a_spread_close_without_a_point_cannot_grade():
    with pytest.raises(Ungradable):
        entry_value(Market.SPREADS, Side.HOME, -3.0, -110, _close(Market.SPREADS, None, 0.5), COVER)


def test_a_close_must_come_strictly_after_the_entry_and_near_tip():
    max_age = timedelta(minutes=30)
    same_snapshot = _close(Market.SPREADS, -3.0, 0.5, at=AT)
    assert close_usable(same_snapshot, AT, TIP, max_age) == "no close after the signal"
    morning = _close(Market.SPREADS, -3.0, 0.5, at=TIP - timedelta(minutes=31))
    assert close_usable(morning, AT, TIP, max_age) == "no close near tip-off"
    late = _close(Market.SPREADS, -3.0, 0.5, at=TIP - timedelta(minutes=10))
    assert close_usable(late, AT, TIP, max_age) is None
    assert close_usable(late, TIP - timedelta(minutes=10), TIP, max_age) == "no close after the signal"


def test_clv_points_helpers():
    assert clv_points(Market.H2H, Side.HOME, None, None) is None
    assert clv_points(Market.SPREADS, Side.AWAY, 3.5, 4.0) == pytest.approx(-0.5)
    assert clv_points(Market.TOTALS, Side.UNDER, 214.0, 212.0) == pytest.approx(2.0)
