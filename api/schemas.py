"""The REST API's contract: one pydantic model per resource and audience.

Every response body is built by one of these models (`Model.build(...)` from the services' records),
serialised by pydantic, and the OpenAPI document's `components/schemas` is generated from the same
models (`api.openapi`), so the served shape and the documented shape cannot differ. Webhook payloads
use the same models (`api.serialize`), so an endpoint and a webhook describe a signal identically.

Times are ISO-8601 UTC with a "Z". Probabilities are rounded to 6 decimals. Models forbid extra keys, so
a client may rely on `additionalProperties: false`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema

from access import PlanLimits, SignalView
from domain.api import ApiKey
from domain.api import WebhookEndpoint as WebhookEndpointRecord
from engine.models import BookLine, Market, Side, SignalType
from engine.models import Close as CloseRecord
from engine.models import Consensus as ConsensusRecord
from engine.models import Grade as GradeRecord
from engine.price_now import PriceNow
from storage import StoredGame

API_VERSION = "2026-11-01"

SCORE_MIN = 0
SCORE_MAX = 100
PAGE_LIMIT_DEFAULT = 50
PAGE_LIMIT_MAX = 200
#: Tiers an audit row can carry, best first, then "unproven" (the engine's TIER_ORDER).
TIERS = ("S", "A", "B", "unproven")
AUDIT_KINDS = ("class", "preset", "score")
ANOMALY_KINDS = ("soft_limit_80", "soft_limit_100", "rate_spike", "error_spike")


def iso(at: datetime | None) -> str | None:
    if at is None:
        return None
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


#: An aware instant, written as ISO-8601 UTC with a "Z".
Time = Annotated[
    datetime,
    PlainSerializer(_iso, return_type=str, when_used="always"),
    WithJsonSchema({"type": "string", "format": "date-time", "description": "ISO-8601 UTC, with a Z."}),
]
Prob = Annotated[float, Field(ge=0, le=1)]
Count = Annotated[int, Field(ge=0)]
Point = Annotated[float | None, Field(description="Home spread or total; null for moneyline.")]
GameStatus = Literal["scheduled", "closed"]  # storage's SCHEDULED, CLOSED


def _p(value: float) -> float:
    return round(value, 6)


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    def body(self) -> bytes:
        """The JSON bytes of this response (aliases applied)."""
        return self.__pydantic_serializer__.to_json(self, by_alias=True)

    def as_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


# ---------------------------------------------------------------------- errors


class ErrorBody(Model):
    code: str = Field(
        description="Stable machine-readable code: unauthorized, rate_limited, invalid_parameter, invalid_request, "
        "not_found, plan_limit_reached, plan_unavailable, raw_odds_not_licensed, method_not_allowed, unavailable, "
        "internal_error."
    )
    message: str
    parameter: str | None = Field(None, description="The query, path or body parameter at fault.")


class Error(Model):
    error: ErrorBody

    def body(self) -> bytes:
        return self.__pydantic_serializer__.to_json(self, by_alias=True, exclude_none=True)


# ---------------------------------------------------------------------- signals and grades


class Breakdown(Model):
    magnitude: Prob
    velocity: Prob
    breadth: Prob
    sharp: Prob
    time_to_tip: Prob


class Entry(Model):
    """Where the signal says to bet: one book's price at the signal's moment (derived, always served)."""

    book: str
    point: float | None
    price: int = Field(description="American price.")
    prob: Prob = Field(description="De-vigged probability of the side at that book.")


class ConsensusRef(Model):
    point: float | None
    prob: Prob


class Signal(Model):
    """A signal as API keys see it: real time, full diagnostics (access.ApiAudience)."""

    id: str
    type: SignalType
    game_id: str
    market: Market
    side: Side
    created_at: Time
    commence_time: Time
    score: int = Field(ge=SCORE_MIN, le=SCORE_MAX)
    breakdown: Breakdown
    books: list[str] = Field(description="Books involved, first mover first.")
    magnitude: float
    velocity: float | None = Field(description="Per minute; null where the type has none.")
    entry: Entry
    consensus: ConsensusRef
    details: dict[str, Any] = Field(description="Type-specific metadata (window, key number, gap, EV…).")
    ev_at_fire: float | None = Field(
        description=(
            "Expected value per unit staked of the entry's own price, vig included, against the no-vig "
            "consensus at the instant the signal fired (moneyline: decimal odds × fair probability − 1; spreads "
            "and totals: through the cover model at the consensus number). A DISLOCATION fires only when this "
            "is above dislocation.min_ev (0.005 by default); null for types that do not price their entry."
        )
    )

    @classmethod
    def build(cls, view: SignalView) -> Signal:
        """From `access.view_signal` for a full (unredacted) audience: the one way a signal is shaped."""
        if view.redacted:
            raise ValueError("the API serves unredacted views only")
        return cls(
            id=view.id,
            type=view.type,
            game_id=view.game_id,
            market=view.market,
            side=view.side,
            created_at=view.created_at,
            commence_time=view.commence_time,
            score=view.score,
            breakdown=Breakdown(**(view.breakdown or {})),
            books=list(view.books or ()),
            magnitude=view.magnitude,
            velocity=view.velocity,
            entry=Entry(
                book=view.entry_book or "",
                point=view.entry_point,
                price=view.entry_price,
                prob=_p(view.entry_prob or 0.0),
            ),
            consensus=ConsensusRef(point=view.consensus_point, prob=view.consensus_prob),
            details=dict(view.details or {}),
            ev_at_fire=view.ev_at_fire,
        )


class Grade(Model):
    signal_id: str
    graded_at: Time
    close_point: float | None
    close_prob: Prob
    clv_points: float | None
    clv_prob: float
    beat_close: bool
    push: bool
    consensus_clv_points: float | None
    consensus_clv_prob: float

    @classmethod
    def build(cls, grade: GradeRecord) -> Grade:
        return cls(
            signal_id=grade.signal_id,
            graded_at=grade.graded_at,
            close_point=grade.close_point,
            close_prob=_p(grade.close_prob),
            clv_points=grade.clv_points,
            clv_prob=grade.clv_prob,
            beat_close=grade.beat,
            push=grade.push,
            consensus_clv_points=grade.consensus_clv_points,
            consensus_clv_prob=grade.consensus_clv_prob,
        )


class SignalDetail(Signal):
    grade: Grade | None = Field(description="Null until the game closes.")


class BestPrice(Model):
    """The best price on a side at a moment, and its expected value against the fair (no-vig consensus) price
    of that moment (derived data: always served)."""

    book: str
    point: float | None = Field(description="The side's own number (away spread negated); null for moneyline.")
    price: int = Field(description="American price.")
    ev: float = Field(
        description="Expected profit per unit staked at this price and number against the fair price "
        "(moneyline: decimal × fair probability − 1; spreads and totals through the cover model)."
    )
    fair_point: float | None = Field(description="The consensus number as the side sees it.")
    fair_prob: Prob = Field(description="The side's no-vig consensus probability at `fair_point`.")
    fair_at: Time
    books: Count = Field(description="Books in that consensus.")

    @classmethod
    def build(cls, price: PriceNow) -> BestPrice:
        return cls(
            book=price.book or "",
            point=price.point,
            price=price.price,
            ev=round(price.ev, 6),
            fair_point=price.fair_point,
            fair_prob=_p(price.fair_prob),
            fair_at=price.at,
            books=price.books,
        )


class Move(Model):
    """The data of the `move.created` webhook: the signals of one poll on one game × market × side — what a
    Discord alert shows as one move — with the best price on that side then. Each signal is also sent on
    its own as `signal.created`."""

    id: str = Field(description="`mv_…`, a hash of game, market, side and the poll's time: the same on every repeat.")
    game_id: str
    market: Market
    side: Side
    created_at: Time = Field(description="The poll's time: every signal's `created_at`.")
    types: list[SignalType] = Field(description="The signal types that fired, each once.")
    score: int = Field(ge=SCORE_MIN, le=SCORE_MAX, description="The strongest signal's score.")
    best_price: BestPrice | None = Field(description="Null when no book quoted the side or there was no consensus.")
    signals: list[Signal]


class GradedSignal(Model):
    signal: Signal
    grade: Grade


# ---------------------------------------------------------------------- games, lines, consensus


class Game(Model):
    id: str
    sport: str
    home_team: str
    away_team: str
    commence_time: Time
    scheduled_tip: Time
    status: GameStatus

    @classmethod
    def fields_of(cls, stored: StoredGame) -> dict[str, Any]:
        game = stored.game
        return {
            "id": game.id,
            "sport": game.sport_key,
            "home_team": game.home_team,
            "away_team": game.away_team,
            "commence_time": game.commence_time,
            "scheduled_tip": stored.scheduled_tip,
            "status": stored.status,
        }

    @classmethod
    def build(cls, stored: StoredGame) -> Game:
        return cls(**cls.fields_of(stored))


class Close(Model):
    """A closing consensus line (derived: de-vigged over the books)."""

    market: Market
    captured_at: Time
    point: Point
    prob_a: Prob = Field(description="De-vigged probability of home / over.")
    books: Count

    @classmethod
    def build(cls, close: CloseRecord) -> Close:
        return cls(
            market=close.market,
            captured_at=close.captured_at,
            point=close.point,
            prob_a=_p(close.prob_a),
            books=close.books,
        )


class GameDetail(Game):
    closes: list[Close]


class Line(Model):
    """One book's raw line (the provider's data: served only where the licence allows)."""

    book: str
    market: Market
    point: float | None = Field(description="Home spread, the total, or null (moneyline).")
    price_a: int = Field(description="American price of home / over.")
    price_b: int = Field(description="American price of away / under.")
    last_update: Time
    observed_at: Time

    @classmethod
    def build(cls, line: BookLine) -> Line:
        return cls(
            book=line.book,
            market=line.market,
            point=line.point,
            price_a=line.price_a,
            price_b=line.price_b,
            last_update=line.last_update,
            observed_at=line.observed_at,
        )


class GameOdds(Model):
    game_id: str
    status: GameStatus
    as_of: Time | None = Field(description="Newest observation among the lines.")
    lines: list[Line]


class Consensus(Model):
    """The de-vigged consensus over the books at one moment (derived, always served)."""

    market: Market
    at: Time
    point: Point
    prob_a: Prob = Field(description="De-vigged probability of home / over.")
    books: Count

    @classmethod
    def build(cls, consensus: ConsensusRecord) -> Consensus:
        return cls(
            market=consensus.market,
            at=consensus.at,
            point=consensus.point,
            prob_a=_p(consensus.prob_a),
            books=consensus.books,
        )


# ---------------------------------------------------------------------- the CLV summary


Rate = Annotated[float | None, Field(ge=0, le=1)]
Lift = Annotated[float | None, Field(ge=-1, le=1)]


class Record(Model):
    wins: Count
    losses: Count
    pushes: Count


class ForwardRecord(Model):
    """A class's record since its current alert state was reached (`engine.audit.ForwardRecord.as_dict()`):
    its signals fired after `state_since`, graded, with the same null and bootstrap as the whole record."""

    graded: Count = Field(description="Signals of the class fired since the state was reached, graded.")
    beat_rate: Rate = Field(description="beats / graded; null when nothing is graded.")
    null_rate: Rate = Field(description="Beat rate of their matched null.")
    lift: Lift = Field(description="beat_rate − null_rate.")
    lift_low: Lift = Field(description="95% interval of the lift, bootstrapped over whole games.")
    lift_high: Lift


class ClassAudit(Model):
    """One audit row, exactly `engine.audit.ClassAudit.as_dict()`."""

    class_: str = Field(
        alias="class",
        description='A class ("STEAM:spreads"), a preset ("preset:low_noise") or a score bucket ("score:55-69").',
    )
    kind: Literal["class", "preset", "score"]
    graded: Count
    beats: Count
    pushes: Count
    ungraded: Count = Field(description="Signals with no close to grade against yet.")
    beat_rate: Rate = Field(description="beats / graded; null when nothing is graded.")
    wilson_low: Rate = Field(description="Wilson 95% interval of the beat rate; null when nothing is graded.")
    wilson_high: Rate
    null_graded: Count = Field(description="Graded draws of the matched null.")
    null_rate: Rate = Field(description="Beat rate of the matched null (random side, same time to tip).")
    lift: Lift = Field(description="beat_rate − null_rate.")
    lift_low: Lift = Field(description="95% interval of the lift, bootstrapped over whole games.")
    lift_high: Lift
    opposite_rate: Rate = Field(description="Beat rate of the opposite side at the same instants.")
    mean_clv: float | None = Field(description="Mean expected value per unit at the close.")
    mean_clv_points: float | None = Field(description="Mean CLV in points (spreads, totals).")
    record: Record | None = Field(description="Against the final results; null where not kept.")
    tier: Literal["S", "A", "B", "unproven"]
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

    close_source: str = Field(description="What the signals were graded against.")
    signals_by_type: dict[SignalType, Count]
    signals_total: Count
    graded: Count = Field(description="Graded signals over the classes (type × market).")
    ungraded: Count = Field(description="Signals over the classes with no close yet.")
    method: dict[str, Any] = Field(description="How the audit was computed (null model, bootstrap, tier rules…).")
    classes: list[ClassAudit] = Field(description='Every row: kind "class" first, then "preset", then "score".')

    @classmethod
    def build(cls, report: Any) -> ClvSummary:
        return cls.model_validate(report.as_dict())


# ---------------------------------------------------------------------- usage


class KeyInfo(Model):
    id: str
    owner: str
    plan: str


class PlanInfo(Model):
    plan: str
    label: str
    requests_per_minute: int
    webhooks: int
    monthly_soft_limit: int = Field(description="0 = none.")
    commercial_use: bool
    dedicated_queue: bool

    @classmethod
    def build(cls, limits: PlanLimits) -> PlanInfo:
        return cls(
            plan=limits.plan,
            label=limits.label,
            requests_per_minute=limits.requests_per_minute,
            webhooks=limits.webhooks,
            monthly_soft_limit=limits.monthly_soft_limit,
            commercial_use=limits.commercial_use,
            dedicated_queue=limits.dedicated_queue,
        )


class MinuteCounts(Model):
    requests: Count
    errors: Count


class UsageCounts(Model):
    minute: str = Field(description='UTC minute, "YYYY-MM-DDTHH:MM".')
    this_minute: MinuteCounts
    today: Count
    this_month: Count
    monthly_soft_limit: int
    monthly_remaining: int | None = Field(description="Null when there is no limit.")
    over_soft_limit: bool


class RateLimitInfo(Model):
    limit: int
    remaining: int
    reset: int


class AnomalyOut(Model):
    kind: Literal["soft_limit_80", "soft_limit_100", "rate_spike", "error_spike"]
    detail: str
    at: Time


class Usage(Model):
    key: KeyInfo
    plan: PlanInfo
    usage: UsageCounts
    rate_limit: RateLimitInfo
    anomalies: list[AnomalyOut]

    @classmethod
    def build(cls, key: ApiKey, limits: PlanLimits, report: Any, rate: Any) -> Usage:
        """Counts include the request being answered (it is counted once it is sent)."""
        month = report.month + 1
        soft = limits.monthly_soft_limit
        return cls(
            key=KeyInfo(id=key.id, owner=key.owner, plan=key.plan),
            plan=PlanInfo.build(limits),
            usage=UsageCounts(
                minute=report.minute,
                this_minute=MinuteCounts(requests=report.minute_requests + 1, errors=report.minute_errors),
                today=report.today + 1,
                this_month=month,
                monthly_soft_limit=soft,
                monthly_remaining=None if soft <= 0 else max(0, soft - month),
                over_soft_limit=0 < soft < month,
            ),
            rate_limit=RateLimitInfo(limit=rate.limit, remaining=rate.remaining, reset=rate.reset),
            anomalies=[AnomalyOut(kind=a.kind, detail=a.detail, at=a.at) for a in report.anomalies],
        )


# ---------------------------------------------------------------------- webhooks


class WebhookEndpoint(Model):
    """A webhook endpoint without its secrets (they are shown once, at creation or rotation)."""

    id: str
    url: str = Field(json_schema_extra={"format": "uri"})
    events: list[str]
    created_at: Time
    disabled_at: Time | None
    disabled_reason: str | None
    previous_secret_expires_at: Time | None = Field(
        description="After a rotation the old secret still signs until then."
    )

    @classmethod
    def fields_of(cls, endpoint: WebhookEndpointRecord) -> dict[str, Any]:
        return {
            "id": endpoint.id,
            "url": endpoint.url,
            "events": list(endpoint.events),
            "created_at": endpoint.created_at,
            "disabled_at": endpoint.disabled_at,
            "disabled_reason": endpoint.disabled_reason,
            "previous_secret_expires_at": endpoint.old_secret_until,
        }

    @classmethod
    def build(cls, endpoint: WebhookEndpointRecord) -> WebhookEndpoint:
        return cls(**cls.fields_of(endpoint))


class WebhookEndpointCreated(WebhookEndpoint):
    secret: str = Field(description="Shown once: store it now.")


class WebhookEndpointList(Model):
    data: list[WebhookEndpoint]


class WebhookSecret(Model):
    endpoint_id: str
    secret: str


class WebhookTest(Model):
    endpoint_id: str
    delivery_id: str | None


class WebhookCreate(Model):
    """The body of `POST /v1/webhooks`."""

    url: str = Field(min_length=1, description="Public https:// URL.", json_schema_extra={"format": "uri"})
    events: list[str] | None = Field(
        None,
        description="Event types to receive, omitted means every one: `signal.created` (data: Signal), "
        "`move.created` (data: Move — one poll's signals on one game × market × side, as one Discord alert), "
        "`clv.graded` (data: `{signal, grade}`), `usage.anomaly` (the key's own).",
    )


# ---------------------------------------------------------------------- pages


class Page(Model):
    """`data` and the opaque `next_cursor` (null on the last page)."""

    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


class SignalPage(Page):
    data: list[Signal]


class GradePage(Page):
    data: list[GradedSignal]


class GamePage(Page):
    data: list[Game]


class LinePage(Page):
    data: list[Line]


class ConsensusPage(Page):
    data: list[Consensus]


#: Every model the document lists under components/schemas (requests and responses).
COMPONENTS: tuple[type[Model], ...] = (
    Error,
    Signal,
    SignalDetail,
    BestPrice,
    Move,
    Grade,
    GradedSignal,
    Game,
    GameDetail,
    Close,
    Line,
    GameOdds,
    Consensus,
    ClassAudit,
    ClvSummary,
    ForwardRecord,
    Usage,
    WebhookEndpoint,
    WebhookEndpointCreated,
    WebhookEndpointList,
    WebhookSecret,
    WebhookTest,
    WebhookCreate,
    SignalPage,
    GradePage,
    GamePage,
    LinePage,
    ConsensusPage,
)
