"""This key's usage, limits and recent anomalies."""

from __future__ import annotations

from api.http import Call, Operation
from api.schemas import Usage

DESCRIPTION = (
    "Counts are per UTC minute. Every answered request with a valid key counts, except 429s (rejected by the "
    "rate limit); errors are the 4xx/5xx among them. Crossing 80% and 100% of the monthly soft limit records "
    "`soft_limit_80` / `soft_limit_100` once per month; beyond it requests still succeed with `X-Usage-Warning`. "
    "Counts are kept in memory and written to the database every 2 s: a server crash loses at most the last "
    "2 s of counts."
)


async def usage(call: Call) -> Usage:
    report = await call.ctx.usage.report(call.key, call.limits, call.now)
    return Usage.build(call.key, call.limits, report, call.rate)


ROUTES = (
    Operation(
        "GET",
        "/usage",
        usage,
        "getUsage",
        "This key's usage, limits and recent anomalies",
        Usage,
        "usage",
        errors=(400,),
        description=DESCRIPTION,
    ),
)
