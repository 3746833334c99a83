"""Odds arithmetic against hand-worked values."""

import pytest

from engine import odds


def test_american_to_decimal_and_implied():
    assert odds.american_to_decimal(-110) == pytest.approx(1.9090909)
    assert odds.american_to_decimal(150) == pytest.approx(2.5)
    assert odds.implied_probability(-110) == pytest.approx(0.5238095)
    assert odds.implied_probability(-200) == pytest.approx(2 / 3)
    assert odds.implied_probability(170) == pytest.approx(100 / 270)


@pytest.mark.parametrize("bad", [0, 50, -99, 99, True, 1.5, "110"])
def test_impossible_prices_are_rejected(bad):
    with pytest.raises(odds.InvalidPrice):
        odds.american_to_decimal(bad)


def test_fair_price_round_trip():
    assert odds.probability_to_american(0.6) == -150
    assert odds.probability_to_american(0.4) == 150
    assert odds.probability_to_american(0.5) == -100


def test_multiplicative_devig_of_a_standard_market_is_even():
    assert odds.devig(-110, -110) == pytest.approx(0.5)


def test_multiplicative_devig_favourite_underdog():
    # q_fav = 200/300 = 0.666667, q_dog = 100/270 = 0.370370, sum 1.037037
    assert odds.devig(-200, 170) == pytest.approx(0.6428571, abs=1e-6)
    assert odds.devig(170, -200) == pytest.approx(0.3571429, abs=1e-6)
    assert odds.overround(-200, 170) == pytest.approx(0.037037, abs=1e-6)


def test_power_and_shin_give_the_favourite_more_than_multiplicative():
    mult = odds.devig(-200, 170)
    power = odds.devig(-200, 170, "power")
    shin = odds.devig(-200, 170, "shin")
    assert power > mult and shin > mult
    assert power < 0.66 and shin < 0.66
    # power: q_a**k + q_b**k == 1 for the k it found
    q_a, q_b = 2 / 3, 100 / 270
    k = 1.0
    lo, hi = 1.0, 10.0
    for _ in range(200):
        k = (lo + hi) / 2
        lo, hi = (k, hi) if q_a**k + q_b**k > 1 else (lo, k)
    assert power == pytest.approx(q_a**k, abs=1e-6)


def test_symmetric_market_is_even_under_every_method():
    for method in ("multiplicative", "power", "shin"):
        assert odds.devig(-115, -115, method) == pytest.approx(0.5)


def test_expected_value():
    assert odds.expected_value(0.55, 100) == pytest.approx(0.10)
    assert odds.expected_value(0.5, -110) == pytest.approx(0.5 * 1.9090909 - 1)
