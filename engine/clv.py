"""Closing line value: grading a number against the closing consensus.

A number is compared on its "bettor value": for spreads the side's own point (+3.5 beats +3, -3
beats -4), for totals the lower number is better on the over and the higher on the under. Beating
the close means a strictly better number: a better point, or at an equal point a better de-vigged
price (a lower de-vigged probability paid at the same odds). Equal point and price is a push.
"""

from __future__ import annotations

from datetime import datetime

from engine.models import Bet, BetGrade, Close, Grade, Market, Side, Signal
from engine.odds import implied_probability

#: Probabilities equal to this many decimals are the same price (0.01 percentage points).
PROB_DECIMALS = 4
_POINT_EPS = 1e-9


def bettor_value(market: Market, side: Side, point: float) -> float:
    """Higher is better for whoever bets `side` at `point` (the side's own point for spreads)."""
    if market == Market.TOTALS:
        return -point if side == Side.OVER else point
    return point


def clv_points(market: Market, side: Side, taken: float | None, close: float | None) -> float | None:
    """Points gained over the close; None for moneylines (no point)."""
    if market == Market.H2H or taken is None or close is None:
        return None
    return bettor_value(market, side, taken) - bettor_value(market, side, close)


def clv_probability(taken_prob: float, close_prob: float) -> float:
    """Close de-vigged probability minus the taken one: positive means the price taken was better."""
    return round(close_prob - taken_prob, PROB_DECIMALS + 2)


def beats_close(points: float | None, prob: float) -> tuple[bool, bool]:
    """(beat, push) from CLV in points and probability."""
    price_edge = round(prob, PROB_DECIMALS)
    if points is not None and abs(points) > _POINT_EPS:
        return points > 0, False
    if price_edge > 0:
        return True, False
    return False, price_edge == 0


def grade_signal(signal: Signal, close: Close, graded_at: datetime) -> Grade:
    """Grade the signal's entry (the number a member could take) and its consensus view."""
    side = signal.side
    close_point = close.side_point(side)
    close_prob = close.side_prob(side)
    points = clv_points(signal.market, side, signal.entry.point, close_point)
    prob = clv_probability(signal.entry.prob, close_prob)
    beat, push = beats_close(points, prob)
    return Grade(
        signal_id=signal.id,
        graded_at=graded_at,
        close_point=close_point,
        close_prob=close_prob,
        clv_points=points,
        clv_prob=prob,
        beat=beat,
        push=push,
        consensus_clv_points=clv_points(signal.market, side, signal.consensus_point, close_point),
        consensus_clv_prob=clv_probability(signal.consensus_prob, close_prob),
    )


def grade_bet(bet: Bet, close: Close, graded_at: datetime) -> BetGrade:
    """A member's bet against the close: points as for signals; probability against the price the member
    really paid (its implied probability, vig included), because that is what they must beat."""
    close_point = close.side_point(bet.side)
    close_prob = close.side_prob(bet.side)
    points = clv_points(bet.market, bet.side, bet.point, close_point)
    prob = clv_probability(implied_probability(bet.price), close_prob)
    beat, push = beats_close(points, prob)
    return BetGrade(
        bet_id=bet.id or 0,
        graded_at=graded_at,
        close_point=close_point,
        close_prob=close_prob,
        clv_points=points,
        clv_prob=prob,
        beat=beat,
        push=push,
    )
