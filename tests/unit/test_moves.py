"""One move, one alert — the pure parts, against hand-worked values: which signals of a poll make one move and
its id, the best price now and its EV against the fair price, and the one ping decision.

The EVs are worked by hand from the normal cover model (σ = 10 for spreads), as in tests/unit/test_clv.py: with
the fair price at away +3 / 50%, P(away margin = −3) = 2Φ(0.05) − 1 = 0.039878, so +3.5 wins 0.519939 and
loses 0.480061."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from delivery.fanout import PingDecision, decide_ping
from engine.cover import NormalCoverModel
from engine.models import Consensus, Entry, Market, ScoreBreakdown, Side, Signal, SignalType
from engine.poll_moves import group_moves, move_id
from engine.price_now import PriceNow, best_price_now, ev_against_fair
from tests.engine_builders import line

AT = datetime(2026, 1, 10, 18, 0, tzinfo=UTC)
TIP = AT + timedelta(hours=6)
COVER = NormalCoverModel(sd_spreads=10.0, sd_totals=15.0)


def _signal(sid: str, kind: SignalType, market=Market.SPREADS, side=Side.HOME, at=AT, game="g1") -> Signal:
    return Signal(
        id=sid,
        type=kind,
        game_id=game,
        market=market,
        side=side,
        created_at=at,
        score=50,
        breakdown=ScoreBreakdown(0.5, 0.5, 0.5, 0.5, 0.5, 50),
        books=("a",),
        magnitude=0.5,
        velocity=None,
        entry=Entry(book="a", point=-3.0, price=-110, prob=0.5),
        consensus_point=-3.0,
        consensus_prob=0.5,
        commence_time=TIP,
    )


# ------------------------------------------------------------------ grouping


def test_one_polls_signals_on_one_game_market_and_side_are_one_move():
    later = AT + timedelta(minutes=5)
    signals = [
        _signal("d-bovada", SignalType.DISLOCATION),
        _signal("steam", SignalType.STEAM),
        _signal("total", SignalType.STEAM, market=Market.TOTALS, side=Side.OVER),
        _signal("d-betus", SignalType.DISLOCATION),
        _signal("other-side", SignalType.DISLOCATION, side=Side.AWAY),
        _signal("cross", SignalType.KEY_CROSS),
        _signal("next-poll", SignalType.STEAM, at=later),
        _signal("other-game", SignalType.STEAM, game="g2"),
    ]
    moves = group_moves(signals)
    # Five moves, in the order of each one's first signal; inside one: STEAM, KEY_CROSS, DISLOCATION, then id.
    assert [[s.id for s in m.signals] for m in moves] == [
        ["steam", "cross", "d-betus", "d-bovada"],
        ["total"],
        ["other-side"],
        ["next-poll"],
        ["other-game"],
    ]
    first = moves[0]
    assert (first.game_id, first.market, first.side, first.at) == ("g1", Market.SPREADS, Side.HOME, AT)
    assert first.types == (SignalType.STEAM, SignalType.KEY_CROSS, SignalType.DISLOCATION)
    # The id is worked by hand: sha256("g1␟spreads␟home␟2026-01-10T18:00:00.000000Z"), 20 hex digits.
    assert first.id == move_id("g1", Market.SPREADS, Side.HOME, AT) == "mv_0004cdb9b179be502a97"
    assert len({m.id for m in moves}) == 5

    # The same signals in any order (a replay, the catch-up reading them back) make the same moves.
    again = group_moves(list(reversed(signals)) + signals[:2])  # a repeated signal counts once
    assert {m.id: [s.id for s in m.signals] for m in again} == {m.id: [s.id for s in m.signals] for m in moves}


def test_a_moves_id_depends_only_on_game_market_side_and_the_polls_instant():
    eastern = timezone(timedelta(hours=-5))
    assert move_id("g1", Market.SPREADS, Side.HOME, AT.astimezone(eastern)) == "mv_0004cdb9b179be502a97"
    others = {
        move_id("g2", Market.SPREADS, Side.HOME, AT),
        move_id("g1", Market.TOTALS, Side.HOME, AT),
        move_id("g1", Market.SPREADS, Side.AWAY, AT),
        move_id("g1", Market.SPREADS, Side.HOME, AT + timedelta(microseconds=1)),
    }
    assert len(others) == 4 and "mv_0004cdb9b179be502a97" not in others


def test_a_move_for_one_target_keeps_its_id_and_only_the_signals_asked_for():
    [move] = group_moves([_signal("steam", SignalType.STEAM), _signal("disl", SignalType.DISLOCATION)])
    part = move.only([s for s in move.signals if s.type == SignalType.DISLOCATION])
    assert part.id == move.id and [s.id for s in part.signals] == ["disl"]
    assert move.score == 50 and replace(move, signals=(replace(move.signals[0], score=71),)).score == 71


# ------------------------------------------------------------------ the best price now and its EV


def _fair(market: Market, point: float | None, prob_a: float) -> Consensus:
    return Consensus(game_id="g1", market=market, at=AT, point=point, prob_a=prob_a, books=9)


def test_the_ev_against_the_fair_price_is_the_graders_rule():
    fair = _fair(Market.SPREADS, -3.0, 0.5)  # away +3 at 50%
    # +3.5 (−110): 0.519939 × 0.909091 − 0.480061 = −0.007389; +3 at +100: exactly the fair price, 0.
    assert ev_against_fair(Market.SPREADS, Side.AWAY, 3.5, -110, fair, COVER) == pytest.approx(-0.007389, abs=1e-6)
    assert ev_against_fair(Market.SPREADS, Side.AWAY, 3.0, 100, fair, COVER) == pytest.approx(0.0, abs=1e-9)
    # Moneyline: +150 on away with home fair at 58%: 2.5 × 0.42 − 1 = +5%.
    assert ev_against_fair(Market.H2H, Side.AWAY, None, 150, _fair(Market.H2H, None, 0.58), COVER) == pytest.approx(
        0.05
    )


def test_the_best_price_now_is_the_one_worth_most_not_the_best_number():
    fair = _fair(Market.SPREADS, -3.0, 0.5)
    lines = [
        line("a", Market.SPREADS, -3.5, -110, -110, at=AT),  # away +3.5 (−110): −0.7389%
        line("b", Market.SPREADS, -3.0, -120, 100, at=AT),  # away +3 (+100): 0.0%
        line("c", Market.SPREADS, -3.5, -105, -125, at=AT),  # away +3.5 (−125): 0.8 × 0.519939 − 0.480061 = −6.41%
        line("d", Market.TOTALS, 180.5, 150, 150, at=AT),  # another market: never counted
    ]
    best = best_price_now(lines, fair, Side.AWAY, COVER)
    assert best == PriceNow(
        side=Side.AWAY,
        book="b",
        point=3.0,
        price=100,
        ev=pytest.approx(0.0, abs=1e-9),
        fair_point=3.0,
        fair_prob=0.5,
        at=AT,
        books=9,
    )
    # Without book b the better number wins over the worse price at the same number.
    best = best_price_now([lines[0], lines[2]], fair, Side.AWAY, COVER)
    assert (best.book, best.point, best.price) == ("a", 3.5, -110)
    assert best.ev == pytest.approx(-0.007389, abs=1e-6)
    # The home side of the same lines (home −3.5 wins 0.480061, loses 0.519939; −3 wins and loses 0.480061):
    # a −3.5 (−110) 0.436419 − 0.519939 = −8.35%, b −3 (−120) 0.400051 − 0.480061 = −8.00%,
    # c −3.5 (−105) 0.457201 − 0.519939 = −6.27%: c, the worst number, is the best price.
    home = best_price_now(lines, fair, Side.HOME, COVER)
    assert (home.book, home.point, home.price, home.fair_point) == ("c", -3.5, -105, -3.0)
    assert home.ev == pytest.approx(-0.062738, abs=1e-6)


def test_moneyline_best_price_and_ties_go_to_the_first_book():
    fair = _fair(Market.H2H, None, 0.58)
    lines = [
        line("c", Market.H2H, None, -170, 150, at=AT),  # away +150: 2.5 × 0.42 − 1 = +5%
        line("b", Market.H2H, None, -160, 140, at=AT),  # away +140: 2.4 × 0.42 − 1 = +0.8%
        line("a", Market.H2H, None, -175, 150, at=AT),  # away +150 too: the tie goes to "a"
    ]
    best = best_price_now(lines, fair, Side.AWAY, COVER)
    assert (best.book, best.point, best.price, best.fair_point) == ("a", None, 150, None)
    assert best.ev == pytest.approx(0.05) and best.fair_prob == pytest.approx(0.42)


def test_no_fair_price_or_no_quote_means_no_price_now():
    lines = [line("a", Market.SPREADS, -3.5, at=AT)]
    assert best_price_now(lines, None, Side.AWAY, COVER) is None
    assert best_price_now([], _fair(Market.SPREADS, -3.0, 0.5), Side.AWAY, COVER) is None
    assert best_price_now(lines, _fair(Market.H2H, None, 0.5), Side.AWAY, COVER) is None  # no moneyline quote


# ------------------------------------------------------------------ the ping decision


def _price(ev: float) -> PriceNow:
    return PriceNow(Side.AWAY, "b", 3.0, -110, ev, 3.0, 0.5, AT, 9)


def test_a_move_already_negative_ev_beyond_the_limit_goes_out_without_a_ping_and_says_why():
    assert decide_ping(price=None, max_negative_ev=0.01) == PingDecision(True, None)  # nothing to judge by
    assert decide_ping(price=_price(0.012), max_negative_ev=0.01) == PingDecision(True, None)
    assert decide_ping(price=_price(-0.01), max_negative_ev=0.01) == PingDecision(True, None)  # exactly the limit
    decision = decide_ping(price=_price(-0.0183), max_negative_ev=0.01)
    assert decision == PingDecision(
        False,
        "No ping: the best price now is already \u22121.8% EV against the fair price (alerts ping down to \u22121.0%).",
    )
    assert not decide_ping(price=_price(-0.0001), max_negative_ev=0.0).ping  # 0: any −EV goes quietly


def test_the_audit_holds_a_move_back_only_when_it_holds_back_every_signal_of_it():
    refuted = "no ping: our audit refutes STEAM:spreads — lift −10.9 pts (−15.7…−6.2) over 35 graded"
    below = "no ping: KEY_CROSS:spreads is unproven (too few), below this server's minimum (tiered)"
    # One signal of the move clears the bar: the move pings (the held one is listed saying why).
    assert decide_ping(price=None, max_negative_ev=0.01, held=[refuted, None]) == PingDecision(True, None)
    # Every signal held back: no ping, each reason once, in order.
    assert decide_ping(price=_price(0.05), max_negative_ev=0.01, held=[refuted, below, refuted]) == PingDecision(
        False, f"{refuted}\n{below}"
    )
    # The audit lets it through, the price does not.
    assert not decide_ping(price=_price(-0.05), max_negative_ev=0.01, held=[None]).ping
