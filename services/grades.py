"""Graded signals: the CLV record of every signal, most recently graded first."""

from __future__ import annotations

from datetime import datetime

import access
from access import SignalView
from engine.models import Grade
from services.context import ServiceContext


async def graded_signals(
    ctx: ServiceContext,
    audience: access.ApiAudience,
    *,
    limit: int = 50,
    before: tuple[datetime, str] | None = None,
) -> list[tuple[SignalView, Grade]]:
    """Graded signals by (graded_at, signal_id) descending, strictly older than the cursor `before`: only
    grades made at or before the audience's horizon (`access.visible_grade`; the bound is also the query's,
    so a page is never cut short by the rule)."""
    now = ctx.clock()
    horizon = access.api_horizon(audience, now)
    rows = await ctx.repos.grades.list(until=horizon, limit=limit, before=before)
    return [
        (access.view_signal_for(s, audience), g)
        for s, g in rows
        if access.api_can_see(s, audience, now) and access.visible_grade(g, horizon) is not None
    ]
