"""The engine's in-memory state: what it must remember between snapshots, and nothing more.

All of it can be rebuilt from the database (see `engine.service.restore_state`), which is what lets a
restart resume mid-slate: last quotes, consensus, recent moves, cooldowns and ungraded signals.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import date, datetime

from engine.models import BookComponent, BookLine, Consensus, Game, Market, Side, Signal

#: Consensus values kept per market to find "the consensus before" a move.
CONSENSUS_HISTORY = 64
#: Gaps between snapshots kept to estimate the feed's poll interval.
GAP_HISTORY = 20


@dataclass(frozen=True, slots=True)
class Move:
    """One book's change from its own previous quote: +1 towards side A (home/over), -1 towards side B."""

    book: str
    direction: int
    size: float
    at: datetime  # the book's own last_update for the new quote
    observed_at: datetime
    before: float
    after: float


@dataclass(slots=True)
class MarketState:
    lines: dict[str, BookLine] = field(default_factory=dict)
    probs: dict[str, float] = field(default_factory=dict)  # de-vigged probability of side A per book
    components: dict[str, BookComponent] = field(default_factory=dict)  # each book's consensus input
    consensus: Consensus | None = None
    history: deque[Consensus] = field(default_factory=lambda: deque(maxlen=CONSENSUS_HISTORY))
    moves: deque[Move] = field(default_factory=deque)
    key_sides: dict[float, int] = field(default_factory=dict)  # key value -> last strict side (+1/-1)
    dislocated: set[tuple[str, str]] = field(default_factory=set)  # (book, side) currently dislocated
    seen_at: datetime | None = None  # the last snapshot that quoted this market (dates the close)

    def put(self, line: BookLine, prob_a: float, weight: float) -> None:
        """A book's new line, its de-vigged probability and its consensus input, kept together."""
        book = line.book
        self.lines[book] = line
        self.probs[book] = prob_a
        self.components[book] = BookComponent(book, line.point, prob_a, weight)

    def drop(self, book: str) -> BookLine:
        del self.probs[book]
        del self.components[book]
        return self.lines.pop(book)

    def set_consensus(self, consensus: Consensus) -> None:
        self.consensus = consensus
        self.history.append(consensus)

    def consensus_before(self, at: datetime) -> Consensus | None:
        """The newest consensus strictly before `at`, else the oldest one remembered."""
        for item in reversed(self.history):
            if item.at < at:
                return item
        return self.history[0] if self.history else None


@dataclass(slots=True)
class GameState:
    game: Game
    scheduled_tip: datetime
    markets: dict[Market, MarketState] = field(default_factory=dict)
    pending: list[Signal] = field(default_factory=list)  # signals awaiting the close

    def market(self, market: Market) -> MarketState:
        state = self.markets.get(market)
        if state is None:
            state = self.markets[market] = MarketState()
        return state


@dataclass(slots=True)
class EngineState:
    games: dict[str, GameState] = field(default_factory=dict)
    closed: dict[str, datetime] = field(default_factory=dict)  # game id -> when it closed
    cooldowns: dict[tuple[str, ...], datetime] = field(default_factory=dict)
    daily_counts: dict[tuple[str, str, date], int] = field(default_factory=dict)  # (game, type, day)
    recent_signals: dict[str, deque[Signal]] = field(default_factory=dict)  # per game, for heat
    sides: dict[tuple[str, str], tuple[Side, datetime]] = field(default_factory=dict)  # (game, market) -> last side
    gaps: deque[float] = field(default_factory=lambda: deque(maxlen=GAP_HISTORY))
    last_fetched_at: datetime | None = None

    def feed_interval_seconds(self) -> float | None:
        """Median gap between recent snapshots: the feed's actual poll interval."""
        if not self.gaps:
            return None
        ordered = sorted(self.gaps)
        return ordered[len(ordered) // 2]
