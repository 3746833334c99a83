"""The one outbox: every owed delivery — a Discord alert, DM, digest, mod-log or operator post, a partner
webhook — is a row here, written (with ``INSERT ... ON CONFLICT DO NOTHING`` on its idempotency key
``event:subject:target``) in the transaction of the event it comes from, and marked when it was sent or
given up. A restart resumes what is owed; a repeat carries the same `msg_id`.

Rows are read in `id` order per target (a channel, a member's DMs, a webhook endpoint): `due` leaves out
every row of a target whose older row is still waiting for its retry, so one target's messages never
overtake each other.
"""

from __future__ import annotations

import builtins
import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from storage.codec import from_db, from_db_opt, json_dumps, json_loads, to_db
from storage.db import Database

__all__ = ["DISCORD_QUEUE", "GUILD_POST", "SHARED_QUEUE", "OutboxItem", "OutboxRepository", "msg_id_for", "outbox_key"]

DISCORD_QUEUE = "discord"
SHARED_QUEUE = "shared"
#: The kind of a post to a server whose channel (or owner DM) is chosen at send time (`enqueue_guild_post`).
GUILD_POST = "guild_post"
_PENDING = "sent_at IS NULL AND failed_at IS NULL"
_COLUMNS = (
    "id, key, msg_id, kind, target, queue, payload, created_at, attempts, next_attempt_at, sent_at, failed_at, "
    "last_status, last_error"
)
#: Payload keys of secrets (an API key sent by DM): dropped from the row once it was sent or given up.
SENSITIVE = "sensitive"


def outbox_key(event: str, subject: str, target: str) -> str:
    """The idempotency key: ``event:subject:target``, e.g. ``signal.created:<id>:webhook:<endpoint>``."""
    return f"{event}:{subject}:{target}"


def msg_id_for(key: str) -> str:
    """A stable message id derived from the key (the webhook-id header, the Discord nonce)."""
    return "msg_" + hashlib.sha256(key.encode()).hexdigest()[:24]


@dataclass(frozen=True, slots=True)
class OutboxItem:
    id: int
    key: str
    msg_id: str
    kind: str
    target: str
    queue: str
    payload: dict[str, Any]
    created_at: datetime
    attempts: int
    next_attempt_at: datetime
    sent_at: datetime | None = None
    failed_at: datetime | None = None
    last_status: int | None = None
    last_error: str | None = None

    @property
    def dedupe_key(self) -> str:  # the name of 0003's column
        return self.key

    @property
    def pending(self) -> bool:
        return self.sent_at is None and self.failed_at is None


def _item(row) -> OutboxItem:
    return OutboxItem(
        id=int(row[0]),
        key=row[1],
        msg_id=row[2],
        kind=row[3],
        target=row[4],
        queue=row[5],
        payload=json_loads(row[6]),
        created_at=from_db(row[7]),
        attempts=int(row[8]),
        next_attempt_at=from_db(row[9]),
        sent_at=from_db_opt(row[10]),
        failed_at=from_db_opt(row[11]),
        last_status=row[12],
        last_error=row[13],
    )


