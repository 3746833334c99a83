"""Builders for the rows the storage tests write: games, book lines, consensus, signals and grades around one
evening's tip, and the CLV fields a signal's grade and a bet's grade share (one set of values, so the
grades and bets repositories' tests cannot drift apart)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from engine.models import (
    BookComponent,
    BookLine,
    Consensus,
    Entry,
    Game,
    Grade,
    Market,
    ScoreBreakdown,
    Side,
    Signal,
    SignalType,
)

T0 = datetime(2024, 11, 5, 17, 0, tzinfo=UTC)
TIP = datetime(2024, 11, 6, 0, 30, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def game(game_id: str = "g1", commence: datetime = TIP, home: str = "Boston Celtics") -> Game:
    return Game(game_id, "basketball_nba", home, "New York Knicks", commence)


def line(
    book: str,
    minute: float,
    *,
    game_id: str = "g1",
    market: Market = Market.SPREADS,
    point: float | None = -5.5,
    price_a: int = -110,
    price_b: int = -110,
) -> BookLine:
    return BookLine(game_id, book, market, point, price_a, price_b, at(minute - 0.5), at(minute))


def consensus(
    minute: float, point: float | None, prob_a: float = 0.5, *, game_id: str = "g1", market: Market = Market.SPREADS
) -> Consensus:
    return Consensus(
        game_id=game_id,
        market=market,
        at=at(minute),
        point=point,
        prob_a=prob_a,
        books=2,
        components=(
            BookComponent("pinnacle", point, prob_a + 0.01, 3.0),
            BookComponent("draftkings", point, prob_a - 0.0123456789, 1.2),
        ),
    )


def signal(
    signal_id: str,
    created: datetime,
    *,
    game_id: str = "g1",
    type_: SignalType = SignalType.STEAM,
    market: Market = Market.SPREADS,
    side: Side = Side.HOME,
    score: int = 71,
) -> Signal:
    """Floats with many digits, a non-ASCII string and a None nested in `details`: what a round trip must keep."""
    return Signal(
        id=signal_id,
        type=type_,
        game_id=game_id,
        market=market,
        side=side,
        created_at=created,
        score=score,
        breakdown=ScoreBreakdown(
            magnitude=0.8, velocity=0.625, breadth=0.75, sharp=1.0, time_to_tip=0.1234567890123, total=score
        ),
        books=("pinnacle", "circasports", "draftkings", "fanduel"),
        magnitude=1.5,
        velocity=0.3333333333333333,
        entry=Entry(book="betmgm", point=-5.0, price=-108, prob=0.5123456789),
        consensus_point=-6.5,
        consensus_prob=0.4987654321,
        commence_time=TIP,
        details={
            "window_seconds": 180,
            "before": -5.0,
            "after": -6.5,
            "movers": ["pinnacle", "circasports"],
            "nested": {"gap": 1.25, "ev": None, "label": "Celtics −6.5"},
        },
    )


def clv(*, beat: bool, push: bool = False, clv_ev: float | None = None) -> dict[str, Any]:
    """The CLV fields of a `Grade` and a `BetGrade` alike. A push has no close point and no CLV points, so
    both repositories read their NULLs back; `clv_ev` follows `beat` unless given (NaN: a legacy grade)."""
    return {
        "close_point": None if push else -7.0,
        "close_prob": 0.52,
        "clv_points": None if push else 1.5,
        "clv_prob": 0.0123,
        "beat": beat,
        "push": push,
        "clv_ev": (0.031 if beat else -0.02) if clv_ev is None else clv_ev,
    }


def grade(signal_id: str, graded_at: datetime, *, beat: bool, push: bool = False, clv_ev: float | None = None) -> Grade:
    return Grade(
        signal_id=signal_id,
        graded_at=graded_at,
        consensus_clv_points=0.5,
        consensus_clv_prob=-0.004,
        **clv(beat=beat, push=push, clv_ev=clv_ev),
    )
