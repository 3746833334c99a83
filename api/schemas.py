"""The REST API's contract: one pydantic model per resource, built from the services' records.

A response model reads its record by attribute (`model_config from_attributes`: `Line.model_validate(line)`);
where a field's name or shape differs from the record's, the field says where it comes from (an alias, or a
validator for a computed value). FastAPI generates the OpenAPI document from the same models (`api.document`)
and serialises the answers with them, so the served shape and the documented shape cannot differ. Webhook
payloads use the same models (`api.serialize`, `api.events`), so an endpoint and a webhook describe a signal
identically.

Times are ISO-8601 UTC with a "Z". Probabilities are rounded to 6 decimals. Models forbid extra keys, so a
client may rely on `additionalProperties: false`.

**One sign convention inside a signal**: every number and probability in a `Signal` is the signal's side's
own — the entry, the consensus, the grade and the `details` (`in_side_terms`): the away spread is the home
spread negated, a total is the same number for over and under, and a probability is the side's no-vig
probability. Only the game-level resources (`Close`, `Consensus`, `Line`) speak of sides A and B: side A is
home for spreads and moneyline, over for totals (`prob_a`, `price_a`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AliasChoices,
    AliasPath,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    model_validator,
)

from access import SignalView
from engine.models import Market, Side, SignalType, is_side_a, point_for_side

API_VERSION = "2026-12-08"

SCORE_MIN = 0
SCORE_MAX = 100
PAGE_LIMIT_DEFAULT = 50
PAGE_LIMIT_MAX = 200
#: Tiers an audit row can carry, best first, then "unproven" (the engine's TIER_ORDER).
TIERS = ("S", "A", "B", "unproven")
AUDIT_KINDS = ("class", "preset", "score")
ANOMALY_KINDS = ("soft_limit_80", "soft_limit_100", "rate_spike", "error_spike")

PROB_A = "No-vig probability of side A: home for spreads and moneyline, over for totals."
SIDE_POINT = (
    "The side's own number (the away spread is the home spread negated; a total is the same for both sides); "
    "null for moneyline."
)


def iso(at: datetime | None) -> str | None:
    if at is None:
        return None
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _round6(value: float) -> float:
    return round(value, 6)


def _or_zero(value: Any) -> Any:
    return 0.0 if value is None else value


def _or_empty(value: Any) -> Any:
    return "" if value is None else value


#: An aware instant, written as ISO-8601 UTC with a "Z".
Time = Annotated[
    datetime,
    PlainSerializer(_iso, return_type=str, when_used="always"),
    WithJsonSchema({"type": "string", "format": "date-time", "description": "ISO-8601 UTC, with a Z."}),
]
Prob = Annotated[float, Field(ge=0, le=1)]
#: A probability rounded to 6 decimals as it is read.
Prob6 = Annotated[float, BeforeValidator(_or_zero), AfterValidator(_round6), Field(ge=0, le=1)]
Count = Annotated[int, Field(ge=0)]
Point = Annotated[float | None, Field(description="Home spread or total; null for moneyline.")]
GameStatus = Literal["scheduled", "closed"]  # storage's SCHEDULED, CLOSED
Book = Annotated[str, BeforeValidator(_or_empty)]


def with_examples(*examples: dict[str, Any]) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": list(examples)})


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, from_attributes=True)

    def body(self) -> bytes:
        """The JSON bytes of this response (aliases applied)."""
        return self.__pydantic_serializer__.to_json(self, by_alias=True)

    def as_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


# ---------------------------------------------------------------------- errors


class ErrorBody(Model):
    """What went wrong, in a stable code and one line for a person."""

    model_config = with_examples(
        {"code": "invalid_parameter", "message": "“limit” must be from 1 to 200.", "parameter": "limit"}
    )

    code: str = Field(
        description="Stable machine-readable code: unauthorized, rate_limited, invalid_parameter, invalid_request, "
        "not_found, plan_limit_reached, plan_unavailable, raw_odds_not_licensed, method_not_allowed, "
        "payload_too_large, unavailable, internal_error."
    )
    message: str = Field(description="One line for a person: what to change.")
    parameter: str | None = Field(None, description="The query, path or body parameter at fault.")


class Error(Model):
    """Every refusal's body."""

    model_config = with_examples(
        {"error": {"code": "unauthorized", "message": "Send a valid API key as `Authorization: Bearer <key>`."}}
    )

    error: ErrorBody = Field(description="The refusal.")

    def body(self) -> bytes:
        return self.__pydantic_serializer__.to_json(self, by_alias=True, exclude_none=True)


# ---------------------------------------------------------------------- signals and grades

