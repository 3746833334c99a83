"""The one parser: The Odds API v4 event array → `Snapshot` of two-way `BookLine`s.

Live polls and replayed tapes both come through `parse_snapshot`, so whatever the engine learns from
a replay holds live. It is pure (no I/O, no clock, no logging) and total: it never raises on any JSON
value of `raw.data`. A fault drops the smallest unit it poisons: a broken event loses the event, a
broken market loses that book's market, and every drop is recorded as a `Rejection` that
`log_rejections` reports.

It sits on the hot path of every engine tick, so the happy path uses exact `type(...) is` checks,
no exceptions and no regexes, and timestamps go through a small cache (the same few strings repeat
across every book of a snapshot and across consecutive snapshots).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from engine.models import BookLine, EventOdds, Game, Market, Rejection, Snapshot
from engine.odds import InvalidPrice, validate_american
from engine.providers.base import RawSnapshot
from engine.providers.bounds import DEFAULT_BOUNDS, FeedBounds, apply_bounds

__all__ = ["ParseMemo", "log_rejections", "parse_snapshot", "parse_timestamp"]

logger = logging.getLogger(__name__)

#: The markets we use; every other key (h2h_lay, spreads_h1, player props...) is skipped silently.
_MARKETS: dict[str, Market] = {"h2h": Market.H2H, "spreads": Market.SPREADS, "totals": Market.TOTALS}

_TS_CACHE: dict[str, datetime] = {}
_TS_CACHE_MAX = 4096


def parse_timestamp(value: object) -> datetime | None:
    """An ISO-8601 string with an offset ("Z" or "+hh:mm") as aware UTC, else None.

    Naive strings are refused: a time without a zone cannot be placed on the engine's UTC clock.
    Results are cached (bounded, cleared when full) because the same strings repeat constantly.
    """
    if type(value) is not str:
        return None
    cached = _TS_CACHE.get(value)
    if cached is not None:
        return cached
    try:
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None or parsed.utcoffset() is None:
            return None
        if parsed.tzinfo is not UTC:
            parsed = parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        return None
    if len(_TS_CACHE) >= _TS_CACHE_MAX:
        _TS_CACHE.clear()
    _TS_CACHE[value] = parsed
    return parsed


def _price(value: object) -> int | None:
    """An American price as int; an integral float (-110.0) is accepted, anything else is None."""
    kind = type(value)
    if kind is int:
        price: int = value  # type: ignore[assignment]
    elif kind is float and value.is_integer():  # type: ignore[union-attr]
        price = int(value)  # type: ignore[arg-type]
    else:
        return None
    try:
        return validate_american(price)
    except InvalidPrice:
        return None


def _number(value: object) -> float | None:
    """A finite real number as float (bool, str, NaN and infinities are None)."""
    kind = type(value)
    if kind is float:
        return value if value - value == 0.0 else None  # type: ignore[operator,return-value]
    if kind is int:
        try:
            return float(value)  # type: ignore[arg-type]
        except OverflowError:
            return None
    return None


def _describe(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _parse_market(
    market: Market,
    body: dict[str, Any],
    home: str,
    away: str,
    game_id: str,
    book: str,
    book_update: object,
    fetched_at: datetime,
) -> BookLine | str:
    """One book's market as a BookLine, or the reason it cannot be one."""
    outcomes = body.get("outcomes")
    if type(outcomes) is not list:
        return "outcomes missing or not a list"
    if len(outcomes) != 2:
        return f"expected 2 outcomes, got {len(outcomes)}"
    first, second = outcomes
    if type(first) is not dict or type(second) is not dict:
        return "outcome is not an object"
    name1 = first.get("name")
    name2 = second.get("name")

    if market is Market.TOTALS:
        if type(name1) is not str or type(name2) is not str:
            return "outcome name missing or not a string"
        if name1 == "Over" and name2 == "Under":  # how the API spells them: skip lower()
            side_a, side_b = first, second
        else:
            low1 = name1.lower()
            low2 = name2.lower()
            if low1 == "over" and low2 == "under":
                side_a, side_b = first, second
            elif low1 == "under" and low2 == "over":
                side_a, side_b = second, first
            elif low1 == low2 and low1 in ("over", "under"):
                return f"duplicate outcome {name1!r}"
            else:
                return f"outcome names {_describe(name1)}, {_describe(name2)} are not Over/Under"
    elif name1 == home and name2 == away:
        side_a, side_b = first, second
    elif name1 == away and name2 == home:
        side_a, side_b = second, first
    elif name1 == name2 and name1 in (home, away):
        return f"duplicate outcome {name1!r}"
    else:
        return f"outcome names {_describe(name1)}, {_describe(name2)} do not match the teams"

    # Plain ints that are valid prices are the norm; everything else goes through `_price`.
    raw_a = side_a.get("price")
    if type(raw_a) is int and (raw_a >= 100 or raw_a <= -100):
        price_a: int | None = raw_a
    else:
        price_a = _price(raw_a)
        if price_a is None:
            return f"invalid price {_describe(raw_a)}"
    raw_b = side_b.get("price")
    if type(raw_b) is int and (raw_b >= 100 or raw_b <= -100):
        price_b: int | None = raw_b
    else:
        price_b = _price(raw_b)
        if price_b is None:
            return f"invalid price {_describe(raw_b)}"

    point: float | None = None
    if market is not Market.H2H:
        raw_pa = side_a.get("point")
        raw_pb = side_b.get("point")
        point_a = _number(raw_pa)
        point_b = _number(raw_pb)
        if point_a is None or point_b is None:
            bad = raw_pa if point_a is None else raw_pb
            return f"point missing or not a number: {_describe(bad)}"
        if market is Market.SPREADS:
            if point_b != -point_a:
                return f"spread points not opposite: {point_a} / {point_b}"
            point = point_a + 0.0  # -0.0 (pick'em) becomes 0.0
        else:
            if point_a != point_b:
                return f"total points unequal: {point_a} / {point_b}"
            point = point_a

    stamp = body.get("last_update")
    if stamp is not None:
        last_update = parse_timestamp(stamp)
        if last_update is None:
            return f"invalid last_update {_describe(stamp)}"
    elif book_update is not None:
        last_update = parse_timestamp(book_update)
        if last_update is None:
            return f"invalid bookmaker last_update {_describe(book_update)}"
    else:
        last_update = fetched_at

    return BookLine(game_id, book, market, point, price_a, price_b, last_update, fetched_at)


