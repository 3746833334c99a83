"""parse_snapshot on real Odds API v4 payloads (tests/fixtures, see SOURCE.md) and on broken ones."""

from __future__ import annotations

import copy
import logging
import math
import random
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from engine.models import BookLine, Market, Snapshot
from engine.providers.base import RawSnapshot
from engine.providers.parse import log_rejections, parse_snapshot, parse_timestamp
from tests.odds_payloads import (
    KNICKS_SPURS,
    XMAS,
    XMAS_LINES,
    book_of,
    load,
    market_of,
    parse_data,
    total_lines,
    xmas_data,
)

WIZARDS_HORNETS = "4bfd5b23c0d4cad658d4a20ea0f06955"


def raw_from_wrapper(name: str) -> RawSnapshot:
    wrapper = load(name)
    fetched_at = datetime.fromisoformat(wrapper["timestamp"])
    return RawSnapshot(fetched_at=fetched_at, data=wrapper["data"])


def line(snapshot: Snapshot, game_id: str, book: str, market: Market) -> BookLine:
    for event in snapshot.events:
        if event.game.id == game_id:
            matches = [ln for ln in event.lines if ln.book == book and ln.market == market]
            assert len(matches) == 1
            return matches[0]
    raise AssertionError(f"no event {game_id}")


# --- real payloads -------------------------------------------------------------------------------


def test_christmas_2024_counts_and_values() -> None:
    snap = parse_snapshot(raw_from_wrapper(XMAS))
    assert snap.rejections == ()
    assert [len(e.lines) for e in snap.events] == [30, 30, 27, 12]
    assert snap.fetched_at == datetime(2024, 12, 25, 11, 55, 38, tzinfo=UTC)

    game = snap.events[0].game
    assert game.id == KNICKS_SPURS
    assert game.sport_key == "basketball_nba"
    assert (game.home_team, game.away_team) == ("New York Knicks", "San Antonio Spurs")
    assert game.commence_time == datetime(2024, 12, 25, 17, 0, tzinfo=UTC)

    h2h = line(snap, KNICKS_SPURS, "draftkings", Market.H2H)
    assert (h2h.point, h2h.price_a, h2h.price_b) == (None, -395, 310)
    assert h2h.last_update == datetime(2024, 12, 25, 11, 55, 20, tzinfo=UTC)
    assert h2h.observed_at == snap.fetched_at

    spread = line(snap, KNICKS_SPURS, "draftkings", Market.SPREADS)
    assert (spread.point, spread.price_a, spread.price_b) == (-9.0, -112, -108)

    total = line(snap, KNICKS_SPURS, "bovada", Market.TOTALS)
    assert (total.point, total.price_a, total.price_b) == (222.5, -120, 100)
    assert total.last_update == datetime(2024, 12, 25, 11, 54, 43, tzinfo=UTC)


def test_home_team_is_side_a_even_when_listed_second() -> None:
    snap = parse_snapshot(raw_from_wrapper(XMAS))
    # DraftKings lists the away Hornets first: -142 Hornets, +120 Wizards (home).
    h2h = line(snap, WIZARDS_HORNETS, "draftkings", Market.H2H)
    assert (h2h.price_a, h2h.price_b) == (120, -142)