class OutboxRepository:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._listeners: list[Callable[[str], None]] = []

    def listen(self, callback: Callable[[str], None]) -> None:
        """Call `callback(queue)` whenever a row is queued (in-process wake-up of the worker; the worker reads
        inside a transaction, so it only ever sees the row once the enqueuing transaction committed)."""
        self._listeners.append(callback)

    def unlisten(self, callback: Callable[[str], None]) -> None:
        if callback in self._listeners:
            self._listeners.remove(callback)

    async def enqueue(
        self,
        key: str,
        kind: str,
        target: str,
        payload: dict[str, Any],
        at: datetime,
        *,
        queue: str = DISCORD_QUEUE,
        msg_id: str | None = None,
    ) -> bool:
        """Queue a delivery unless one with the same key was ever queued; True if new. Call it inside the
        transaction of the event the delivery comes from."""
        async with self._db.conn.execute(
            "INSERT INTO outbox (key, msg_id, kind, target, queue, payload, created_at, next_attempt_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING",
            (key, msg_id or msg_id_for(key), kind, target, queue, json_dumps(payload), to_db(at), to_db(at)),
        ) as cur:
            new = cur.rowcount > 0
        if new:
            for listener in builtins.list(self._listeners):
                listener(queue)
        return new

    async def enqueue_dm(
        self,
        event: str,
        subject: str,
        user_id: int,
        text: str,
        at: datetime,
        *,
        guild_id: int | None = None,
        sensitive: bool = False,
    ) -> bool:
        """A plain-text DM to a member (billing, API keys, anomalies), keyed ``event:subject:dm:<user>``.
        `sensitive` (a secret in the text): the text is dropped from the row once sent or given up."""
        payload: dict[str, Any] = {"user_id": user_id, "text": text, "guild_id": guild_id}
        if sensitive:
            payload[SENSITIVE] = True
        return await self.enqueue(outbox_key(event, subject, f"dm:{user_id}"), "dm", f"user:{user_id}", payload, at)

    async def enqueue_post(self, event: str, subject: str, channel_id: int, text: str, at: datetime) -> bool:
        """A plain-text post to a channel (the mod-log, the operators' channel): ``event:subject:channel:<id>``."""
        payload = {"channel_id": channel_id, "text": text}
        key = outbox_key(event, subject, f"channel:{channel_id}")
        return await self.enqueue(key, "message", f"channel:{channel_id}", payload, at)

    async def enqueue_guild_post(self, event: str, subject: str, guild_id: int, text: str, at: datetime) -> bool:
        """A plain-text post to a server whose destination the sender picks when it sends (its system channel
        if the bot may post there, else the owner's DM): ``event:subject:guild:<id>``, one row whichever
        way it goes, so neither a retry nor a changed system channel posts it twice."""
        payload = {"guild_id": guild_id, "text": text}
        key = outbox_key(event, subject, f"guild:{guild_id}")
        return await self.enqueue(key, GUILD_POST, f"guild:{guild_id}", payload, at)

    async def _rows(self, sql: str, params: Iterable[Any] = ()) -> builtins.list[OutboxItem]:
        async with self._db.conn.execute(sql, tuple(params)) as cur:
            return [_item(row) for row in await cur.fetchall()]

    async def due(
        self, queue: str | None, now: datetime, limit: int = 200, *, kinds: Iterable[str] | None = None
    ) -> builtins.list[OutboxItem]:
        """Pending rows whose time has come (of `queue`, or all), oldest first, leaving out every row of a
        target that has an older row still waiting for its retry (per-target order)."""
        where, params = [_PENDING, "next_attempt_at <= ?"], [to_db(now)]
        if queue is not None:
            where.append("queue = ?")
            params.append(queue)
        if kinds is not None:
            chosen = builtins.list(kinds)
            where.append(f"kind IN ({', '.join('?' for _ in chosen)})")
            params.extend(chosen)
        rows = await self._rows(
            f"SELECT {_COLUMNS} FROM outbox WHERE {' AND '.join(where)} ORDER BY id LIMIT ?",  # noqa: S608
            [*params, limit],
        )
        if not rows:
            return rows
        blocked_sql = f"SELECT target, MIN(id) FROM outbox WHERE {_PENDING} AND next_attempt_at > ?"  # noqa: S608
        blocked_params: list[Any] = [to_db(now)]
        if queue is not None:
            blocked_sql += " AND queue = ?"
            blocked_params.append(queue)
        async with self._db.conn.execute(blocked_sql + " GROUP BY target", blocked_params) as cur:
            blocked = {row[0]: int(row[1]) for row in await cur.fetchall()}
        return [r for r in rows if r.target not in blocked or r.id < blocked[r.target]]

    async def queues(self) -> builtins.list[str]:
        async with self._db.conn.execute(f"SELECT DISTINCT queue FROM outbox WHERE {_PENDING}") as cur:  # noqa: S608
            return [row[0] for row in await cur.fetchall()]

    async def next_due(self, queue: str) -> datetime | None:
        async with self._db.conn.execute(
            f"SELECT MIN(next_attempt_at) FROM outbox WHERE {_PENDING} AND queue = ?",  # noqa: S608
            (queue,),
        ) as cur:
            row = await cur.fetchone()
        return from_db(row[0]) if row and row[0] else None

    async def get(self, item_id: int) -> OutboxItem | None:
        rows = await self._rows(f"SELECT {_COLUMNS} FROM outbox WHERE id = ?", (item_id,))  # noqa: S608
        return rows[0] if rows else None

    async def by_key(self, key: str) -> OutboxItem | None:
        rows = await self._rows(f"SELECT {_COLUMNS} FROM outbox WHERE key = ?", (key,))  # noqa: S608
        return rows[0] if rows else None

    async def by_msg_id(self, msg_id: str) -> OutboxItem | None:
        rows = await self._rows(f"SELECT {_COLUMNS} FROM outbox WHERE msg_id = ?", (msg_id,))  # noqa: S608
        return rows[0] if rows else None

    async def for_target(self, target: str) -> builtins.list[OutboxItem]:
        return await self._rows(f"SELECT {_COLUMNS} FROM outbox WHERE target = ? ORDER BY id", (target,))  # noqa: S608

    async def pending(self, kinds: Iterable[str] | None = None) -> builtins.list[OutboxItem]:
        rows = await self._rows(f"SELECT {_COLUMNS} FROM outbox WHERE {_PENDING} ORDER BY id")  # noqa: S608
        chosen = set(kinds) if kinds is not None else None
        return [r for r in rows if chosen is None or r.kind in chosen]

    async def all(self) -> builtins.list[OutboxItem]:
        return await self._rows(f"SELECT {_COLUMNS} FROM outbox ORDER BY id")  # noqa: S608

    async def count_pending(self) -> int:
        async with self._db.conn.execute(f"SELECT COUNT(*) FROM outbox WHERE {_PENDING}") as cur:  # noqa: S608
            row = await cur.fetchone()
        return int(row[0])

    async def mark_sent(self, item_id: int, at: datetime, status: int | None = None) -> None:
        await self._db.conn.execute(
            "UPDATE outbox SET sent_at = ?, attempts = attempts + 1, last_status = ?, last_error = NULL, "
            "payload = CASE WHEN json_extract(payload, '$.sensitive') THEN '{}' ELSE payload END WHERE id = ?",
            (to_db(at), status, item_id),
        )

    async def mark_sent_many(self, sent: Iterable[tuple[int, int | None]], at: datetime) -> None:
        """`mark_sent` for a batch of (row id, status) in one statement."""
        stamp = to_db(at)
        await self._db.conn.executemany(
            "UPDATE outbox SET sent_at = ?, attempts = attempts + 1, last_status = ?, last_error = NULL, "
            "payload = CASE WHEN json_extract(payload, '$.sensitive') THEN '{}' ELSE payload END WHERE id = ?",
            [(stamp, status, item_id) for item_id, status in sent],
        )

    async def retry_later(self, item_id: int, error: str, next_attempt_at: datetime, status: int | None = None) -> None:
        await self._db.conn.execute(
            "UPDATE outbox SET attempts = attempts + 1, last_status = ?, last_error = ?, next_attempt_at = ? "
            "WHERE id = ?",
            (status, error[:500], to_db(next_attempt_at), item_id),
        )

    async def give_up(self, item_id: int, error: str, at: datetime, status: int | None = None) -> None:
        await self._db.conn.execute(
            "UPDATE outbox SET attempts = attempts + 1, last_status = ?, last_error = ?, failed_at = ?, "
            "payload = CASE WHEN json_extract(payload, '$.sensitive') THEN '{}' ELSE payload END WHERE id = ?",
            (status, error[:500], to_db(at), item_id),
        )

    async def fail_target(self, target: str, reason: str, at: datetime) -> int:
        """Give up everything still owed to a target (a deleted or disabled webhook endpoint)."""
        async with (
            self._db.conn.execute(
                f"UPDATE outbox SET failed_at = ?, last_error = ? WHERE target = ? AND {_PENDING}",  # noqa: S608
                (to_db(at), reason[:500], target),
            ) as cur
        ):
            return cur.rowcount