BREAKDOWN_EXAMPLE = {"magnitude": 0.3333, "velocity": 0.9554, "breadth": 0.4, "sharp": 0.3846, "time_to_tip": 0.9797}


class Breakdown(Model):
    """The score's components, each 0–1 (the score weighs them)."""

    model_config = with_examples(BREAKDOWN_EXAMPLE)

    magnitude: Prob = Field(description="How far the line moved, against the type's threshold.")
    velocity: Prob = Field(description="How fast it moved.")
    breadth: Prob = Field(description="How many books moved (operators counted once).")
    sharp: Prob = Field(description="Weight of the sharp books among the movers.")
    time_to_tip: Prob = Field(description="How close to tip-off.")


class Entry(Model):
    """Where the signal says to bet: one book's price at the signal's moment (derived, always served). Read
    from a signal view's `entry_*` fields."""

    model_config = with_examples({"book": "betrivers", "point": -1.5, "price": -115, "prob": 0.507425})

    book: Book = Field(validation_alias=AliasChoices("book", "entry_book"), description="The book quoting it.")
    point: float | None = Field(validation_alias=AliasChoices("point", "entry_point"), description=SIDE_POINT)
    price: int = Field(validation_alias=AliasChoices("price", "entry_price"), description="American price.")
    prob: Prob6 = Field(
        validation_alias=AliasChoices("prob", "entry_prob"),
        description="The side's no-vig probability at that book.",
    )


class ConsensusRef(Model):
    """The no-vig consensus over the books at the signal's moment, as the side sees it. Read from a signal
    view's `consensus_*` fields."""

    model_config = with_examples({"point": -2.5, "prob": 0.492221})

    point: float | None = Field(validation_alias=AliasChoices("point", "consensus_point"), description=SIDE_POINT)
    prob: Prob = Field(
        validation_alias=AliasChoices("prob", "consensus_prob"), description="The side's no-vig consensus probability."
    )


def in_side_terms(market: Market, side: Side, details: dict[str, Any] | None) -> dict[str, Any]:
    """A signal's `details` in the side's own terms, like the rest of the signal. The engine stores the
    consensus views (`consensus_before`, `consensus_after`) and a key-number cross (`from`, `to`) in side A's
    terms (home spread or total, `prob_a`); here each number becomes the side's (`point_for_side`) and each
    view's `prob_a` becomes `prob`, the side's no-vig probability. Keys already in the side's terms
    (DISLOCATION's `book_point`, `consensus_point`, `consensus_prob`) and the rest are kept as they are."""
    shown = dict(details or {})
    first = is_side_a(market, side)
    for name in ("consensus_before", "consensus_after"):
        view = shown.get(name)
        if isinstance(view, dict) and "prob_a" in view:
            prob_a = view["prob_a"]
            shown[name] = {
                "at": view.get("at"),
                "point": point_for_side(market, view.get("point"), side),
                "prob": prob_a if first else round(1.0 - prob_a, 6),
                "books": view.get("books"),
            }
    for name in ("from", "to"):
        if isinstance(shown.get(name), int | float):
            shown[name] = point_for_side(market, shown[name], side)
    return shown


DETAILS = (
    "Type-specific numbers, every one in the side's own terms like the rest of the signal (the away spread "
    "is the home spread negated; a probability is the side's). STEAM: `window_seconds`, `first_move_at`, "
    "`last_move_at`, `consensus_before` and `consensus_after` (`{at, point, prob, books}`: the consensus "
    "before the first mover and at the signal), `unit`. DISLOCATION: `book`, `book_point`, `book_price`, "
    "`consensus_point`, `consensus_prob`, `gap`, `expected_value`, `consensus_books`, `unit`. KEY_CROSS: "
    "`from`, `to` (the consensus number before and after), `key_number` and `keys_crossed` (unsigned), "
    "`consensus_before`, `consensus_after`, `unit`."
)

SIGNAL_EXAMPLE: dict[str, Any] = {
    "id": "d9a0b499b2f7d7f0cc7f",
    "type": "KEY_CROSS",
    "game_id": "80bb6c471358f70e96b4571c4470ac0a",
    "market": "spreads",
    "side": "away",
    "created_at": "2026-08-05T23:00:48Z",
    "commence_time": "2026-08-05T23:30:00Z",
    "score": 55,
    "breakdown": BREAKDOWN_EXAMPLE,
    "books": ["betmgm", "lowvig", "betonlineag", "williamhill_us", "draftkings"],
    "magnitude": 0.5,
    "velocity": 0.095541,
    "entry": {"book": "betrivers", "point": -1.5, "price": -115, "prob": 0.507425},
    "consensus": {"point": -2.5, "prob": 0.492221},
    "details": {
        "from": -2.0,
        "to": -2.5,
        "key_number": 2.0,
        "keys_crossed": [2.0],
        "consensus_before": {"at": "2026-08-05T22:55:34+00:00", "point": -2.0, "prob": 0.50394, "books": 10},
        "consensus_after": {"at": "2026-08-05T23:00:48+00:00", "point": -2.5, "prob": 0.492221, "books": 10},
        "unit": "points",
    },
    "ev_at_fire": None,
}