def test_2022_spreads_home_point_and_ignored_markets() -> None:
    snap = parse_snapshot(raw_from_wrapper("nba_odds_2022-01-23_h2h_lay.json"))
    assert snap.rejections == ()  # h2h_lay (Betfair lay) is skipped silently
    assert [len(e.lines) for e in snap.events] == [40, 35, 36]
    knicks_clippers = "9c930f3871f9f7e9136c29fd6a45cb96"
    # Betfair: Clippers (away) -156 listed first, Knicks (home) -172.
    betfair = line(snap, knicks_clippers, "betfair", Market.H2H)
    assert (betfair.price_a, betfair.price_b) == (-172, -156)
    assert {ln.market for e in snap.events for ln in e.lines if ln.book == "betfair"} == {Market.H2H}
    # Away Clippers +4.0 listed first: the home Knicks' point is -4.0.
    assert line(snap, knicks_clippers, "fanduel", Market.SPREADS).point == -4.0

    wizards_celtics = "e484fcd820dcf25c6b4890f22a7c7771"
    pointsbet = line(snap, wizards_celtics, "pointsbetus", Market.SPREADS)
    assert (pointsbet.point, pointsbet.price_a, pointsbet.price_b) == (1.0, -115, -105)
    # foxbet quotes a pick'em as -0.0 / 0.0: stored as +0.0.
    pickem = line(snap, wizards_celtics, "foxbet", Market.SPREADS)
    assert pickem.point == 0.0
    assert math.copysign(1.0, pickem.point) == 1.0


def test_first_half_markets_are_ignored() -> None:
    snap = parse_snapshot(raw_from_wrapper("nba_odds_2023-05-03_first_half.json"))
    assert snap.rejections == ()
    assert len(snap.events) == 1
    lines = snap.events[0].lines
    assert len(lines) == 57  # 19 books × 3 full-game markets; 30 *_h1 markets skipped
    assert {ln.market for ln in lines} == {Market.H2H, Market.SPREADS, Market.TOTALS}
    # DraftKings' full-game h2h keeps its own stamp, not the later *_h1 one.
    draftkings = line(snap, "f68297ad59b106aaf5970a0a385f539f", "draftkings", Market.H2H)
    assert draftkings.last_update <= datetime(2023, 5, 3, 11, 55, 40, tzinfo=UTC)


def test_live_capture_array() -> None:
    capture = load("nba_live_odds_2026-01-10.json")
    # fetch_time is naive US Central (UTC-6): 15:51:05 CST = 21:51:05 UTC.
    fetched = datetime(2026, 1, 10, 21, 51, 5, 431145, tzinfo=UTC)
    snap = parse_snapshot(RawSnapshot(fetched_at=fetched, data=capture["full_game"]))
    assert snap.rejections == ()
    assert [len(e.lines) for e in snap.events] == [32, 32, 32]
    assert all(ln.observed_at == fetched for e in snap.events for ln in e.lines)
    assert all(ln.last_update.tzinfo is UTC for e in snap.events for ln in e.lines)


def test_book_titles_are_kept_even_when_an_event_is_reused_from_the_memo() -> None:
    from engine.providers.parse import ParseMemo

    raw = raw_from_wrapper(XMAS)
    titles = parse_snapshot(raw).book_titles
    assert titles["williamhill_us"] == "Caesars"
    assert titles["draftkings"] == "DraftKings"
    memo = ParseMemo()
    parse_snapshot(raw, memo)
    again = parse_snapshot(RawSnapshot(fetched_at=raw.fetched_at + timedelta(minutes=1), data=raw.data), memo)
    assert again.book_titles == titles  # every event unchanged: all from the memo


def test_a_missing_or_blank_title_is_left_out() -> None:
    data = copy.deepcopy(load(XMAS)["data"])
    for event in data:
        for bookmaker in event["bookmakers"]:
            if bookmaker["key"] == "fanduel":
                bookmaker.pop("title")
            elif bookmaker["key"] == "draftkings":
                bookmaker["title"] = "  "
    titles = parse_snapshot(RawSnapshot(fetched_at=datetime(2024, 12, 25, tzinfo=UTC), data=data)).book_titles
    assert "fanduel" not in titles and "draftkings" not in titles and titles["betmgm"] == "BetMGM"


def test_quota_travels_with_the_snapshot() -> None:
    from engine.models import Quota

    raw = RawSnapshot(fetched_at=datetime(2025, 1, 1, tzinfo=UTC), data=[], quota=Quota(10, 20, 3))
    assert parse_snapshot(raw).quota == Quota(10, 20, 3)


# --- malformed input -------------------------------------------------------------------------------


