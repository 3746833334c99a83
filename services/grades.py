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
    """Graded signals by (graded_at, signal_id) descending, strictly older than the cursor `before`."""
    now = ctx.clock()
    rows = await ctx.repos.grades.list(limit=limit, before=before)
    return [(access.view_signal_for(s, audience), g) for s, g in rows if access.api_can_see(s, audience, now)]