class Signal(Model):
    """A signal as API keys see it: real time, full diagnostics (access.ApiAudience). Built from
    `access.view_signal`'s full view, the one way a signal is shaped for an audience."""

    model_config = with_examples(SIGNAL_EXAMPLE)

    id: str = Field(description="The signal's id.")
    type: SignalType = Field(description="What fired.")
    game_id: str = Field(description="The game's id.")
    market: Market = Field(description="The market.")
    side: Side = Field(description="The side the signal points to; every number below is this side's.")
    created_at: Time = Field(description="When it fired (the snapshot's time).")
    commence_time: Time = Field(description="The game's tip-off.")
    score: int = Field(ge=SCORE_MIN, le=SCORE_MAX, description="0–100: how strong the signal is.")
    breakdown: Breakdown = Field(description="The score's components.")
    books: list[str] = Field(description="Books involved, first mover first.")
    magnitude: float = Field(description="How far the line moved: points, or probability for moneyline.")
    velocity: float | None = Field(description="Per minute; null where the type has none.")
    entry: Entry = Field(description="The price to take.")
    consensus: ConsensusRef = Field(description="The no-vig consensus then.")
    details: dict[str, Any] = Field(description=DETAILS)
    ev_at_fire: float | None = Field(
        description=(
            "Expected value per unit staked of the entry's own price, vig included, against the no-vig "
            "consensus at the instant the signal fired (moneyline: decimal odds × fair probability − 1; spreads "
            "and totals: through the cover model at the consensus number). A DISLOCATION fires only when this "
            "is above dislocation.min_ev (0.005 by default); null for types that do not price their entry."
        )
    )

    @model_validator(mode="before")
    @classmethod
    def _from_view(cls, data: Any) -> Any:
        """From a full signal view: its entry and consensus are flat fields (`entry_book`, `consensus_prob`…),
        which `Entry` and `ConsensusRef` read from the view itself, and its details are put in the side's terms
        (`in_side_terms`). Anything else (a client reading a body back) is taken as it is."""
        if not isinstance(data, SignalView):
            return data
        if data.redacted:
            raise ValueError("the API serves unredacted views only")
        fields = {name: getattr(data, name) for name in cls.model_fields if hasattr(data, name)}
        return fields | {
            "entry": data,
            "consensus": data,
            "details": in_side_terms(data.market, data.side, data.details),
        }


GRADE_EXAMPLE = {
    "signal_id": "fe1dc9cec61580937c16",
    "graded_at": "2026-08-05T23:00:48Z",
    "close_point": 6.5,
    "close_prob": 0.496636,
    "clv_points": -1.0,
    "clv_prob": -0.031666,
    "beat_close": False,
    "push": False,
    "consensus_clv_points": -2.0,
    "consensus_clv_prob": -0.001296,
}


class Grade(Model):
    """A signal graded against the no-vig close at the price a member could take, in the side's terms."""

    model_config = with_examples(GRADE_EXAMPLE)

    signal_id: str = Field(description="The graded signal.")
    graded_at: Time = Field(description="When the grade was made.")
    close_point: float | None = Field(
        description="The closing consensus number, as the side sees it; null for moneyline."
    )
    close_prob: Prob6 = Field(description="The side's no-vig closing probability.")
    clv_points: float | None = Field(
        description="Points the entry beat the close by (negative: worse); null for moneyline."
    )
    clv_prob: float = Field(
        description="Closing no-vig probability of the side minus the entry price's implied probability."
    )
    beat_close: bool = Field(
        validation_alias=AliasChoices("beat_close", "beat"),
        description="The entry's expected value at the close is positive.",
    )
    push: bool = Field(description="The entry's number equals the close's.")
    consensus_clv_points: float | None = Field(description="As `clv_points`, for the consensus number at the signal.")
    consensus_clv_prob: float = Field(description="As `clv_prob`, for the consensus probability at the signal.")


class SignalDetail(Signal):
    """One signal with its CLV grade once graded."""

    model_config = with_examples({**SIGNAL_EXAMPLE, "grade": None})

    grade: Grade | None = Field(description="Null until the game closes.")