class ParseMemo:
    """What the previous snapshot parsed to, so unchanged parts are not parsed again.

    Consecutive snapshots are near-identical (a few percent of book-markets change), so comparing an
    event's, then a bookmaker's, raw JSON with last time's (a C-speed equality) and reusing what it
    gave is most of what makes a tick cheap. A reused BookLine keeps the `observed_at` of when it was
    first seen; the engine only stores a line that differs from the book's last one, stamped with the
    snapshot time. Only events of the latest snapshot are remembered.
    """

    __slots__ = ("current", "previous")

    def __init__(self) -> None:
        self.previous: dict[str, _EventMemo] = {}
        self.current: dict[str, _EventMemo] = {}

    def rotate(self) -> None:
        self.previous, self.current = self.current, {}


@dataclass(slots=True)
class _EventMemo:
    raw: dict[str, Any]
    parsed: EventOdds
    rejections: tuple[Rejection, ...]
    books: dict[str, tuple[dict[str, Any], list[BookLine], list[Rejection]]]
    titles: dict[str, str]


def _parse_bookmaker(
    bookmaker: dict[str, Any], book: str, home: str, away: str, event_id: str, fetched_at: datetime
) -> tuple[list[BookLine], list[Rejection]]:
    lines: list[BookLine] = []
    rejections: list[Rejection] = []
    markets = bookmaker.get("markets")
    if type(markets) is not list:
        rejections.append(Rejection("markets is not a list", event_id, book))
        return lines, rejections
    book_update = bookmaker.get("last_update")
    markets_seen: set[Market] = set()
    for body in markets:
        if type(body) is not dict:
            rejections.append(Rejection("market is not an object", event_id, book))
            continue
        key = body.get("key")
        if type(key) is not str:
            reason = f"missing or invalid market key {_describe(key)}"
            rejections.append(Rejection(reason, event_id, book))
            continue
        market = _MARKETS.get(key)
        if market is None:
            continue
        if market in markets_seen:
            rejections.append(Rejection("duplicate market", event_id, book, key))
            continue
        markets_seen.add(market)
        result = _parse_market(market, body, home, away, event_id, book, book_update, fetched_at)
        if type(result) is str:
            rejections.append(Rejection(result, event_id, book, key))
        else:
            lines.append(result)  # type: ignore[arg-type]
    return lines, rejections


