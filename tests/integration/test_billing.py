"""Stripe billing end to end: the real stripe library against localstripe (plus a loopback stand-in for
Checkout and the portal), signed webhooks into the bot's embedded web server, and the real bot driven by
the fake Discord. Roles follow Stripe: upgrade, cancel, past due inside and after grace, forged,
replayed and out-of-order events, two subscriptions, reconcile of a drifted role, moderator commands."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import aiohttp
import pytest
import stripe
from pydantic import SecretStr

from app.bootstrap import build_app, build_bot, build_web
from domain.billing import BillingLink
from tests.engine_builders import Clock, settings
from tests.fake_discord import FakeDiscord, FakeMember, running_bot
from tests.fake_stripe import make_event, post_signed_event, signed_event, stripe_stack_fixture  # noqa: F401

SECRET = "whsec_test_secret"
PLAN = "price_pro_monthly"
COMMUNITY = FakeDiscord.COMMUNITY_USER_ID
PRO = FakeDiscord.PRO_USER_ID
MOD = FakeDiscord.MOD_USER_ID
PRO_ROLE = FakeDiscord.PRO_ROLE_ID


class Rig:
    def __init__(self, fake, bot, stripe_stack, clock) -> None:
        self.fake, self.bot, self.stripe, self.clock = fake, bot, stripe_stack, clock
        self.url = f"http://127.0.0.1:{bot.web.port}/stripe/webhook"

    def has_pro(self, user_id: int) -> bool:
        member = self.bot.get_guild(FakeDiscord.DEFAULT_GUILD_ID).get_member(user_id)
        return any(role.id == PRO_ROLE for role in member.roles)

    async def settle(self) -> None:
        """Let localstripe's webhooks arrive and the bot finish handling them."""
        await self.stripe.wait_for_webhooks()
        await self.bot.billing.idle()
        await self.bot.deliver_outbox()  # the DMs and mod-log posts billing owes (outbox rows)

    async def send(self, kind: str, obj: dict, **kw) -> tuple[int, dict]:
        status, body = await post_signed_event(self.url, make_event(kind, obj, **kw), SECRET)
        await self.bot.billing.idle()
        await self.bot.deliver_outbox()
        return status, json.loads(body)

    async def slash(self, name: str, options: dict, user_id: int):
        record = await self.fake.invoke_slash(name, options, user_id=user_id)
        first = await record.response()
        answer = (await record.wait_followups(1))[-1] if first.type == 5 else first
        await self.bot.deliver_outbox()
        return answer

    async def customer_with_subscription(self, user_id: int | None = None) -> tuple[str, dict]:
        customer = await self.stripe.make_customer(email="member@example.test")
        subscription = await self.stripe.subscribe(customer, PLAN)
        if user_id is not None:
            answer = await self.slash("mod billing link", {"member": user_id, "customer_id": customer}, MOD)
            assert "Linked" in answer.content, answer.content
        await self.settle()
        return customer, subscription


@pytest.fixture
async def rig(stripe_stack, db_url, monkeypatch):
    config = settings()
    config.discord.guild_id = FakeDiscord.DEFAULT_GUILD_ID
    config.stripe.secret_key = SecretStr("sk_test_12345")
    config.stripe.webhook_secret = SecretStr(SECRET)
    config.stripe.api_base = stripe_stack.base_url
    config.stripe.pro_price = PLAN
    fake = FakeDiscord()
    config.stripe.mod_log_channel = fake.channels["mod-log"]
    clock = Clock()
    app = await build_app(config, db_path=db_url, source="test", clock=clock)
    bot = build_bot(app)
    build_web(app)
    await app.web.start()
    bot.web = app.web
    async with fake.serve(monkeypatch), running_bot(fake, bot):
        await stripe_stack.make_pro_plan(plan_id=PLAN)
        rig = Rig(fake, bot, stripe_stack, clock)
        await stripe_stack.register_webhook(rig.url, SECRET)
        yield rig
        await bot.billing.idle()
    await app.close()
    assert fake.unhandled == []