BEST_PRICE_EXAMPLE = {
    "book": "betrivers",
    "point": -1.5,
    "price": -115,
    "ev": 0.012345,
    "fair_point": -2.5,
    "fair_prob": 0.492221,
    "fair_at": "2026-08-05T23:00:48Z",
    "books": 10,
}


class BestPrice(Model):
    """The best price on a side at a moment, and its expected value against the fair (no-vig consensus) price
    of that moment (derived data: always served)."""

    model_config = with_examples(BEST_PRICE_EXAMPLE)

    book: Book = Field(description="The book quoting it.")
    point: float | None = Field(description="The side's own number (away spread negated); null for moneyline.")
    price: int = Field(description="American price.")
    ev: Annotated[float, AfterValidator(_round6)] = Field(
        description="Expected profit per unit staked at this price and number against the fair price "
        "(moneyline: decimal × fair probability − 1; spreads and totals through the cover model)."
    )
    fair_point: float | None = Field(description="The consensus number as the side sees it.")
    fair_prob: Prob6 = Field(description="The side's no-vig consensus probability at `fair_point`.")
    fair_at: Time = Field(validation_alias=AliasChoices("fair_at", "at"), description="The consensus instant.")
    books: Count = Field(description="Books in that consensus.")


MOVE_EXAMPLE = {
    "id": "mv_5f0c2a9d8e7b6a41",
    "game_id": "80bb6c471358f70e96b4571c4470ac0a",
    "market": "spreads",
    "side": "away",
    "created_at": "2026-08-05T23:00:48Z",
    "types": ["KEY_CROSS"],
    "score": 55,
    "best_price": BEST_PRICE_EXAMPLE,
    "signals": [SIGNAL_EXAMPLE],
}


class Move(Model):
    """The data of the `move.created` webhook: the signals of one poll on one game × market × side — what a
    Discord alert shows as one move — with the best price on that side then. Each signal is also sent on
    its own as `signal.created`."""

    model_config = with_examples(MOVE_EXAMPLE)

    id: str = Field(description="`mv_…`, a hash of game, market, side and the poll's time: the same on every repeat.")
    game_id: str = Field(description="The game's id.")
    market: Market = Field(description="The market.")
    side: Side = Field(description="The side every signal of the move points to.")
    created_at: Time = Field(description="The poll's time: every signal's `created_at`.")
    types: list[SignalType] = Field(description="The signal types that fired, each once.")
    score: int = Field(ge=SCORE_MIN, le=SCORE_MAX, description="The strongest signal's score.")
    best_price: BestPrice | None = Field(description="Null when no book quoted the side or there was no consensus.")
    signals: list[Signal] = Field(description="The move's signals.")


class GradedSignal(Model):
    """A signal with its grade (also the data of the `clv.graded` webhook)."""

    model_config = with_examples({"signal": SIGNAL_EXAMPLE, "grade": GRADE_EXAMPLE})

    signal: Signal = Field(description="The signal.")
    grade: Grade = Field(description="Its grade.")


# ---------------------------------------------------------------------- games, lines, consensus

GAME_EXAMPLE = {
    "id": "80bb6c471358f70e96b4571c4470ac0a",
    "sport": "basketball_wnba",
    "home_team": "Washington Mystics",
    "away_team": "Dallas Wings",
    "commence_time": "2026-08-05T23:30:00Z",
    "scheduled_tip": "2026-08-05T23:30:00Z",
    "status": "scheduled",
}
CLOSE_EXAMPLE = {
    "market": "spreads",
    "captured_at": "2026-08-05T23:00:00Z",
    "point": -6.5,
    "prob_a": 0.503364,
    "books": 10,
}


class Game(Model):
    """A game (read from the stored game and its record)."""

    model_config = with_examples(GAME_EXAMPLE)

    id: str = Field(validation_alias=AliasChoices("id", AliasPath("game", "id")), description="The game's id.")
    sport: str = Field(
        validation_alias=AliasChoices("sport", AliasPath("game", "sport_key")), description="The provider's sport key."
    )
    home_team: str = Field(
        validation_alias=AliasChoices("home_team", AliasPath("game", "home_team")), description="The home team."
    )
    away_team: str = Field(
        validation_alias=AliasChoices("away_team", AliasPath("game", "away_team")), description="The away team."
    )
    commence_time: Time = Field(
        validation_alias=AliasChoices("commence_time", AliasPath("game", "commence_time")),
        description="Tip-off as the provider gives it now.",
    )
    scheduled_tip: Time = Field(description="The tip-off the close is captured at (the first one seen).")
    status: GameStatus = Field(description="scheduled until the close is captured, then closed.")


