"""The CLV record: graded signals and the signal-integrity audit."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import Field

from api.deps import Caller
from api.params import CURSOR, NoQuery, PageQuery, cursor, page, parse_instant
from api.route import PREFIX, ApiRoute, cached, responses
from api.schemas import ClvSummary, Grade, GradedSignal, GradePage, Signal
from services import grades as grade_service
from services import signals as signal_service

router = APIRouter(prefix=PREFIX, route_class=ApiRoute, tags=["clv"])


GradeCursor = cursor("grades", parse_instant, str, example=["2026-08-05T23:00:48+00:00", "d9a0b499b2f7d7f0cc7f"])


class GradeQuery(PageQuery):
    cursor: GradeCursor | None = Field(None, description=CURSOR)


@router.get(
    "/clv/grades",
    response_model=GradePage,
    operation_id="listGrades",
    summary="Graded signals, most recently graded first",
    responses=responses(400),
)
@cached
async def list_grades(query: Annotated[GradeQuery, Query()], call: Caller) -> GradePage:
    rows = await grade_service.graded_signals(call.ctx, call.audience, limit=query.limit + 1, before=query.cursor)
    shown, more = page(rows, query.limit, "grades", lambda pair: [pair[1].graded_at.isoformat(), pair[1].signal_id])
    data = [
        GradedSignal(signal=Signal.model_validate(view), grade=Grade.model_validate(grade)) for view, grade in shown
    ]
    return GradePage(data=data, next_cursor=more)


@router.get(
    "/clv/summary",
    response_model=ClvSummary,
    operation_id="getClvSummary",
    summary="The signal-integrity audit: per class, preset and score bucket, the beat rate against the "
    "no-vig close (Wilson 95%), its matched null, the lift interval, and the tier with its reason",
    responses=responses(400),
)
@cached
async def clv_summary(query: Annotated[NoQuery, Query()], call: Caller) -> ClvSummary:
    return ClvSummary.build(await signal_service.audit(call.ctx))