async def test_upgrade_then_checkout_webhook_gives_pro_and_a_dm(rig):
    answer = await rig.slash("upgrade", {}, COMMUNITY)
    assert answer.ephemeral
    [button] = answer.components[0]["components"]
    assert button["url"].startswith("https://checkout.stripe.test/")
    params = rig.stripe.checkout_sessions[-1]
    assert params["mode"] == "subscription"
    assert params["line_items"][0]["price"] == PLAN
    assert params["client_reference_id"] == str(COMMUNITY)
    assert params["metadata"] == {
        "discord_user_id": str(COMMUNITY),
        "discord_guild_id": str(FakeDiscord.DEFAULT_GUILD_ID),
    }
    # The member pays; Stripe sends checkout.session.completed (signed exactly as Stripe does).
    session_id = button["url"].rsplit("/", 1)[-1].split("#")[0]
    session = await rig.stripe.complete_checkout(session_id)
    await rig.settle()
    assert not rig.has_pro(COMMUNITY)  # the subscription events came before the member was known
    status, body = await rig.send("checkout.session.completed", session)
    assert status == 200 and body == {"received": True, "duplicate": False}
    assert rig.has_pro(COMMUNITY)
    assert any(c.action == "add" and c.user_id == COMMUNITY and c.role_id == PRO_ROLE for c in rig.fake.role_changes)
    assert "You are Pro now" in rig.fake.dms[COMMUNITY][-1]["content"]
    log = rig.fake.channel_messages[rig.fake.channels["mod-log"]]
    assert any("subscribed through Checkout" in m["content"] for m in log)
    # /billing status: plan, status, renewal date and the portal link.
    status_answer = await rig.slash("billing status", {}, COMMUNITY)
    fields = {f["name"]: f["value"] for f in status_answer.embeds[0]["fields"]}
    assert fields["Plan"] == "Pro" and fields["Status"] == "active" and "Renews" in fields
    [portal] = status_answer.components[0]["components"]
    assert portal["url"].startswith("https://billing.stripe.test/")
    already = await rig.slash("upgrade", {}, COMMUNITY)
    assert "already Pro" in already.content


async def test_cancel_removes_the_role(rig):
    _, subscription = await rig.customer_with_subscription(COMMUNITY)
    assert rig.has_pro(COMMUNITY)
    await rig.stripe.cancel(subscription["id"])  # localstripe sends customer.subscription.deleted
    await rig.settle()
    assert not rig.has_pro(COMMUNITY)
    assert "Pro access has ended" in rig.fake.dms[COMMUNITY][-1]["content"]


async def test_past_due_keeps_pro_through_the_grace_period_then_not(rig):
    # localstripe has no billing clock: its only way to a failed renewal moves the subscription to a
    # yearly plan, so here any subscription counts as Pro.
    rig.bot.ctx.settings.stripe.pro_price = ""
    _, subscription = await rig.customer_with_subscription(COMMUNITY)
    await rig.stripe.make_past_due(subscription["id"])  # a real failed invoice: invoice.payment_failed
    await rig.settle()
    assert rig.has_pro(COMMUNITY)
    assert "last payment failed" in rig.fake.dms[COMMUNITY][-1]["content"]
    answer = await rig.slash("mod billing status", {"member": COMMUNITY}, MOD)
    fields = {f["name"]: f["value"] for f in answer.embeds[0]["fields"]}
    assert "Grace until" in fields and "past due" in fields["Should be"]
    rig.clock.now += timedelta(days=3, minutes=1)
    synced = await rig.slash("mod billing sync", {"member": COMMUNITY}, MOD)
    assert "Pro role removed" in synced.content and "grace period ended" in synced.content
    assert not rig.has_pro(COMMUNITY)


async def test_forged_stale_and_malformed_webhooks_get_400_and_change_nothing(rig):
    customer, subscription = await rig.customer_with_subscription()
    event = make_event("customer.subscription.updated", subscription | {"customer": customer})
    body, headers = signed_event(event, "whsec_someone_else")
    async with aiohttp.ClientSession() as http:
        async with http.post(rig.url, data=body, headers=headers) as resp:
            assert resp.status == 400 and "invalid signature" in await resp.text()
        async with http.post(rig.url, data=body, headers={"Content-Type": "application/json"}) as resp:
            assert resp.status == 400 and "missing" in await resp.text()
        stale_body, stale_headers = signed_event(event, SECRET, timestamp=int(time.time()) - 3600)
        async with http.post(rig.url, data=stale_body, headers=stale_headers) as resp:
            assert resp.status == 400
        tampered = body.replace(b"active", b"past_due")
        _, good_headers = signed_event(event, SECRET)
        async with http.post(rig.url, data=tampered, headers=good_headers) as resp:
            assert resp.status == 400
    assert await rig.bot.ctx.repos.billing.event(event["id"]) is None