class Close(Model):
    """A closing consensus line (derived: de-vigged over the books), in side A's terms."""

    model_config = with_examples(CLOSE_EXAMPLE)

    market: Market = Field(description="The market.")
    captured_at: Time = Field(description="When the close was fixed (tip-off).")
    point: Point
    prob_a: Prob6 = Field(description=PROB_A)
    books: Count = Field(description="Books in the consensus.")


class GameDetail(Game):
    """One game with its closing lines once captured."""

    model_config = with_examples({**GAME_EXAMPLE, "status": "closed", "closes": [CLOSE_EXAMPLE]})

    closes: list[Close] = Field(description="One per market once the game closed; empty before.")


LINE_EXAMPLE = {
    "book": "draftkings",
    "market": "spreads",
    "point": -6.5,
    "price_a": -110,
    "price_b": -110,
    "last_update": "2026-08-05T22:59:58Z",
    "observed_at": "2026-08-05T23:00:48Z",
}


class Line(Model):
    """One book's raw line (the provider's data: served only where the licence allows), in side A's terms."""

    model_config = with_examples(LINE_EXAMPLE)

    book: str = Field(description="The book.")
    market: Market = Field(description="The market.")
    point: float | None = Field(description="Home spread, the total, or null (moneyline).")
    price_a: int = Field(description="American price of side A: home for spreads and moneyline, over for totals.")
    price_b: int = Field(description="American price of side B: away for spreads and moneyline, under for totals.")
    last_update: Time = Field(description="The book's own time for this line.")
    observed_at: Time = Field(description="When we fetched it.")


class GameOdds(Model):
    """Each book's current line of one game (a closed game: its last lines)."""

    model_config = with_examples(
        {"game_id": GAME_EXAMPLE["id"], "status": "scheduled", "as_of": "2026-08-05T23:00:48Z", "lines": [LINE_EXAMPLE]}
    )

    game_id: str = Field(description="The game's id.")
    status: GameStatus = Field(description="The game's state.")
    as_of: Time | None = Field(description="Newest observation among the lines.")
    lines: list[Line] = Field(description="One per book and market.")


CONSENSUS_EXAMPLE = {"market": "spreads", "at": "2026-08-05T23:00:48Z", "point": 2.5, "prob_a": 0.507779, "books": 10}


class Consensus(Model):
    """The de-vigged consensus over the books at one moment (derived, always served), in side A's terms."""

    model_config = with_examples(CONSENSUS_EXAMPLE)

    market: Market = Field(description="The market.")
    at: Time = Field(description="The snapshot's time.")
    point: Point
    prob_a: Prob6 = Field(description=PROB_A)
    books: Count = Field(description="Books in the consensus.")


# ---------------------------------------------------------------------- the CLV summary


Rate = Annotated[float | None, Field(ge=0, le=1)]
Lift = Annotated[float | None, Field(ge=-1, le=1)]


class Record(Model):
    """Wins, losses and pushes against the final results."""

    model_config = with_examples({"wins": 12, "losses": 9, "pushes": 1})

    wins: Count = Field(description="Bets that won.")
    losses: Count = Field(description="Bets that lost.")
    pushes: Count = Field(description="Bets refunded.")


FORWARD_EXAMPLE = {"graded": 8, "beat_rate": 0.625, "null_rate": 0.5, "lift": 0.125, "lift_low": -0.2, "lift_high": 0.4}


class ForwardRecord(Model):
    """A class's record since its current alert state was reached (`engine.audit.ForwardRecord.as_dict()`):
    its signals fired after `state_since`, graded, with the same null and bootstrap as the whole record."""

    model_config = with_examples(FORWARD_EXAMPLE)

    graded: Count = Field(description="Signals of the class fired since the state was reached, graded.")
    beat_rate: Rate = Field(description="beats / graded; null when nothing is graded.")
    null_rate: Rate = Field(description="Beat rate of their matched null.")
    lift: Lift = Field(description="beat_rate − null_rate.")
    lift_low: Lift = Field(description="95% interval of the lift, bootstrapped over whole games.")
    lift_high: Lift = Field(description="Upper end of that interval.")


CLASS_AUDIT_EXAMPLE = {
    "class": "STEAM:spreads",
    "kind": "class",
    "graded": 31,
    "beats": 19,
    "pushes": 1,
    "ungraded": 4,
    "beat_rate": 0.6129,
    "wilson_low": 0.4373,
    "wilson_high": 0.7626,
    "null_graded": 310,
    "null_rate": 0.4871,
    "lift": 0.1258,
    "lift_low": -0.041,
    "lift_high": 0.2903,
    "opposite_rate": 0.3871,
    "mean_clv": 0.0112,
    "mean_clv_points": 0.42,
    "record": {"wins": 17, "losses": 13, "pushes": 1},
    "tier": "unproven",
    "reason": "the lift interval reaches zero",
    "alert_state": "unproven",
    "state_since": None,
    "state_reason": "not enough evidence yet",
    "forward": FORWARD_EXAMPLE,
}


