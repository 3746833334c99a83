"""A dislocation worth taking: DISLOCATION fires only where the dislocated book's own price, vig included,
has an expected value above `dislocation.min_ev` against the no-vig consensus at that instant.

Every expected figure below is worked by hand. The game is a WNBA game, so spreads and totals go through
the documented normal cover model (SD 11 points for spreads, 15 for totals, `clv.fallback_sd_*`), whose
probabilities are plain normal-CDF values Φ(z) when the consensus sits at 50% (no tilt is needed: the
discretised normal is symmetric about the consensus number). The six consensus books quote −110/−110.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import timedelta

import pytest

from engine.clv import entry_value
from engine.core import Engine
from engine.cover import NormalCoverModel
from engine.detectors.dislocation import detect_dislocations
from engine.models import BookComponent, BookLine, Consensus, Game, Market, Side, SignalType
from tests.engine_builders import BOOKS, T0, line, minutes, settings, snapshot

WNBA = Game(
    id="w1", sport_key="basketball_wnba", home_team="Storm", away_team="Sky", commence_time=T0 + timedelta(hours=6)
)
COVER = NormalCoverModel(11.0, 15.0)


def phi(z: float) -> float:
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


# Home −2 against a home −3 consensus at 50%: the home margin X is the discretised N(3, 11²).
#   win  = P(X ≥ 3) = Φ(0.5/11)  = 0.518127   (3 and up cover −2)
#   push = P(X = 2)              = 0.036106
#   lose = P(X ≤ 1) = Φ(−1.5/11) = 0.445767
SPREAD_WIN, SPREAD_LOSE = phi(0.5 / 11), phi(-1.5 / 11)


def spread_ev(price: int) -> float:
    """EV of home −2 at a negative American price: win × 100/|price| − lose."""
    return SPREAD_WIN * 100 / -price - SPREAD_LOSE


def _spreads_with(book_price: int) -> list[BookLine]:
    at = minutes(0)
    lines = [line(b, Market.SPREADS, -3.0, at=at, game=WNBA) for b in BOOKS]
    lines.append(line("outlier", Market.SPREADS, -2.0, book_price, -106, at=at, game=WNBA))
    return lines


def _dislocations(engine: Engine, lines: list[BookLine]):
    tick = engine.ingest(snapshot(lines[0].observed_at, lines, game=WNBA))
    return [s for s in tick.signals if s.type == SignalType.DISLOCATION]


def test_the_cover_model_at_the_consensus_gives_the_hand_worked_value():
    consensus = Consensus(game_id="w1", market=Market.SPREADS, at=T0, point=-3.0, prob_a=0.5, books=6)
    value = entry_value(Market.SPREADS, Side.HOME, -2.0, -110, consensus, COVER)
    assert (value.win, value.lose) == (pytest.approx(SPREAD_WIN, abs=1e-9), pytest.approx(SPREAD_LOSE, abs=1e-9))
    assert value.ev == pytest.approx(spread_ev(-110), abs=1e-9)
    assert value.ev == pytest.approx(0.025258, abs=1e-6)  # 0.518127 × 0.909091 − 0.445767


@pytest.mark.parametrize(
    ("price", "fires"),
    [
        (-110, True),  # 0.518127 × 0.909091 − 0.445767 = +2.53%
        (-114, True),  # 0.518127 × 0.877193 − 0.445767 = +0.87%: above the 0.5% bar
        (-115, False),  # 0.518127 × 0.869565 − 0.445767 = +0.48%: positive, but not above the 0.5% bar
        (-125, False),  # 0.518127 × 0.8 − 0.445767 = −3.13%: a point is not worth fifteen cents of juice
    ],
)
def test_a_spread_dislocation_fires_only_above_min_ev(price, fires):
    found = _dislocations(Engine(settings()), _spreads_with(price))
    if not fires:
        assert found == []
        return
    [signal] = found
    assert signal.side == Side.HOME and signal.entry.point == -2.0 and signal.entry.price == price
    assert signal.details["expected_value"] == pytest.approx(spread_ev(price), abs=1e-6)
    assert signal.ev_at_fire == signal.details["expected_value"]


def test_min_ev_is_a_setting():
    config = settings()
    assert config.dislocation.min_ev == 0.005
    config.dislocation.min_ev = 0.004
    [signal] = _dislocations(Engine(config), _spreads_with(-115))
    assert signal.ev_at_fire == pytest.approx(0.004779, abs=1e-6)
    config.dislocation.min_ev = 0.01
    assert _dislocations(Engine(config), _spreads_with(-114)) == []


def test_a_totals_dislocation_goes_through_the_cover_model():
    # Over 158 against a 160 consensus at 50%: the total T is the discretised N(160, 15²).
    #   win  = P(T ≥ 159) = Φ(1.5/15 − 0) = Φ(0.1)   = 0.539828
    #   lose = P(T ≤ 157) = Φ(−2.5/15)               = 0.433816
    #   EV at −110 = 0.539828 × 0.909091 − 0.433816  = +5.69%
    at = minutes(0)
    lines = [line(b, Market.TOTALS, 160.0, at=at, game=WNBA) for b in BOOKS]
    lines.append(line("outlier", Market.TOTALS, 158.0, at=at, game=WNBA))
    [signal] = _dislocations(Engine(settings()), lines)
    assert signal.side == Side.OVER and signal.entry.point == 158.0
    assert signal.ev_at_fire == pytest.approx(phi(0.1) * 100 / 110 - phi(-2.5 / 15), abs=1e-6)
    assert signal.ev_at_fire == pytest.approx(0.056936, abs=1e-6)


def _devig(price_a: int, price_b: int) -> float:
    def implied(price: int) -> float:
        return 100 / (100 + price) if price > 0 else -price / (-price + 100)

    return implied(price_a) / (implied(price_a) + implied(price_b))


def test_a_moneyline_dislocation_is_decimal_times_fair_probability_minus_one():
    # Six books at home −150 / away +130 (no-vig home 0.579832), the outlier at −120 / +100 (0.521739).
    # The consensus averages all seven (equal weights): (6 × 0.579832 + 0.521739) / 7 = 0.571533.
    # The outlier's home probability is 4.98 points under it: home is the longer price, the side to take.
    # EV = 1.833333 × 0.571533 − 1 = +4.78%.
    at = minutes(0)
    lines = [line(b, Market.H2H, None, -150, 130, at=at, game=WNBA) for b in BOOKS]
    lines.append(line("outlier", Market.H2H, None, -120, 100, at=at, game=WNBA))
    [signal] = _dislocations(Engine(settings()), lines)
    fair = (6 * _devig(-150, 130) + _devig(-120, 100)) / 7
    assert fair == pytest.approx(0.571533, abs=1e-6)
    assert signal.side == Side.HOME and signal.entry.price == -120
    assert signal.ev_at_fire == pytest.approx((1 + 100 / 120) * fair - 1, abs=1e-6)
    assert signal.ev_at_fire == pytest.approx(0.047810, abs=1e-6)


def test_a_moneyline_dislocation_eaten_by_the_vig_does_not_fire():
    # The outlier at −135 / −105: no-vig home 0.528653, 4.39 points under the consensus 0.572521 (a dislocation
    # by the gap), but −135 pays 1.740741: 1.740741 × 0.572521 − 1 = −0.34%, and the away side is worse still.
    at = minutes(0)
    lines = [line(b, Market.H2H, None, -150, 130, at=at, game=WNBA) for b in BOOKS]
    lines.append(line("outlier", Market.H2H, None, -135, -105, at=at, game=WNBA))
    fair = (6 * _devig(-150, 130) + _devig(-135, -105)) / 7
    assert (1 + 100 / 135) * fair - 1 == pytest.approx(-0.003390, abs=1e-6)
    assert _dislocations(Engine(settings()), lines) == []


def test_a_dislocation_that_becomes_worth_taking_fires_then():
    engine = Engine(settings())
    assert _dislocations(engine, _spreads_with(-125)) == []
    later = [replace(ln, observed_at=minutes(5)) for ln in _spreads_with(-110)]
    [signal] = _dislocations(engine, later)
    assert signal.ev_at_fire == pytest.approx(spread_ev(-110), abs=1e-6)


# ------------------------------------------------------------------ the detector, pure


def _consensus(point: float, books: int) -> Consensus:
    components = tuple(BookComponent(book=f"b{i}", point=point, prob_a=0.5, weight=1.0) for i in range(books))
    return Consensus(
        game_id="w1", market=Market.SPREADS, at=T0, point=point, prob_a=0.5, books=books, components=components
    )


def _lines(points: dict[str, float]) -> dict[str, BookLine]:
    return {book: line(book, Market.SPREADS, point, at=T0, game=WNBA) for book, point in points.items()}


def test_the_detector_keeps_only_hits_above_min_ev_and_carries_their_ev():
    points = {**{f"b{i}": -3.0 for i in range(6)}, "x": -2.0, "y": -4.5}
    values = {("x", Side.HOME): 0.004, ("y", Side.AWAY): 0.02}
    seen: list[tuple[str, Side]] = []

    def ev(book: str, side: Side) -> float:
        seen.append((book, side))
        return values[(book, side)]

    hits = detect_dislocations(
        _consensus(-3.0, 8),
        _lines(points),
        dict.fromkeys(points, 0.5),
        threshold=1.0,
        min_books=5,
        max_outlier_share=0.25,
        ev=ev,
        min_ev=0.005,
    )
    assert [(h.book, h.side, h.ev) for h in hits] == [("y", Side.AWAY, 0.02)]
    assert sorted(seen) == [("x", Side.HOME), ("y", Side.AWAY)]  # only dislocated books are priced


def test_a_book_not_worth_taking_still_counts_as_far_out():
    # Three of eight books at −4.5 against −3 is a split market (3 > 0.25 × 8), whatever their prices are worth:
    # the EV rule narrows what fires, never what counts as the market.
    points = {**{f"b{i}": -3.0 for i in range(5)}, "x": -4.5, "y": -4.5, "z": -4.5}
    hits = detect_dislocations(
        _consensus(-3.0, 8),
        _lines(points),
        dict.fromkeys(points, 0.5),
        threshold=1.0,
        min_books=5,
        max_outlier_share=0.25,
        ev=lambda book, side: 0.05 if book == "x" else -0.05,
        min_ev=0.005,
    )
    assert hits == []