async def _stored_events(rig) -> int:
    return await rig.bot.ctx.repos.db.scalar("SELECT count(*) FROM stripe_events")


async def test_signed_bodies_that_are_not_event_objects_get_400_and_store_nothing(rig):
    before = await _stored_events(rig)
    event = make_event("invoice.paid", {"id": "in_9", "object": "invoice", "customer": "cus_x"})
    texts = [
        json.dumps([event]),  # an array of events
        json.dumps("evt_123"),  # a string
        "[" * 100_000 + "]" * 100_000,  # deeply nested (json.loads would recurse 100,000 levels)
        '{"id": "evt_deep", "type": "invoice.paid", "data": ' + "[" * 100_000 + "]" * 100_000 + "}",
        json.dumps(event | {"type": ["invoice.paid"]}),  # an object, but not an event's shape
    ]
    async with aiohttp.ClientSession() as http:
        for text in texts:
            header = stripe.WebhookSignature.generate_signature_header(text, SECRET)
            headers = {"Stripe-Signature": header, "Content-Type": "application/json"}
            async with http.post(rig.url, data=text.encode(), headers=headers) as resp:
                assert resp.status == 400, (text[:40], resp.status, await resp.text())
    assert await _stored_events(rig) == before


async def test_timestamps_outside_the_tolerance_either_way_are_refused(rig):
    tolerance = rig.bot.ctx.settings.stripe.webhook_tolerance_seconds
    async with aiohttp.ClientSession() as http:
        for offset in (-3600, 3600, tolerance + 120):
            event = make_event("invoice.paid", {"id": "in_1", "object": "invoice", "customer": "cus_x"})
            body, headers = signed_event(event, SECRET, timestamp=int(time.time()) + offset)
            async with http.post(rig.url, data=body, headers=headers) as resp:
                assert resp.status == 400 and "invalid signature" in await resp.text(), offset
            assert await rig.bot.ctx.repos.billing.event(event["id"]) is None
    # Inside the tolerance (a sender's clock a little ahead) is fine.
    event = make_event("invoice.paid", {"id": "in_1", "object": "invoice", "customer": "cus_x"})
    status, _ = await post_signed_event(rig.url, event, SECRET, timestamp=int(time.time()) + 30)
    assert status == 200


async def test_a_poison_event_is_parked_after_the_attempt_cap_and_shown_to_moderators(rig):
    rig.bot.ctx.settings.stripe.event_max_attempts = 3
    repos = rig.bot.ctx.repos
    # Signed and stored, but its `data` is a list: handling it fails the same way every time.
    event = make_event("customer.subscription.updated", {"id": "sub_x", "customer": "cus_x"})
    event["data"] = [event["data"]]
    status, _ = await post_signed_event(rig.url, event, SECRET)
    assert status == 200
    await rig.bot.billing.idle()
    assert (await repos.billing.event(event["id"])).attempts == 1
    await rig.bot.billing.process_pending()  # the scheduled retries (every minute in production)
    assert (await repos.billing.event(event["id"])).parked_at is None
    await rig.bot.billing.process_pending()
    parked = await repos.billing.event(event["id"])
    assert parked.attempts == 3 and parked.parked_at is not None and "AttributeError" in parked.last_error
    # Parked: the schedule no longer retries it.
    for _ in range(3):
        await rig.bot.billing.process_pending()
    assert (await repos.billing.event(event["id"])).attempts == 3
    assert event["id"] not in [e.id for e in await repos.billing.pending_events()]
    # One mod-log post for it, however often the schedule runs.
    await rig.bot.deliver_outbox()
    log = rig.fake.channel_messages[rig.fake.channels["mod-log"]]
    posts = [m["content"] for m in log if event["id"] in m["content"]]
    assert len(posts) == 1 and "parked after 3 failed attempts" in posts[0]
    # The moderators' /billing status shows it; a member's own view does not.
    answer = await rig.slash("mod billing status", {"member": COMMUNITY}, MOD)
    fields = {f["name"]: f["value"] for f in answer.embeds[0]["fields"]}
    assert fields["Parked Stripe events"].startswith(f"1, newest {event['id']} (AttributeError")
    own = await rig.slash("billing status", {}, COMMUNITY)
    assert all(f["name"] != "Parked Stripe events" for f in own.embeds[0]["fields"])
    # A healthy event afterwards is handled as usual.
    fine = make_event("invoice.paid", {"id": "in_2", "object": "invoice", "customer": "cus_x"})
    assert (await post_signed_event(rig.url, fine, SECRET))[0] == 200
    await rig.bot.billing.idle()
    assert (await repos.billing.event(fine["id"])).processed_at is not None


