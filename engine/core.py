"""The engine: snapshots in, changed quotes, consensus, signals, closes and grades out.

No I/O and no clock: time comes in with the data (`Snapshot.fetched_at`, or the `now` given to
`close_due`). The caller persists what a `Tick` reports and publishes its events; the engine only
keeps the in-memory `EngineState` it needs between snapshots.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta

from config.settings import Settings
from engine.clv import entry_value, grade_or_reason
from engine.consensus import build_consensus
from engine.cover import CoverModel, cover_model_of
from engine.detectors.dislocation import DislocationHit, EntryEv, detect_dislocations
from engine.detectors.key_cross import detect_key_cross, key_values, seed_sides
from engine.detectors.steam import detect_steam, steam_window
from engine.models import (
    BookLine,
    Close,
    Consensus,
    Game,
    Grade,
    Market,
    Rejection,
    Side,
    Signal,
    SignalType,
    Snapshot,
)
from engine.moves import move_between
from engine.odds import devig
from engine.providers.closes import ExternalCloses
from engine.scoring import heat
from engine.signals import best_entry, build_signal, entry_for, side_for
from engine.state import EngineState, GameState, MarketState

#: A closed game id is remembered this long so its in-play snapshots are ignored, then forgotten.
CLOSED_MEMORY = timedelta(days=3)
MARKETS = (Market.H2H, Market.SPREADS, Market.TOTALS)


@dataclass(slots=True)
class Tick:
    """Everything one call changed: what the caller stores, in this order, and then publishes."""

    at: datetime
    games: list[Game] = field(default_factory=list)
    tip_changes: list[tuple[str, datetime]] = field(default_factory=list)
    lines: list[BookLine] = field(default_factory=list)
    withdrawn: list[BookLine] = field(default_factory=list)  # books that stopped offering a market
    consensus: list[Consensus] = field(default_factory=list)
    signals: list[Signal] = field(default_factory=list)
    closes: list[Close] = field(default_factory=list)
    closed_games: list[str] = field(default_factory=list)
    grades: list[tuple[Signal, Grade]] = field(default_factory=list)
    ungraded: list[tuple[Signal, str]] = field(default_factory=list)  # (signal, why no close could grade it)
    results: list[tuple[str, int, int]] = field(default_factory=list)  # (game, home score, away score)
    seen_games: list[str] = field(default_factory=list)  # pre-game events in this snapshot, near their tip
    rejections: tuple[Rejection, ...] = ()
    skipped: bool = False  # the snapshot was not newer than the last one


def cooldown_key(kind: SignalType, game_id: str, market: Market, side: Side, discriminator: str) -> tuple[str, ...]:
    """One move is one signal: the key a cooldown is kept under (a key number's cross ignores direction)."""
    if kind == SignalType.KEY_CROSS:
        return (kind.value, game_id, market.value, discriminator)
    return (kind.value, game_id, market.value, side.value, discriminator)


def signal_cooldown_key(signal: Signal, operators: dict[str, str] | None = None) -> tuple[str, ...]:
    """The same key, recovered from a stored signal (used when state is restored after a restart)."""
    if signal.type == SignalType.DISLOCATION:
        discriminator = (operators or {}).get(signal.books[0], signal.books[0])
    elif signal.type == SignalType.KEY_CROSS:
        discriminator = str(float(signal.details["key_number"]))
    else:
        discriminator = ""
    return cooldown_key(signal.type, signal.game_id, signal.market, signal.side, discriminator)


def dislocation_ev(consensus: Consensus, lines: Mapping[str, BookLine], cover: CoverModel) -> EntryEv:
    """A book's own price on a side, vig included, against the no-vig consensus of this instant, by the one
    grader (`engine.clv.entry_value`): what a dislocation must be worth to fire."""

    def ev(book: str, side: Side) -> float:
        line = lines[book]
        market = consensus.market
        return entry_value(market, side, line.side_point(side), line.side_price(side), consensus, cover).ev

    return ev


def find_dislocations(
    settings: Settings, consensus: Consensus, market_state: MarketState, cover: CoverModel, operator=None
) -> list[DislocationHit]:
    """The dislocations worth taking now (`dislocation.min_ev`); the engine and a restart both ask this."""
    config = settings.dislocation
    return detect_dislocations(
        consensus,
        market_state.lines,
        market_state.probs,
        threshold=config.thresholds.for_market(consensus.market.value),
        min_books=config.min_books,
        max_outlier_share=config.max_outlier_share,
        operator=operator,
        ev=dislocation_ev(consensus, market_state.lines, cover),
        min_ev=config.min_ev,
    )


def move_retention(settings: Settings, now: datetime) -> datetime:
    """Moves observed at or before this are forgotten: no STEAM window (at most `max_window_seconds`)
    ending after `now` can reach them. A restart rebuilds the moves observed after it from the quotes."""
    return now - timedelta(seconds=settings.steam.max_window_seconds)


def daily_cap_key(signal: Signal) -> tuple[str, str, date]:
    """The daily cap counts per game and signal type, so a run of dislocations cannot use up the day and
    silence a STEAM or a key-number cross near tip-off."""
    return (signal.game_id, signal.type.value, signal.created_at.date())


class Engine:
    """`closes`: an external closes file (e.g. the NBA lines+scores CSV) that replaces the captured
    consensus as the close of the games it knows, for feeds whose last snapshot is far from tip."""

    def __init__(
        self, settings: Settings, state: EngineState | None = None, *, closes: ExternalCloses | None = None
    ) -> None:
        self.settings = settings
        self.state = state or EngineState()
        self.external_closes = closes
        self._sport_keys: dict[tuple[str, Market], tuple[float, ...]] = {}
        self._weight = settings.consensus.weight
        self._operators = settings.consensus.operator_map()
        self._covers: dict[str, CoverModel] = {}
        self._close_max_age = timedelta(seconds=settings.clv.close_max_age_seconds)

    def operator(self, book: str) -> str:
        """The book's operator: books of one operator group share one key."""
        return self._operators.get(book, book)

    def cover_model(self, sport_key: str) -> CoverModel:
        model = self._covers.get(sport_key)
        if model is None:
            model = self._covers[sport_key] = cover_model_of(self.settings, sport_key)
        return model

    # ---------------------------------------------------------------- public

    def ingest(self, snapshot: Snapshot) -> Tick:
        now = snapshot.fetched_at
        tick = Tick(at=now, rejections=snapshot.rejections)
        state = self.state
        if state.last_fetched_at is not None:
            if now <= state.last_fetched_at:
                tick.skipped = True
                return tick
            state.gaps.append((now - state.last_fetched_at).total_seconds())
        state.last_fetched_at = now
        self._close_due(now, tick)
        for event in snapshot.events:
            game = event.game
            if game.id in state.closed:
                continue
            game_state = state.games.get(game.id)
            if game.commence_time <= now:
                # In play: never used for odds; a tip rewritten to the actual start closes the game.
                if game_state is not None:
                    if game.commence_time < game_state.scheduled_tip:
                        # Started early: the close's age is measured against the real start.
                        game_state.scheduled_tip = game.commence_time
                        tick.tip_changes.append((game.id, game.commence_time))
                    self._close_game(game_state, now, tick)
                continue
            if game_state is None:
                game_state = state.games[game.id] = GameState(game=game, scheduled_tip=game.commence_time)
                tick.games.append(game)
            elif game != game_state.game:
                if game.commence_time != game_state.scheduled_tip:
                    game_state.scheduled_tip = game.commence_time
                    tick.tip_changes.append((game.id, game.commence_time))
                game_state.game = game
                tick.games.append(game)
            self._ingest_event(game_state, event.lines, now, tick)
            if game_state.scheduled_tip - now <= self._close_max_age:
                # Only a snapshot this near tip can date a usable close, so only these are worth a write
                # (a restart then dates the close exactly whenever the verdict depends on it).
                tick.seen_games.append(game.id)
        self._forget_old_closed(now)
        return tick

    def close_due(self, now: datetime) -> Tick:
        """Close every game whose scheduled tip has passed (the scheduler calls this at each tip)."""
        tick = Tick(at=now)
        self._close_due(now, tick)
        return tick

    def heat(self, game_id: str, now: datetime) -> int:
        signals = self.state.recent_signals.get(game_id, ())
        config = self.settings.signals
        return heat(signals, now, config.heat_window_seconds, config.heat_thresholds)

    def open_games(self) -> list[GameState]:
        return list(self.state.games.values())

    # ---------------------------------------------------------------- odds

    def _ingest_event(self, game_state: GameState, lines: tuple[BookLine, ...], now: datetime, tick: Tick) -> None:
        by_market: dict[Market, list[BookLine]] = {}
        for line in lines:
            by_market.setdefault(line.market, []).append(line)
        method = self.settings.consensus.devig
        for market in MARKETS:
            incoming = by_market.get(market)
            market_state = game_state.markets.get(market)
            if incoming is None and market_state is None:
                continue
            market_state = market_state or game_state.market(market)
            if incoming is not None:
                market_state.seen_at = now
            changed = False
            present = set()
            for line in incoming or ():
                book = line.book
                present.add(book)
                previous = market_state.lines.get(book)
                if line is previous or line.same_quote(previous):
                    continue
                if line.observed_at != now:  # a line remembered by the parser from an earlier snapshot
                    line = replace(line, observed_at=now)
                prob = devig(line.price_a, line.price_b, method)
                if previous is not None:
                    move = move_between(previous, market_state.probs[book], line, prob)
                    if move is not None:
                        market_state.moves.append(move)
                market_state.put(line, prob, self._weight(book))
                tick.lines.append(line)
                changed = True
            for book in [book for book in market_state.lines if book not in present]:
                # The book no longer offers this market: it leaves the consensus until it quotes again.
                tick.withdrawn.append(replace(market_state.drop(book), observed_at=now))
                changed = True
            if changed:
                self._update_market(game_state, market, market_state, now, tick)

    def _update_market(
        self, game_state: GameState, market: Market, market_state: MarketState, now: datetime, tick: Tick
    ) -> None:
        previous = market_state.consensus
        consensus = build_consensus(
            game_state.game.id, market, now, market_state.components.values(), self._operators or None
        )
        if consensus is None:
            return
        market_state.set_consensus(consensus)
        tick.consensus.append(consensus)
        self._detect_steam(game_state, market, market_state, consensus, now, tick)
        self._detect_dislocations(game_state, market, market_state, consensus, now, tick)
        self._detect_key_cross(game_state, market, market_state, previous, consensus, now, tick)

    # ---------------------------------------------------------------- detectors

    def _detect_steam(
        self,
        game_state: GameState,
        market: Market,
        market_state: MarketState,
        consensus: Consensus,
        now: datetime,
        tick: Tick,
    ) -> None:
        config = self.settings.steam
        window = steam_window(config.window_seconds, self.state.feed_interval_seconds())
        moves = market_state.moves
        # Moves are kept for the longest window there can be, whatever today's window: what is remembered
        # is then a function of the stored quotes alone (`move_retention`), which a restart rebuilds
        # exactly; pruning to a window that later widens would make the memory depend on history.
        retention = move_retention(self.settings, now)
        while moves and moves[0].observed_at <= retention:
            moves.popleft()
        if window > config.max_window_seconds:
            # The feed is too coarse for velocity to mean anything (daily snapshots): no STEAM.
            return
        horizon = now - timedelta(seconds=window)
        recent = [move for move in moves if move.observed_at > horizon]
        threshold = config.thresholds.for_market(market.value)
        hit = detect_steam(
            recent, now, window_seconds=window, threshold=threshold, min_books=config.min_books, operator=self.operator
        )
        if hit is None:
            return
        side = side_for(market, hit.direction)
        key = cooldown_key(SignalType.STEAM, game_state.game.id, market, side, "")
        if not self._cooldown_free(key, now, config.cooldown_seconds):
            return
        before = market_state.consensus_before(
            min(m.observed_at for m in recent if m.book in hit.books and m.direction == hit.direction)
        )
        details = {
            "window_seconds": window,
            "first_move_at": hit.first_move_at.isoformat(),
            "last_move_at": hit.last_move_at.isoformat(),
            "consensus_before": _consensus_view(before),
            "consensus_after": _consensus_view(consensus),
            "unit": "probability" if market == Market.H2H else "points",
        }
        signal = build_signal(
            kind=SignalType.STEAM,
            game=game_state.game,
            tip=game_state.scheduled_tip,
            market=market,
            side=side,
            now=now,
            books=hit.books,
            magnitude=hit.magnitude,
            velocity=hit.velocity,
            breadth=self._breadth(hit.books, market_state),
            threshold=threshold,
            entry=best_entry(market_state.lines, market_state.probs, market, side),
            consensus=consensus,
            details=details,
            discriminator="",
            settings=self.settings,
        )
        self._emit(game_state, signal, key, now, tick)

    def _detect_dislocations(
        self,
        game_state: GameState,
        market: Market,
        market_state: MarketState,
        consensus: Consensus,
        now: datetime,
        tick: Tick,
    ) -> None:
        config = self.settings.dislocation
        threshold = config.thresholds.for_market(market.value)
        cover = self.cover_model(game_state.game.sport_key)
        hits = find_dislocations(self.settings, consensus, market_state, cover, self.operator)
        # Keyed by operator: the group's other brand moving further out is the same dislocation.
        active = {(self.operator(hit.book), hit.side.value) for hit in hits}
        newly = [hit for hit in hits if (self.operator(hit.book), hit.side.value) not in market_state.dislocated]
        market_state.dislocated = active
        for hit in newly:
            key = cooldown_key(SignalType.DISLOCATION, game_state.game.id, market, hit.side, self.operator(hit.book))
            if not self._cooldown_free(key, now, config.cooldown_seconds):
                continue
            line = market_state.lines[hit.book]
            entry = entry_for(line, market_state.probs[hit.book], hit.side)
            details = {
                "book": hit.book,
                "book_point": entry.point,
                "book_price": entry.price,
                "consensus_point": consensus.side_point(hit.side),
                "consensus_prob": round(consensus.side_prob(hit.side), 6),
                "gap": round(abs(hit.gap), 6),
                # The EV at fire time (what let it fire): this price against the no-vig consensus now.
                "expected_value": round(hit.ev, 6),
                "consensus_books": consensus.books,
                "unit": "probability" if market == Market.H2H else "points",
            }
            signal = build_signal(
                kind=SignalType.DISLOCATION,
                game=game_state.game,
                tip=game_state.scheduled_tip,
                market=market,
                side=hit.side,
                now=now,
                books=(hit.book,),
                magnitude=abs(hit.gap),
                velocity=None,
                breadth=min(1.0, consensus.books / 10.0),
                threshold=threshold,
                entry=entry,
                consensus=consensus,
                details=details,
                discriminator=hit.book,
                settings=self.settings,
            )
            self._emit(game_state, signal, key, now, tick)

    def _detect_key_cross(
        self,
        game_state: GameState,
        market: Market,
        market_state: MarketState,
        previous: Consensus | None,
        consensus: Consensus,
        now: datetime,
        tick: Tick,
    ) -> None:
        if market == Market.H2H or consensus.point is None:
            return
        values = self._key_values(game_state.game.sport_key, market)
        if not values:
            return
        if previous is None or previous.point is None:
            seed_sides(consensus.point, values, market_state.key_sides)
            return
        if previous.point == consensus.point:
            return
        hit = detect_key_cross(market, previous.point, consensus.point, values, market_state.key_sides)
        if hit is None:
            return
        side = side_for(market, hit.direction)
        key = cooldown_key(SignalType.KEY_CROSS, game_state.game.id, market, side, str(float(hit.key_number)))
        if not self._cooldown_free(key, now, self.settings.key_cross.cooldown_seconds):
            return
        crossed_value = hit.keys[0]
        movers = [
            book
            for book, line in market_state.lines.items()
            if line.point is not None and (line.point - crossed_value) * (hit.after - crossed_value) > 0
        ]
        movers.sort(key=lambda book: (market_state.lines[book].last_update, book))
        minutes = max((now - previous.at).total_seconds() / 60.0, 1.0)
        magnitude = abs(hit.after - hit.before)
        details = {
            "from": hit.before,
            "to": hit.after,
            "key_number": hit.key_number,
            "keys_crossed": [abs(value) for value in hit.keys],
            "consensus_before": _consensus_view(previous),
            "consensus_after": _consensus_view(consensus),
            "unit": "points",
        }
        signal = build_signal(
            kind=SignalType.KEY_CROSS,
            game=game_state.game,
            tip=game_state.scheduled_tip,
            market=market,
            side=side,
            now=now,
            books=tuple(movers),
            magnitude=magnitude,
            velocity=magnitude / minutes,
            breadth=self._breadth(movers, market_state),
            threshold=self.settings.steam.thresholds.for_market(market.value),
            entry=best_entry(market_state.lines, market_state.probs, market, side),
            consensus=consensus,
            details=details,
            discriminator=str(float(hit.key_number)),
            settings=self.settings,
        )
        self._emit(game_state, signal, key, now, tick)

    def _key_values(self, sport: str, market: Market) -> tuple[float, ...]:
        cache_key = (sport, market)
        values = self._sport_keys.get(cache_key)
        if values is None:
            values = self._sport_keys[cache_key] = key_values(
                self.settings.key_numbers_for(sport, market.value), market
            )
        return values

    # ---------------------------------------------------------------- signals

    def _cooldown_free(self, key: tuple[str, ...], now: datetime, seconds: float) -> bool:
        last = self.state.cooldowns.get(key)
        return last is None or (now - last).total_seconds() >= seconds

    def _breadth(self, books, market_state: MarketState) -> float:
        """Share of the operators quoting the market that took part (one operator counts once)."""
        quoting = {self.operator(book) for book in market_state.lines}
        return len({self.operator(book) for book in books}) / max(len(quoting), 1)

    def _side_locked(self, signal: Signal, now: datetime) -> bool:
        """One side per game × market per move: a signal on the other side inside the cooldown is suppressed."""
        held = self.state.sides.get((signal.game_id, signal.market.value))
        if held is None or held[0] == signal.side:
            return False
        return (now - held[1]).total_seconds() < self.settings.signals.opposite_side_cooldown_seconds

    def _emit(self, game_state: GameState, signal: Signal, key: tuple[str, ...], now: datetime, tick: Tick) -> None:
        if self._side_locked(signal, now):
            return
        day_key = daily_cap_key(signal)
        count = self.state.daily_counts.get(day_key, 0)
        if count >= self.settings.signals.max_per_game_per_day:
            return
        self.state.daily_counts[day_key] = count + 1
        self.state.cooldowns[key] = now
        self.state.sides[(signal.game_id, signal.market.value)] = (signal.side, now)
        self.remember_signal(signal)
        game_state.pending.append(signal)
        tick.signals.append(signal)

    def remember_signal(self, signal: Signal) -> None:
        """Keep a signal for heat (also used when restoring state)."""
        recent = self.state.recent_signals.setdefault(signal.game_id, deque(maxlen=64))
        recent.append(signal)

    # ---------------------------------------------------------------- close and CLV

    def _close_due(self, now: datetime, tick: Tick) -> None:
        for game_state in [g for g in self.state.games.values() if g.scheduled_tip <= now]:
            self._close_game(game_state, now, tick)

    def _close_game(self, game_state: GameState, now: datetime, tick: Tick) -> None:
        game_id = game_state.game.id
        closes = self._closes_of(game_state, now, tick)
        tick.closes.extend(closes.values())
        cover = self.cover_model(game_state.game.sport_key)
        for signal in game_state.pending:
            close = closes.get(signal.market)
            verdict = grade_or_reason(signal, close, game_state.scheduled_tip, self._close_max_age, now, cover)
            if isinstance(verdict, str):
                tick.ungraded.append((signal, verdict))
            else:
                tick.grades.append((signal, verdict))
        tick.closed_games.append(game_id)
        del self.state.games[game_id]
        self.state.closed[game_id] = now

    def _closes_of(self, game_state: GameState, now: datetime, tick: Tick) -> dict[Market, Close]:
        """The close of each market: the external file's where it knows the game, else our last pre-tip
        consensus, dated by the last snapshot that still quoted the market."""
        game = game_state.game
        external: dict[Market, Close] = {}
        if self.external_closes is not None:
            line = self.external_closes.lookup(game)
            if line is not None:
                tick.results.append((game.id, line.home_score, line.away_score))
                found = self.external_closes.closes_for(game, game_state.scheduled_tip)
                external = {c.market: replace(c, source="external") for c in found}
        closes: dict[Market, Close] = {}
        for market, market_state in game_state.markets.items():
            consensus = market_state.consensus
            if consensus is None:
                continue
            closes[market] = Close(
                game_id=game.id,
                market=market,
                captured_at=now,
                at=max(consensus.at, market_state.seen_at or consensus.at),
                point=consensus.point,
                prob_a=consensus.prob_a,
                books=consensus.books,
            )
        # The file's close wins where it has the market; ours stands for the markets it lacks.
        return closes | external

    def _forget_old_closed(self, now: datetime) -> None:
        cutoff = now - CLOSED_MEMORY
        stale = [game_id for game_id, at in self.state.closed.items() if at < cutoff]
        if not stale:
            return
        for game_id in stale:
            del self.state.closed[game_id]
            self.state.recent_signals.pop(game_id, None)
        gone = set(stale)
        state = self.state
        state.daily_counts = {k: v for k, v in state.daily_counts.items() if k[0] not in gone}
        state.cooldowns = {k: v for k, v in state.cooldowns.items() if k[1] not in gone}
        state.sides = {k: v for k, v in state.sides.items() if k[0] not in gone}


def _consensus_view(consensus: Consensus | None) -> dict[str, object] | None:
    if consensus is None:
        return None
    return {
        "at": consensus.at.isoformat(),
        "point": consensus.point,
        "prob_a": round(consensus.prob_a, 6),
        "books": consensus.books,
    }
