"""The engine at its edges: parse a raw snapshot, run the pure engine, commit what changed, publish.

One snapshot is one transaction (games, quotes, consensus, signals, closes, grades and the feed
cursor, and — through `commit_hooks` — the outbox rows its signals and grades owe), so a crash leaves
either all of it or none; events go out only after the commit. On start,
`restore` rebuilds the engine's memory from the database so a restart resumes where it stopped.

The engine's memory never runs ahead of the database: `Engine.ingest` changes memory as it computes a
tick, so when the tick's commit fails (a full disk, a locked file, a value SQLite refuses) the memory is
rebuilt from the database before the error goes on; if even that fails, the next call rebuilds first. A
snapshot whose commit failed is thus not half-remembered: the next poll sees its changes again as changes.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from config.settings import Settings
from engine.clv import grade_or_reason
from engine.core import (
    Engine,
    Tick,
    daily_cap_key,
    find_dislocations,
    move_retention,
    signal_cooldown_key,
)
from engine.cover import cover_model_of
from engine.detectors.key_cross import KEY_TOLERANCE, key_values, seed_sides
from engine.events import CLV_GRADED, GAME_CLOSED, SIGNAL_CREATED, ClosedGame, EventBus, GradedSignal
from engine.integrity import AlertStates
from engine.models import BookLine, Consensus, Market
from engine.moves import move_between
from engine.odds import devig
from engine.providers.base import RawSnapshot
from engine.providers.bounds import bounds_from_settings
from engine.providers.closes import ExternalCloses
from engine.providers.parse import ParseMemo, log_rejections, parse_snapshot
from engine.state import CONSENSUS_HISTORY, EngineState, GameState
from storage import CLOSED, Repositories

log = logging.getLogger(__name__)

#: How far back signals are re-read on restore for cooldowns, daily caps and heat.
SIGNAL_MEMORY = timedelta(days=1)


class EngineService:
    def __init__(self, engine: Engine, repos: Repositories, bus: EventBus, *, source: str) -> None:
        self.engine = engine
        self.repos = repos
        self.bus = bus
        self.source = source
        self._memo = ParseMemo()
        self._bounds = bounds_from_settings(engine.settings.feed.bounds)
        #: Set when a commit failed and memory could not be rebuilt yet: the next call rebuilds first.
        self._stale = False
        #: Called inside each snapshot's transaction, after its writes (the delivery fan-out writes the
        #: outbox rows the tick's signals and grades owe, so they commit with them).
        self.commit_hooks: list[Callable[[Tick], Awaitable[object]]] = []
        #: Book titles as last stored by this process: only a new or renamed one costs a write.
        self._titles: dict[str, str] = {}
        #: The classes' alert states, re-judged (walk-forward) in the transaction of the grades that move them.
        self.alert_states = AlertStates(engine.settings, repos)

    @classmethod
    async def restore(
        cls,
        settings: Settings,
        repos: Repositories,
        bus: EventBus,
        *,
        source: str,
        closes: ExternalCloses | None = None,
    ) -> EngineService:
        engine = await rebuild_engine(settings, repos, source, closes)
        await regrade_legacy(engine, repos)
        return cls(engine, repos, bus, source=source)

    @property
    def cursor(self) -> datetime | None:
        return self.engine.state.last_fetched_at

    async def process(self, raw: RawSnapshot) -> Tick:
        await self._rebuild_if_stale()
        snapshot = parse_snapshot(raw, self._memo, self._bounds)
        log_rejections(snapshot)
        tick = self.engine.ingest(snapshot)
        if tick.skipped:
            log.debug("snapshot %s is not newer than %s; skipped", raw.fetched_at, self.cursor)
            return tick
        titles = {key: title for key, title in snapshot.book_titles.items() if self._titles.get(key) != title}
        await self._commit_or_rebuild(tick, quota=raw.quota, titles=titles)
        self._titles.update(titles)
        await self._publish(tick)
        return tick

    async def close_due(self, now: datetime) -> Tick:
        """Close the games whose tip has passed even when no snapshot arrives (the tip-off job)."""
        await self._rebuild_if_stale()
        tick = self.engine.close_due(now)
        if tick.closes or tick.closed_games:
            await self._commit_or_rebuild(tick, quota=None, move_cursor=False)
            await self._publish(tick)
        return tick

    async def _commit_or_rebuild(
        self, tick: Tick, *, quota, move_cursor: bool = True, titles: dict[str, str] | None = None
    ) -> None:
        """Commit `tick`; if the commit fails, put the engine's memory back to what the database holds
        (the memory already took the tick) and re-raise, so the caller logs the failure and nothing of
        the tick is published."""
        try:
            await self._commit(tick, quota=quota, move_cursor=move_cursor, titles=titles)
        except asyncio.CancelledError:
            self._stale = True  # a shutdown, not a fault: whoever calls next rebuilds first
            raise
        except BaseException:
            self._stale = True
            log.error("the commit of the tick at %s failed; rebuilding the engine's memory from the database", tick.at)
            try:
                await self._rebuild_if_stale()
            except Exception:
                log.exception("rebuilding the engine's memory failed; the next call tries again first")
            raise

    async def _rebuild_if_stale(self) -> None:
        """After a failed commit: the engine's state replaced, in place, by one rebuilt from the database
        (in place, because other parts of the app hold this `Engine`). Raises if the rebuild fails, so no
        tick is ever computed on top of memory the database does not have."""
        if not self._stale:
            return
        self.alert_states.reset()  # its walk-forward memory may have taken the tick too: rebuilt when next needed
        engine = self.engine
        rebuilt = await rebuild_engine(engine.settings, self.repos, self.source, engine.external_closes)
        engine.state = rebuilt.state
        self._stale = False

    async def cleanup(self, now: datetime, retention_days: int) -> int:
        async with self.repos.db.transaction():
            deleted = await self.repos.quotes.delete_older_than(now - timedelta(days=retention_days))
        if deleted:
            log.info("retention: deleted %d quotes older than %d days", deleted, retention_days)
        return deleted

    async def _commit(
        self, tick: Tick, *, quota, move_cursor: bool = True, titles: dict[str, str] | None = None
    ) -> None:
        repos = self.repos
        async with repos.db.transaction():
            if titles:
                await repos.books.upsert_titles(titles, tick.at)
            if tick.games:
                await repos.games.upsert_many(tick.games, seen_at=tick.at)
            if tick.seen_games:
                await repos.games.touch_many(tick.seen_games, tick.at)
            for game_id, tip in tick.tip_changes:
                await repos.games.set_scheduled_tip(game_id, tip)
            if tick.lines:
                await repos.quotes.insert_many(tick.lines)
            if tick.withdrawn:
                await repos.quotes.insert_many(tick.withdrawn, withdrawn=True)
            if tick.consensus:
                await repos.consensus.insert_many(tick.consensus)
            for signal in tick.signals:
                await repos.signals.insert(signal)
            for close in tick.closes:
                await repos.closes.insert(close)
            for game_id in tick.closed_games:
                await repos.games.mark_closed(game_id)
            for _, grade in tick.grades:
                await repos.grades.insert(grade)
            for signal, reason in tick.ungraded:
                await repos.grades.mark_ungraded(signal.id, tick.at, reason)
            for game_id, home, away in tick.results:
                await repos.closes.save_result(game_id, home, away, source="closes file")
            if move_cursor:
                gaps = self.engine.state.gaps
                await repos.feed_state.save(self.source, tick.at, quota, tick.at, recent_gaps=gaps)
            await self.alert_states.on_commit(tick)
            for hook in self.commit_hooks:
                await hook(tick)

    async def _publish(self, tick: Tick) -> None:
        for signal in tick.signals:
            await self.bus.publish(SIGNAL_CREATED, signal)
        for signal, grade in tick.grades:
            await self.bus.publish(CLV_GRADED, GradedSignal(signal=signal, grade=grade))
        for game_id in tick.closed_games:
            closes = tuple(close for close in tick.closes if close.game_id == game_id)
            await self.bus.publish(GAME_CLOSED, ClosedGame(game_id=game_id, closes=closes))


async def rebuild_engine(
    settings: Settings, repos: Repositories, source: str, closes: ExternalCloses | None = None
) -> Engine:
    """An engine whose memory is what the database holds for `source`: its state, the gaps between
    recent polls, and the recent signals' cooldowns, daily caps, heat and side locks."""
    feed = await repos.feed_state.get(source)
    cursor = feed.cursor if feed else None
    engine = Engine(settings, await restore_state(settings, repos, cursor), closes=closes)
    if feed is not None:
        engine.state.gaps.extend(feed.recent_gaps)
    if cursor is not None:
        for signal in await repos.signals.since(cursor - SIGNAL_MEMORY):
            engine.remember_signal(signal)
            key = signal_cooldown_key(signal, settings.consensus.operator_map())
            engine.state.cooldowns[key] = max(signal.created_at, engine.state.cooldowns.get(key, signal.created_at))
            day_key = daily_cap_key(signal)
            engine.state.daily_counts[day_key] = engine.state.daily_counts.get(day_key, 0) + 1
            engine.state.sides[(signal.game_id, signal.market.value)] = (signal.side, signal.created_at)
    return engine