class ClassAudit(Model):
    """One audit row, exactly `engine.audit.ClassAudit.as_dict()`."""

    model_config = with_examples(CLASS_AUDIT_EXAMPLE)

    class_: str = Field(
        alias="class",
        description='A class ("STEAM:spreads"), a preset ("preset:low_noise") or a score bucket ("score:55-69").',
    )
    kind: Literal["class", "preset", "score"] = Field(description="What the row groups.")
    graded: Count = Field(description="Signals graded.")
    beats: Count = Field(description="Graded signals that beat the close.")
    pushes: Count = Field(description="Graded signals that pushed.")
    ungraded: Count = Field(description="Signals with no close to grade against yet.")
    beat_rate: Rate = Field(description="beats / graded; null when nothing is graded.")
    wilson_low: Rate = Field(description="Wilson 95% interval of the beat rate; null when nothing is graded.")
    wilson_high: Rate = Field(description="Upper end of that interval.")
    null_graded: Count = Field(description="Graded draws of the matched null.")
    null_rate: Rate = Field(description="Beat rate of the matched null (random side, same time to tip).")
    lift: Lift = Field(description="beat_rate − null_rate.")
    lift_low: Lift = Field(description="95% interval of the lift, bootstrapped over whole games.")
    lift_high: Lift = Field(description="Upper end of that interval.")
    opposite_rate: Rate = Field(description="Beat rate of the opposite side at the same instants.")
    mean_clv: float | None = Field(description="Mean expected value per unit at the close.")
    mean_clv_points: float | None = Field(description="Mean CLV in points (spreads, totals).")
    record: Record | None = Field(description="Against the final results; null where not kept.")
    tier: Literal["S", "A", "B", "unproven"] = Field(description="The tier the row holds, or unproven.")
    reason: str = Field(description='Why the row is unproven; "" when it holds a tier.')
    alert_state: Literal["tiered", "unproven", "refuted"] | None = Field(
        description="Class rows: what the audit lets the class do, judged walk-forward as its grades came in "
        "(only grades committed before an alert gate it). tiered (S/A/B) pings; unproven pings unless a server "
        "or member asks for tiered; refuted (at least `clv.refute_min_graded` graded and the lift interval "
        "entirely below zero) is still detected, stored, graded and shown but never pings a role or sends a "
        "DM. Null for preset and score rows."
    )
    state_since: Time | None = Field(
        description="When the class reached its alert state (the commit of the grades that made it); null when "
        "it never changed (unproven from the start) and for preset and score rows."
    )
    state_reason: str = Field(description="Why the class is in its state (the evidence it rested on).")
    forward: ForwardRecord | None = Field(
        description="Class rows: the record since `state_since` (every signal when null), beside the whole "
        "record above. Null for preset and score rows."
    )


class ClvSummary(Model):
    """The signal-integrity audit, exactly `engine.reports.AuditReport.as_dict()`."""

    model_config = with_examples(
        {
            "close_source": "consensus",
            "signals_by_type": {"STEAM": 40, "DISLOCATION": 22, "KEY_CROSS": 9},
            "signals_total": 71,
            "graded": 52,
            "ungraded": 19,
            "method": {"null": "random side, same time to tip", "bootstrap": "games"},
            "classes": [CLASS_AUDIT_EXAMPLE],
        }
    )

    close_source: str = Field(description="What the signals were graded against.")
    signals_by_type: dict[SignalType, Count] = Field(description="Signals per type.")
    signals_total: Count = Field(description="Signals in all.")
    graded: Count = Field(description="Graded signals over the classes (type × market).")
    ungraded: Count = Field(description="Signals over the classes with no close yet.")
    method: dict[str, Any] = Field(description="How the audit was computed (null model, bootstrap, tier rules…).")
    classes: list[ClassAudit] = Field(description='Every row: kind "class" first, then "preset", then "score".')

    @classmethod
    def build(cls, report: Any) -> ClvSummary:
        return cls.model_validate(report.as_dict())


# ---------------------------------------------------------------------- usage


