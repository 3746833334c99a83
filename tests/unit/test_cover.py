"""The cover model against values worked out by hand, then the bundled NBA table's basic guarantees.

The tiny tables below are small enough to compute win/push/lose on paper; each expected value is written
as the arithmetic that produces it, so a reader can check it without running anything.
"""

from __future__ import annotations

import math

import pytest

from engine.cover import (
    CoverModel,
    EmpiricalCoverModel,
    NormalCoverModel,
    Outcome,
    cover_model_for,
    load_nba_model,
)
from engine.models import Market, Side

TINY_SPREADS = {-3.0: {5: 2, 3: 1, -1: 1}, 3.0: {-5: 2, -3: 1, 1: 1}}
TINY_TOTALS = {220.0: {215: 1, 225: 1}, 221.0: {230: 1}}


def _tiny(**kwargs: object) -> EmpiricalCoverModel:
    return EmpiricalCoverModel(TINY_SPREADS, TINY_TOTALS, window=0, min_games=1, **kwargs)  # type: ignore[arg-type]


def _close_ratio(o: Outcome) -> float:
    return o.win / (o.win + o.lose)


def assert_outcome(o: Outcome, win: float, push: float, lose: float) -> None:
    assert (o.win, o.push, o.lose) == pytest.approx((win, push, lose), abs=1e-12)


# --- Outcome -----------------------------------------------------------------------------------------


def test_expected_value_at_minus_110_is_the_vig():
    # 0.5 × (1.909090 − 1) − 0.5 = 0.5 × 0.909090 − 0.5 = −0.045455
    assert Outcome(0.5, 0.0, 0.5).expected_value(1.909090) == pytest.approx(-0.045455, abs=1e-12)


def test_expected_value_refunds_pushes():
    # 0.45 × 1.0 − 0.45 = 0: the push's 0.10 neither wins nor loses.
    assert Outcome(0.45, 0.10, 0.45).expected_value(2.0) == pytest.approx(0.0, abs=1e-15)


# --- hand-made empirical table -----------------------------------------------------------------------


def test_tiny_table_untilted():
    # Row at -3: y = 5 (2/4), 3 (1/4), -1 (1/4). Base win/(win+lose) at -3 = 0.5/0.75 = 2/3, so θ = 0.
    model = _tiny()
    o = model.outcome(Market.SPREADS, Side.HOME, -3.0, -3.0, 2 / 3)
    assert_outcome(o, 0.5, 0.25, 0.25)  # wins iff X > 3, pushes iff X == 3
    assert_outcome(model.outcome(Market.SPREADS, Side.HOME, -2.5, -3.0, 2 / 3), 0.75, 0.0, 0.25)
    assert_outcome(model.outcome(Market.SPREADS, Side.HOME, -5.0, -3.0, 2 / 3), 0.0, 0.5, 0.5)
    assert_outcome(model.outcome(Market.SPREADS, Side.HOME, 1.5, -3.0, 2 / 3), 1.0, 0.0, 0.0)


def test_tiny_table_tilted_to_a_coin_flip():
    # Need 0.5·e^{θ(5−3)} = 0.25·e^{θ(−1−3)}, so e^{6θ} = 1/2. Weights: y=5 → 0.5·2^{−1/3},
    # y=3 → 0.25, y=−1 → 0.25·2^{2/3} (equal to the y=5 weight). Z = 2·0.5·2^{−1/3} + 0.25.
    z = 2 * 0.5 * 2 ** (-1 / 3) + 0.25
    side = 0.5 * 2 ** (-1 / 3) / z
    o = _tiny().outcome(Market.SPREADS, Side.HOME, -3.0, -3.0, 0.5)
    assert_outcome(o, side, 0.25 / z, side)
    # At -2.5 the push joins the win: (0.5·2^{−1/3} + 0.25) / Z.
    o = _tiny().outcome(Market.SPREADS, Side.HOME, -2.5, -3.0, 0.5)
    assert_outcome(o, side + 0.25 / z, 0.0, side)


