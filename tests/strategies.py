"""Hypothesis strategies for the engine's vocabulary, and the one scan of a Community payload.

Reusable: `signals()` draws a `Signal` of any type and market, its books from a pool of real-looking book
keys ("draftkings", "williamhill_us") and display titles ("Caesars", "DraftKings": the feed's titles),
created at a time drawn around a given `now` — either side of the Community delay and exactly on it;
`grades()` and `closes()` draw the moments a signal was graded and a game's close captured the same way.

`assert_community_clean` is the tier promise as a scan of serialised text: no book name (key or title), no
diagnostics key (velocity, breakdown, magnitude, movers), no exact score, and no timestamp younger than
the delay (tip-off times excepted: they are the schedule, not data).

`PROFILE` is the settings every property test here starts from: derandomized (CI runs the same examples
every time; `HYPOTHESIS_PROFILE=random` explores), no deadline (SQLite and loopback HTTP vary), no example
database, function-scoped fixtures allowed (one database or bot per test, shared by its examples).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, is_dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from access import Tier
from engine.models import MARKET_SIDES, Close, Entry, Game, Grade, Market, ScoreBreakdown, Signal, SignalType

PROFILE = settings(
    derandomize=os.environ.get("HYPOTHESIS_PROFILE") != "random",
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

#: Book key → the feed's display title.
BOOK_TITLES: Mapping[str, str] = {
    "draftkings": "DraftKings",
    "fanduel": "FanDuel",
    "williamhill_us": "Caesars",
    "betmgm": "BetMGM",
    "betrivers": "BetRivers",
    "pinnacle": "Pinnacle",
    "bovada": "Bovada",
    "lowvig": "LowVig.ag",
    "betonlineag": "BetOnline.ag",
    "mybookieag": "MyBookie.ag",
    "fanatics": "Fanatics",
    "espnbet": "ESPN BET",
    "betus": "BetUS",
    "hardrockbet": "Hard Rock Bet",
    "ballybet": "Bally Bet",
    "unibet_us": "Unibet",
    "superbook": "SuperBook",
    "wynnbet": "WynnBET",
    "betparx": "betPARX",
    "fliff": "Fliff",
}
#: Every name a book goes by here: keys and titles.
BOOK_NAMES: tuple[str, ...] = (*BOOK_TITLES, *BOOK_TITLES.values())

tiers = st.sampled_from(list(Tier))
signal_types = st.sampled_from(list(SignalType))
markets = st.sampled_from(list(Market))
heats = st.integers(min_value=0, max_value=3)
book_names = st.sampled_from(BOOK_NAMES)

TEAMS = ("Atlanta Dream", "Phoenix Mercury", "Dallas Wings", "Washington Mystics", "Boston Celtics", "Miami Heat")


def prices() -> st.SearchStrategy[int]:
    """American prices: -400..-100 or +100..+400."""
    return st.one_of(st.integers(-400, -100), st.integers(100, 400))


def unit_floats() -> st.SearchStrategy[float]:
    return st.floats(min_value=0.0, max_value=1.0, allow_nan=False, allow_infinity=False)


def points_for(market: Market) -> st.SearchStrategy[float | None]:
    if market == Market.H2H:
        return st.none()
    if market == Market.SPREADS:
        return st.integers(-30, 30).map(lambda n: n / 2)
    return st.integers(280, 480).map(lambda n: n / 2)


def created_offsets(delay: timedelta) -> st.SearchStrategy[timedelta]:
    """How far from `now` a signal was created: exactly on the delay and a microsecond either side, right now,
    and anything in the last three hours (a few microseconds into the future too: a clock skew)."""
    tick = timedelta(microseconds=1)
    edges = st.sampled_from([-delay, -delay + tick, -delay - tick, timedelta(0), -delay / 2, tick])
    return st.one_of(edges, st.timedeltas(min_value=-timedelta(hours=3), max_value=timedelta(0)))


@st.composite
def games(draw: st.DrawFn, now: datetime | None = None) -> Game:
    home, away = draw(st.lists(st.sampled_from(TEAMS), min_size=2, max_size=2, unique=True))
    base = now or datetime(2026, 8, 5, 12, tzinfo=UTC)
    tip = base + draw(st.timedeltas(min_value=-timedelta(hours=6), max_value=timedelta(hours=30)))
    return Game(id=draw(st.from_regex(r"g[0-9a-f]{8}", fullmatch=True)), sport_key="basketball_wnba",
                home_team=home, away_team=away, commence_time=tip)  # fmt: skip


def _consensus_view(draw: st.DrawFn, market: Market) -> dict[str, Any]:
    return {"point": draw(points_for(market)), "prob_a": round(draw(unit_floats()), 6)}


def details_for(draw: st.DrawFn, kind: SignalType, market: Market, books: Sequence[str], now: datetime) -> dict:
    """The type's metadata, shaped as the engine writes it (engine/core.py), book names where it puts them."""
    unit = "probability" if market == Market.H2H else "points"
    if kind == SignalType.STEAM:
        first = now - draw(st.timedeltas(min_value=timedelta(0), max_value=timedelta(minutes=15)))
        return {
            "window_seconds": draw(st.integers(60, 900)),
            "first_move_at": first.isoformat(),
            "last_move_at": now.isoformat(),
            "consensus_before": _consensus_view(draw, market),
            "consensus_after": _consensus_view(draw, market),
            "unit": unit,
        }
    if kind == SignalType.DISLOCATION:
        return {
            "book": books[0],
            "book_point": draw(points_for(market)),
            "book_price": draw(prices()),
            "consensus_point": draw(points_for(market)),
            "consensus_prob": round(draw(unit_floats()), 6),
            "gap": round(draw(st.floats(0.01, 5.0)), 6),
            "expected_value": round(draw(st.floats(-0.2, 0.2)), 6),
            "consensus_books": draw(st.integers(1, 20)),
            "unit": unit,
        }
    before, after = draw(st.integers(-30, 30)) / 2, draw(st.integers(-30, 30)) / 2
    return {
        "from": before,
        "to": after,
        "key_number": float(draw(st.sampled_from([3, 4, 5, 6, 7]))),
        "keys_crossed": [3.0],
        "consensus_before": {"point": before, "prob_a": 0.5},
        "consensus_after": {"point": after, "prob_a": 0.5},
        "unit": "points",
    }


