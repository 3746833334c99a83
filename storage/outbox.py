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

from sqlalchemy.engine import Row

from storage.codec import from_db, from_db_opt, json_dumps, json_loads
from storage.db import Database
from storage.dialect import json_flag

__all__ = ["DISCORD_QUEUE", "GUILD_POST", "SHARED_QUEUE", "OutboxItem", "OutboxRepository", "msg_id_for", "outbox_key"]

DISCORD_QUEUE = "discord"
SHARED_QUEUE = "shared"
#: The kind of a post to a server whose channel (or owner DM) is chosen at send time (`enqueue_guild_post`).
GUILD_POST = "guild_post"
_PENDING = "sent_at IS NULL AND failed_at IS NULL"
_NAMES = (
    "id",
    "key",
    "msg_id",
    "kind",
    "target",
    "queue",
    "payload",
    "created_at",
    "attempts",
    "next_attempt_at",
    "sent_at",
    "failed_at",
    "last_status",
    "last_error",
)
_COLUMNS = ", ".join(_NAMES)
_O_COLUMNS = ", ".join(f"o.{name}" for name in _NAMES)
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


def _item(row: Row[Any]) -> OutboxItem:
    return OutboxItem(
        id=int(row.id),
        key=row.key,
        msg_id=row.msg_id,
        kind=row.kind,
        target=row.target,
        queue=row.queue,
        payload=json_loads(row.payload),
        created_at=from_db(row.created_at),
        attempts=int(row.attempts),
        next_attempt_at=from_db(row.next_attempt_at),
        sent_at=from_db_opt(row.sent_at),
        failed_at=from_db_opt(row.failed_at),
        last_status=row.last_status,
        last_error=row.last_error,
    )


