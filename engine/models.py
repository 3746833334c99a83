"""The engine's vocabulary: immutable values that flow from the feed to the signals and their grades.

Everything here is plain data. The odds of a two-way market are kept together in one `BookLine`
(both sides and the point) because every computation downstream — de-vig, consensus, moves — needs
both sides at once; splitting them into per-outcome rows would only mean re-joining them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class Market(StrEnum):
    H2H = "h2h"
    SPREADS = "spreads"
    TOTALS = "totals"


class Side(StrEnum):
    HOME = "home"
    AWAY = "away"
    OVER = "over"
    UNDER = "under"


#: The two sides of each market, in the order `BookLine.price_a` / `price_b` store them.
MARKET_SIDES: Mapping[Market, tuple[Side, Side]] = {
    Market.H2H: (Side.HOME, Side.AWAY),
    Market.SPREADS: (Side.HOME, Side.AWAY),
    Market.TOTALS: (Side.OVER, Side.UNDER),
}


def is_side_a(market: Market, side: Side) -> bool:
    """True for the side stored first (home, or over)."""
    first, second = MARKET_SIDES[market]
    if side == first:
        return True
    if side == second:
        return False
    raise ValueError(f"side {side} does not belong to market {market}")


def point_for_side(market: Market, point: float | None, side: Side) -> float | None:
    """A market's number (the home spread, the total) as `side` sees it: the away spread is negated."""
    if point is None:
        return None
    if market == Market.SPREADS and side == Side.AWAY:
        return -point
    return point


class SignalType(StrEnum):
    STEAM = "STEAM"
    DISLOCATION = "DISLOCATION"
    KEY_CROSS = "KEY_CROSS"


@dataclass(frozen=True, slots=True)
class Game:
    id: str
    sport_key: str
    home_team: str
    away_team: str
    commence_time: datetime

    def side_label(self, market: Market, side: Side) -> str:
        if market == Market.TOTALS:
            return side.value.capitalize()
        return self.home_team if side == Side.HOME else self.away_team


@dataclass(frozen=True, slots=True)
class BookLine:
    """One book's two-way market at one moment.

    `point` is the home team's spread (spreads), the total (totals) or None (moneyline).
    `price_a`/`price_b` are American prices of home/over and away/under.
    `last_update` is the book's own timestamp for this market; `observed_at` is when we fetched it.
    """

    game_id: str
    book: str
    market: Market
    point: float | None
    price_a: int
    price_b: int
    last_update: datetime
    observed_at: datetime

    def same_quote(self, other: BookLine | None) -> bool:
        return (
            other is not None
            and self.point == other.point
            and self.price_a == other.price_a
            and self.price_b == other.price_b
        )

    def side_point(self, side: Side) -> float | None:
        """The number a bettor gets on `side`: the away spread is the home spread negated."""
        return point_for_side(self.market, self.point, side)

    def side_price(self, side: Side) -> int:
        return self.price_a if is_side_a(self.market, side) else self.price_b


@dataclass(frozen=True, slots=True)
class EventOdds:
    game: Game
    lines: tuple[BookLine, ...]


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why part of a payload was not used; logged, never fatal to the rest of the snapshot."""

    reason: str
    event_id: str | None = None
    book: str | None = None
    market: str | None = None


@dataclass(frozen=True, slots=True)
class Quota:
    """The Odds API's credit headers from the response that produced a snapshot."""

    remaining: int | None = None
    used: int | None = None
    last: int | None = None


@dataclass(frozen=True, slots=True)
class Snapshot:
    fetched_at: datetime
    events: tuple[EventOdds, ...]
    rejections: tuple[Rejection, ...] = ()
    quota: Quota | None = None
    #: Book key → the feed's display name ("williamhill_us" → "Caesars"), for every book that sent one.
    book_titles: Mapping[str, str] = field(default_factory=dict)


class _SidedNumber:
    """Reading a two-way market's number from one side: the away spread is the home spread negated."""

    __slots__ = ()
    market: Market
    point: float | None
    prob_a: float

    def side_point(self, side: Side) -> float | None:
        return point_for_side(self.market, self.point, side)

    def side_prob(self, side: Side) -> float:
        return self.prob_a if is_side_a(self.market, side) else 1.0 - self.prob_a


@dataclass(frozen=True, slots=True)
class BookComponent:
    """One book's contribution to a consensus: its point, its de-vigged probability of side A, its weight."""

    book: str
    point: float | None
    prob_a: float
    weight: float


