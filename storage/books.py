"""Books: the display name the feed gives each book key, kept apart from the quotes (which hold only keys)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from storage.codec import to_db
from storage.db import Database

__all__ = ["BookRepository"]

_UPSERT = """
INSERT INTO books (key, title, updated_at) VALUES (?, ?, ?)
ON CONFLICT (key) DO UPDATE SET title = excluded.title, updated_at = excluded.updated_at
"""


class BookRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def upsert_titles(self, titles: Mapping[str, str], now: datetime) -> None:
        """Store each key's latest title (a renamed book takes its new name)."""
        stamp = to_db(now)
        await self._db.conn.executemany(_UPSERT, [(key, title, stamp) for key, title in titles.items()])

    async def titles(self) -> dict[str, str]:
        """Every known key → title; a few dozen rows at most, so callers read them all at once."""
        async with self._db.conn.execute("SELECT key, title FROM books") as cur:
            return {row[0]: row[1] for row in await cur.fetchall()}
