"""Feed validation with bounds (issue #11, item 1): an absurd but well-formed quote is rejected with a
reason like a malformed one, and the rest of the snapshot is parsed, stored and served. Then the engine's
memory after a commit that fails: it is put back to what the database holds, and the next tick commits."""

from __future__ import annotations

import copy
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from sqlalchemy.exc import IntegrityError

from app.bootstrap import BUNDLED_TAPE
from config.settings import ConfigError, load_settings
from engine.events import EventBus
from engine.models import Market
from engine.providers.base import RawSnapshot
from engine.providers.bounds import DEFAULT_BOUNDS, bounds_from_settings
from engine.providers.parse import parse_snapshot
from engine.providers.tape import read_tape
from engine.service import EngineService, rebuild_engine
from engine.state import EngineState
from storage import Repositories
from tests.engine_builders import settings
from tests.failures import MESSAGE, inject_failure, remove_failure
from tests.odds_payloads import KNICKS_SPURS, XMAS_LINES, market_of, parse_data, total_lines, xmas_data

# --- the parser ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("market", "field", "value", "reason"),
    [
        ("h2h", "price", 1e19, "price 10000000000000000000 out of bounds (|price| <= 100000)"),
        ("h2h", "price", 1e308, "price 100000000000...(309 chars) out of bounds (|price| <= 100000)"),
        ("h2h", "price", 10**30, "price 100000000000...(31 chars) out of bounds (|price| <= 100000)"),
        ("h2h", "price", 10**12, "price 1000000000000 out of bounds (|price| <= 100000)"),
        ("h2h", "price", -(10**12), "price -1000000000000 out of bounds (|price| <= 100000)"),
        ("h2h", "price", 100_001, "price 100001 out of bounds (|price| <= 100000)"),
        ("spreads", "price", 10_001, "price 10001 out of bounds (|price| <= 10000)"),
        ("totals", "price", -10_001, "price -10001 out of bounds (|price| <= 10000)"),
        ("spreads", "point", 1e9, "point 1000000000.0 out of bounds (-60..60)"),
        ("totals", "point", 1e9, "point 1000000000.0 out of bounds (100..400)"),
        ("totals", "point", 0.0, "point 0.0 out of bounds (100..400)"),
        ("totals", "point", 1e308, "point 1e+308 out of bounds (100..400)"),
        ("h2h", "price", 110.5, "invalid price 110.5"),
        ("h2h", "price", float("nan"), "invalid price nan"),
        ("h2h", "price", float("inf"), "invalid price inf"),
        ("h2h", "price", True, "invalid price True"),
    ],
)
def test_an_absurd_quote_is_rejected_with_a_reason_and_the_rest_is_kept(market, field, value, reason) -> None:
    data = xmas_data()
    outcomes = market_of(data[0], "draftkings", market)["outcomes"]
    for outcome in outcomes if field == "point" else outcomes[:1]:
        # Both sides of a total carry the total; a spread's sides carry opposite points.
        sign = -1 if field == "point" and market == "spreads" and outcome is outcomes[1] else 1
        outcome[field] = value * sign if field == "point" else value
    snap = parse_data(data)
    assert [(r.reason, r.event_id, r.book, r.market) for r in snap.rejections] == [
        (reason, KNICKS_SPURS, "draftkings", market)
    ]
    assert total_lines(snap) == XMAS_LINES - 1


def test_quotes_at_the_bounds_are_kept() -> None:
    data = xmas_data()
    market_of(data[0], "draftkings", "h2h")["outcomes"][1]["price"] = -100_000
    spread = market_of(data[0], "draftkings", "spreads")["outcomes"]
    spread[0]["point"], spread[1]["point"] = -60, 60
    snap = parse_data(data)
    assert snap.rejections == ()
    assert total_lines(snap) == XMAS_LINES


def test_bounds_are_per_sport() -> None:
    """A total of 300 is an NBA total the defaults allow, and no WNBA total (100..250 there)."""
    kept, lost = xmas_data(), xmas_data()
    for data in (kept, lost):
        for outcome in market_of(data[0], "draftkings", "totals")["outcomes"]:
            outcome["point"] = 300
    lost[0]["sport_key"] = "basketball_wnba"
    assert parse_data(kept).rejections == ()
    rejected = parse_data(lost).rejections
    assert [r.reason for r in rejected] == ["point 300.0 out of bounds (100..250)"]


def test_the_bounds_come_from_the_config(tmp_path, monkeypatch) -> None:
    assert bounds_from_settings(settings().feed.bounds) == DEFAULT_BOUNDS
    monkeypatch.setenv("STRATUM_FEED__BOUNDS__H2H__MAX_PRICE", "1000")
    tight = bounds_from_settings(load_settings(env_file=None).feed.bounds)
    assert tight.for_sport("basketball_nba")[Market.H2H].max_price == 1000
    data = xmas_data()
    market_of(data[0], "draftkings", "h2h")["outcomes"][0]["price"] = 1500
    raw = RawSnapshot(fetched_at=datetime.fromisoformat("2024-12-25T11:55:38+00:00"), data=data)
    assert [r.reason for r in parse_snapshot(raw, bounds=tight).rejections] == [
        "price 1500 out of bounds (|price| <= 1000)"
    ]


