"""Billing tables: member ↔ Stripe customer links, stored webhook events, subscriptions as last seen."""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from domain.billing import BillingLink, SubscriptionState
from storage.codec import from_db, from_db_opt, json_dumps, json_loads, to_db, to_db_opt
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


def _link(row) -> BillingLink:
    return BillingLink(
        guild_id=int(row[0]),
        user_id=int(row[1]),
        customer_id=row[2],
        linked_by=int(row[3]),
        linked_at=from_db(row[4]),
    )


def _subscription(row) -> SubscriptionState:
    return SubscriptionState(
        id=row[0],
        customer_id=row[1],
        status=row[2],
        current_period_end=from_db_opt(row[3]),
        price_ids=tuple(json_loads(row[4])),
        past_due_since=from_db_opt(row[5]),
        cancel_at_period_end=bool(row[6]),
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
    async def link(self, link: BillingLink) -> None:
        await self._db.conn.execute(
            "INSERT INTO billing_links (guild_id, user_id, customer_id, linked_by, linked_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (guild_id, user_id) DO UPDATE SET customer_id = excluded.customer_id, "
            "linked_by = excluded.linked_by, linked_at = excluded.linked_at",
            (str(link.guild_id), str(link.user_id), link.customer_id, str(link.linked_by), to_db(link.linked_at)),
        )

    async def unlink(self, guild_id: int, user_id: int) -> bool:
        async with self._db.conn.execute(
            "DELETE FROM billing_links WHERE guild_id = ? AND user_id = ?", (str(guild_id), str(user_id))
        ) as cur:
            return cur.rowcount > 0

    async def link_of_member(self, guild_id: int, user_id: int) -> BillingLink | None:
        async with self._db.conn.execute(
            _LINK + " WHERE guild_id = ? AND user_id = ?", (str(guild_id), str(user_id))
        ) as cur:
            row = await cur.fetchone()
        return _link(row) if row else None

    async def link_of_customer(self, customer_id: str) -> BillingLink | None:
        async with self._db.conn.execute(_LINK + " WHERE customer_id = ?", (customer_id,)) as cur:
            row = await cur.fetchone()
        return _link(row) if row else None

    async def links(self, guild_id: int | None = None) -> builtins.list[BillingLink]:
        sql, params = _LINK, ()
        if guild_id is not None:
            sql, params = _LINK + " WHERE guild_id = ?", (str(guild_id),)
        async with self._db.conn.execute(sql + " ORDER BY guild_id, user_id", params) as cur:
            return [_link(row) for row in await cur.fetchall()]

    # events --------------------------------------------------------------------
    async def store_event(self, event_id: str, kind: str, payload: dict[str, Any], at: datetime) -> bool:
        """Keep the event before acting on it; False when it was already stored (a replay)."""
        async with self._db.conn.execute(
            "INSERT INTO stripe_events (id, type, payload, received_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (id) DO NOTHING",
            (event_id, kind, json_dumps(payload), to_db(at)),
        ) as cur:
            return cur.rowcount > 0

    async def event(self, event_id: str) -> StoredEvent | None:
        async with self._db.conn.execute(
            _EVENT + " WHERE id = ?",
            (event_id,),
        ) as cur:
            row = await cur.fetchone()
        return _event(row) if row else None

    async def pending_events(self) -> builtins.list[StoredEvent]:
        async with self._db.conn.execute(
            _EVENT + " WHERE processed_at IS NULL AND parked_at IS NULL ORDER BY received_at, id"
        ) as cur:
            return [_event(row) for row in await cur.fetchall()]

    async def mark_processed(self, event_id: str, at: datetime) -> None:
        await self._db.conn.execute(
            "UPDATE stripe_events SET processed_at = ?, attempts = attempts + 1, last_error = NULL WHERE id = ?",
            (to_db(at), event_id),
        )

    async def mark_failed(self, event_id: str, error: str) -> None:
        await self._db.conn.execute(
            "UPDATE stripe_events SET attempts = attempts + 1, last_error = ? WHERE id = ?", (error[:500], event_id)
        )

    async def park(self, event_id: str, at: datetime) -> bool:
        """Stop retrying an event (a dead letter); False when it was already parked or handled."""
        async with self._db.conn.execute(
            "UPDATE stripe_events SET parked_at = ? WHERE id = ? AND parked_at IS NULL AND processed_at IS NULL",
            (to_db(at), event_id),
        ) as cur:
            return cur.rowcount > 0

    async def parked_events(self, limit: int = 1) -> tuple[int, builtins.list[StoredEvent]]:
        """How many events are parked, and the newest `limit` of them (newest first)."""
        async with self._db.conn.execute("SELECT count(*) FROM stripe_events WHERE parked_at IS NOT NULL") as cur:
            (count,) = await cur.fetchone()
        async with self._db.conn.execute(
            _EVENT + " WHERE parked_at IS NOT NULL ORDER BY parked_at DESC, id DESC LIMIT ?", (limit,)
        ) as cur:
            return int(count), [_event(row) for row in await cur.fetchall()]

    # subscriptions -------------------------------------------------------------
    async def subscriptions(self, customer_id: str) -> builtins.list[SubscriptionState]:
        async with self._db.conn.execute(_SUB + " WHERE customer_id = ? ORDER BY id", (customer_id,)) as cur:
            return [_subscription(row) for row in await cur.fetchall()]

    async def save_subscription(self, sub: SubscriptionState, at: datetime) -> None:
        await self._db.conn.execute(
            "INSERT INTO subscriptions (id, customer_id, status, current_period_end, price_ids, past_due_since, "
            "cancel_at_period_end, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET customer_id = excluded.customer_id, status = excluded.status, "
            "current_period_end = excluded.current_period_end, price_ids = excluded.price_ids, "
            "past_due_since = excluded.past_due_since, cancel_at_period_end = excluded.cancel_at_period_end, "
            "updated_at = excluded.updated_at",
            (
                sub.id,
                sub.customer_id,
                sub.status,
                to_db_opt(sub.current_period_end),
                json_dumps(list(sub.price_ids)),
                to_db_opt(sub.past_due_since),
                int(sub.cancel_at_period_end),
                to_db(at),
            ),
        )


def _event(row) -> StoredEvent:
    return StoredEvent(
        id=row[0],
        type=row[1],
        payload=json_loads(row[2]),
        received_at=from_db(row[3]),
        processed_at=from_db_opt(row[4]),
        attempts=int(row[5]),
        last_error=row[6],
        parked_at=from_db_opt(row[7]),
    )