@dataclass(frozen=True, slots=True)
class Consensus(_SidedNumber):
    """Weighted de-vigged consensus of one game's market at one instant.

    `point` is the weighted median main line (home spread or total; None for moneyline) and `prob_a`
    the weighted de-vigged probability of side A (home/over) among the books at that line.
    """

    game_id: str
    market: Market
    at: datetime
    point: float | None
    prob_a: float
    books: int
    components: tuple[BookComponent, ...] = ()


@dataclass(frozen=True, slots=True)
class Entry:
    """The number a member could actually have taken when a signal fired."""

    book: str
    point: float | None
    price: int
    prob: float  # de-vigged probability of the side at that book


@dataclass(frozen=True, slots=True)
class ScoreBreakdown:
    """Each component in 0..1; `total` is the weighted 0-100 score."""

    magnitude: float
    velocity: float
    breadth: float
    sharp: float
    time_to_tip: float
    total: int

    def as_dict(self) -> dict[str, float]:
        return {
            "magnitude": self.magnitude,
            "velocity": self.velocity,
            "breadth": self.breadth,
            "sharp": self.sharp,
            "time_to_tip": self.time_to_tip,
        }


@dataclass(frozen=True, slots=True)
class Signal:
    """A detected market event, pointing to one side.

    `books` lists the books involved, first mover first. `velocity` is points (spreads/totals) or
    probability (moneyline) per minute; None where the type has no notion of speed.
    `details` holds the type-specific metadata (window, before/after, key number, gap, EV, ...).
    """

    id: str
    type: SignalType
    game_id: str
    market: Market
    side: Side
    created_at: datetime
    score: int
    breakdown: ScoreBreakdown
    books: tuple[str, ...]
    magnitude: float
    velocity: float | None
    entry: Entry
    consensus_point: float | None  # consensus number for `side` at signal time
    consensus_prob: float  # consensus de-vigged probability of `side` at signal time
    commence_time: datetime
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def signal_class(self) -> str:
        return f"{self.type.value}:{self.market.value}"

    @property
    def ev_at_fire(self) -> float | None:
        """The entry's expected value, vig included, against the no-vig consensus when the signal fired
        (stored in `details["expected_value"]`). DISLOCATION fires only when it is above
        `dislocation.min_ev`; None for the types that do not price their entry at fire time."""
        value = self.details.get("expected_value")
        return None if value is None else float(value)


@dataclass(frozen=True, slots=True)
class Close(_SidedNumber):
    """The closing consensus of one game's market: the last pre-tip consensus."""

    game_id: str
    market: Market
    captured_at: datetime  # when the close was fixed (tip-off)
    at: datetime  # time of the consensus used as the close
    point: float | None
    prob_a: float
    books: int
    source: str = "consensus"  # "consensus" (our last pre-tip snapshot) or "external" (a closes file)


@dataclass(frozen=True, slots=True)
class Grade:
    """A signal graded against the no-vig close at the price a member could take.

    `clv_ev` (CLV%) is the verdict: expected value per unit staked at the close; `beat` is `clv_ev > 0`.
    CLV points: positive means the entry number was better for the bettor than the close.
    CLV prob: close no-vig probability of the side minus the entry price's implied probability.
    """

    signal_id: str
    graded_at: datetime
    close_point: float | None
    close_prob: float
    clv_points: float | None
    clv_prob: float
    beat: bool
    push: bool
    consensus_clv_points: float | None
    consensus_clv_prob: float
    clv_ev: float


@dataclass(frozen=True, slots=True)
class Bet:
    """A bet a member logged, to be graded against the close like a signal's entry."""

    id: int | None
    guild_id: int
    user_id: int
    game_id: str
    market: Market
    side: Side
    point: float | None  # the side's own point (spreads), the total (totals), None (moneyline)
    price: int
    book: str | None
    placed_at: datetime


@dataclass(frozen=True, slots=True)
class BetGrade:
    """CLV of a bet, by the signals' grader: `clv_ev` is the expected value of the member's own price at
    the no-vig close; points and probability (close no-vig minus the price's implied) sit beside it."""

    bet_id: int
    graded_at: datetime
    close_point: float | None
    close_prob: float
    clv_points: float | None
    clv_prob: float
    beat: bool
    push: bool
    clv_ev: float
