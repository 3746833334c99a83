"""API keys, usage counters, anomalies, webhook endpoints, and reads of the outbox's webhook rows."""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from domain.api import ApiKey, Delivery, WebhookEndpoint
from storage.codec import from_db, from_db_opt, json_dumps, json_loads, to_db
from storage.db import Database

__all__ = ["ApiRepository"]

_KEY = "SELECT id, owner, plan, created_at, revoked_at, rpm_override, webhooks_override, monthly_override FROM api_keys"
_ENDPOINT = (
    "SELECT id, key_id, url, events, secret, created_at, old_secret, old_secret_until, disabled_at, disabled_reason "
    "FROM webhook_endpoints"
)
_DELIVERY = (
    "SELECT msg_id, payload, queue, created_at, attempts, next_attempt_at, sent_at, failed_at, last_status FROM outbox"
)


def _key(row) -> ApiKey:
    return ApiKey(
        id=row[0],
        owner=row[1],
        plan=row[2],
        created_at=from_db(row[3]),
        revoked_at=from_db_opt(row[4]),
        rpm_override=row[5],
        webhooks_override=row[6],
        monthly_override=row[7],
    )


def _endpoint(row) -> WebhookEndpoint:
    return WebhookEndpoint(
        id=row[0],
        key_id=row[1],
        url=row[2],
        events=tuple(json_loads(row[3])),
        secret=row[4],
        created_at=from_db(row[5]),
        old_secret=row[6],
        old_secret_until=from_db_opt(row[7]),
        disabled_at=from_db_opt(row[8]),
        disabled_reason=row[9],
    )


def _delivery(row) -> Delivery:
    """A webhook row of the outbox as the API's `Delivery` record (its id is the webhook-id)."""
    payload = json_loads(row[1])
    return Delivery(
        id=row[0],
        endpoint_id=payload.get("endpoint_id", ""),
        event_type=payload.get("event_type", ""),
        payload=payload.get("body", {}),
        queue=row[2],
        created_at=from_db(row[3]),
        attempts=int(row[4]),
        next_attempt_at=from_db(row[5]),
        delivered_at=from_db_opt(row[6]),
        failed_at=from_db_opt(row[7]),
        last_status=row[8],
    )


class ApiRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def _all(self, sql: str, params: Iterable[Any] = ()) -> builtins.list[Any]:
        async with self._db.conn.execute(sql, tuple(params)) as cur:
            return builtins.list(await cur.fetchall())

    async def _one(self, sql: str, params: Iterable[Any] = ()) -> Any:
        async with self._db.conn.execute(sql, tuple(params)) as cur:
            return await cur.fetchone()

    # keys ----------------------------------------------------------------------
    async def create_key(self, key: ApiKey, key_hash: str) -> None:
        await self._db.conn.execute(
            "INSERT INTO api_keys (id, key_hash, owner, plan, rpm_override, webhooks_override, monthly_override, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                key.id,
                key_hash,
                key.owner,
                key.plan,
                key.rpm_override,
                key.webhooks_override,
                key.monthly_override,
                to_db(key.created_at),
            ),
        )

    async def key_by_hash(self, key_hash: str) -> ApiKey | None:
        row = await self._one(_KEY + " WHERE key_hash = ?", (key_hash,))
        return _key(row) if row else None

    async def key(self, key_id: str) -> ApiKey | None:
        row = await self._one(_KEY + " WHERE id = ?", (key_id,))
        return _key(row) if row else None

    async def keys(self, owner: str | None = None) -> builtins.list[ApiKey]:
        if owner is None:
            return [_key(r) for r in await self._all(_KEY + " ORDER BY created_at, id")]
        return [_key(r) for r in await self._all(_KEY + " WHERE owner = ? ORDER BY created_at, id", (owner,))]

    async def revoke(self, key_id: str, at: datetime, replaced_by: str | None = None) -> bool:
        async with self._db.conn.execute(
            "UPDATE api_keys SET revoked_at = ?, replaced_by = ? WHERE id = ? AND revoked_at IS NULL",
            (to_db(at), replaced_by, key_id),
        ) as cur:
            return cur.rowcount > 0

    # usage ---------------------------------------------------------------------
    async def count_request(self, key_id: str, minute: str, error: bool) -> None:
        await self._db.conn.execute(
            "INSERT INTO api_usage (key_id, minute, requests, errors) VALUES (?, ?, 1, ?) "
            "ON CONFLICT (key_id, minute) DO UPDATE SET requests = requests + 1, errors = errors + excluded.errors",
            (key_id, minute, int(error)),
        )

    async def add_usage(self, key_id: str, minute: str, requests: int, errors: int) -> None:
        """Add a batch of counted requests to one key's minute (the API counts in memory and flushes)."""
        await self._db.conn.execute(
            "INSERT INTO api_usage (key_id, minute, requests, errors) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (key_id, minute) DO UPDATE SET requests = requests + excluded.requests, "
            "errors = errors + excluded.errors",
            (key_id, minute, int(requests), int(errors)),
        )

    async def usage_since(self, key_id: str, since_minute: str) -> builtins.list[tuple[str, int, int]]:
        rows = await self._all(
            "SELECT minute, requests, errors FROM api_usage WHERE key_id = ? AND minute >= ? ORDER BY minute",
            (key_id, since_minute),
        )
        return [(r[0], int(r[1]), int(r[2])) for r in rows]

    async def requests_in(self, key_id: str, prefix_from: str, prefix_to: str) -> int:
        """Requests with minute in [prefix_from, prefix_to) (e.g. a month: "2026-11", "2026-12")."""
        row = await self._one(
            "SELECT COALESCE(SUM(requests), 0) FROM api_usage WHERE key_id = ? AND minute >= ? AND minute < ?",
            (key_id, prefix_from, prefix_to),
        )
        return int(row[0])

    # anomalies -----------------------------------------------------------------
    async def record_anomaly(self, key_id: str, kind: str, detail: str, at: datetime, dedupe_key: str) -> bool:
        async with self._db.conn.execute(
            "INSERT INTO api_anomalies (key_id, kind, detail, at, dedupe_key) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (dedupe_key) DO NOTHING",
            (key_id, kind, detail, to_db(at), dedupe_key),
        ) as cur:
            return cur.rowcount > 0

    async def anomalies(self, key_id: str, limit: int = 50) -> builtins.list[dict[str, Any]]:
        rows = await self._all(
            "SELECT kind, detail, at FROM api_anomalies WHERE key_id = ? ORDER BY at DESC, id DESC LIMIT ?",
            (key_id, limit),
        )
        return [{"kind": r[0], "detail": r[1], "at": from_db(r[2])} for r in rows]

    # webhook endpoints -----------------------------------------------------------
    async def create_endpoint(self, endpoint: WebhookEndpoint) -> None:
        await self._db.conn.execute(
            "INSERT INTO webhook_endpoints (id, key_id, url, events, secret, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (
                endpoint.id,
                endpoint.key_id,
                endpoint.url,
                json_dumps(list(endpoint.events)),
                endpoint.secret,
                to_db(endpoint.created_at),
            ),
        )

    async def endpoint(self, endpoint_id: str) -> WebhookEndpoint | None:
        row = await self._one(_ENDPOINT + " WHERE id = ?", (endpoint_id,))
        return _endpoint(row) if row else None

    async def endpoints(
        self, key_id: str | None = None, *, active_only: bool = False
    ) -> builtins.list[WebhookEndpoint]:
        where, params = [], []
        if key_id is not None:
            where.append("key_id = ?")
            params.append(key_id)
        if active_only:
            where.append("disabled_at IS NULL")
        sql = _ENDPOINT + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY created_at, id"
        return [_endpoint(r) for r in await self._all(sql, params)]

    async def move_endpoints(self, from_key: str, to_key: str) -> int:
        """Key rotation: the new key owns the old key's webhook endpoints."""
        async with self._db.conn.execute(
            "UPDATE webhook_endpoints SET key_id = ? WHERE key_id = ?", (to_key, from_key)
        ) as cur:
            return cur.rowcount

    async def delete_endpoint(self, endpoint_id: str) -> bool:
        async with self._db.conn.execute("DELETE FROM webhook_endpoints WHERE id = ?", (endpoint_id,)) as cur:
            return cur.rowcount > 0

    async def rotate_secret(self, endpoint_id: str, new_secret: str, old_until: datetime) -> None:
        await self._db.conn.execute(
            "UPDATE webhook_endpoints SET old_secret = secret, old_secret_until = ?, secret = ? WHERE id = ?",
            (to_db(old_until), new_secret, endpoint_id),
        )

    async def disable_endpoint(self, endpoint_id: str, reason: str, at: datetime) -> None:
        await self._db.conn.execute(
            "UPDATE webhook_endpoints SET disabled_at = ?, disabled_reason = ? WHERE id = ? AND disabled_at IS NULL",
            (to_db(at), reason[:300], endpoint_id),
        )

    # webhook deliveries (rows of the one outbox, `storage.outbox`) ------------------------------
    async def deliveries(self, endpoint_id: str) -> builtins.list[Delivery]:
        rows = await self._all(_DELIVERY + " WHERE target = ? ORDER BY created_at, id", ("webhook:" + endpoint_id,))
        return [_delivery(r) for r in rows]

    async def delivery(self, delivery_id: str) -> Delivery | None:
        row = await self._one(_DELIVERY + " WHERE msg_id = ? AND kind = 'webhook'", (delivery_id,))
        return _delivery(row) if row else None

    async def queues(self) -> builtins.list[str]:
        rows = await self._all(
            "SELECT DISTINCT queue FROM outbox WHERE kind = 'webhook' AND sent_at IS NULL AND failed_at IS NULL"
        )
        return [r[0] for r in rows]
