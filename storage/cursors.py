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
        async with self._db.conn.execute("SELECT value FROM cursors WHERE name = ?", (name,)) as cur:
            row = await cur.fetchone()
        return from_db(row[0]) if row else None

    async def set(self, name: str, value: datetime, now: datetime) -> None:
        await self._db.conn.execute(
            "INSERT INTO cursors (name, value, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            (name, to_db(value), to_db(now)),
        )

    async def delete(self, name: str) -> bool:
        async with self._db.conn.execute("DELETE FROM cursors WHERE name = ?", (name,)) as cur:
            return cur.rowcount > 0
