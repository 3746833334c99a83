"""Named cursors: where a job that walks forward in time (the Community digest) got to."""

from __future__ import annotations

from datetime import datetime

from storage.codec import from_db, to_db
from storage.db import Database

__all__ = ["CursorRepository"]


class CursorRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, name: str) -> datetime | None:
        value = await self._db.scalar("SELECT value FROM cursors WHERE name = :name", {"name": name})
        return None if value is None else from_db(value)

    async def set(self, name: str, value: datetime, now: datetime) -> None:
        # `value` is a TEXT column on both backends (a job's position, any text): stored as the codec's text.
        await self._db.execute(
            "INSERT INTO cursors (name, value, updated_at) VALUES (:name, :value, :now) "
            "ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            {"name": name, "value": to_db(value), "now": now},
        )

    async def delete(self, name: str) -> bool:
        result = await self._db.execute("DELETE FROM cursors WHERE name = :name", {"name": name})
        return result.rowcount > 0
