"""The outbox: every owed delivery (an alert to a channel, a DM, a digest) is written here before it is
attempted and marked when done, so a restart or an outage delays deliveries but loses none, and the
unique `dedupe_key` means the same delivery is never queued twice."""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from storage.codec import from_db, from_db_opt, json_dumps, json_loads, to_db
from storage.db import Database

__all__ = ["OutboxItem", "OutboxRepository"]

_COLUMNS = (
    "id, dedupe_key, kind, guild_id, target_id, payload, created_at, attempts, next_attempt_at, "
    "sent_at, failed_at, last_error"
)


@dataclass(frozen=True, slots=True)
class OutboxItem:
    id: int
    dedupe_key: str
    kind: str
    guild_id: int
    target_id: int
    payload: dict[str, Any]
    created_at: datetime
    attempts: int
    next_attempt_at: datetime
    sent_at: datetime | None
    failed_at: datetime | None
    last_error: str | None


def _item(row) -> OutboxItem:
    return OutboxItem(
        id=int(row["id"]),
        dedupe_key=row["dedupe_key"],
        kind=row["kind"],
        guild_id=int(row["guild_id"]),
        target_id=int(row["target_id"]),
        payload=json_loads(row["payload"]),
        created_at=from_db(row["created_at"]),
        attempts=int(row["attempts"]),
        next_attempt_at=from_db(row["next_attempt_at"]),
        sent_at=from_db_opt(row["sent_at"]),
        failed_at=from_db_opt(row["failed_at"]),
        last_error=row["last_error"],
    )


class OutboxRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def enqueue(
        self, dedupe_key: str, kind: str, guild_id: int, target_id: int, payload: dict[str, Any], at: datetime
    ) -> bool:
        """Queue a delivery unless the same one (by key) was ever queued; True if new."""
        async with self._db.conn.execute(
            "INSERT INTO outbox (dedupe_key, kind, guild_id, target_id, payload, created_at, next_attempt_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (dedupe_key) DO NOTHING",
            (dedupe_key, kind, str(guild_id), str(target_id), json_dumps(payload), to_db(at), to_db(at)),
        ) as cur:
            return cur.rowcount > 0

    async def due(self, now: datetime, limit: int = 50) -> builtins.list[OutboxItem]:
        """Pending deliveries whose time has come, oldest first."""
        async with self._db.conn.execute(
            f"SELECT {_COLUMNS} FROM outbox WHERE sent_at IS NULL AND failed_at IS NULL "  # noqa: S608
            "AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?",
            (to_db(now), limit),
        ) as cur:
            return [_item(row) for row in await cur.fetchall()]

    async def pending(self) -> builtins.list[OutboxItem]:
        async with self._db.conn.execute(
            f"SELECT {_COLUMNS} FROM outbox WHERE sent_at IS NULL AND failed_at IS NULL ORDER BY id"  # noqa: S608
        ) as cur:
            return [_item(row) for row in await cur.fetchall()]

    async def all(self) -> builtins.list[OutboxItem]:
        async with self._db.conn.execute(f"SELECT {_COLUMNS} FROM outbox ORDER BY id") as cur:  # noqa: S608
            return [_item(row) for row in await cur.fetchall()]

    async def mark_sent(self, item_id: int, at: datetime) -> None:
        await self._db.conn.execute(
            "UPDATE outbox SET sent_at = ?, attempts = attempts + 1 WHERE id = ?", (to_db(at), item_id)
        )

    async def retry_later(self, item_id: int, error: str, next_attempt_at: datetime) -> None:
        await self._db.conn.execute(
            "UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? WHERE id = ?",
            (error[:500], to_db(next_attempt_at), item_id),
        )

    async def give_up(self, item_id: int, error: str, at: datetime) -> None:
        await self._db.conn.execute(
            "UPDATE outbox SET attempts = attempts + 1, last_error = ?, failed_at = ? WHERE id = ?",
            (error[:500], to_db(at), item_id),
        )
