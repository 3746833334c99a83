"""A small hand-built tape for the walk-forward audit: games whose every grade is known by hand.

Ten games, one hour apart. Two books quote each game six hours before tip: the moneyline at −110/−110
and the total 160.5 at +110/+110; both markets close at 50% no-vig (the total at 160.5) five minutes
before tip, and the close is committed at tip (`captured_at`), where the game's grades are committed.

Each game fires, two hours before tip, three signals of each of two classes:
- STEAM:h2h on the home side at +105: 2.05 × 0.50 − 1 = **+2.5%** at the close, a beat. Its null (best
  price across the books, a random side: −110) is 1.909 × 0.50 − 1 = −4.5%, never a beat; so is its
  opposite side (−110). Rate 100%, null 0%, lift +100 points in every game.
- STEAM:totals on the over 160.5 at −120: P(win) 0.50 at the closing number (a half point: no push),
  1.833 × 0.50 − 1 = **−8.3%**, never a beat; its null and opposite take +110: 2.10 × 0.50 − 1 = +5.0%,
  always a beat. Rate 0%, null 100%, lift −100 points in every game.

So after the tenth game (30 graded each) STEAM:h2h holds tier B (100% > 52% over ≥ 30, lift interval
+100…+100 above zero, above its opposite's 0%) and STEAM:totals is refuted (30 graded, lift interval
−100…−100 entirely below zero); before it both are unproven (too few).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from engine.clv import grade_signal
from engine.cover import NormalCoverModel
from engine.models import (
    BookLine,
    Close,
    Entry,
    Game,
    Grade,
    Market,
    ScoreBreakdown,
    Side,
    Signal,
    SignalType,
)

T0 = datetime(2026, 7, 1, 18, 0, tzinfo=UTC)
GAMES = 10
PER_CLASS = 3
SPORT = "basketball_wnba"  # the fallback normal cover model (SD 11 / 15), as `cover_model_for` gives
COVER = NormalCoverModel(11.0, 15.0)
TOTAL = 160.5


def tip(k: int) -> datetime:
    return T0 + timedelta(hours=k)


def game(k: int) -> Game:
    return Game(id=f"wf{k:02d}", sport_key=SPORT, home_team=f"Home {k}", away_team=f"Away {k}", commence_time=tip(k))


def lines(k: int) -> list[BookLine]:
    at = tip(k) - timedelta(hours=6)
    gid = game(k).id
    return [
        BookLine(gid, book, market, point, price, price, at, at)
        for book in ("alpha", "bravo")
        for market, point, price in ((Market.H2H, None, -110), (Market.TOTALS, TOTAL, 110))
    ]


def closes(k: int) -> list[Close]:
    gid = game(k).id
    before = tip(k) - timedelta(minutes=5)
    return [
        Close(gid, Market.H2H, tip(k), before, None, 0.5, 2),
        Close(gid, Market.TOTALS, tip(k), before, TOTAL, 0.5, 2),
    ]


def _signal(k: int, n: int, market: Market) -> Signal:
    g = game(k)
    if market == Market.H2H:
        side, entry, point = Side.HOME, Entry("alpha", None, 105, 0.4878), None
    else:
        side, entry, point = Side.OVER, Entry("alpha", TOTAL, -120, 0.5455), TOTAL
    return Signal(
        id=f"{g.id}-{market.value}-{n}",
        type=SignalType.STEAM,
        game_id=g.id,
        market=market,
        side=side,
        created_at=tip(k) - timedelta(hours=2),
        score=60,
        breakdown=ScoreBreakdown(0.5, 0.5, 0.5, 0.5, 0.5, 60),
        books=("alpha", "bravo"),
        magnitude=1.0,
        velocity=0.1,
        entry=entry,
        consensus_point=point,
        consensus_prob=0.5,
        commence_time=tip(k),
    )


def signals(k: int) -> list[Signal]:
    return [_signal(k, n, market) for market in (Market.H2H, Market.TOTALS) for n in range(PER_CLASS)]


def grades(k: int) -> list[tuple[Signal, Grade]]:
    """The game's signals graded at its tip against its closes."""
    by_market = {close.market: close for close in closes(k)}
    return [(s, grade_signal(s, by_market[s.market], tip(k), COVER)) for s in signals(k)]