async def test_stripe_being_down_never_parks_an_event(rig, monkeypatch):
    from billing.gateway import BillingUnavailable

    rig.bot.ctx.settings.stripe.event_max_attempts = 1
    customer, _ = await rig.customer_with_subscription(COMMUNITY)

    async def down(_: str) -> None:
        raise BillingUnavailable("connection refused")

    monkeypatch.setattr(rig.bot.billing.gateway, "subscriptions", down)
    event = make_event("invoice.paid", {"id": "in_3", "object": "invoice", "customer": customer})
    assert (await post_signed_event(rig.url, event, SECRET))[0] == 200
    await rig.bot.billing.idle()
    await rig.bot.billing.process_pending()
    stored = await rig.bot.ctx.repos.billing.event(event["id"])
    assert stored.attempts == 2 and stored.parked_at is None and stored.processed_at is None
    monkeypatch.undo()
    await rig.bot.billing.process_pending()
    assert (await rig.bot.ctx.repos.billing.event(event["id"])).processed_at is not None


async def test_replayed_and_out_of_order_events_change_nothing(rig):
    customer, subscription = await rig.customer_with_subscription(COMMUNITY)
    changes = len(rig.fake.role_changes)
    # Stripe retries an event: the second delivery is acknowledged as a duplicate and changes nothing.
    event = make_event("invoice.paid", {"id": "in_1", "object": "invoice", "customer": customer})
    for expected in (False, True):
        status, body = await post_signed_event(rig.url, event, SECRET)
        await rig.bot.billing.idle()
        assert status == 200 and json.loads(body)["duplicate"] is expected
    # A stale "deleted" snapshot arrives after the subscription was renewed: the role follows Stripe's
    # current state (active), not the order events arrive in.
    old = subscription | {"status": "canceled", "customer": customer}
    status, _ = await rig.send("customer.subscription.deleted", old)
    assert status == 200
    assert rig.has_pro(COMMUNITY)
    assert len(rig.fake.role_changes) == changes


async def test_a_member_with_two_subscriptions_stays_pro_while_one_is_active(rig):
    customer, first = await rig.customer_with_subscription(COMMUNITY)
    second = await rig.stripe.subscribe(customer, PLAN)
    await rig.settle()
    await rig.stripe.cancel(first["id"])
    await rig.settle()
    assert rig.has_pro(COMMUNITY)
    answer = await rig.slash("mod billing status", {"member": COMMUNITY}, MOD)
    subs = {f["name"]: f["value"] for f in answer.embeds[0]["fields"]}["Subscriptions"]
    assert f"{first['id']}: canceled" in subs and f"{second['id']}: active" in subs
    await rig.stripe.cancel(second["id"])
    await rig.settle()
    assert not rig.has_pro(COMMUNITY)


async def test_reconcile_fixes_a_drifted_role_and_reports_it(rig):
    await rig.customer_with_subscription(COMMUNITY)
    guild = rig.bot.get_guild(FakeDiscord.DEFAULT_GUILD_ID)
    member = guild.get_member(COMMUNITY)
    await member.remove_roles(guild.get_role(PRO_ROLE), reason="someone clicked the wrong thing")
    await rig.fake.wait_until(lambda: not rig.has_pro(COMMUNITY))
    await rig.bot.reconcile_all()
    await rig.bot.deliver_outbox()
    assert rig.has_pro(COMMUNITY)
    report = rig.fake.channel_messages[rig.fake.channels["mod-log"]][-1]["content"]
    assert "Billing reconcile: 1 members checked, 1 changed." in report
    assert f"<@{COMMUNITY}>: Pro added" in report
    # Hand-given Pro of an unlinked member is left alone by default.
    assert rig.has_pro(PRO)