@st.composite
def signals(
    draw: st.DrawFn,
    now: datetime,
    *,
    delay: timedelta = timedelta(minutes=10),
    game: Game | st.SearchStrategy[Game] | None = None,
    offsets: st.SearchStrategy[timedelta] | None = None,
) -> Signal:
    """A signal as the engine could have stored it, created at `now` plus an offset (`created_offsets` by
    default). KEY_CROSS exists for spreads and totals only, as in the engine; DISLOCATION has no velocity."""
    if isinstance(game, st.SearchStrategy):
        game = draw(game)
    game = game or draw(games(now))
    kind = draw(signal_types)
    market = draw(st.sampled_from([Market.SPREADS, Market.TOTALS]) if kind == SignalType.KEY_CROSS else markets)
    side = draw(st.sampled_from(MARKET_SIDES[market]))
    books = tuple(draw(st.lists(book_names, min_size=1, max_size=6, unique=True)))
    created = now + draw(offsets if offsets is not None else created_offsets(delay))
    parts = [draw(unit_floats()) for _ in range(5)]
    score = draw(st.integers(0, 100))
    return Signal(
        id=draw(st.from_regex(r"[a-z0-9]{12}", fullmatch=True)),
        type=kind,
        game_id=game.id,
        market=market,
        side=side,
        created_at=created,
        score=score,
        breakdown=ScoreBreakdown(*parts, total=score),
        books=books,
        magnitude=draw(st.floats(0.01, 10.0)),
        velocity=None if kind == SignalType.DISLOCATION else draw(st.floats(0.001, 5.0)),
        entry=Entry(
            book=draw(st.sampled_from(books)),
            point=draw(points_for(market)),
            price=draw(prices()),
            prob=draw(st.floats(0.01, 0.99)),
        ),
        consensus_point=draw(points_for(market)),
        consensus_prob=draw(st.floats(0.01, 0.99)),
        commence_time=game.commence_time,
        details=details_for(draw, kind, market, books, created),
    )


@st.composite
def grades(draw: st.DrawFn, signal: Signal, now: datetime, *, delay: timedelta = timedelta(minutes=10)) -> Grade:
    """A grade of `signal` made at `now` plus a `created_offsets` offset — either side of the delay, exactly
    on it, a microsecond after now — and never before the signal itself."""
    graded_at = max(signal.created_at, now + draw(created_offsets(delay)))
    beat, push = draw(st.sampled_from([(True, False), (False, False), (False, True)]))
    point = draw(points_for(signal.market))
    return Grade(signal_id=signal.id, graded_at=graded_at, close_point=point, close_prob=round(draw(unit_floats()), 6),
                 clv_points=None if point is None else draw(st.integers(-10, 10)) / 2,
                 clv_prob=round(draw(st.floats(-0.2, 0.2)), 6), beat=beat, push=push,
                 consensus_clv_points=None, consensus_clv_prob=0.0,
                 clv_ev=round(draw(st.floats(0.001, 0.2)) * (1 if beat else -1), 6))  # fmt: skip


