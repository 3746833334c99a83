"""Closing line value: one grader for signals and members' bets.

An entry is graded at the price a member could really take (vig included) against the **no-vig**
close. Beating the close means a positive expected value at the close:

- moneyline: CLV% = entry decimal odds × the side's no-vig closing probability − 1;
- spreads and totals: the cover model turns the closing point and its no-vig probability into the
  probability of winning, pushing and losing at the entry's own point, and
  CLV% = P(win)·(decimal − 1) − P(lose) (a push refunds the stake).

So taking −110 at the closing number is a loss of about 4.5% (the vig), not a push, and +3.5 against
a +3 close is worth what the push weight at 3 says it is worth. CLV in points and the consensus view
at signal time are kept beside it for reading, never for the verdict.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from engine.cover import CoverModel
from engine.models import Bet, BetGrade, Close, Consensus, Grade, Market, Side, Signal
from engine.odds import american_to_decimal, implied_probability

#: Probabilities equal to this many decimals are the same price (0.01 percentage points).
PROB_DECIMALS = 4
#: An expected value this close to zero is a push (exactly the fair price at the closing number).
EV_EPS = 1e-9


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
    """Close no-vig probability minus the probability the price taken implies: positive is better."""
    return round(close_prob - taken_prob, PROB_DECIMALS + 2)


@dataclass(frozen=True, slots=True)
class EntryValue:
    """An entry's value at the close: expected value per unit staked, and the outcome probabilities."""

    ev: float
    win: float
    push: float
    lose: float

    @property
    def beat(self) -> bool:
        return self.ev > EV_EPS

    @property
    def is_push(self) -> bool:
        return abs(self.ev) <= EV_EPS


class Ungradable(ValueError):
    """The close cannot grade this entry (a spread or total close without a point)."""


def entry_value(
    market: Market, side: Side, point: float | None, price: int, fair: Close | Consensus, cover: CoverModel
) -> EntryValue:
    """The entry's expected value against a no-vig market: the close (its CLV), or the consensus of one
    instant (a dislocation's EV when it fires, `engine.core`). One rule for both: moneyline decimal × the
    side's no-vig probability − 1; spreads and totals through the cover model at `fair`'s number."""
    decimal = american_to_decimal(price)
    fair_prob = fair.side_prob(side)
    if market == Market.H2H:
        return EntryValue(ev=decimal * fair_prob - 1.0, win=fair_prob, push=0.0, lose=1.0 - fair_prob)
    fair_point = fair.side_point(side)
    if point is None or fair_point is None:
        raise Ungradable(f"{market.value} entry or close without a point")
    outcome = cover.outcome(market, side, point, fair_point, fair_prob)
    return EntryValue(ev=outcome.expected_value(decimal), win=outcome.win, push=outcome.push, lose=outcome.lose)


def close_usable(close: Close, fired_at: datetime, tip: datetime, max_age: timedelta) -> str | None:
    """Why a close cannot grade an entry made at `fired_at`, or None when it can.

    A close must be observed strictly after the entry (a "close" from the very snapshot that fired a
    signal grades the signal against itself) and no older than `max_age` before tip (a morning line
    is not a close).
    """
    if close.at <= fired_at:
        return "no close after the signal"
    if tip - close.at > max_age:
        return "no close near tip-off"
    return None


def grade_signal(signal: Signal, close: Close, graded_at: datetime, cover: CoverModel) -> Grade:
    """Grade the signal's entry (the number and price a member could take) and its consensus view."""
    side = signal.side
    entry = signal.entry
    value = entry_value(signal.market, side, entry.point, entry.price, close, cover)
    close_point = close.side_point(side)
    close_prob = close.side_prob(side)
    return Grade(
        signal_id=signal.id,
        graded_at=graded_at,
        close_point=close_point,
        close_prob=close_prob,
        clv_points=clv_points(signal.market, side, entry.point, close_point),
        clv_prob=clv_probability(implied_probability(entry.price), close_prob),
        beat=value.beat,
        push=value.is_push,
        consensus_clv_points=clv_points(signal.market, side, signal.consensus_point, close_point),
        consensus_clv_prob=clv_probability(signal.consensus_prob, close_prob),
        clv_ev=round(value.ev, 8),
    )


def grade_or_reason(
    signal: Signal, close: Close | None, tip: datetime, max_age: timedelta, graded_at: datetime, cover: CoverModel
) -> Grade | str:
    """The signal's grade, or why no close can grade it: the one verdict the engine, the regrade of old
    grades and the audit all apply."""
    if close is None:
        return "no close for this market"
    reason = close_usable(close, signal.created_at, tip, max_age)
    if reason is not None:
        return reason
    try:
        return grade_signal(signal, close, graded_at, cover)
    except Ungradable as exc:
        return str(exc)


def grade_bet(bet: Bet, close: Close, graded_at: datetime, cover: CoverModel) -> BetGrade:
    """A member's bet, by the same rule as a signal's entry: its own price against the no-vig close."""
    value = entry_value(bet.market, bet.side, bet.point, bet.price, close, cover)
    close_point = close.side_point(bet.side)
    close_prob = close.side_prob(bet.side)
    return BetGrade(
        bet_id=bet.id or 0,
        graded_at=graded_at,
        close_point=close_point,
        close_prob=close_prob,
        clv_points=clv_points(bet.market, bet.side, bet.point, close_point),
        clv_prob=clv_probability(implied_probability(bet.price), close_prob),
        beat=value.beat,
        push=value.is_push,
        clv_ev=round(value.ev, 8),
    )
