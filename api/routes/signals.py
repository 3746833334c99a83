"""Signals, newest first, as API keys see them (access.ApiAudience: real time, full diagnostics).

No `from __future__ import annotations` here: the list's query model is made per deployment (the `preset`
choices are the deployment's presets, `signal_query`) and its handler is declared inside `router`, whose
annotations FastAPI must read as objects, not as names to look up in this module."""

from collections.abc import Sequence
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import Field, create_model, model_validator

from api.deps import Caller
from api.params import CURSOR, Instant, NoQuery, PageQuery, cursor, integer, page, parse_instant, refuse
from api.route import PREFIX, ApiRoute, cached, responses
from api.schemas import SCORE_MAX, SCORE_MIN, Grade, Signal, SignalDetail, SignalPage
from engine.models import Market, SignalType
from services import signals as signal_service

AUDIENCE = (
    "Every API plan sees signals in real time with full diagnostics (exact score and breakdown, velocity, "
    "magnitude, books, details) and the entry — the book, point and price to take. A signal is derived data "
    "and is always served, whatever the operator's raw-odds licence. Every number in a signal is its side's "
    "own (see the `Signal` schema)."
)


SignalCursor = cursor("signals", parse_instant, str, example=["2026-08-05T23:00:48+00:00", "d9a0b499b2f7d7f0cc7f"])
Score = integer(SCORE_MIN, SCORE_MAX)


class SignalQuery(PageQuery):
    since: Instant | None = Field(
        None,
        description="Only signals created at or after this instant (RFC 3339, with Z or an offset).",
        examples=["2026-08-05T18:00:00Z"],
    )
    until: Instant | None = Field(
        None,
        description="Only signals created before this instant (RFC 3339, with Z or an offset).",
        examples=["2026-08-06T00:00:00-04:00"],
    )
    type: SignalType | None = Field(None, description="Only this type.", examples=["STEAM"])
    game: str | None = Field(
        None, max_length=200, description="Only this game's signals.", examples=["80bb6c471358f70e96b4571c4470ac0a"]
    )
    market: Market | None = Field(None, description="Only this market.", examples=["spreads"])
    preset: str | None = Field(None, description="Only signals passing this quality preset.")
    min_score: Score | None = Field(None, description="Only signals scoring at least this.", examples=[60])
    cursor: SignalCursor | None = Field(None, description=CURSOR)

    @model_validator(mode="after")
    def _window(self) -> "SignalQuery":
        if self.since is not None and self.until is not None and self.until <= self.since:
            raise refuse("“until” must be later than “since”.", parameter="until")
        return self


def signal_query(presets: Sequence[str]) -> type[SignalQuery]:
    """The list's parameters with `preset` one of this deployment's presets (so the document lists them)."""
    names = tuple(presets)
    choice: Any = Literal[names] if names else None  # type: ignore[valid-type]
    field = Field(None, description="Only signals passing this quality preset.", examples=list(names[:1]))
    return create_model("SignalQuery", __base__=SignalQuery, preset=(choice | None, field))


SignalId = Annotated[str, Path(description="A signal id.", examples=["d9a0b499b2f7d7f0cc7f"])]


@cached
async def get_signal(signal_id: SignalId, query: Annotated[NoQuery, Query()], call: Caller) -> SignalDetail:
    view, grade = await signal_service.api_signal(call.ctx, call.audience, signal_id)
    return SignalDetail(
        **dict(Signal.model_validate(view)), grade=None if grade is None else Grade.model_validate(grade)
    )


def router(presets: Sequence[str]) -> APIRouter:
    """The signals' routes for a deployment with these presets."""
    signals = APIRouter(prefix=PREFIX, route_class=ApiRoute, tags=["signals"])
    Params = signal_query(presets)

    @signals.get(
        "/signals",
        response_model=SignalPage,
        operation_id="listSignals",
        summary="Signals, newest first, with full diagnostics",
        description=AUDIENCE,
        responses=responses(400),
    )
    @cached
    async def list_signals(query: Annotated[Params, Query()], call: Caller) -> SignalPage:
        views = await signal_service.api_signals(
            call.ctx,
            call.audience,
            since=query.since,
            until=query.until,
            game_id=query.game,
            kind=query.type,
            market=query.market,
            preset=query.preset,
            min_score=query.min_score,
            limit=query.limit + 1,
            before=query.cursor,
        )
        shown, more = page(views, query.limit, "signals", lambda v: [v.created_at.isoformat(), v.id])
        return SignalPage(data=[Signal.model_validate(v) for v in shown], next_cursor=more)

    signals.add_api_route(
        "/signals/{signal_id}",
        get_signal,
        methods=["GET"],
        response_model=SignalDetail,
        operation_id="getSignal",
        summary="One signal with its CLV grade once graded",
        description=AUDIENCE,
        responses=responses(400, 404),
    )
    return signals
