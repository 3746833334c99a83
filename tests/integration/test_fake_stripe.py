"""Proves tests/fake_stripe.py: the real stripe library (async, httpx) against localstripe on loopback.

Every call below goes through ``stripe.StripeClient`` over HTTP, so what is asserted is what the
library put on the wire and what it built from the server's answers.
"""

from __future__ import annotations

import json
import os
import time

import pytest
import stripe

from tests.fake_stripe import (  # noqa: F401 - stripe_stack_fixture registers the ``stripe_stack`` fixture
    CARD_CHARGE_DECLINED,
    StripeStack,
    WebhookRecorder,
    make_event,
    post_signed_event,
    signed_event,
    stripe_stack_fixture,
)

SECRET = "whsec_test_secret"
PICKLE = "/tmp/localstripe.pickle"  # noqa: S108 - only checked to be untouched, never written

# stripe 16's HTTPXClient posts a pre-encoded body with ``data=``, which httpx 0.28 deprecates.
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")


def _pickle_state() -> float | None:
    return os.stat(PICKLE).st_mtime if os.path.exists(PICKLE) else None


async def test_customer_create_retrieve_and_unknown_id(stripe_stack: StripeStack) -> None:
    before = _pickle_state()
    client = stripe_stack.client()
    created = await client.v1.customers.create_async(
        {"email": "ana@example.test", "metadata": {"discord_user_id": "42"}}
    )
    assert created.id.startswith("cus_")
    fetched = await client.v1.customers.retrieve_async(created.id)
    assert isinstance(fetched, stripe.Customer)
    assert fetched.email == "ana@example.test"
    assert fetched.metadata["discord_user_id"] == "42"

    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        await client.v1.customers.retrieve_async("cus_doesnotexist")
    assert excinfo.value.http_status == 404
    assert excinfo.value.code == "resource_missing"
    assert stripe_stack.base_url.startswith("http://127.0.0.1:")
    assert stripe_stack.localstripe_url.startswith("http://127.0.0.1:")
    assert _pickle_state() == before, "localstripe must stay in memory"


async def test_store_is_flushed_between_tests(stripe_stack: StripeStack) -> None:
    listed = await stripe_stack.client().v1.customers.list_async()
    assert listed.data == []


async def test_subscription_lifecycle_and_status_filter(stripe_stack: StripeStack) -> None:
    client = stripe_stack.client()
    customer = await stripe_stack.make_customer(email="bo@example.test", metadata={"discord_user_id": "7"})
    plan = await stripe_stack.make_pro_plan(plan_id="price_pro_monthly")
    assert plan == "price_pro_monthly"

    sub = await stripe_stack.subscribe(customer, plan, metadata={"discord_user_id": "7"})
    assert sub["status"] == "active"
    assert sub["items"]["data"][0]["plan"]["id"] == plan
    assert sub["metadata"] == {"discord_user_id": "7"}

    active = await client.v1.subscriptions.list_async({"customer": customer, "status": "active"})
    assert [s.id for s in active.data] == [sub["id"]]

    canceled = await stripe_stack.cancel(sub["id"])
    assert canceled["status"] == "canceled"
    assert (await client.v1.subscriptions.list_async({"customer": customer, "status": "active"})).data == []
    default = await client.v1.subscriptions.list_async({"customer": customer})
    assert default.data == [], "like Stripe, the default list hides canceled subscriptions"
    everything = await client.v1.subscriptions.list_async({"customer": customer, "status": "all"})
    assert [(s.id, s.status) for s in everything.data] == [(sub["id"], "canceled")]


async def test_declined_first_payment_leaves_subscription_incomplete(stripe_stack: StripeStack) -> None:
    customer = await stripe_stack.make_customer(card=CARD_CHARGE_DECLINED)
    plan = await stripe_stack.make_pro_plan()
    sub = await stripe_stack.subscribe(customer, plan)
    assert sub["status"] == "incomplete"
    invoice = await stripe_stack.client().v1.invoices.retrieve_async(
        sub["latest_invoice"], {"expand": ["payment_intent"]}
    )
    assert invoice.status == "open"
    assert invoice["payment_intent"]["last_payment_error"]["code"] == "card_declined"


async def test_localstripe_webhooks_are_signed_like_stripe(stripe_stack: StripeStack) -> None:
    async with WebhookRecorder() as receiver:
        await stripe_stack.register_webhook(
            receiver.url, SECRET, events=["customer.subscription.created", "customer.subscription.deleted"]
        )
        customer = await stripe_stack.make_customer()
        plan = await stripe_stack.make_pro_plan()
        sub = await stripe_stack.subscribe(customer, plan)
        await stripe_stack.cancel(sub["id"])
        await stripe_stack.wait_for_webhooks()

        for event_type, status in (
            ("customer.subscription.created", "active"),
            ("customer.subscription.deleted", "canceled"),
        ):
            body, headers = await receiver.wait_for(event_type)
            event = stripe.Webhook.construct_event(body, headers["Stripe-Signature"], SECRET)
            assert event.type == event_type
            assert event.data.object.id == sub["id"]
            assert event.data.object.status == status
        assert receiver.types() == ["customer.subscription.created", "customer.subscription.deleted"]


