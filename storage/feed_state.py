"""Feed state: where each odds source stands, so a restart resumes instead of starting over.

`cursor` is the time of the last snapshot processed (the replay skips up to it; the live feed uses it
for gap reporting) and the quota is the provider's last credit headers (the poll cadence budgets
against them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from engine.models import Quota
from storage.codec import from_db, from_db_opt, json_dumps, json_loads, to_db_opt
from storage.db import Database

__all__ = ["FeedState", "FeedStateRepository"]

_SAVE = """
INSERT INTO feed_state (source, cursor, quota_remaining, quota_used, quota_last, updated_at, recent_gaps)
VALUES (:source, :cursor, :quota_remaining, :quota_used, :quota_last, :now, :recent_gaps)
ON CONFLICT (source) DO UPDATE SET
    cursor = excluded.cursor,
    quota_remaining = excluded.quota_remaining,
    quota_used = excluded.quota_used,
    quota_last = excluded.quota_last,
    updated_at = excluded.updated_at,
    recent_gaps = excluded.recent_gaps
"""


@dataclass(frozen=True, slots=True)
class FeedState:
    source: str
    cursor: datetime | None
    quota: Quota | None
    updated_at: datetime
    recent_gaps: tuple[float, ...] = ()


class FeedStateRepository:
    """The ``feed_state`` table; writes belong inside ``db.transaction()``."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, source: str) -> FeedState | None:
        row = await self._db.fetch_one(
            "SELECT source, cursor, quota_remaining, quota_used, quota_last, updated_at, recent_gaps "
            "FROM feed_state WHERE source = :source",
            {"source": source},
        )
        if row is None:
            return None
        remaining, used, last = row.quota_remaining, row.quota_used, row.quota_last
        # A quota with no figure at all is stored as three NULLs and read back as None.
        quota = None if remaining is None and used is None and last is None else Quota(remaining, used, last)
        return FeedState(
            source=row.source,
            cursor=from_db_opt(row.cursor),
            quota=quota,
            updated_at=from_db(row.updated_at),
            recent_gaps=tuple(float(gap) for gap in json_loads(row.recent_gaps)),
        )

    async def save(
        self,
        source: str,
        cursor: datetime | None,
        quota: Quota | None,
        now: datetime,
        recent_gaps: Sequence[float] = (),
    ) -> None:
        """Replace the source's state (the quota too: None clears it, e.g. for the replay)."""
        # `cursor` is a TEXT column on both backends (a source's opaque position): stored as the codec's text.
        params = {
            "source": source,
            "cursor": to_db_opt(cursor),
            "quota_remaining": None if quota is None else quota.remaining,
            "quota_used": None if quota is None else quota.used,
            "quota_last": None if quota is None else quota.last,
            "now": now,
            "recent_gaps": json_dumps([float(gap) for gap in recent_gaps]),
        }
        await self._db.execute(_SAVE, params)