@st.composite
def closes(draw: st.DrawFn, game_id: str, now: datetime, *, delay: timedelta = timedelta(minutes=10)) -> list[Close]:
    """A close for each of a game's markets, each captured at `now` plus a `created_offsets` offset."""
    drawn = []
    for market in Market:
        captured = now + draw(created_offsets(delay))
        drawn.append(Close(game_id=game_id, market=market, captured_at=captured, at=captured - timedelta(minutes=1),
                           point=draw(points_for(market)), prob_a=round(draw(unit_floats()), 6),
                           books=draw(st.integers(1, 12))))  # fmt: skip
    return drawn


# ---------------------------------------------------------------------- the scan


def names_of(books: Iterable[str]) -> set[str]:
    """Every name the given books go by: each one, and its key or title when the pool knows it."""
    titles = {title.casefold(): key for key, title in BOOK_TITLES.items()}
    found: set[str] = set()
    for book in books:
        found.add(book)
        if book in BOOK_TITLES:
            found.add(BOOK_TITLES[book])
        if book.casefold() in titles:
            found.add(titles[book.casefold()])
    return found


def _jsonable(value: Any) -> Any:
    """A payload as JSON would hold it, with the None of redacted fields left out."""
    if is_dataclass(value) and not isinstance(value, type):
        value = asdict(value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def payload_text(*values: Any) -> str:
    """Serialise payloads (dataclasses, dicts, embeds' `to_dict()`, strings) to one text to scan."""
    return "\n".join(v if isinstance(v, str) else json.dumps(_jsonable(v), default=str) for v in values)


#: Words of the redacted diagnostics, as keys or as embed field names.
FORBIDDEN_WORDS = re.compile(
    r"velocity|breakdown|magnitude|breadth|time_to_tip|first[ _]mover|\bmovers?\b|entry_book|entry_prob"
    r"|consensus_prob|first_move_at|last_move_at|expected_value|\"book\"",
    re.IGNORECASE,
)
#: An exact score ("87/100"): Community sees the band only.
EXACT_SCORE = re.compile(r"\b\d{1,3}/100\b")
DISCORD_TIME = re.compile(r"<t:(-?\d+)(?::[tTdDfFR])?>")
ISO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-]\d{2}:\d{2})?")


def _book_pattern(name: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![A-Za-z0-9]){re.escape(name)}(?![A-Za-z0-9])", re.IGNORECASE)


def times_in(text: str) -> list[datetime]:
    """Every instant written in the text: Discord timestamps (<t:…>) and ISO-8601 times (UTC when naive)."""
    found = [datetime.fromtimestamp(int(m.group(1)), UTC) for m in DISCORD_TIME.finditer(text)]
    for match in ISO_TIME.finditer(text):
        raw = match.group(0).replace("Z", "+00:00")
        try:
            at = datetime.fromisoformat(raw)
        except ValueError:
            continue
        found.append(at if at.tzinfo else at.replace(tzinfo=UTC))
    return found


def assert_community_clean(
    text: str,
    signal_books: Iterable[str],
    now: datetime | None = None,
    *,
    delay: timedelta = timedelta(minutes=10),
    tips: Iterable[datetime] = (),
    fresh_ids: Iterable[str] = (),
) -> None:
    """The tier promise on one serialised Community payload.

    No name of `signal_books` (nor its key or title), no diagnostics word, no exact score; with `now`, no
    instant younger than the delay (in (now − delay, now], to the second as Discord writes them) other than
    a game's tip-off in `tips`, and none of `fresh_ids` (signals younger than the delay)."""
    for name in sorted(names_of(signal_books)):
        assert not _book_pattern(name).search(text), f"book name {name!r} in a Community payload:\n{text[:3000]}"
    word = FORBIDDEN_WORDS.search(text)
    assert word is None, f"diagnostics {word.group(0)!r} in a Community payload:\n{text[:3000]}"
    score = EXACT_SCORE.search(text)
    assert score is None, f"exact score {score.group(0)!r} in a Community payload:\n{text[:3000]}"
    for signal_id in fresh_ids:
        assert signal_id not in text, f"signal {signal_id} younger than the delay in a Community payload"
    if now is None:
        return
    horizon = now - delay
    allowed = {tip.replace(microsecond=0) for tip in tips}
    for at in times_in(text):
        whole = at.replace(microsecond=0)
        young = horizon.replace(microsecond=0) < whole <= now and at > horizon
        assert not young or whole in allowed, f"{at.isoformat()} is younger than the delay (now {now.isoformat()})"