async def restore_state(settings: Settings, repos: Repositories, cursor: datetime | None) -> EngineState:
    """Rebuild the engine's memory from the database: open games, last quotes, consensus, recent moves,
    dislocations already reported, key-number sides and the signals still waiting for their close."""
    state = EngineState(last_fetched_at=cursor)
    method = settings.consensus.devig
    for stored in await repos.games.list_open():
        state.games[stored.game.id] = GameState(game=stored.game, scheduled_tip=stored.scheduled_tip)
    if cursor is not None:
        closed = await repos.games.list(since=cursor - timedelta(days=3), status=CLOSED, limit=100_000)
        state.closed.update({stored.game.id: cursor for stored in closed})
    if not state.games:
        return state
    for line in await repos.quotes.latest(state.games):
        game_state = state.games.get(line.game_id)
        if game_state is not None:
            prob = devig(line.price_a, line.price_b, method)
            game_state.market(line.market).put(line, prob, settings.consensus.weight(line.book))
    operators = settings.consensus.operator_map()

    def operator(book: str) -> str:
        return operators.get(book, book)

    for consensus in await repos.consensus.latest_for_open_games():
        game_state = state.games.get(consensus.game_id)
        if game_state is None:
            continue
        market_state = game_state.market(consensus.market)
        # The engine remembers the last CONSENSUS_HISTORY consensus values (STEAM's "consensus before").
        for item in await repos.consensus.recent(consensus.game_id, consensus.market, CONSENSUS_HISTORY):
            market_state.set_consensus(item)
        if market_state.consensus != consensus:  # a row written between the two reads: the newest wins
            market_state.set_consensus(consensus)
        if consensus.point is not None and consensus.market != Market.H2H:
            values = key_values(
                settings.key_numbers_for(game_state.game.sport_key, consensus.market.value), consensus.market
            )
            await _restore_key_sides(repos, consensus, values, market_state.key_sides)
        market_state.dislocated = {
            (operator(hit.book), hit.side.value)
            for hit in find_dislocations(
                settings, consensus, market_state, cover_model_of(settings, game_state.game.sport_key), operator
            )
        }
    for game_id, game_state in state.games.items():
        game_state.pending.extend(await repos.signals.ungraded_for_game(game_id))
        # `last_seen` is written for snapshots near tip only (the only ones that can date a usable close).
        seen = await repos.games.last_seen(game_id)
        for market_state in game_state.markets.values():
            if market_state.lines:
                market_state.seen_at = seen
        if cursor is not None:
            cutoff = move_retention(settings, cursor)
            baseline = await repos.quotes.as_of(game_id, cutoff)
            timeline = [
                item for item in await repos.quotes.timeline(game_id, since=cutoff) if item[0].observed_at > cutoff
            ]
            _restore_moves(game_state, baseline, timeline, method)
    return state


