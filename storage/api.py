"""API keys, usage counters, anomalies, webhook endpoints, and reads of the outbox's webhook rows.

Several API workers (processes) may write here at once: every write is one statement — the usage counters
an upsert that adds to what is stored (never a read, then a write), a revocation or a disabling an
``UPDATE … WHERE … IS NULL`` — so none relies on a single writer, at PostgreSQL's READ COMMITTED.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Row

from domain.api import ApiKey, Delivery, WebhookEndpoint
from storage.codec import from_db, from_db_opt, json_dumps, json_loads
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


def _key(row: Row[Any]) -> ApiKey:
    return ApiKey(
        id=row.id,
        owner=row.owner,
        plan=row.plan,
        created_at=from_db(row.created_at),
        revoked_at=from_db_opt(row.revoked_at),
        rpm_override=row.rpm_override,
        webhooks_override=row.webhooks_override,
        monthly_override=row.monthly_override,
    )


def _endpoint(row: Row[Any]) -> WebhookEndpoint:
    return WebhookEndpoint(
        id=row.id,
        key_id=row.key_id,
        url=row.url,
        events=tuple(json_loads(row.events)),
        secret=row.secret,
        created_at=from_db(row.created_at),
        old_secret=row.old_secret,
        old_secret_until=from_db_opt(row.old_secret_until),
        disabled_at=from_db_opt(row.disabled_at),
        disabled_reason=row.disabled_reason,
    )


def _delivery(row: Row[Any]) -> Delivery:
    """A webhook row of the outbox as the API's `Delivery` record (its id is the webhook-id)."""
    payload = json_loads(row.payload)
    return Delivery(
        id=row.msg_id,
        endpoint_id=payload.get("endpoint_id", ""),
        event_type=payload.get("event_type", ""),
        payload=payload.get("body", {}),
        queue=row.queue,
        created_at=from_db(row.created_at),
        attempts=int(row.attempts),
        next_attempt_at=from_db(row.next_attempt_at),
        delivered_at=from_db_opt(row.sent_at),
        failed_at=from_db_opt(row.failed_at),
        last_status=row.last_status,
    )


class ApiRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def _changed(self, sql: str, params: Mapping[str, Any]) -> int:
        """Run a write; how many rows it changed."""
        return (await self._db.execute(sql, params)).rowcount

    # keys ----------------------------------------------------------------------
    async def create_key(self, key: ApiKey, key_hash: str) -> None:
        await self._db.execute(
            "INSERT INTO api_keys (id, key_hash, owner, plan, rpm_override, webhooks_override, monthly_override, "
            "created_at) VALUES (:id, :key_hash, :owner, :plan, :rpm_override, :webhooks_override, "
            ":monthly_override, :created_at)",
            {
                "id": key.id,
                "key_hash": key_hash,
                "owner": key.owner,
                "plan": key.plan,
                "rpm_override": key.rpm_override,
                "webhooks_override": key.webhooks_override,
                "monthly_override": key.monthly_override,
                "created_at": key.created_at,
            },
        )

    async def key_by_hash(self, key_hash: str) -> ApiKey | None:
        row = await self._db.fetch_one(_KEY + " WHERE key_hash = :key_hash", {"key_hash": key_hash})
        return _key(row) if row else None

    async def key(self, key_id: str) -> ApiKey | None:
        row = await self._db.fetch_one(_KEY + " WHERE id = :id", {"id": key_id})
        return _key(row) if row else None

    async def keys(self, owner: str | None = None) -> builtins.list[ApiKey]:
        if owner is None:
            rows = await self._db.fetch_all(_KEY + " ORDER BY created_at, id")
        else:
            rows = await self._db.fetch_all(_KEY + " WHERE owner = :owner ORDER BY created_at, id", {"owner": owner})
        return [_key(r) for r in rows]

    async def revoke(self, key_id: str, at: datetime, replaced_by: str | None = None) -> bool:
        """False when the key is unknown or already revoked (the first revocation stays)."""
        changed = await self._changed(
            "UPDATE api_keys SET revoked_at = :at, replaced_by = :replaced_by WHERE id = :id AND revoked_at IS NULL",
            {"at": at, "replaced_by": replaced_by, "id": key_id},
        )
        return changed > 0

    # usage ---------------------------------------------------------------------
    # Each increment is one upsert adding to the stored counts, so concurrent API workers never lose one.
    # The target table is named in DO UPDATE: PostgreSQL finds a bare `requests` ambiguous beside `excluded`.
    _ADD_USAGE = (
        "INSERT INTO api_usage (key_id, minute, requests, errors) VALUES (:key_id, :minute, :requests, :errors) "
        "ON CONFLICT (key_id, minute) DO UPDATE SET requests = api_usage.requests + excluded.requests, "
        "errors = api_usage.errors + excluded.errors"
    )

    async def count_request(self, key_id: str, minute: str, error: bool) -> None:
        await self._db.execute(
            self._ADD_USAGE, {"key_id": key_id, "minute": minute, "requests": 1, "errors": 1 if error else 0}
        )

    async def add_usage(self, key_id: str, minute: str, requests: int, errors: int) -> None:
        """Add a batch of counted requests to one key's minute (the API counts in memory and flushes)."""
        await self._db.execute(
            self._ADD_USAGE, {"key_id": key_id, "minute": minute, "requests": int(requests), "errors": int(errors)}
        )

    async def usage_since(self, key_id: str, since_minute: str) -> builtins.list[tuple[str, int, int]]:
        # `minute` is TEXT ("YYYY-MM-DDTHH:MM"), compared as text on both backends.
        rows = await self._db.fetch_all(
            "SELECT minute, requests, errors FROM api_usage WHERE key_id = :key_id AND minute >= :since "
            "ORDER BY minute",
            {"key_id": key_id, "since": since_minute},
        )
        return [(r.minute, int(r.requests), int(r.errors)) for r in rows]

    async def requests_in(self, key_id: str, prefix_from: str, prefix_to: str) -> int:
        """Requests with minute in [prefix_from, prefix_to) (e.g. a month: "2026-11", "2026-12")."""
        total = await self._db.scalar(
            "SELECT COALESCE(SUM(requests), 0) FROM api_usage "
            "WHERE key_id = :key_id AND minute >= :start AND minute < :end",
            {"key_id": key_id, "start": prefix_from, "end": prefix_to},
        )
        return int(total)  # PostgreSQL's SUM of an integer column is a bigint or numeric (a Decimal)

    # anomalies -----------------------------------------------------------------
    async def record_anomaly(self, key_id: str, kind: str, detail: str, at: datetime, dedupe_key: str) -> bool:
        changed = await self._changed(
            "INSERT INTO api_anomalies (key_id, kind, detail, at, dedupe_key) "
            "VALUES (:key_id, :kind, :detail, :at, :dedupe_key) ON CONFLICT (dedupe_key) DO NOTHING",
            {"key_id": key_id, "kind": kind, "detail": detail, "at": at, "dedupe_key": dedupe_key},
        )
        return changed > 0

    async def anomalies(self, key_id: str, limit: int = 50) -> builtins.list[dict[str, Any]]:
        rows = await self._db.fetch_all(
            "SELECT kind, detail, at FROM api_anomalies WHERE key_id = :key_id ORDER BY at DESC, id DESC LIMIT :limit",
            {"key_id": key_id, "limit": int(limit)},
        )
        return [{"kind": r.kind, "detail": r.detail, "at": from_db(r.at)} for r in rows]

    # webhook endpoints -----------------------------------------------------------
    async def create_endpoint(self, endpoint: WebhookEndpoint) -> None:
        await self._db.execute(
            "INSERT INTO webhook_endpoints (id, key_id, url, events, secret, created_at) "
            "VALUES (:id, :key_id, :url, :events, :secret, :created_at)",
            {
                "id": endpoint.id,
                "key_id": endpoint.key_id,
                "url": endpoint.url,
                "events": json_dumps(list(endpoint.events)),
                "secret": endpoint.secret,
                "created_at": endpoint.created_at,
            },
        )

    async def endpoint(self, endpoint_id: str) -> WebhookEndpoint | None:
        row = await self._db.fetch_one(_ENDPOINT + " WHERE id = :id", {"id": endpoint_id})
        return _endpoint(row) if row else None

    async def endpoints(
        self, key_id: str | None = None, *, active_only: bool = False
    ) -> builtins.list[WebhookEndpoint]:
        # The WHERE is built from fixed fragments only (no `:key_id IS NULL`, which PostgreSQL cannot type).
        where: builtins.list[str] = []
        params: dict[str, Any] = {}
        if key_id is not None:
            where.append("key_id = :key_id")
            params["key_id"] = key_id
        if active_only:
            where.append("disabled_at IS NULL")
        sql = _ENDPOINT + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY created_at, id"
        return [_endpoint(r) for r in await self._db.fetch_all(sql, params)]

    async def move_endpoints(self, from_key: str, to_key: str) -> int:
        """Key rotation: the new key owns the old key's webhook endpoints."""
        return await self._changed(
            "UPDATE webhook_endpoints SET key_id = :to_key WHERE key_id = :from_key",
            {"to_key": to_key, "from_key": from_key},
        )

    async def delete_endpoint(self, endpoint_id: str) -> bool:
        return await self._changed("DELETE FROM webhook_endpoints WHERE id = :id", {"id": endpoint_id}) > 0

    async def rotate_secret(self, endpoint_id: str, new_secret: str, old_until: datetime) -> None:
        # One statement: the right-hand `secret` is the row's value before this UPDATE, on both backends.
        await self._db.execute(
            "UPDATE webhook_endpoints SET old_secret = secret, old_secret_until = :old_until, secret = :secret "
            "WHERE id = :id",
            {"old_until": old_until, "secret": new_secret, "id": endpoint_id},
        )

    async def disable_endpoint(self, endpoint_id: str, reason: str, at: datetime) -> None:
        await self._db.execute(
            "UPDATE webhook_endpoints SET disabled_at = :at, disabled_reason = :reason "
            "WHERE id = :id AND disabled_at IS NULL",
            {"at": at, "reason": reason[:300], "id": endpoint_id},
        )

    # webhook deliveries (rows of the one outbox, `storage.outbox`) ------------------------------
    async def deliveries(self, endpoint_id: str) -> builtins.list[Delivery]:
        rows = await self._db.fetch_all(
            _DELIVERY + " WHERE target = :target ORDER BY created_at, id", {"target": "webhook:" + endpoint_id}
        )
        return [_delivery(r) for r in rows]

    async def delivery(self, delivery_id: str) -> Delivery | None:
        row = await self._db.fetch_one(
            _DELIVERY + " WHERE msg_id = :msg_id AND kind = 'webhook'", {"msg_id": delivery_id}
        )
        return _delivery(row) if row else None

    async def queues(self) -> builtins.list[str]:
        rows = await self._db.fetch_all(
            "SELECT DISTINCT queue FROM outbox WHERE kind = 'webhook' AND sent_at IS NULL AND failed_at IS NULL "
            "ORDER BY queue"
        )
        return [r.queue for r in rows]