KEY_EXAMPLE = {"id": "strat_1a2b3c4d", "owner": "Acme Analytics", "plan": "pro_infra"}
PLAN_EXAMPLE = {
    "plan": "pro_infra",
    "label": "Pro Infra",
    "requests_per_minute": 120,
    "webhooks": 5,
    "monthly_soft_limit": 50000,
    "commercial_use": True,
    "dedicated_queue": False,
}
COUNTS_EXAMPLE = {
    "minute": "2026-08-05T23:20",
    "this_minute": {"requests": 21, "errors": 11},
    "today": 21,
    "this_month": 21,
    "monthly_soft_limit": 50000,
    "monthly_remaining": 49979,
    "over_soft_limit": False,
}


class KeyInfo(Model):
    """The key that asked (read from the key)."""

    model_config = with_examples(KEY_EXAMPLE)

    id: str = Field(description="The key's visible id.")
    owner: str = Field(description="Who the key was made for.")
    plan: str = Field(description="The key's plan.")


class PlanInfo(Model):
    """The key's limits (read from `access.plan_limits`)."""

    model_config = with_examples(PLAN_EXAMPLE)

    plan: str = Field(description="The plan's name.")
    label: str = Field(description="The plan as shown to people.")
    requests_per_minute: int = Field(description="Requests allowed per UTC minute.")
    webhooks: int = Field(description="Webhook endpoints allowed.")
    monthly_soft_limit: int = Field(description="0 = none.")
    commercial_use: bool = Field(description="Whether the data may be used commercially.")
    dedicated_queue: bool = Field(description="Webhooks go out on the key's own delivery queue.")


class MinuteCounts(Model):
    """One minute's counts."""

    model_config = with_examples({"requests": 21, "errors": 11})

    requests: Count = Field(description="Requests counted (429s are not).")
    errors: Count = Field(description="The 4xx/5xx among them.")


class UsageCounts(Model):
    """This key's counts, including the request being answered."""

    model_config = with_examples(COUNTS_EXAMPLE)

    minute: str = Field(description='UTC minute, "YYYY-MM-DDTHH:MM".')
    this_minute: MinuteCounts = Field(description="This minute's requests and errors.")
    today: Count = Field(description="Requests this UTC day.")
    this_month: Count = Field(description="Requests this UTC month.")
    monthly_soft_limit: int = Field(description="The plan's monthly soft limit; 0 = none.")
    monthly_remaining: int | None = Field(description="Null when there is no limit.")
    over_soft_limit: bool = Field(description="Past the soft limit: requests still succeed, with X-Usage-Warning.")


class RateLimitInfo(Model):
    """The rate limit's standing after this request (the `X-RateLimit-*` headers' values)."""

    model_config = with_examples({"limit": 120, "remaining": 99, "reset": 55})

    limit: int = Field(description="Requests allowed per minute.")
    remaining: int = Field(description="Requests left this minute.")
    reset: int = Field(description="Seconds until the minute's window resets.")


class AnomalyOut(Model):
    """An anomaly recorded on the key."""

    model_config = with_examples(
        {"kind": "error_spike", "detail": "11 of 20 requests this minute failed", "at": "2026-08-05T23:20:05Z"}
    )

    kind: Literal["soft_limit_80", "soft_limit_100", "rate_spike", "error_spike"] = Field(description="What happened.")
    detail: str = Field(description="In words, with the numbers.")
    at: Time = Field(description="When it was recorded.")


class Usage(Model):
    """This key's usage, limits and recent anomalies."""

    model_config = with_examples(
        {
            "key": KEY_EXAMPLE,
            "plan": PLAN_EXAMPLE,
            "usage": COUNTS_EXAMPLE,
            "rate_limit": {"limit": 120, "remaining": 99, "reset": 55},
            "anomalies": [],
        }
    )

    key: KeyInfo = Field(description="The key.")
    plan: PlanInfo = Field(description="Its plan's limits.")
    usage: UsageCounts = Field(description="Its counts.")
    rate_limit: RateLimitInfo = Field(description="Its rate limit's standing.")
    anomalies: list[AnomalyOut] = Field(description="The most recent anomalies, newest first.")

    @classmethod
    def build(cls, key: Any, limits: Any, report: Any, rate: Any) -> Usage:
        """Counts include the request being answered (it is counted once it is sent)."""
        month = report.month + 1
        soft = limits.monthly_soft_limit
        return cls(
            key=KeyInfo.model_validate(key),
            plan=PlanInfo.model_validate(limits),
            usage=UsageCounts(
                minute=report.minute,
                this_minute=MinuteCounts(requests=report.minute_requests + 1, errors=report.minute_errors),
                today=report.today + 1,
                this_month=month,
                monthly_soft_limit=soft,
                monthly_remaining=None if soft <= 0 else max(0, soft - month),
                over_soft_limit=0 < soft < month,
            ),
            rate_limit=RateLimitInfo.model_validate(rate),
            anomalies=[AnomalyOut.model_validate(a) for a in report.anomalies],
        )


