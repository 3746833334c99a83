"""Dashboard sessions: one row per signed-in browser, which the signed cookie names (`web_sessions`)."""

from __future__ import annotations

from datetime import datetime

from storage.codec import to_db
from storage.db import Database

__all__ = ["WebSessionRepository"]


class WebSessionRepository:
    """The ``web_sessions`` table; writes belong in a transaction. Ids and tiers are plain text."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, session_id: str, user_id: int, tier: str, at: datetime) -> None:
        await self._db.conn.execute(
            "INSERT INTO web_sessions (id, user_id, tier, created_at, renewed_at) VALUES (?, ?, ?, ?, ?)",
            (session_id, str(user_id), tier, to_db(at), to_db(at)),
        )

    async def tier(self, session_id: str, user_id: int) -> str | None:
        """The tier session `session_id` of `user_id` was started or renewed with; None: no such session."""
        async with self._db.conn.execute(
            "SELECT tier FROM web_sessions WHERE id = ? AND user_id = ?", (session_id, str(user_id))
        ) as cur:
            row = await cur.fetchone()
        return row[0] if row else None

    async def renew(self, session_id: str, at: datetime) -> bool:
        async with self._db.conn.execute(
            "UPDATE web_sessions SET renewed_at = ? WHERE id = ?", (to_db(at), session_id)
        ) as cur:
            return cur.rowcount > 0

    async def delete(self, session_id: str) -> bool:
        async with self._db.conn.execute("DELETE FROM web_sessions WHERE id = ?", (session_id,)) as cur:
            return cur.rowcount > 0

    async def delete_other_tiers(self, user_id: int, tier: str) -> int:
        """End the member's sessions that hold a tier other than `tier`; how many there were."""
        async with self._db.conn.execute(
            "DELETE FROM web_sessions WHERE user_id = ? AND tier <> ?", (str(user_id), tier)
        ) as cur:
            return cur.rowcount

    async def delete_renewed_before(self, cutoff: datetime) -> int:
        """Forget sessions whose cookie has expired (last renewed before `cutoff`)."""
        async with self._db.conn.execute("DELETE FROM web_sessions WHERE renewed_at < ?", (to_db(cutoff),)) as cur:
            return cur.rowcount
