"""Books: the display name the feed gives each book key, kept apart from the quotes (which hold only keys)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from storage.db import Database

__all__ = ["BookRepository"]

_UPSERT = """
INSERT INTO books (key, title, updated_at) VALUES (:key, :title, :now)
ON CONFLICT (key) DO UPDATE SET title = excluded.title, updated_at = excluded.updated_at
"""


class BookRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def upsert_titles(self, titles: Mapping[str, str], now: datetime) -> None:
        """Store each key's latest title (a renamed book takes its new name)."""
        rows = [{"key": key, "title": title, "now": now} for key, title in titles.items()]
        if rows:
            await self._db.execute_many(_UPSERT, rows)

    async def titles(self) -> dict[str, str]:
        """Every known key → title; a few dozen rows at most, so callers read them all at once."""
        return {row.key: row.title for row in await self._db.fetch_all("SELECT key, title FROM books")}