def del_key(key: str) -> Any:
    def mutate(event: dict[str, Any]) -> None:
        del event[key]

    return mutate


def set_key(key: str, value: Any) -> Any:
    def mutate(event: dict[str, Any]) -> None:
        event[key] = value

    return mutate


EVENT_FAULTS = [
    (del_key("id"), "missing or invalid id"),
    (set_key("id", 123), "missing or invalid id"),
    (set_key("id", ""), "missing or invalid id"),
    (del_key("home_team"), "home_team/away_team"),
    (set_key("away_team", None), "home_team/away_team"),
    (set_key("away_team", "New York Knicks"), "home_team equals away_team"),
    (del_key("sport_key"), "sport_key"),
    (del_key("commence_time"), "commence_time"),
    (set_key("commence_time", "Christmas"), "commence_time"),
    (set_key("commence_time", "2024-12-25T17:00:00"), "commence_time"),  # naive: no zone
    (set_key("commence_time", 1735146000), "commence_time"),
    (set_key("bookmakers", {"draftkings": []}), "bookmakers is not a list"),
    (del_key("bookmakers"), "bookmakers is not a list"),
]


@pytest.mark.parametrize(("mutate", "reason"), EVENT_FAULTS)
def test_event_level_faults_drop_only_that_event(mutate: Any, reason: str) -> None:
    data = xmas_data()
    mutate(data[0])
    snap = parse_data(data)
    assert len(snap.rejections) == 1
    rejection = snap.rejections[0]
    assert reason in rejection.reason
    assert rejection.book is None and rejection.market is None
    assert [e.game.id for e in snap.events] == [e["id"] for e in data[1:]]
    assert total_lines(snap) == XMAS_LINES - 30


@pytest.mark.parametrize("event", ["oops", 7, None, [], True])
def test_event_not_an_object(event: Any) -> None:
    data = xmas_data()
    data.insert(1, event)
    snap = parse_data(data)
    assert [r.reason for r in snap.rejections] == [f"event #1 is not an object ({type(event).__name__})"]
    assert total_lines(snap) == XMAS_LINES


def test_duplicate_event_id_keeps_the_first() -> None:
    data = xmas_data()
    data.append(copy.deepcopy(data[0]))
    snap = parse_data(data)
    assert [(r.reason, r.event_id) for r in snap.rejections] == [("duplicate event id", KNICKS_SPURS)]
    assert total_lines(snap) == XMAS_LINES


def outcomes(market: str, value: Any) -> Any:
    def mutate(event: dict[str, Any]) -> None:
        market_of(event, "draftkings", market)["outcomes"] = value

    return mutate


def outcome_field(market: str, index: int, key: str, value: Any) -> Any:
    def mutate(event: dict[str, Any]) -> None:
        target = market_of(event, "draftkings", market)["outcomes"][index]
        if value is DELETE:
            del target[key]
        else:
            target[key] = value

    return mutate


def market_field(market: str, key: str, value: Any) -> Any:
    def mutate(event: dict[str, Any]) -> None:
        target = market_of(event, "draftkings", market)
        if value is DELETE:
            del target[key]
        else:
            target[key] = value

    return mutate


DELETE = object()
KNICKS = {"name": "New York Knicks", "price": -395}
SPURS = {"name": "San Antonio Spurs", "price": 310}