async def test_moderator_commands_and_their_refusals(rig):
    customer, _ = await rig.customer_with_subscription()
    refused = await rig.slash("mod billing link", {"member": COMMUNITY, "customer_id": customer}, PRO)
    assert refused.ephemeral and "Manage Roles" in refused.content
    assert await rig.bot.ctx.repos.billing.links() == []
    unknown = await rig.slash("mod billing link", {"member": COMMUNITY, "customer_id": "cus_doesnotexist"}, MOD)
    assert "Stripe has no customer" in unknown.content
    malformed = await rig.slash("mod billing link", {"member": COMMUNITY, "customer_id": "bob"}, MOD)
    assert "not a Stripe customer id" in malformed.content
    linked = await rig.slash("mod billing link", {"member": COMMUNITY, "customer_id": customer}, MOD)
    assert "Pro role added" in linked.content and rig.has_pro(COMMUNITY)
    taken = await rig.slash("mod billing link", {"member": PRO, "customer_id": customer}, MOD)
    assert "already linked" in taken.content
    assert (await rig.slash("mod billing sync", {}, PRO)).content.startswith("You need the Manage Roles")
    everyone = await rig.slash("mod billing sync", {}, MOD)
    assert "Checked 1 linked members" in everyone.content
    other = await rig.slash("mod billing status", {"member": MOD}, COMMUNITY)
    assert "Manage Roles" in other.content
    unlinked = await rig.slash("mod billing unlink", {"member": COMMUNITY}, MOD)
    assert "Pro role removed" in unlinked.content and not rig.has_pro(COMMUNITY)
    log = [m["content"] for m in rig.fake.channel_messages[rig.fake.channels["mod-log"]]]
    assert any("linked" in line and customer in line for line in log)
    assert any("unlinked" in line for line in log)


async def test_a_member_who_joins_gets_their_role_at_once(rig):
    customer, _ = await rig.customer_with_subscription()
    newcomer = 1100000000000000999
    async with rig.bot.ctx.repos.db.transaction():
        await rig.bot.ctx.repos.billing.link(
            BillingLink(FakeDiscord.DEFAULT_GUILD_ID, newcomer, customer, MOD, rig.clock())
        )
    await rig.fake.add_member(FakeMember(newcomer, "newcomer", []))
    await rig.fake.wait_until(
        lambda: any(c.user_id == newcomer and c.action == "add" for c in rig.fake.role_changes), within=5
    )


async def test_an_event_stored_before_a_crash_is_finished_at_the_next_start(rig):
    customer, _ = await rig.customer_with_subscription()
    async with rig.bot.ctx.repos.db.transaction():
        await rig.bot.ctx.repos.billing.link(
            BillingLink(FakeDiscord.DEFAULT_GUILD_ID, COMMUNITY, customer, MOD, rig.clock())
        )
        event = make_event("invoice.paid", {"id": "in_2", "object": "invoice", "customer": customer})
        await rig.bot.ctx.repos.billing.store_event(event["id"], event["type"], event, rig.clock())
    assert not rig.has_pro(COMMUNITY)  # stored, not yet handled: the process "died" here
    assert await rig.bot.billing.process_pending() == 1
    assert rig.has_pro(COMMUNITY)
    assert (await rig.bot.ctx.repos.billing.event(event["id"])).processed_at is not None
    assert await rig.bot.billing.process_pending() == 0


async def test_an_api_plan_bought_through_stripe_issues_and_revokes_a_key(rig):
    from services.keys import authenticate

    builder = await rig.stripe.make_pro_plan(amount=4900, plan_id="price_builder_monthly")
    rig.bot.ctx.settings.stripe.api_prices = {"builder": builder}
    customer = await rig.stripe.make_customer(email="dev@example.test")
    subscription = await rig.stripe.subscribe(customer, builder)
    linked = await rig.slash("mod billing link", {"member": COMMUNITY, "customer_id": customer}, MOD)
    assert "role unchanged" in linked.content  # an API plan is not Discord Pro
    assert not rig.has_pro(COMMUNITY)
    dm = rig.fake.dms[COMMUNITY][-1]["content"]
    secret = dm.split("`")[1]
    key = await authenticate(rig.bot.ctx.repos, secret)
    assert key is not None and key.plan == "builder" and key.owner == f"stripe:{customer}"
    await rig.stripe.cancel(subscription["id"])
    await rig.settle()
    assert await authenticate(rig.bot.ctx.repos, secret) is None
    assert "key" in rig.fake.dms[COMMUNITY][-1]["content"] and "revoked" in rig.fake.dms[COMMUNITY][-1]["content"]