async def _restore_key_sides(
    repos: Repositories, consensus: Consensus, values: tuple[float, ...], sides: dict[float, int]
) -> None:
    """Which strict side of each key number the market was last on, as the detector remembers it.

    The newest consensus point settles every key it is off; a key it sits on exactly (a total of 160.0
    against the key 160) keeps the side of the newest point that was off it, which only an older row
    can tell. Seeding from the newest point alone forgot that side, so -8.5 → -8 (restart) → -7.5 made
    no KEY_CROSS after a restart though it does in an uninterrupted run.
    """
    seed_sides(consensus.point, values, sides)
    for value in values:
        if value not in sides:
            earlier = await repos.consensus.last_point_off(consensus.game_id, consensus.market, value, KEY_TOLERANCE)
            if earlier is not None:
                seed_sides(earlier, (value,), sides)


async def regrade_legacy(engine: Engine, repos: Repositories) -> int:
    """Grades stored before grades carried `clv_ev` were made by the old, vig-free rule against a close
    that could share the signal's own snapshot: regrade them by today's rules from the stored close, in
    one transaction (a close stored then is dated by its consensus, so the "strictly after" test is
    conservative for them)."""
    legacy = await repos.grades.legacy_ids()
    if not legacy:
        return 0
    max_age = timedelta(seconds=engine.settings.clv.close_max_age_seconds)
    async with repos.db.transaction():
        await repos.grades.delete(legacy)
        for signal_id in legacy:
            signal = await repos.signals.get(signal_id)
            stored = await repos.games.get(signal.game_id) if signal else None
            if signal is None or stored is None:
                continue
            close = await repos.closes.get(signal.game_id, signal.market)
            at = close.captured_at if close else signal.created_at
            cover = engine.cover_model(stored.game.sport_key)
            verdict = grade_or_reason(signal, close, stored.scheduled_tip, max_age, at, cover)
            if isinstance(verdict, str):
                await repos.grades.mark_ungraded(signal.id, at, verdict)
            else:
                await repos.grades.insert(verdict)
    log.info("regraded %d signals graded by the old rule", len(legacy))
    return len(legacy)


def _restore_moves(
    game_state: GameState, baseline: list[BookLine], timeline: list[tuple[BookLine, bool]], method
) -> None:
    """Replay the recent quotes of a game into moves, as the engine saw them (a withdrawal resets a book).

    `baseline` is each book's line as it stood at the retention cutoff, so the first quote after it is
    a move from that line (a book quiet for hours that then moves is a move, as it was live)."""
    previous: dict[tuple[str, Market], tuple[BookLine, float]] = {
        (line.book, line.market): (line, devig(line.price_a, line.price_b, method)) for line in baseline
    }
    per_market = defaultdict(list)
    for line, withdrawn in timeline:
        key = (line.book, line.market)
        if withdrawn:
            previous.pop(key, None)
            continue
        prob = devig(line.price_a, line.price_b, method)
        if key in previous:
            before, before_prob = previous[key]
            move = move_between(before, before_prob, line, prob)
            if move is not None:
                per_market[line.market].append(move)
        previous[key] = (line, prob)
    for market, moves in per_market.items():
        game_state.market(market).moves.extend(sorted(moves, key=lambda m: m.observed_at))