async def test_make_past_due_emits_payment_failed(stripe_stack: StripeStack) -> None:
    async with WebhookRecorder() as receiver:
        await stripe_stack.register_webhook(receiver.url, SECRET, events=["invoice.payment_failed"])
        customer = await stripe_stack.make_customer()
        plan = await stripe_stack.make_pro_plan()
        sub = await stripe_stack.subscribe(customer, plan)

        past_due = await stripe_stack.make_past_due(sub["id"])
        assert past_due["status"] == "past_due"
        listed = await stripe_stack.client().v1.subscriptions.list_async({"customer": customer, "status": "past_due"})
        assert [s.id for s in listed.data] == [sub["id"]]

        body, headers = await receiver.wait_for("invoice.payment_failed")
        event = stripe.Webhook.construct_event(body, headers["Stripe-Signature"], SECRET)
        assert event.data.object.subscription == sub["id"]
        assert event.data.object.customer == customer


async def test_checkout_session_records_nested_params(stripe_stack: StripeStack) -> None:
    client = stripe_stack.client()
    customer = await stripe_stack.make_customer(card=None)
    plan = await stripe_stack.make_pro_plan(plan_id="price_pro_monthly")
    session = await client.v1.checkout.sessions.create_async(
        {
            "mode": "subscription",
            "customer": customer,
            "client_reference_id": "42",
            "line_items": [{"price": plan, "quantity": 1}],
            "metadata": {"discord_user_id": "42"},
            "subscription_data": {"metadata": {"discord_user_id": "42"}},
            "success_url": "https://example.test/ok",
            "cancel_url": "https://example.test/cancel",
        }
    )
    assert isinstance(session, stripe.checkout.Session)
    assert session.id.startswith("cs_test_")
    assert session.url == f"https://checkout.stripe.test/c/pay/{session.id}"
    assert (session.mode, session.status, session.customer) == ("subscription", "open", customer)
    assert session.metadata.to_dict() == {"discord_user_id": "42"}
    assert session.amount_total == 2900

    (params,) = stripe_stack.checkout_sessions
    assert params["line_items"] == [{"price": plan, "quantity": "1"}]
    assert params["metadata"] == {"discord_user_id": "42"}
    assert params["subscription_data"] == {"metadata": {"discord_user_id": "42"}}
    assert params["client_reference_id"] == "42"

    assert (await client.v1.checkout.sessions.retrieve_async(session.id)).status == "open"
    completed = await stripe_stack.complete_checkout(session.id)
    assert (completed["status"], completed["payment_status"]) == ("complete", "paid")
    sub = await client.v1.subscriptions.retrieve_async(completed["subscription"])
    assert (sub.status, sub.customer, sub.metadata["discord_user_id"]) == ("active", customer, "42")

    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        await client.v1.checkout.sessions.create_async(
            {"mode": "subscription", "line_items": [{"price": "price_nope"}], "success_url": "https://example.test"}
        )
    assert excinfo.value.code == "resource_missing"


async def test_billing_portal_session(stripe_stack: StripeStack) -> None:
    client = stripe_stack.client()
    customer = await stripe_stack.make_customer()
    portal = await client.v1.billing_portal.sessions.create_async(
        {"customer": customer, "return_url": "https://discord.com/channels/@me"}
    )
    assert isinstance(portal, stripe.billing_portal.Session)
    assert portal.id.startswith("bps_")
    assert portal.url.startswith("https://billing.stripe.test/p/session/")
    assert (portal.customer, portal.return_url) == (customer, "https://discord.com/channels/@me")
    assert stripe_stack.portal_sessions == [{"customer": customer, "return_url": "https://discord.com/channels/@me"}]


async def test_signed_event_verifies_and_tampering_fails(stripe_stack: StripeStack) -> None:
    session = {"id": "cs_test_1", "object": "checkout.session", "client_reference_id": "42", "status": "complete"}
    payload = make_event("checkout.session.completed", session)
    body, headers = signed_event(payload, SECRET)
    event = stripe.Webhook.construct_event(body, headers["Stripe-Signature"], SECRET)
    assert event.type == "checkout.session.completed"
    assert event.data.object.client_reference_id == "42"

    tampered = body.replace(b'"42"', b'"43"')
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(tampered, headers["Stripe-Signature"], SECRET)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(body, headers["Stripe-Signature"], "whsec_other")
    old_body, old_headers = signed_event(payload, SECRET, timestamp=int(time.time()) - 3600)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(old_body, old_headers["Stripe-Signature"], SECRET)

    async with WebhookRecorder() as receiver:
        status, _ = await post_signed_event(receiver.url, payload, SECRET)
        assert status == 200
        (received, received_headers) = receiver.deliveries[0]
        assert json.loads(received) == payload
        stripe.Webhook.construct_event(received, received_headers["Stripe-Signature"], SECRET)


async def test_unsupported_endpoint_is_a_typed_error(stripe_stack: StripeStack) -> None:
    client = stripe_stack.client()
    with pytest.raises(stripe.InvalidRequestError, match="Unrecognized request URL"):
        await client.v1.prices.create_async({"currency": "usd", "unit_amount": 100, "product_data": {"name": "x"}})
    with pytest.raises(stripe.InvalidRequestError, match="Unrecognized request URL"):
        await client.v1.customers.search_async({"query": "email:'a@b.test'"})
    with pytest.raises(stripe.APIError, match="unsupported parameter"):
        await client.v1.subscriptions.list_async({"price": "price_pro_monthly"})


async def test_only_loopback(stripe_stack: StripeStack) -> None:
    with pytest.raises(ValueError, match=r"127\.0\.0\.1"):
        await stripe_stack.register_webhook("http://example.com/hook", SECRET)
    with pytest.raises(RuntimeError, match="already running"):
        await StripeStack().start()
