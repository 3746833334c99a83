"""Billing values: what we know of a member's Stripe subscriptions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class SubscriptionState:
    """A subscription as Stripe last described it, plus when we first saw it past due (Stripe does not
    say, and the grace period counts from then)."""

    id: str
    customer_id: str
    status: str
    current_period_end: datetime | None
    price_ids: tuple[str, ...]
    past_due_since: datetime | None = None
    cancel_at_period_end: bool = False


@dataclass(frozen=True, slots=True)
class BillingLink:
    guild_id: int
    user_id: int
    customer_id: str
    linked_by: int
    linked_at: datetime
