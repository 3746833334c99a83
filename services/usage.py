"""The API's usage counters and anomalies in storage: batched counts, per-key totals, anomalies.

`api.usage.UsageRecorder` keeps the live counts in memory and writes them here in batches."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from storage import Repositories


async def add_counts(repos: Repositories, counts: Iterable[tuple[str, str, int, int]]) -> None:
    """(key id, minute, requests, errors) rows added to the counters, in one transaction: bookkeeping,
    which leaves the data version (and so the API's cached answers) as it was."""
    rows = list(counts)
    if not rows:
        return
    async with repos.db.transaction(bookkeeping=True):
        for key_id, minute, requests, errors in rows:
            await repos.api.add_usage(key_id, minute, requests, errors)


async def recent_minutes(repos: Repositories, key_id: str, since_minute: str) -> list[tuple[str, int, int]]:
    return await repos.api.usage_since(key_id, since_minute)


async def requests_in(repos: Repositories, key_id: str, start: str, end: str) -> int:
    return await repos.api.requests_in(key_id, start, end)


async def record_anomaly(repos: Repositories, key_id: str, kind: str, detail: str, at: datetime, dedupe: str) -> bool:
    """True if newly recorded (the dedupe key makes a repeat, even from another process, a no-op)."""
    async with repos.db.transaction(bookkeeping=True):
        return await repos.api.record_anomaly(key_id, kind, detail, at, dedupe)


async def anomalies(repos: Repositories, key_id: str, limit: int = 20) -> list[dict[str, Any]]:
    return await repos.api.anomalies(key_id, limit=limit)
