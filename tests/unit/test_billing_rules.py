"""The role rule, in one place with the tier rules: Stripe subscription states to Pro or Community."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from access import Tier, billing_tier
from billing.gateway import subscription_state
from domain.billing import SubscriptionState

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
GRACE = timedelta(days=3)


def sub(status: str, *, id="sub_1", past_due_since=None, prices=("price_pro",)) -> SubscriptionState:
    return SubscriptionState(id, "cus_1", status, NOW + timedelta(days=20), prices, past_due_since)


@pytest.mark.parametrize("status", ["active", "trialing"])
def test_active_and_trialing_are_pro(status):
    decision = billing_tier([sub(status)], NOW, GRACE)
    assert decision.tier == Tier.PRO and status in decision.reason and not decision.in_grace


@pytest.mark.parametrize("status", ["canceled", "unpaid", "incomplete_expired", "incomplete", "paused"])
def test_ended_subscriptions_are_community(status):
    assert billing_tier([sub(status)], NOW, GRACE).tier == Tier.COMMUNITY


def test_no_subscription_is_community():
    decision = billing_tier([], NOW, GRACE)
    assert decision.tier == Tier.COMMUNITY and decision.reason == "no subscription"


def test_past_due_keeps_pro_until_the_grace_period_ends():
    inside = billing_tier([sub("past_due", past_due_since=NOW - timedelta(days=2))], NOW, GRACE)
    assert inside.tier == Tier.PRO and inside.in_grace
    assert inside.grace_ends == NOW + timedelta(days=1)
    after = billing_tier([sub("past_due", past_due_since=NOW - timedelta(days=3, seconds=1))], NOW, GRACE)
    assert after.tier == Tier.COMMUNITY and "grace period ended" in after.reason
    first_seen_now = billing_tier([sub("past_due")], NOW, GRACE)
    assert first_seen_now.tier == Tier.PRO and first_seen_now.grace_ends == NOW + GRACE


def test_two_subscriptions_any_active_one_wins():
    decision = billing_tier([sub("canceled", id="sub_a"), sub("active", id="sub_b")], NOW, GRACE)
    assert decision.tier == Tier.PRO and decision.subscription_id == "sub_b"


def test_only_the_pro_price_counts_when_configured():
    api_plan = sub("active", prices=("price_builder",))
    assert billing_tier([api_plan], NOW, GRACE, pro_price="price_pro").tier == Tier.COMMUNITY
    assert billing_tier([api_plan], NOW, GRACE, pro_price="").tier == Tier.PRO


def test_subscription_state_from_a_stripe_object():
    state = subscription_state(
        {
            "id": "sub_9",
            "customer": "cus_9",
            "status": "past_due",
            "current_period_end": 1_800_000_000,
            "cancel_at_period_end": True,
            "items": {"data": [{"price": {"id": "price_pro"}, "plan": {"id": "price_pro"}}]},
        }
    )
    assert state.id == "sub_9" and state.customer_id == "cus_9" and state.status == "past_due"
    assert state.price_ids == ("price_pro",) and state.cancel_at_period_end
    assert state.current_period_end == datetime.fromtimestamp(1_800_000_000, UTC)