class OutboxRepository:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._listeners: list[Callable[[str], None]] = []
        # A sent or given-up row forgets a secret it carried: the payload's `sensitive` flag, read per backend.
        forget = f"payload = CASE WHEN {json_flag(db.backend, 'payload', SENSITIVE)} THEN '{{}}' ELSE payload END"
        self._forget = forget
        self._sent_sql = (
            "UPDATE outbox SET sent_at = :at, attempts = attempts + 1, last_status = :status, last_error = NULL, "  # noqa: S608 - fixed fragments
            f"{forget} WHERE id = :id"
        )

    def listen(self, callback: Callable[[str], None]) -> None:
        """Call `callback(queue)` once a queued row is committed (in-process wake-up of the worker). The call
        waits for the enqueuing transaction's commit (`Database.after_commit`): a worker woken earlier would
        read before the row is visible, on either backend, and leave it for its next poll."""
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
        result = await self._db.execute(
            "INSERT INTO outbox (key, msg_id, kind, target, queue, payload, created_at, next_attempt_at) "
            "VALUES (:key, :msg_id, :kind, :target, :queue, :payload, :at, :at) ON CONFLICT (key) DO NOTHING",
            {
                "key": key,
                "msg_id": msg_id or msg_id_for(key),
                "kind": kind,
                "target": target,
                "queue": queue,
                "payload": json_dumps(payload),
                "at": at,
            },
        )
        new = result.rowcount > 0
        if new and self._listeners:
            listeners = builtins.list(self._listeners)
            self._db.after_commit(lambda: [listener(queue) for listener in listeners])
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

    async def _rows(self, sql: str, params: dict[str, Any] | None = None) -> builtins.list[OutboxItem]:
        return [_item(row) for row in await self._db.fetch_all(sql, params)]

    async def due(
        self, queue: str | None, now: datetime, limit: int = 200, *, kinds: Iterable[str] | None = None
    ) -> builtins.list[OutboxItem]:
        """Pending rows whose time has come (of `queue`, or all), oldest first, leaving out every row of a
        target that has an older row still waiting for its retry (per-target order).

        One statement: the rows held back are left out before the `limit` is applied (a target with `limit`
        rows queued behind a retry does not hide every other target's), and the rows due and the targets held
        are read from one snapshot (each statement of a PostgreSQL READ COMMITTED transaction sees its own),
        so a row cannot overtake an older one of its target that another worker moved to a later retry."""
        params: dict[str, Any] = {"now": now, "limit": limit}
        waiting = [_PENDING, "next_attempt_at > :now"]
        where = ["o.sent_at IS NULL AND o.failed_at IS NULL", "o.next_attempt_at <= :now"]
        if queue is not None:
            waiting.append("queue = :queue")
            where.append("o.queue = :queue")
            params["queue"] = queue
        if kinds is not None:
            chosen = builtins.list(kinds)
            if not chosen:
                return []
            names = [f"kind_{i}" for i in range(len(chosen))]
            where.append(f"o.kind IN ({', '.join(':' + name for name in names)})")
            params.update(zip(names, chosen, strict=True))
        # Only fixed fragments and generated parameter names are formatted into the text. `waiting` is the
        # few targets with a row waiting for its retry (read through the outbox_pending index), each with its
        # oldest such row: a target's rows from there on wait too.
        return await self._rows(
            f"WITH waiting AS (SELECT target, MIN(id) AS first_id FROM outbox WHERE {' AND '.join(waiting)} "  # noqa: S608
            f"GROUP BY target) SELECT {_O_COLUMNS} FROM outbox o LEFT JOIN waiting w ON w.target = o.target "
            f"WHERE {' AND '.join(where)} AND (w.first_id IS NULL OR o.id < w.first_id) ORDER BY o.id LIMIT :limit",
            params,
        )

    async def queues(self) -> builtins.list[str]:
        rows = await self._db.fetch_all(f"SELECT DISTINCT queue FROM outbox WHERE {_PENDING}")  # noqa: S608
        return [row.queue for row in rows]

    async def next_due(self, queue: str) -> datetime | None:
        value = await self._db.scalar(
            f"SELECT MIN(next_attempt_at) FROM outbox WHERE {_PENDING} AND queue = :queue",  # noqa: S608
            {"queue": queue},
        )
        return from_db_opt(value)

    async def get(self, item_id: int) -> OutboxItem | None:
        rows = await self._rows(f"SELECT {_COLUMNS} FROM outbox WHERE id = :id", {"id": item_id})  # noqa: S608
        return rows[0] if rows else None

    async def by_key(self, key: str) -> OutboxItem | None:
        rows = await self._rows(f"SELECT {_COLUMNS} FROM outbox WHERE key = :key", {"key": key})  # noqa: S608
        return rows[0] if rows else None

    async def by_msg_id(self, msg_id: str) -> OutboxItem | None:
        rows = await self._rows(f"SELECT {_COLUMNS} FROM outbox WHERE msg_id = :msg_id", {"msg_id": msg_id})  # noqa: S608
        return rows[0] if rows else None

    async def for_target(self, target: str) -> builtins.list[OutboxItem]:
        return await self._rows(
            f"SELECT {_COLUMNS} FROM outbox WHERE target = :target ORDER BY id",  # noqa: S608
            {"target": target},
        )

    async def pending(self, kinds: Iterable[str] | None = None) -> builtins.list[OutboxItem]:
        rows = await self._rows(f"SELECT {_COLUMNS} FROM outbox WHERE {_PENDING} ORDER BY id")  # noqa: S608
        chosen = set(kinds) if kinds is not None else None
        return [r for r in rows if chosen is None or r.kind in chosen]

    async def all(self) -> builtins.list[OutboxItem]:
        return await self._rows(f"SELECT {_COLUMNS} FROM outbox ORDER BY id")  # noqa: S608

    async def count_pending(self) -> int:
        return int(await self._db.scalar(f"SELECT COUNT(*) FROM outbox WHERE {_PENDING}"))  # noqa: S608

    # Each outcome below is one UPDATE (attempts = attempts + 1 in the statement, never read-then-write), so
    # concurrent workers recording outcomes cannot lose a count.
    async def mark_sent(self, item_id: int, at: datetime, status: int | None = None) -> None:
        await self._db.execute(self._sent_sql, {"at": at, "status": status, "id": item_id})

    async def mark_sent_many(self, sent: Iterable[tuple[int, int | None]], at: datetime) -> None:
        """`mark_sent` for a batch of (row id, status) in one statement."""
        await self._db.execute_many(
            self._sent_sql, [{"at": at, "status": status, "id": item_id} for item_id, status in sent]
        )

    async def retry_later(self, item_id: int, error: str, next_attempt_at: datetime, status: int | None = None) -> None:
        await self._db.execute(
            "UPDATE outbox SET attempts = attempts + 1, last_status = :status, last_error = :error, "
            "next_attempt_at = :next_attempt_at WHERE id = :id",
            {"status": status, "error": error[:500], "next_attempt_at": next_attempt_at, "id": item_id},
        )

    async def give_up(self, item_id: int, error: str, at: datetime, status: int | None = None) -> None:
        await self._db.execute(
            "UPDATE outbox SET attempts = attempts + 1, last_status = :status, last_error = :error, failed_at = :at, "  # noqa: S608 - fixed fragments
            f"{self._forget} WHERE id = :id",
            {"status": status, "error": error[:500], "at": at, "id": item_id},
        )

    async def fail_target(self, target: str, reason: str, at: datetime) -> int:
        """Give up everything still owed to a target (a deleted or disabled webhook endpoint)."""
        result = await self._db.execute(
            f"UPDATE outbox SET failed_at = :at, last_error = :reason WHERE target = :target AND {_PENDING}",  # noqa: S608
            {"at": at, "reason": reason[:500], "target": target},
        )
        return result.rowcount