def test_tiny_table_away_side_mirrors_home():
    model = _tiny()
    home = model.outcome(Market.SPREADS, Side.HOME, -3.0, -3.0, 0.5)
    away = model.outcome(Market.SPREADS, Side.AWAY, 3.0, 3.0, 0.5)
    assert_outcome(away, home.lose, home.push, home.win)


def test_pooling_shifts_by_whole_points_and_skips_the_other_grid():
    # Row at -3 wants 3 observations; -3 has 2, so the window widens to ±1: the -4 game's margin 4
    # becomes 4 + (−4 − (−3)) = 3. The -3.5 row is on the other grid and never joins.
    spreads = {-3.0: {3: 1, 5: 1}, -4.0: {4: 2}, -3.5: {10: 5}}
    model = EmpiricalCoverModel(spreads, {}, window=0, min_games=3)
    # Pooled: y=3 ×3, y=5 ×1. At -3 (line 3) that is win 1/4, push 3/4 and no loss at all, so no tilt can
    # make it a coin flip: the model says so instead of inventing mass.
    with pytest.raises(ValueError):
        model.outcome(Market.SPREADS, Side.HOME, -3.0, -3.0, 0.5)
    spreads[-2.0] = {1: 1}  # distance 1 too: margin 1 + (−2 − (−3)) = 2
    model = EmpiricalCoverModel(spreads, {}, window=0, min_games=3)
    # Pooled: y=2 ×1, y=3 ×3, y=5 ×1. At -3: win 1/5, push 3/5, lose 1/5, ratio 1/2, so θ = 0.
    assert_outcome(model.outcome(Market.SPREADS, Side.HOME, -3.0, -3.0, 0.5), 0.2, 0.6, 0.2)


def test_no_tie_margin_from_shifting():
    # Row at -1 with window 1: the -2 game's margin 1 shifts to 1 + (−2 − (−1)) = 0, a tie basketball
    # cannot produce; it is dropped unless ties are allowed.
    spreads = {-1.0: {2: 1}, -2.0: {1: 1}}
    strict = EmpiricalCoverModel(spreads, {}, window=1, min_games=1)
    with pytest.raises(ValueError):  # nothing left below the -1 line
        strict.outcome(Market.SPREADS, Side.HOME, -1.0, -1.0, 0.5)
    loose = EmpiricalCoverModel(spreads, {}, window=1, min_games=1, allow_ties=True)
    # y = 2 and y = 0, one each; ratio at -1 is 1/2. At a pick'em (L = 0): win 1/2, push 1/2.
    assert_outcome(loose.outcome(Market.SPREADS, Side.HOME, 0.0, -1.0, 0.5), 0.5, 0.5, 0.0)


def test_tiny_totals_over_and_under():
    # Row at 220 with min 3: 215, 225 and the 221 game's 230 shifted by −(221 − 220) = 229; 1/3 each.
    model = EmpiricalCoverModel(TINY_SPREADS, TINY_TOTALS, window=0, min_games=3)
    over = model.outcome(Market.TOTALS, Side.OVER, 229.0, 220.0, 2 / 3)  # base ratio 2/3: θ = 0
    assert_outcome(over, 0.0, 1 / 3, 2 / 3)
    assert_outcome(model.outcome(Market.TOTALS, Side.OVER, 228.5, 220.0, 2 / 3), 1 / 3, 0.0, 2 / 3)
    under = model.outcome(Market.TOTALS, Side.UNDER, 229.0, 220.0, 1 / 3)
    assert_outcome(under, 2 / 3, 1 / 3, 0.0)


# --- normal fallback ---------------------------------------------------------------------------------


def _phi(z: float) -> float:
    return 0.5 * (1 + math.erf(z / math.sqrt(2)))


