"""The CLV record: graded signals and the signal-integrity audit."""

from __future__ import annotations

from api.http import LIMIT, Call, CursorParam, Operation, cursor_time, page
from api.schemas import ClvSummary, Grade, GradedSignal, GradePage, Signal
from services import grades as grade_service
from services import signals as signal_service


async def list_grades(call: Call) -> GradePage:
    p = call.params
    c = p["cursor"]
    rows = await grade_service.graded_signals(
        call.ctx, call.audience, limit=p["limit"] + 1, before=(cursor_time(c[0]), c[1]) if c else None
    )
    return page(
        GradePage,
        rows,
        p["limit"],
        "grades",
        lambda pair: [pair[1].graded_at.isoformat(), pair[1].signal_id],
        lambda pair: GradedSignal(signal=Signal.build(pair[0]), grade=Grade.build(pair[1])),
    )


async def clv_summary(call: Call) -> ClvSummary:
    return ClvSummary.build(await signal_service.audit(call.ctx))


ROUTES = (
    Operation(
        "GET",
        "/clv/grades",
        list_grades,
        "listGrades",
        "Graded signals, most recently graded first",
        GradePage,
        "clv",
        params=(
            LIMIT,
            CursorParam("cursor", "Opaque cursor from the previous page's `next_cursor`.", kind="grades", size=2),
        ),
        errors=(400,),
        cached=True,
    ),
    Operation(
        "GET",
        "/clv/summary",
        clv_summary,
        "getClvSummary",
        "The signal-integrity audit: per class, preset and score bucket, the beat rate against the "
        "no-vig close (Wilson 95%), its matched null, the lift interval, and the tier with its reason",
        ClvSummary,
        "clv",
        errors=(400,),
        cached=True,
    ),
)