MARKET_FAULTS = [
    ("h2h", market_field("h2h", "outcomes", DELETE), "outcomes missing or not a list"),
    ("h2h", outcomes("h2h", {"a": 1}), "outcomes missing or not a list"),
    ("h2h", outcomes("h2h", [KNICKS]), "expected 2 outcomes, got 1"),
    ("h2h", outcomes("h2h", [KNICKS, SPURS, {"name": "Draw", "price": 900}]), "expected 2 outcomes, got 3"),
    ("h2h", outcomes("h2h", [KNICKS, "Spurs +310"]), "outcome is not an object"),
    ("h2h", outcomes("h2h", [KNICKS, {**SPURS, "name": "Spurs"}]), "do not match the teams"),
    ("h2h", outcomes("h2h", [KNICKS, {**SPURS, "name": None}]), "do not match the teams"),
    ("h2h", outcomes("h2h", [KNICKS, {**KNICKS, "price": 310}]), "duplicate outcome 'New York Knicks'"),
    ("totals", outcome_field("totals", 1, "name", "Over"), "duplicate outcome 'Over'"),
    ("totals", outcome_field("totals", 1, "name", "Push"), "are not Over/Under"),
    ("totals", outcome_field("totals", 0, "name", 1), "outcome name missing or not a string"),
    ("h2h", outcome_field("h2h", 0, "price", 0), "invalid price 0"),
    ("h2h", outcome_field("h2h", 0, "price", 50), "invalid price 50"),
    ("h2h", outcome_field("h2h", 1, "price", -99), "invalid price -99"),
    ("h2h", outcome_field("h2h", 0, "price", "-395"), "invalid price '-395'"),
    ("h2h", outcome_field("h2h", 0, "price", True), "invalid price True"),
    ("h2h", outcome_field("h2h", 0, "price", -395.5), "invalid price -395.5"),
    ("h2h", outcome_field("h2h", 0, "price", 1.9), "invalid price 1.9"),
    ("h2h", outcome_field("h2h", 0, "price", float("nan")), "invalid price nan"),
    ("h2h", outcome_field("h2h", 0, "price", DELETE), "invalid price None"),
    ("spreads", outcome_field("spreads", 0, "point", DELETE), "point missing or not a number: None"),
    ("spreads", outcome_field("spreads", 1, "point", "9.0"), "point missing or not a number: '9.0'"),
    ("spreads", outcome_field("spreads", 1, "point", True), "point missing or not a number: True"),
    ("spreads", outcome_field("spreads", 1, "point", float("nan")), "point missing or not a number"),
    ("totals", outcome_field("totals", 0, "point", float("inf")), "point missing or not a number"),
    ("spreads", outcome_field("spreads", 1, "point", 8.5), "spread points not opposite: -9.0 / 8.5"),
    ("spreads", outcome_field("spreads", 1, "point", -9.0), "spread points not opposite"),
    ("totals", outcome_field("totals", 1, "point", 224.0), "total points unequal: 223.5 / 224.0"),
    ("h2h", market_field("h2h", "last_update", "yesterday"), "invalid last_update 'yesterday'"),
]


@pytest.mark.parametrize(("market", "mutate", "reason"), MARKET_FAULTS)
def test_market_level_faults_drop_only_that_books_market(market: str, mutate: Any, reason: str) -> None:
    data = xmas_data()
    mutate(data[0])
    snap = parse_data(data)
    assert len(snap.rejections) == 1, snap.rejections
    rejection = snap.rejections[0]
    assert reason in rejection.reason
    assert (rejection.event_id, rejection.book, rejection.market) == (KNICKS_SPURS, "draftkings", market)
    assert total_lines(snap) == XMAS_LINES - 1
    knicks = snap.events[0]
    assert len(knicks.lines) == 29
    assert (Market(market), "draftkings") not in {(ln.market, ln.book) for ln in knicks.lines}


def test_missing_market_key_is_rejected_and_unknown_keys_ignored() -> None:
    data = xmas_data()
    markets = book_of(data[0], "draftkings")["markets"]
    del markets[0]["key"]  # the h2h market loses its key
    markets.append({"key": "player_points", "outcomes": []})  # not ours: silent
    snap = parse_data(data)
    assert [(r.reason, r.book, r.market) for r in snap.rejections] == [
        ("missing or invalid market key None", "draftkings", None)
    ]
    assert total_lines(snap) == XMAS_LINES - 1