# ---------------------------------------------------------------------- webhooks

ENDPOINT_EXAMPLE = {
    "id": "we_3f9a1c",
    "url": "https://example.com/stratum",
    "events": ["signal.created", "move.created"],
    "created_at": "2026-08-05T23:20:05Z",
    "disabled_at": None,
    "disabled_reason": None,
    "previous_secret_expires_at": None,
}


class WebhookEndpoint(Model):
    """A webhook endpoint without its secrets (they are shown once, at creation or rotation)."""

    model_config = with_examples(ENDPOINT_EXAMPLE)

    id: str = Field(description="The endpoint's id.")
    url: str = Field(json_schema_extra={"format": "uri"}, description="Where the events are POSTed.")
    events: list[str] = Field(description="The event types it receives.")
    created_at: Time = Field(description="When it was added.")
    disabled_at: Time | None = Field(
        description="When deliveries stopped (410, or too many failures); null while active."
    )
    disabled_reason: str | None = Field(description="Why it was disabled.")
    previous_secret_expires_at: Time | None = Field(
        validation_alias=AliasChoices("previous_secret_expires_at", "old_secret_until"),
        description="After a rotation the old secret still signs until then.",
    )


class WebhookEndpointCreated(WebhookEndpoint):
    """A new endpoint, with its signing secret (read from the endpoint record holding it)."""

    model_config = with_examples({**ENDPOINT_EXAMPLE, "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"})

    secret: str = Field(description="Shown once: store it now.")


class WebhookEndpointList(Model):
    """This key's endpoints."""

    model_config = with_examples({"data": [ENDPOINT_EXAMPLE]})

    data: list[WebhookEndpoint] = Field(description="The endpoints, oldest first.")


class WebhookSecret(Model):
    """A new signing secret."""

    model_config = with_examples({"endpoint_id": "we_3f9a1c", "secret": "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"})

    endpoint_id: str = Field(description="The endpoint.")
    secret: str = Field(description="Shown once: store it now.")


class WebhookTest(Model):
    """A queued test message."""

    model_config = with_examples({"endpoint_id": "we_3f9a1c", "delivery_id": "msg_2a7c9e41"})

    endpoint_id: str = Field(description="The endpoint.")
    delivery_id: str | None = Field(description="The queued message's `webhook-id`.")


class WebhookCreate(Model):
    """The body of `POST /v1/webhooks`."""

    model_config = with_examples({"url": "https://example.com/stratum", "events": ["signal.created", "move.created"]})

    url: str = Field(min_length=1, description="Public https:// URL.", json_schema_extra={"format": "uri"})
    events: list[str] | None = Field(
        None,
        description="Event types to receive, omitted means every one: `signal.created` (data: Signal), "
        "`move.created` (data: Move — one poll's signals on one game × market × side, as one Discord alert), "
        "`clv.graded` (data: `{signal, grade}`), `usage.anomaly` (the key's own). Each is described in the "
        "document's `webhooks`.",
    )


# ---------------------------------------------------------------------- pages

NEXT_CURSOR = "eyJrIjoic2lnbmFscyIsInYiOlsiMjAyNi0wOC0wNVQyMzowMDo0OCswMDowMCIsImQ5YTBiNDk5YjJmN2Q3ZjBjYzdmIl19"


class Page(Model):
    """`data` and the opaque `next_cursor` (null on the last page)."""

    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


class SignalPage(Page):
    """Signals, newest first."""

    model_config = with_examples({"data": [SIGNAL_EXAMPLE], "next_cursor": NEXT_CURSOR})

    data: list[Signal] = Field(description="This page's signals.")


class GradePage(Page):
    """Graded signals, most recently graded first."""

    model_config = with_examples({"data": [{"signal": SIGNAL_EXAMPLE, "grade": GRADE_EXAMPLE}], "next_cursor": None})

    data: list[GradedSignal] = Field(description="This page's graded signals.")


class GamePage(Page):
    """Games by tip-off, oldest first."""

    model_config = with_examples({"data": [GAME_EXAMPLE], "next_cursor": None})

    data: list[Game] = Field(description="This page's games.")


class LinePage(Page):
    """Lines, oldest first."""

    model_config = with_examples({"data": [LINE_EXAMPLE], "next_cursor": None})

    data: list[Line] = Field(description="This page's lines.")


class ConsensusPage(Page):
    """The consensus over time, oldest first."""

    model_config = with_examples({"data": [CONSENSUS_EXAMPLE], "next_cursor": None})

    data: list[Consensus] = Field(description="This page's consensus rows.")