def test_normal_coin_flip_push_is_the_middle_bin():
    # μ = 3 (the side gives 3), symmetric about the push line, so θ = 0 and the push is the bin at 3:
    # Φ(0.5/11) − Φ(−0.5/11) ≈ 2·φ(0)·h·(1 − h²/6) with h = 0.5/11 = 0.0454545: 0.0362675 × 0.999656 ≈ 0.036255.
    model = NormalCoverModel(11.0, 17.0)
    o = model.outcome(Market.SPREADS, Side.HOME, -3.0, -3.0, 0.5)
    push = _phi(0.5 / 11) - _phi(-0.5 / 11)
    assert push == pytest.approx(0.036255, abs=1e-6)
    assert o.push == pytest.approx(push, abs=1e-12)
    assert o.win == pytest.approx(o.lose, abs=1e-12)
    assert o.win == pytest.approx((1 - push) / 2, abs=1e-12)


def test_normal_half_point_entry_off_a_coin_flip():
    # Close -3 at 0.5, entry -2.5: the push bin at 3 becomes a win: win = (1 + push)/2.
    model = NormalCoverModel(11.0, 17.0)
    push = _phi(0.5 / 11) - _phi(-0.5 / 11)
    assert_outcome(model.outcome(Market.SPREADS, Side.HOME, -2.5, -3.0, 0.5), (1 + push) / 2, 0.0, (1 - push) / 2)


def test_normal_totals_coin_flip():
    model = NormalCoverModel(11.0, 17.0)
    push = _phi(0.5 / 17) - _phi(-0.5 / 17)
    assert model.outcome(Market.TOTALS, Side.OVER, 220.0, 220.0, 0.5).push == pytest.approx(push, abs=1e-12)


@pytest.mark.parametrize("prob", [0.55, 0.3, 0.9])
def test_normal_tilt_reproduces_close_prob(prob: float):
    model = NormalCoverModel(11.0, 17.0)
    for market, side, close in ((Market.SPREADS, Side.AWAY, 4.5), (Market.SPREADS, Side.HOME, -7.0),
                                (Market.TOTALS, Side.UNDER, 160.0)):  # fmt: skip
        assert _close_ratio(model.outcome(market, side, close, close, prob)) == pytest.approx(prob, abs=1e-9)


def test_normal_name_and_bad_sd():
    assert NormalCoverModel(11.0, 17.5).name == "normal(sd_spreads=11, sd_totals=17.5)"
    with pytest.raises(ValueError):
        NormalCoverModel(0.0, 17.0)


# --- shared behaviour, both models -------------------------------------------------------------------

MODELS = [NormalCoverModel(12.0, 18.0), load_nba_model()]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.name)
def test_moving_the_entry_in_the_sides_favour_raises_win(model: CoverModel):
    at_close = model.outcome(Market.SPREADS, Side.HOME, -3.5, -3.5, 0.5)
    better = model.outcome(Market.SPREADS, Side.HOME, -2.5, -3.5, 0.5)
    worse = model.outcome(Market.SPREADS, Side.HOME, -4.5, -3.5, 0.5)
    assert worse.win < at_close.win < better.win
    over_better = model.outcome(Market.TOTALS, Side.OVER, 219.5, 220.5, 0.5)
    assert over_better.win > model.outcome(Market.TOTALS, Side.OVER, 220.5, 220.5, 0.5).win


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.name)
@pytest.mark.parametrize(("entry", "close", "prob"), [(-3.0, -3.0, 0.55), (-2.5, -4.0, 0.48), (6.0, 7.5, 0.52)])
def test_home_away_symmetry(model: CoverModel, entry: float, close: float, prob: float):
    home = model.outcome(Market.SPREADS, Side.HOME, entry, close, prob)
    away = model.outcome(Market.SPREADS, Side.AWAY, -entry, -close, 1 - prob)
    assert (away.win, away.push, away.lose) == pytest.approx((home.lose, home.push, home.win), abs=1e-12)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.name)
