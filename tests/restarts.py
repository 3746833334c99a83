"""The restart-and-compare replay both restart tests drive (test_restart_equivalence over the whole tape,
test_repositories_engine up to its first close): one tape through a service that runs straight and one
that is restarted for real before chosen snapshots — its repositories closed and reopened, the service
rebuilt from the database — holding, at each restart, the rebuilt memory to the running one's, and every
tick's signals to the straight run's."""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

from config.settings import Settings
from engine.core import Tick, move_retention
from engine.events import EventBus
from engine.providers.base import RawSnapshot
from engine.service import EngineService
from engine.state import EngineState
from storage import Repositories


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


@dataclass
class SideBySide:
    """Both runs' repositories, still open for the caller's own checks, and the restarted run's ticks."""

    straight: Repositories
    restarted: Repositories
    ticks: list[Tick]


@asynccontextmanager
async def side_by_side(
    config: Settings,
    straight_url: str,
    restarted_url: str,
    snapshots: Sequence[RawSnapshot],
    restarts: Collection[int],
) -> AsyncIterator[SideBySide]:
    """Replay `snapshots` into two new databases, restarting the second run before each index in
    `restarts`; both repositories are closed when the block ends."""
    straight_repos = await Repositories.open(straight_url)
    repos = await Repositories.open(restarted_url)
    try:
        straight = await EngineService.restore(config, straight_repos, EventBus(), source="test")
        service = await EngineService.restore(config, repos, EventBus(), source="test")
        ticks: list[Tick] = []
        for index, raw in enumerate(snapshots):
            if index in restarts:
                await repos.close()
                repos = await Repositories.open(restarted_url)
                service = await EngineService.restore(config, repos, EventBus(), source="test")
                assert restorable_view(service.engine.state, config) == restorable_view(
                    straight.engine.state, config
                ), f"the memory rebuilt before snapshot {index} differs"
            expected = await straight.process(raw)
            tick = await service.process(raw)
            assert [(s.id, s.details) for s in tick.signals] == [(s.id, s.details) for s in expected.signals], (
                f"snapshot {index}"
            )
            ticks.append(tick)
        yield SideBySide(straight_repos, repos, ticks)
    finally:
        await straight_repos.close()
        await repos.close()
