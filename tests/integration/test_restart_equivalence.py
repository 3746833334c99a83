"""A restart loses nothing: the bundled tape replayed with a clean restart before many snapshots makes
exactly the signals, closes and grades of an uninterrupted replay, and at each restart the engine
rebuilt from the database remembers what the running one did (everything that can decide a later tick).

The restart is a real one: the service and its repositories are closed and a fresh service is built
on the same database (a SQLite file, or a PostgreSQL database), resuming from the stored cursor.
Snapshot 130 is where a KEY_CROSS used to be lost: the spread consensus sat exactly on the key -8 at
the restart, and the rebuilt detector no longer knew which side of -8 the line had come from.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from app.bootstrap import BUNDLED_TAPE
from config.settings import Settings
from engine.core import move_retention
from engine.events import EventBus
from engine.providers.tape import read_tape
from engine.service import EngineService
from engine.state import EngineState
from storage import Repositories
from tests.engine_builders import settings

SNAPSHOTS = list(read_tape(BUNDLED_TAPE))
#: Restart before every STRIDE-th snapshot (each restart costs a full parse and a rebuild, ~20 ms), and
#: before the ones where a full sweep (a restart before every snapshot, ~35 s) lost or changed a
#: signal before the fix: KEY_CROSS on a key the line sat on, STEAM whose "consensus before" or moves
#: were not rebuilt.
STRIDE = 4
KNOWN = {123, 130, 252, 485, 486, 495, 576, 624, 652, 673, 703, 705, 715, 722, 731, 738, 745, 835}
RESTARTS = {index for index in range(1, len(SNAPSHOTS)) if index % STRIDE == 2} | KNOWN


def restorable_view(state: EngineState, config: Settings) -> dict[object, object]:
    """What the engine remembers that can still decide a later tick, in a form a restart must reproduce.

    Left out, because no later tick can read them: cooldowns, side locks and daily counts of games that
    have closed; cooldowns, side locks and recent signals too old to bite (or to heat a game); daily
    counts of days gone; moves older than the longest STEAM window; the time a closed game closed (only
    its id keeps its in-play snapshots out); the order of the recent signals (heat sums them). A
    market's `seen_at` only dates a close, and only a snapshot within `close_max_age_seconds` of the tip
    can date a usable one, so only those are compared (a restart reads them from `games.last_seen`,
    written for such snapshots alone).
    """
    cursor = state.last_fetched_at
    assert cursor is not None
    near_tip = timedelta(seconds=config.clv.close_max_age_seconds)
    longest_cooldown = timedelta(
        seconds=max(
            config.steam.cooldown_seconds, config.dislocation.cooldown_seconds, config.key_cross.cooldown_seconds
        )
    )
    side_lock = timedelta(seconds=config.signals.opposite_side_cooldown_seconds)
    retention = move_retention(config, cursor)
    heat_window = timedelta(seconds=config.signals.heat_window_seconds)
    view: dict[object, object] = {
        "cursor": cursor,
        "gaps": list(state.gaps),
        "closed": set(state.closed),
        "cooldowns": {
            key: at for key, at in state.cooldowns.items() if key[1] in state.games and at > cursor - longest_cooldown
        },
        "sides": {
            key: held for key, held in state.sides.items() if key[0] in state.games and held[1] > cursor - side_lock
        },
        "daily_counts": {
            key: count for key, count in state.daily_counts.items() if key[0] in state.games and key[2] >= cursor.date()
        },
        "recent": {
            game_id: sorted(s.id for s in signals if s.created_at > cursor - heat_window)
            for game_id, signals in state.recent_signals.items()
            if game_id in state.games
        },
    }
    for game_id, game in state.games.items():
        view[(game_id, "game")] = (game.game, game.scheduled_tip, sorted(s.id for s in game.pending))
        for market, market_state in game.markets.items():
            seen = market_state.seen_at
            view[(game_id, market.value)] = {
                "lines": market_state.lines,
                "probs": market_state.probs,
                "components": market_state.components,
                "consensus": market_state.consensus,
                "history": list(market_state.history),
                "moves": [move for move in market_state.moves if move.observed_at > retention],
                "key_sides": market_state.key_sides,
                "dislocated": market_state.dislocated,
                "seen_at": seen if seen is not None and game.scheduled_tip - seen <= near_tip else None,
            }
    return view


async def _outcome(repos: Repositories) -> dict[str, object]:
    """What the database holds that the product promises: signals, closes, grades, the classes' alert states
    (each change with the sample it rested on) and the cursor."""
    signals = await repos.signals.since(datetime.min.replace(tzinfo=SNAPSHOTS[0].fetched_at.tzinfo))
    grades = [tuple(row) for row in await repos.db.fetch_all("SELECT * FROM grades ORDER BY signal_id")]
    return {
        "signals": [(s.id, s.type, s.market, s.side, s.created_at, s.score, s.details, s.books) for s in signals],
        "closes": await repos.closes.all(),
        "grades": grades,
        "alert_states": await repos.class_states.history(),
        "quotes": await repos.quotes.count(),
        "cursor": (await repos.feed_state.get("test")).cursor,
    }


async def _replay(path, config: Settings, restarts: set[int]) -> list[tuple[int, str, object, datetime, dict]]:
    """The whole tape into the database at `path`, restarting before each index in `restarts`."""
    repos = await Repositories.open(path)
    try:
        service = await EngineService.restore(config, repos, EventBus(), source="test")
        made = []
        for index, raw in enumerate(SNAPSHOTS):
            if index in restarts:
                await repos.close()
                repos = await Repositories.open(path)
                service = await EngineService.restore(config, repos, EventBus(), source="test")
            tick = await service.process(raw)
            made.extend((index, s.id, s.type, s.created_at, s.details) for s in tick.signals)
        return made
    finally:
        await repos.close()


async def test_a_restart_before_snapshot_130_keeps_its_key_cross(backend, tmp_path) -> None:
    """The reported loss: the spread consensus stood on -8 at the restart and then crossed it."""
    config = settings()
    straight = await _replay(backend.fresh(tmp_path, "straight.db"), config, set())
    restarted = await _replay(backend.fresh(tmp_path, "restarted.db"), config, {130})
    assert [s for s in straight if s[0] == 130 and s[2].value == "KEY_CROSS"], "the tape's KEY_CROSS at 130"
    assert restarted == straight


async def test_restarts_anywhere_on_the_tape_lose_no_signal_and_no_memory(backend, tmp_path) -> None:
    config = settings()
    straight_repos = await Repositories.open(backend.fresh(tmp_path, "straight.db"))
    path = backend.fresh(tmp_path, "restarted.db")
    repos = await Repositories.open(path)
    try:
        straight = await EngineService.restore(config, straight_repos, EventBus(), source="test")
        service = await EngineService.restore(config, repos, EventBus(), source="test")
        for index, raw in enumerate(SNAPSHOTS):
            if index in RESTARTS:
                await repos.close()
                repos = await Repositories.open(path)
                service = await EngineService.restore(config, repos, EventBus(), source="test")
                assert restorable_view(service.engine.state, config) == restorable_view(
                    straight.engine.state, config
                ), f"the memory rebuilt before snapshot {index} differs"
            expected = await straight.process(raw)
            tick = await service.process(raw)
            assert [(s.id, s.details) for s in tick.signals] == [(s.id, s.details) for s in expected.signals], (
                f"snapshot {index}"
            )
        assert await _outcome(repos) == await _outcome(straight_repos)
    finally:
        await straight_repos.close()
        await repos.close()