def _parse_event(
    index: int,
    event: object,
    fetched_at: datetime,
    seen: set[str],
    rejections: list[Rejection],
    memo: ParseMemo | None = None,
    titles: dict[str, str] | None = None,
) -> EventOdds | None:
    if type(event) is not dict:
        rejections.append(Rejection(f"event #{index} is not an object ({type(event).__name__})"))
        return None
    event_id = event.get("id")
    if type(event_id) is not str or not event_id:
        rejections.append(Rejection(f"event #{index}: missing or invalid id {_describe(event_id)}"))
        return None
    if event_id in seen:
        rejections.append(Rejection("duplicate event id", event_id))
        return None
    seen.add(event_id)
    previous = memo.previous.get(event_id) if memo is not None else None
    if previous is not None and previous.raw == event:
        memo.current[event_id] = previous  # type: ignore[union-attr]
        rejections.extend(previous.rejections)
        if titles is not None:
            titles.update(previous.titles)
        return previous.parsed
    home = event.get("home_team")
    away = event.get("away_team")
    if type(home) is not str or not home or type(away) is not str or not away:
        rejections.append(Rejection("missing or invalid home_team/away_team", event_id))
        return None
    if home == away:
        rejections.append(Rejection("home_team equals away_team", event_id))
        return None
    sport_key = event.get("sport_key")
    if type(sport_key) is not str or not sport_key:
        rejections.append(Rejection("missing or invalid sport_key", event_id))
        return None
    raw_commence = event.get("commence_time")
    commence_time = parse_timestamp(raw_commence)
    if commence_time is None:
        rejections.append(Rejection(f"missing or invalid commence_time {_describe(raw_commence)}", event_id))
        return None
    bookmakers = event.get("bookmakers")
    if type(bookmakers) is not list:
        rejections.append(Rejection("bookmakers is not a list", event_id))
        return None

    known = previous.books if previous is not None else {}
    books: dict[str, tuple[dict[str, Any], list[BookLine], list[Rejection]]] = {}
    lines: list[BookLine] = []
    event_rejections: list[Rejection] = []
    event_titles: dict[str, str] = {}
    for bookmaker in bookmakers:
        if type(bookmaker) is not dict:
            event_rejections.append(Rejection("bookmaker is not an object", event_id))
            continue
        book = bookmaker.get("key")
        if type(book) is not str or not book:
            event_rejections.append(Rejection(f"missing or invalid bookmaker key {_describe(book)}", event_id))
            continue
        if book in books:
            event_rejections.append(Rejection("duplicate bookmaker", event_id, book))
            continue
        title = bookmaker.get("title")
        if type(title) is str and title.strip():
            event_titles[book] = title.strip()
        cached = known.get(book)
        if cached is not None and cached[0] == bookmaker:
            books[book] = cached
        else:
            books[book] = (bookmaker, *_parse_bookmaker(bookmaker, book, home, away, event_id, fetched_at))
        lines.extend(books[book][1])
        event_rejections.extend(books[book][2])

    parsed = EventOdds(Game(event_id, sport_key, home, away, commence_time), tuple(lines))
    rejections.extend(event_rejections)
    if titles is not None:
        titles.update(event_titles)
    if memo is not None:
        memo.current[event_id] = _EventMemo(event, parsed, tuple(event_rejections), books, event_titles)
    return parsed


def parse_snapshot(raw: RawSnapshot, memo: ParseMemo | None = None, bounds: FeedBounds = DEFAULT_BOUNDS) -> Snapshot:
    """Every usable two-way line in `raw`, plus a `Rejection` for each part that was dropped.

    Per market: h2h and spreads put the home team in `price_a` and the away team in `price_b`
    (spreads' `point` is the home team's, and the away point must be its negation); totals put Over
    in `price_a` and Under in `price_b` with `point` the total. `last_update` is the market's own
    stamp, else the bookmaker's, else `fetched_at`; `observed_at` is `fetched_at`. `book_titles` keeps each
    bookmaker's `title` (its display name) so members never have to read a feed key like "williamhill_us".
    Never raises on any JSON value of `raw.data`. With a `memo` (one per feed), events and bookmakers
    whose raw JSON did not change since the previous snapshot give back what they gave then, unparsed.
    A well-formed line outside `bounds` (engine.providers.bounds) is rejected too; the check runs after
    the memo, so the memo never depends on the bounds.
    """
    fetched_at = raw.fetched_at
    data = raw.data
    if type(data) is not list:
        reason = f"data is not a list ({type(data).__name__})"
        return Snapshot(fetched_at, (), (Rejection(reason),), raw.quota)
    events: list[EventOdds] = []
    rejections: list[Rejection] = []
    seen: set[str] = set()
    titles: dict[str, str] = {}
    for index, event in enumerate(data):
        parsed = _parse_event(index, event, fetched_at, seen, rejections, memo, titles)
        if parsed is not None:
            events.append(apply_bounds(parsed, bounds, rejections))
    if memo is not None:
        memo.rotate()
    return Snapshot(fetched_at, tuple(events), tuple(rejections), raw.quota, titles)


def log_rejections(snapshot: Snapshot, log: logging.Logger | None = None) -> int:
    """Log each rejection of `snapshot` at WARNING (kept apart so `parse_snapshot` stays pure).

    Returns how many were logged.
    """
    target = log or logger
    for rejection in snapshot.rejections:
        target.warning(
            "feed data rejected (snapshot %s, event %s, book %s, market %s): %s",
            snapshot.fetched_at.isoformat(),
            rejection.event_id,
            rejection.book,
            rejection.market,
            rejection.reason,
        )
    return len(snapshot.rejections)