def test_inverted_point_bounds_are_a_config_error(tmp_path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[feed.bounds]\ntotals = { max_price = 10000, min_point = 300, max_point = 100 }\n")
    with pytest.raises(ConfigError, match=r"feed\.bounds\.totals"):
        load_settings(config, env_file=None)


# --- the service on a real database -------------------------------------------------------------------

SNAPSHOTS = list(read_tape(BUNDLED_TAPE))[:256]
#: The snapshot at 255 changes 9 quotes and makes 2 signals (cooldowns, caps and side locks to remember).
FAILING = 255


def _poisoned(raw: RawSnapshot, price: object) -> RawSnapshot:
    """`raw` with one outcome's price replaced (the first book of the first event's first market)."""
    data = copy.deepcopy(raw.data)
    data[0]["bookmakers"][0]["markets"][0]["outcomes"][0]["price"] = price
    return replace(raw, data=data)


@pytest.mark.parametrize("price", [1e19, 10**30, 1e308])
async def test_one_absurd_price_loses_only_its_own_quote(backend, tmp_path, price) -> None:
    """It used to raise OverflowError at the SQLite write and lose every quote of the snapshot."""
    clean = await Repositories.open(backend.fresh(tmp_path, "clean.db"))
    dirty = await Repositories.open(backend.fresh(tmp_path, "dirty.db"))
    try:
        clean_service = await EngineService.restore(settings(), clean, EventBus(), source="test")
        dirty_service = await EngineService.restore(settings(), dirty, EventBus(), source="test")
        raw = SNAPSHOTS[0]
        await clean_service.process(raw)
        tick = await dirty_service.process(_poisoned(raw, price))
        assert [r.reason.split(" ")[0] for r in tick.rejections] == ["price"]
        assert await dirty.quotes.count() == await clean.quotes.count() - 1 > 0
        assert (await dirty.feed_state.get("test")).cursor == raw.fetched_at
    finally:
        await clean.close()
        await dirty.close()


# --- a commit that fails ------------------------------------------------------------------------------


def _view(state: EngineState) -> dict[str, object]:
    """What the engine remembers that decides its next tick: each book's last line, each market's
    consensus, the feed cursor, cooldowns, caps and side locks, and the signals awaiting a close."""
    return {
        "cursor": state.last_fetched_at,
        "lines": {
            (game_id, market, book): line
            for game_id, game in state.games.items()
            for market, market_state in game.markets.items()
            for book, line in market_state.lines.items()
        },
        "consensus": {
            (game_id, market): market_state.consensus
            for game_id, game in state.games.items()
            for market, market_state in game.markets.items()
        },
        "pending": {game_id: sorted(s.id for s in game.pending) for game_id, game in state.games.items()},
        "cooldowns": dict(state.cooldowns),
        "daily_counts": dict(state.daily_counts),
        "sides": dict(state.sides),
    }


async def test_a_failed_commit_leaves_memory_equal_to_the_database_and_the_next_tick_commits(backend, tmp_path) -> None:
    good, failing = SNAPSHOTS[:FAILING], SNAPSHOTS[FAILING]
    straight_repos = await Repositories.open(backend.fresh(tmp_path, "straight.db"))
    repos = await Repositories.open(backend.fresh(tmp_path, "stratum.db"))
    try:
        straight = await EngineService.restore(settings(), straight_repos, EventBus(), source="test")
        for raw in good:
            await straight.process(raw)
        straight_tick = await straight.process(failing)
        assert straight_tick.lines and straight_tick.signals, "the failing snapshot must change quotes and signal"

        service = await EngineService.restore(settings(), repos, EventBus(), source="test")
        for raw in good:
            await service.process(raw)
        await inject_failure(repos.db, "INSERT", "quotes")
        quotes_before = await repos.quotes.count()
        with pytest.raises(IntegrityError, match=MESSAGE):
            await service.process(failing)

        assert await repos.quotes.count() == quotes_before
        from_database = await rebuild_engine(settings(), repos, "test")
        assert _view(service.engine.state) == _view(from_database.state)
        assert service.engine.state.last_fetched_at == good[-1].fetched_at

        await remove_failure(repos.db, "quotes")
        tick = await service.process(failing)
        assert not tick.skipped
        assert sorted(map(repr, tick.lines)) == sorted(map(repr, straight_tick.lines))
        assert [s.id for s in tick.signals] == [s.id for s in straight_tick.signals]
        assert await repos.quotes.count() == await straight_repos.quotes.count()
        assert _view(service.engine.state) == _view(straight.engine.state)
    finally:
        await straight_repos.close()
        await repos.close()


async def test_a_failed_close_commit_is_not_remembered_either(db_url) -> None:
    """The tip-off job's commit: a game closed in memory but not in the database stays open."""
    repos = await Repositories.open(db_url)
    try:
        service = await EngineService.restore(settings(), repos, EventBus(), source="test")
        for raw in SNAPSHOTS[:FAILING]:
            await service.process(raw)
        open_games = {game.game.id: game.scheduled_tip for game in service.engine.open_games()}
        assert open_games
        await inject_failure(repos.db, "UPDATE", "games")
        after_every_tip = max(open_games.values()) + timedelta(minutes=1)
        with pytest.raises(IntegrityError, match=MESSAGE):
            await service.close_due(after_every_tip)
        assert {game.game.id for game in service.engine.open_games()} == set(open_games)
        assert not service.engine.state.closed.keys() & open_games.keys()
        await remove_failure(repos.db, "games")
        tick = await service.close_due(after_every_tip)
        assert sorted(tick.closed_games) == sorted(open_games)
        assert {stored.game.id for stored in await repos.games.list_open()} == set()
    finally:
        await repos.close()
