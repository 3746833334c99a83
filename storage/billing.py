"""Billing tables: member ↔ Stripe customer links, stored webhook events, subscriptions as last seen.

Every write is one statement (an upsert, or an ``UPDATE … WHERE`` on the row's state whose row count says
whether it applied), so two workers handling the same Stripe event at PostgreSQL's READ COMMITTED cannot
both claim it or lose an attempt's count.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Row

from domain.billing import BillingLink, SubscriptionState
from storage.codec import from_db, from_db_opt, json_dumps, json_loads
from storage.db import Database

__all__ = ["BillingRepository", "StoredEvent"]


@dataclass(frozen=True, slots=True)
class StoredEvent:
    id: str
    type: str
    payload: dict[str, Any]
    received_at: datetime
    processed_at: datetime | None
    attempts: int
    last_error: str | None = None
    parked_at: datetime | None = None


def _link(row: Row[Any]) -> BillingLink:
    return BillingLink(
        guild_id=int(row.guild_id),
        user_id=int(row.user_id),
        customer_id=row.customer_id,
        linked_by=int(row.linked_by),
        linked_at=from_db(row.linked_at),
    )


def _subscription(row: Row[Any]) -> SubscriptionState:
    return SubscriptionState(
        id=row.id,
        customer_id=row.customer_id,
        status=row.status,
        current_period_end=from_db_opt(row.current_period_end),
        price_ids=tuple(json_loads(row.price_ids)),
        past_due_since=from_db_opt(row.past_due_since),
        cancel_at_period_end=bool(row.cancel_at_period_end),
    )


_EVENT = "SELECT id, type, payload, received_at, processed_at, attempts, last_error, parked_at FROM stripe_events"
_LINK = "SELECT guild_id, user_id, customer_id, linked_by, linked_at FROM billing_links"
_SUB = (
    "SELECT id, customer_id, status, current_period_end, price_ids, past_due_since, cancel_at_period_end "
    "FROM subscriptions"
)


class BillingRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    # links ---------------------------------------------------------------------
    # Discord ids are TEXT columns: they are bound as `str` (PostgreSQL does not compare text to a number).
    async def link(self, link: BillingLink) -> None:
        await self._db.execute(
            "INSERT INTO billing_links (guild_id, user_id, customer_id, linked_by, linked_at) "
            "VALUES (:guild_id, :user_id, :customer_id, :linked_by, :linked_at) "
            "ON CONFLICT (guild_id, user_id) DO UPDATE SET customer_id = excluded.customer_id, "
            "linked_by = excluded.linked_by, linked_at = excluded.linked_at",
            {
                "guild_id": str(link.guild_id),
                "user_id": str(link.user_id),
                "customer_id": link.customer_id,
                "linked_by": str(link.linked_by),
                "linked_at": link.linked_at,
            },
        )

    async def unlink(self, guild_id: int, user_id: int) -> bool:
        result = await self._db.execute(
            "DELETE FROM billing_links WHERE guild_id = :guild_id AND user_id = :user_id",
            {"guild_id": str(guild_id), "user_id": str(user_id)},
        )
        return result.rowcount > 0

    async def link_of_member(self, guild_id: int, user_id: int) -> BillingLink | None:
        row = await self._db.fetch_one(
            _LINK + " WHERE guild_id = :guild_id AND user_id = :user_id",
            {"guild_id": str(guild_id), "user_id": str(user_id)},
        )
        return _link(row) if row else None

    async def link_of_customer(self, customer_id: str) -> BillingLink | None:
        row = await self._db.fetch_one(_LINK + " WHERE customer_id = :customer_id", {"customer_id": customer_id})
        return _link(row) if row else None

    async def links(self, guild_id: int | None = None) -> builtins.list[BillingLink]:
        if guild_id is None:
            rows = await self._db.fetch_all(_LINK + " ORDER BY guild_id, user_id")
        else:
            rows = await self._db.fetch_all(
                _LINK + " WHERE guild_id = :guild_id ORDER BY guild_id, user_id", {"guild_id": str(guild_id)}
            )
        return [_link(row) for row in rows]

    # events --------------------------------------------------------------------
    # Several workers may handle the same event (the webhook's task, `process_pending` in another process):
    # each state change is one conditional UPDATE whose row count says whether this caller made it.
    async def store_event(self, event_id: str, kind: str, payload: dict[str, Any], at: datetime) -> bool:
        """Keep the event before acting on it; False when it was already stored (a replay)."""
        result = await self._db.execute(
            "INSERT INTO stripe_events (id, type, payload, received_at) VALUES (:id, :type, :payload, :at) "
            "ON CONFLICT (id) DO NOTHING",
            {"id": event_id, "type": kind, "payload": json_dumps(payload), "at": at},
        )
        return result.rowcount > 0

    async def event(self, event_id: str) -> StoredEvent | None:
        row = await self._db.fetch_one(_EVENT + " WHERE id = :id", {"id": event_id})
        return _event(row) if row else None

    async def pending_events(self) -> builtins.list[StoredEvent]:
        rows = await self._db.fetch_all(
            _EVENT + " WHERE processed_at IS NULL AND parked_at IS NULL ORDER BY received_at, id"
        )
        return [_event(row) for row in rows]

    async def mark_processed(self, event_id: str, at: datetime) -> bool:
        """Claim the event as handled; False when it already was (by this worker or another): the first
        claim's time and attempt count stay."""
        result = await self._db.execute(
            "UPDATE stripe_events SET processed_at = :at, attempts = attempts + 1, last_error = NULL "
            "WHERE id = :id AND processed_at IS NULL",
            {"at": at, "id": event_id},
        )
        return result.rowcount > 0

    async def mark_failed(self, event_id: str, error: str) -> None:
        """Count a failed attempt (``attempts + 1`` in the statement, so two workers' failures both count); a
        failure reported after another worker finished the event changes nothing."""
        await self._db.execute(
            "UPDATE stripe_events SET attempts = attempts + 1, last_error = :error "
            "WHERE id = :id AND processed_at IS NULL",
            {"error": error[:500], "id": event_id},
        )

    async def park(self, event_id: str, at: datetime) -> bool:
        """Stop retrying an event (a dead letter); False when it was already parked or handled."""
        result = await self._db.execute(
            "UPDATE stripe_events SET parked_at = :at WHERE id = :id AND parked_at IS NULL AND processed_at IS NULL",
            {"at": at, "id": event_id},
        )
        return result.rowcount > 0

    async def parked_events(self, limit: int = 1) -> tuple[int, builtins.list[StoredEvent]]:
        """How many events are parked, and the newest `limit` of them (newest first)."""
        count = await self._db.scalar("SELECT count(*) FROM stripe_events WHERE parked_at IS NOT NULL")
        rows = await self._db.fetch_all(
            _EVENT + " WHERE parked_at IS NOT NULL ORDER BY parked_at DESC, id DESC LIMIT :limit", {"limit": int(limit)}
        )
        return int(count), [_event(row) for row in rows]

    # subscriptions -------------------------------------------------------------
    async def subscriptions(self, customer_id: str) -> builtins.list[SubscriptionState]:
        rows = await self._db.fetch_all(
            _SUB + " WHERE customer_id = :customer_id ORDER BY id", {"customer_id": customer_id}
        )
        return [_subscription(row) for row in rows]

    async def save_subscription(self, sub: SubscriptionState, at: datetime) -> None:
        await self._db.execute(
            "INSERT INTO subscriptions (id, customer_id, status, current_period_end, price_ids, past_due_since, "
            "cancel_at_period_end, updated_at) VALUES (:id, :customer_id, :status, :current_period_end, :price_ids, "
            ":past_due_since, :cancel_at_period_end, :updated_at) "
            "ON CONFLICT (id) DO UPDATE SET customer_id = excluded.customer_id, status = excluded.status, "
            "current_period_end = excluded.current_period_end, price_ids = excluded.price_ids, "
            "past_due_since = excluded.past_due_since, cancel_at_period_end = excluded.cancel_at_period_end, "
            "updated_at = excluded.updated_at",
            {
                "id": sub.id,
                "customer_id": sub.customer_id,
                "status": sub.status,
                "current_period_end": sub.current_period_end,
                "price_ids": json_dumps(list(sub.price_ids)),
                "past_due_since": sub.past_due_since,
                "cancel_at_period_end": bool(sub.cancel_at_period_end),
                "updated_at": at,
            },
        )


def _event(row: Row[Any]) -> StoredEvent:
    return StoredEvent(
        id=row.id,
        type=row.type,
        payload=json_loads(row.payload),
        received_at=from_db(row.received_at),
        processed_at=from_db_opt(row.processed_at),
        attempts=int(row.attempts),
        last_error=row.last_error,
        parked_at=from_db_opt(row.parked_at),
    )