def test_duplicate_market_keeps_the_first() -> None:
    data = xmas_data()
    markets = book_of(data[0], "draftkings")["markets"]
    markets.append(copy.deepcopy(markets[1]))
    snap = parse_data(data)
    assert [(r.reason, r.book, r.market) for r in snap.rejections] == [("duplicate market", "draftkings", "spreads")]
    assert total_lines(snap) == XMAS_LINES


@pytest.mark.parametrize(
    ("mutate", "reason", "book", "lost"),
    [
        (lambda e: e["bookmakers"].insert(0, "draftkings"), "bookmaker is not an object", None, 0),
        (lambda e: book_of(e, "fanduel").pop("key"), "missing or invalid bookmaker key None", None, 3),
        (lambda e: book_of(e, "fanduel").__setitem__("markets", None), "markets is not a list", "fanduel", 3),
        (
            lambda e: e["bookmakers"].append(copy.deepcopy(book_of(e, "fanduel"))),
            "duplicate bookmaker",
            "fanduel",
            0,
        ),
    ],
)
def test_book_level_faults(mutate: Any, reason: str, book: str | None, lost: int) -> None:
    data = xmas_data()
    mutate(data[0])
    snap = parse_data(data)
    assert [(r.reason, r.event_id, r.book, r.market) for r in snap.rejections] == [(reason, KNICKS_SPURS, book, None)]
    assert total_lines(snap) == XMAS_LINES - lost


def test_integral_float_price_is_accepted_as_int() -> None:
    data = xmas_data()
    market_of(data[0], "draftkings", "h2h")["outcomes"][0]["price"] = -395.0
    snap = parse_data(data)
    assert snap.rejections == ()
    h2h = line(snap, KNICKS_SPURS, "draftkings", Market.H2H)
    assert h2h.price_a == -395
    assert type(h2h.price_a) is int


def test_totals_names_case_insensitive_and_in_any_order() -> None:
    data = xmas_data()
    market_of(data[0], "draftkings", "totals")["outcomes"] = [
        {"name": "UNDER", "price": -112, "point": 223},
        {"name": "over", "price": -108, "point": 223},
    ]
    snap = parse_data(data)
    assert snap.rejections == ()
    total = line(snap, KNICKS_SPURS, "draftkings", Market.TOTALS)
    assert (total.point, total.price_a, total.price_b) == (223.0, -108, -112)
    assert type(total.point) is float


def test_last_update_falls_back_to_book_then_fetch_time() -> None:
    data = xmas_data()
    book = book_of(data[0], "draftkings")
    del book["markets"][0]["last_update"]  # h2h: use the book's
    book["last_update"] = "2024-12-25T11:50:00+00:00"
    fanduel = book_of(data[0], "fanduel")
    del fanduel["last_update"]
    for market in fanduel["markets"]:
        del market["last_update"]
    snap = parse_data(data)
    assert snap.rejections == ()
    assert line(snap, KNICKS_SPURS, "draftkings", Market.H2H).last_update == datetime(2024, 12, 25, 11, 50, tzinfo=UTC)
    assert line(snap, KNICKS_SPURS, "draftkings", Market.SPREADS).last_update == datetime(
        2024, 12, 25, 11, 55, 20, tzinfo=UTC
    )
    assert line(snap, KNICKS_SPURS, "fanduel", Market.TOTALS).last_update == snap.fetched_at


def test_invalid_book_last_update_only_hurts_markets_that_need_it() -> None:
    data = xmas_data()
    book = book_of(data[0], "draftkings")
    book["last_update"] = "never"
    del book["markets"][2]["last_update"]  # totals has to fall back to the broken book stamp
    snap = parse_data(data)
    assert [(r.reason, r.market) for r in snap.rejections] == [("invalid bookmaker last_update 'never'", "totals")]
    assert total_lines(snap) == XMAS_LINES - 1


@pytest.mark.parametrize("data", [None, {}, {"data": []}, "[]", 3, 2.5, True])
def test_data_not_a_list(data: Any) -> None:
    snap = parse_data(data)
    assert snap.events == ()
    assert len(snap.rejections) == 1
    assert snap.rejections[0].reason.startswith("data is not a list")


