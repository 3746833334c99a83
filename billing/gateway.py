"""Stripe, over the official library's async client (httpx): the only module that talks to Stripe.

Everything else works with `SubscriptionState` and plain URLs, so the rules stay pure and tests can run
the real library against a local Stripe server (`stripe.api_base` → loopback)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import stripe

from config.settings import StripeSettings
from domain.billing import SubscriptionState

log = logging.getLogger(__name__)


class BillingUnavailable(Exception):
    """Stripe could not be reached or refused for a temporary reason; try again later."""


def _when(value: Any) -> datetime | None:
    return datetime.fromtimestamp(int(value), UTC) if value else None


def subscription_state(data: Any) -> SubscriptionState:
    """A Stripe subscription object (or its dict) → `SubscriptionState`."""
    items = (data.get("items") or {}).get("data") or []
    prices = []
    for item in items:
        for key in ("price", "plan"):
            ref = item.get(key)
            if ref:
                prices.append(ref.get("id") if hasattr(ref, "get") else str(ref))
    period_end = data.get("current_period_end")
    if period_end is None and items:
        period_end = items[0].get("current_period_end")  # newer API versions keep it on the item
    customer = data.get("customer")
    return SubscriptionState(
        id=data["id"],
        customer_id=customer.get("id") if hasattr(customer, "get") else str(customer),
        status=str(data.get("status")),
        current_period_end=_when(period_end),
        price_ids=tuple(dict.fromkeys(p for p in prices if p)),
        cancel_at_period_end=bool(data.get("cancel_at_period_end")),
    )


class StripeGateway:
    def __init__(self, settings: StripeSettings, *, http_client: stripe.HTTPClient | None = None) -> None:
        if settings.secret_key is None:
            raise ValueError("Stripe needs STRATUM_STRIPE__SECRET_KEY")
        base = {"api": settings.api_base} if settings.api_base else None
        self._client = stripe.StripeClient(
            settings.secret_key.get_secret_value(),
            base_addresses=base,
            http_client=http_client or stripe.HTTPXClient(),
            max_network_retries=2,
        )
        self.settings = settings

    async def customer_exists(self, customer_id: str) -> bool:
        try:
            customer = await self._client.v1.customers.retrieve_async(customer_id)
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 404:
                return False
            raise
        except stripe.StripeError as exc:
            raise BillingUnavailable(str(exc)) from exc
        return not customer.to_dict().get("deleted")

    async def subscriptions(self, customer_id: str) -> list[SubscriptionState]:
        try:
            page = await self._client.v1.subscriptions.list_async(
                {"customer": customer_id, "status": "all", "limit": 100}
            )
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 404:
                return []
            raise BillingUnavailable(str(exc)) from exc
        except stripe.StripeError as exc:
            raise BillingUnavailable(str(exc)) from exc
        return [subscription_state(item.to_dict()) for item in page.data]

    async def checkout_url(self, *, guild_id: int, user_id: int, customer_id: str | None) -> str:
        params: dict[str, Any] = {
            "mode": "subscription",
            "line_items": [{"price": self.settings.pro_price, "quantity": 1}],
            "client_reference_id": str(user_id),
            "metadata": {"discord_user_id": str(user_id), "discord_guild_id": str(guild_id)},
            "subscription_data": {"metadata": {"discord_user_id": str(user_id), "discord_guild_id": str(guild_id)}},
            "success_url": self.settings.success_url,
            "cancel_url": self.settings.cancel_url,
        }
        if customer_id:
            params["customer"] = customer_id
        try:
            session = await self._client.v1.checkout.sessions.create_async(params)
        except stripe.StripeError as exc:
            raise BillingUnavailable(str(exc)) from exc
        return str(session.url)

    async def portal_url(self, customer_id: str) -> str:
        try:
            session = await self._client.v1.billing_portal.sessions.create_async(
                {"customer": customer_id, "return_url": self.settings.portal_return_url}
            )
        except stripe.StripeError as exc:
            raise BillingUnavailable(str(exc)) from exc
        return str(session.url)