@pytest.mark.parametrize(("entry", "close", "prob"), [(220.0, 220.0, 0.5), (218.5, 221.0, 0.53), (231.0, 229.5, 0.4)])
def test_over_and_under_are_complementary(model: CoverModel, entry: float, close: float, prob: float):
    over = model.outcome(Market.TOTALS, Side.OVER, entry, close, prob)
    under = model.outcome(Market.TOTALS, Side.UNDER, entry, close, 1 - prob)
    assert over.win == pytest.approx(under.lose, abs=1e-12)
    assert over.push == pytest.approx(under.push, abs=1e-12)
    assert over.win + over.push + over.lose == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.name)
def test_bad_inputs_raise(model: CoverModel):
    with pytest.raises(ValueError):
        model.outcome(Market.H2H, Side.HOME, 0.0, 0.0, 0.5)
    with pytest.raises(ValueError):
        model.outcome(Market.SPREADS, Side.OVER, -3.0, -3.0, 0.5)
    for prob in (0.0, 1.0, float("nan")):
        with pytest.raises(ValueError):
            model.outcome(Market.SPREADS, Side.HOME, -3.0, -3.0, prob)


# --- the bundled NBA table ---------------------------------------------------------------------------


def test_bundled_model_loads_once_with_its_provenance():
    model = load_nba_model()
    assert model is load_nba_model()
    assert model.name == "nba-empirical"
    assert model.header["source"] == "Kaggle nba_2008-2025 via JDSB123/green_bier_sports_nba_model"
    assert model.header["sha256"] == "7cd6baf92eee14bb6e0e1fc30408b62320b0d4534eaea6a5f2ebef4cad7dcd3c"
    assert model.header["games"] == {"spreads": 23115, "totals": 23118}


def test_bundled_model_push_only_on_integers():
    model = load_nba_model()
    assert model.outcome(Market.SPREADS, Side.HOME, -3.0, -3.0, 0.5).push > 0.02
    assert model.outcome(Market.SPREADS, Side.HOME, -3.5, -3.5, 0.5).push == 0.0
    assert model.outcome(Market.SPREADS, Side.HOME, 0.0, 0.0, 0.5).push == 0.0  # no ties in basketball
    assert model.outcome(Market.SPREADS, Side.HOME, 0.0, -1.5, 0.5).push == 0.0
    # A quarter-point close borrows the 224 row; its own number cannot push, the integer next to it can.
    assert model.outcome(Market.TOTALS, Side.OVER, 224.25, 224.25, 0.5).push == 0.0
    assert model.outcome(Market.TOTALS, Side.OVER, 225.0, 224.25, 0.5).push > 0.01


@pytest.mark.parametrize(
    ("market", "side", "close"),
    [
        (Market.SPREADS, Side.HOME, -3.0),
        (Market.SPREADS, Side.AWAY, 6.5),
        (Market.SPREADS, Side.HOME, -14.0),
        (Market.SPREADS, Side.AWAY, -31.5),  # beyond the data: the window just widens
        (Market.TOTALS, Side.OVER, 210.0),
        (Market.TOTALS, Side.UNDER, 233.5),
        (Market.TOTALS, Side.OVER, 150.0),
    ],
)
@pytest.mark.parametrize("prob", [0.5, 0.55, 0.2, 0.93])
def test_bundled_model_reproduces_close_prob(market: Market, side: Side, close: float, prob: float):
    o = load_nba_model().outcome(market, side, close, close, prob)
    assert _close_ratio(o) == pytest.approx(prob, abs=1e-9)
    assert o.win + o.push + o.lose == pytest.approx(1.0, abs=1e-12)


def test_cover_model_for_picks_by_sport():
    assert cover_model_for("basketball_nba", sd_spreads=11.0, sd_totals=17.0) is load_nba_model()
    wnba = cover_model_for("basketball_wnba", sd_spreads=11.0, sd_totals=17.0)
    assert isinstance(wnba, NormalCoverModel)
    assert wnba is cover_model_for("basketball_wnba", sd_spreads=11.0, sd_totals=17.0)
    assert wnba.sd_spreads == 11.0