def test_empty_list_is_fine() -> None:
    snap = parse_data([])
    assert snap.events == () and snap.rejections == ()


def _random_json(rng: random.Random, depth: int = 0) -> Any:
    choices: list[Any] = [
        None,
        True,
        False,
        0,
        -110,
        150,
        1.5,
        -0.0,
        float("nan"),
        float("inf"),
        10**400,
        "",
        "Over",
        "New York Knicks",
        "2024-12-25T17:00:00Z",
        "0001-01-01T00:00:00+01:00",
        "\ud800",
    ]
    if depth < 3:
        choices += [[], {}, [_random_json(rng, depth + 1)], {"key": _random_json(rng, depth + 1)}]
    return rng.choice(choices)


def _nodes(value: Any) -> list[tuple[Any, Any]]:
    found: list[tuple[Any, Any]] = []
    if isinstance(value, dict):
        for key, child in value.items():
            found.append((value, key))
            found.extend(_nodes(child))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found.append((value, index))
            found.extend(_nodes(child))
    return found


def test_never_raises_on_random_corruption() -> None:
    rng = random.Random(20241225)
    pristine = load(XMAS)["data"][:2]
    for _ in range(600):
        data = copy.deepcopy(pristine)
        nodes = _nodes(data)
        for _ in range(rng.randint(1, 4)):
            container, key = rng.choice(nodes)
            container[key] = _random_json(rng)
        snap = parse_data(data)  # must not raise
        for event in snap.events:
            for ln in event.lines:
                assert type(ln.price_a) is int and type(ln.price_b) is int
                assert ln.price_a <= -100 or ln.price_a >= 100
                assert ln.point is None or math.isfinite(ln.point)
                assert ln.last_update.tzinfo is UTC


def test_log_rejections_warns_once_per_rejection(caplog: pytest.LogCaptureFixture) -> None:
    data = xmas_data()
    market_of(data[0], "draftkings", "h2h")["outcomes"][0]["price"] = 0
    del data[1]["commence_time"]
    snap = parse_data(data)
    with caplog.at_level(logging.WARNING, logger="engine.providers.parse"):
        assert log_rejections(snap) == 2
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(messages) == 2
    assert "invalid price 0" in messages[0] and "draftkings" in messages[0]
    assert "commence_time" in messages[1]


def test_parse_timestamp() -> None:
    assert parse_timestamp("2024-12-25T17:00:00Z") == datetime(2024, 12, 25, 17, tzinfo=UTC)
    assert parse_timestamp("2026-08-08T19:15:29+00:00") == datetime(2026, 8, 8, 19, 15, 29, tzinfo=UTC)
    converted = parse_timestamp("2026-01-10T15:51:05-06:00")
    assert converted == datetime(2026, 1, 10, 21, 51, 5, tzinfo=UTC)
    assert converted is not None and converted.tzinfo is UTC
    assert parse_timestamp("2026-08-08T19:15:28.699Z") == datetime(2026, 8, 8, 19, 15, 28, 699000, tzinfo=UTC)
    for bad in ("2026-01-10T15:51:05", "soon", "", None, 1735146000, ["2024-12-25T17:00:00Z"]):
        assert parse_timestamp(bad) is None
    # The cache must give the same answer the second time.
    assert parse_timestamp("2024-12-25T17:00:00Z") == datetime(2024, 12, 25, 17, tzinfo=UTC)


def test_raw_snapshot_requires_aware_time_and_normalises_to_utc() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        RawSnapshot(fetched_at=datetime(2025, 1, 1), data=[])  # noqa: DTZ001
    eastern = datetime(2025, 1, 1, 2, tzinfo=timezone(timedelta(hours=-5)))
    raw = RawSnapshot(fetched_at=eastern, data=[])
    assert raw.fetched_at == datetime(2025, 1, 1, 7, tzinfo=UTC)
    assert raw.fetched_at.tzinfo is UTC
