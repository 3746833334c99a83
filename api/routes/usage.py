"""This key's usage, limits and recent anomalies."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import Caller
from api.params import NoQuery
from api.route import PREFIX, ApiRoute, responses
from api.schemas import Usage

router = APIRouter(prefix=PREFIX, route_class=ApiRoute, tags=["usage"])

DESCRIPTION = (
    "Counts are per UTC minute. Every answered request with a valid key counts, except 429s (rejected by the "
    "rate limit); errors are the 4xx/5xx among them. Crossing 80% and 100% of the monthly soft limit records "
    "`soft_limit_80` / `soft_limit_100` once per month; beyond it requests still succeed with `X-Usage-Warning`. "
    "Counts are kept in memory and written to the database every 2 s: a server crash loses at most the last "
    "2 s of counts."
)


@router.get(
    "/usage",
    response_model=Usage,
    operation_id="getUsage",
    summary="This key's usage, limits and recent anomalies",
    description=DESCRIPTION,
    responses=responses(400),
)
async def usage(query: Annotated[NoQuery, Query()], call: Caller) -> Usage:
    report = await call.api.usage.report(call.key, call.limits, call.now)
    return Usage.build(call.key, call.limits, report, call.rate)
