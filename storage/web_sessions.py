"""Dashboard sessions: one row per signed-in browser, which the signed cookie names (`web_sessions`)."""

from __future__ import annotations

from datetime import datetime

from storage.db import Database

__all__ = ["WebSessionRepository"]


class WebSessionRepository:
    """The ``web_sessions`` table; writes belong in a transaction. Ids and tiers are plain text."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, session_id: str, user_id: int, tier: str, at: datetime) -> None:
        await self._db.execute(
            "INSERT INTO web_sessions (id, user_id, tier, created_at, renewed_at) "
            "VALUES (:id, :user_id, :tier, :at, :at)",
            {"id": session_id, "user_id": str(user_id), "tier": tier, "at": at},
        )

    async def tier(self, session_id: str, user_id: int) -> str | None:
        """The tier session `session_id` of `user_id` was started or renewed with; None: no such session."""
        return await self._db.scalar(
            "SELECT tier FROM web_sessions WHERE id = :id AND user_id = :user_id",
            {"id": session_id, "user_id": str(user_id)},
        )

    async def renew(self, session_id: str, at: datetime) -> bool:
        result = await self._db.execute(
            "UPDATE web_sessions SET renewed_at = :at WHERE id = :id", {"at": at, "id": session_id}
        )
        return result.rowcount > 0

    async def delete(self, session_id: str) -> bool:
        result = await self._db.execute("DELETE FROM web_sessions WHERE id = :id", {"id": session_id})
        return result.rowcount > 0

    async def delete_other_tiers(self, user_id: int, tier: str) -> int:
        """End the member's sessions that hold a tier other than `tier`; how many there were."""
        result = await self._db.execute(
            "DELETE FROM web_sessions WHERE user_id = :user_id AND tier <> :tier",
            {"user_id": str(user_id), "tier": tier},
        )
        return result.rowcount

    async def delete_renewed_before(self, cutoff: datetime) -> int:
        """Forget sessions whose cookie has expired (last renewed before `cutoff`)."""
        result = await self._db.execute("DELETE FROM web_sessions WHERE renewed_at < :cutoff", {"cutoff": cutoff})
        return result.rowcount
