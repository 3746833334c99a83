"""The partner-facing repositories (`storage.api`, `storage.billing`) on both backends: every method's round
trip, and the writes that must stay exact when several workers share one database (usage counters, a
Stripe event's claim). Each test runs on SQLite and on PostgreSQL (the `db_url` fixture)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from domain.api import ApiKey, Delivery, WebhookEndpoint
from domain.billing import BillingLink, SubscriptionState
from storage import Repositories
from storage.codec import json_dumps

T0 = datetime(2026, 11, 5, 17, 0, 0, 123456, tzinfo=UTC)
GUILD, MEMBER, OTHER, MOD = 1071234567890123456, 2071234567890123456, 3071234567890123456, 4071234567890123456


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


@pytest.fixture
async def second(db_url: str, repos: Repositories) -> AsyncIterator[Repositories]:
    """Another worker on the same database (its own engine and connections, as a second process has)."""
    opened = await Repositories.open(db_url)
    try:
        yield opened
    finally:
        await opened.close()


def key(key_id: str, owner: str = "Acme", minutes: float = 0, **overrides: int | None) -> ApiKey:
    return ApiKey(key_id, owner, "builder", at(minutes), **overrides)


async def create_key(repos: Repositories, api_key: ApiKey, key_hash: str | None = None) -> None:
    async with repos.db.transaction():
        await repos.api.create_key(api_key, key_hash or "hash_" + api_key.id)


# --- API keys ----------------------------------------------------------------------------------------------


async def test_keys_are_created_found_listed_and_revoked_once(repos: Repositories) -> None:
    await create_key(repos, key("strat_b", "Beta", 1))
    await create_key(repos, key("strat_a", "Acme", 2, rpm_override=900, webhooks_override=0))
    await create_key(repos, key("strat_c", "Acme", 2))

    assert await repos.api.key_by_hash("hash_strat_a") == key(
        "strat_a", "Acme", 2, rpm_override=900, webhooks_override=0
    )
    assert await repos.api.key_by_hash("nope") is None
    assert await repos.api.key("strat_b") == key("strat_b", "Beta", 1)
    assert await repos.api.key("strat_zz") is None
    assert [k.id for k in await repos.api.keys()] == ["strat_b", "strat_a", "strat_c"]
    assert [k.id for k in await repos.api.keys("Acme")] == ["strat_a", "strat_c"]
    assert await repos.api.keys("Nobody") == []

    async with repos.db.transaction():
        assert await repos.api.revoke("strat_a", at(5), replaced_by="strat_c")
        assert not await repos.api.revoke("strat_a", at(6))  # already revoked: the first time stays
        assert not await repos.api.revoke("strat_zz", at(6))
    revoked = await repos.api.key("strat_a")
    assert revoked is not None
    assert revoked.revoked_at == at(5)
    assert not revoked.active
    assert await repos.db.scalar("SELECT replaced_by FROM api_keys WHERE id = :id", {"id": "strat_a"}) == "strat_c"


async def test_enterprise_overrides_past_32_bits_round_trip(repos: Repositories) -> None:
    """An operator's "no limit in practice" (`--rpm`, `--monthly`) may pass 2**31: BIGINT on PostgreSQL."""
    big = key("strat_big", rpm_override=10**10, webhooks_override=3_000_000_000, monthly_override=5 * 10**12)
    await create_key(repos, big)
    assert await repos.api.key("strat_big") == big


# --- usage counters ----------------------------------------------------------------------------------------


async def test_usage_is_counted_per_minute_and_summed_per_month(repos: Repositories) -> None:
    async with repos.db.transaction(bookkeeping=True):
        await repos.api.count_request("strat_a", "2026-11-05T17:00", False)
        await repos.api.count_request("strat_a", "2026-11-05T17:00", True)
        await repos.api.add_usage("strat_a", "2026-11-05T17:00", 10, 2)
        await repos.api.add_usage("strat_a", "2026-10-31T23:59", 7, 0)
        await repos.api.add_usage("strat_a", "2026-12-01T00:00", 100, 0)
        await repos.api.add_usage("strat_b", "2026-11-05T17:00", 1000, 0)

    minutes = await repos.api.usage_since("strat_a", "2026-11")
    assert minutes == [("2026-11-05T17:00", 12, 3), ("2026-12-01T00:00", 100, 0)]
    assert all(type(n) is int for _, *counts in minutes for n in counts)
    november = await repos.api.requests_in("strat_a", "2026-11", "2026-12")
    assert november == 12
    assert type(november) is int  # not PostgreSQL's Decimal from SUM
    assert await repos.api.requests_in("strat_a", "2026-10", "2026-11") == 7
    assert await repos.api.requests_in("strat_none", "2026-11", "2026-12") == 0
    assert await repos.api.usage_since("strat_none", "2000") == []


async def test_concurrent_usage_increments_from_two_workers_give_the_exact_total(
    repos: Repositories, second: Repositories
) -> None:
    """100 increments of one key's minute, each its own transaction, from two workers at once (two
    engines, as two processes): the counters are one upsert each, so none is lost on either backend."""
    minute = "2026-11-05T17:00"

    async def flush(worker: Repositories, n: int) -> None:
        async with worker.db.transaction(bookkeeping=True):
            await worker.api.add_usage("strat_a", minute, 1, n % 2)
            await asyncio.sleep(0)  # the transaction stays open while others run

    async def one_request(worker: Repositories, n: int) -> None:
        async with worker.db.transaction(bookkeeping=True):
            await worker.api.count_request("strat_a", minute, n % 5 == 0)

    jobs = [flush(repos if n % 2 else second, n) for n in range(100)]
    jobs += [one_request(second if n % 2 else repos, n) for n in range(50)]
    async with asyncio.timeout(60):
        await asyncio.gather(*jobs)
    assert await repos.api.usage_since("strat_a", "2000") == [(minute, 150, 50 + 10)]
    assert await second.api.requests_in("strat_a", "2026-11", "2026-12") == 150


# --- anomalies ---------------------------------------------------------------------------------------------


async def test_anomalies_are_kept_once_per_dedupe_key_newest_first(repos: Repositories) -> None:
    async with repos.db.transaction(bookkeeping=True):
        assert await repos.api.record_anomaly("strat_a", "rate_spike", "30 rpm", at(1), "strat_a:spike:1")
        assert not await repos.api.record_anomaly("strat_a", "rate_spike", "again", at(2), "strat_a:spike:1")
        assert await repos.api.record_anomaly("strat_a", "many_ips", "5 addresses", at(3), "strat_a:ips:3")
        assert await repos.api.record_anomaly("strat_a", "errors", "same instant", at(3), "strat_a:err:3")
        assert await repos.api.record_anomaly("strat_b", "rate_spike", "other key", at(4), "strat_b:spike:4")

    assert await repos.api.anomalies("strat_a") == [
        {"kind": "errors", "detail": "same instant", "at": at(3)},
        {"kind": "many_ips", "detail": "5 addresses", "at": at(3)},
        {"kind": "rate_spike", "detail": "30 rpm", "at": at(1)},
    ]
    assert [a["kind"] for a in await repos.api.anomalies("strat_a", limit=1)] == ["errors"]
    assert await repos.api.anomalies("strat_none") == []


# --- webhook endpoints -------------------------------------------------------------------------------------


def endpoint(endpoint_id: str, key_id: str = "strat_a", minutes: float = 0) -> WebhookEndpoint:
    return WebhookEndpoint(
        endpoint_id,
        key_id,
        f"https://example.test/{endpoint_id}",
        ("signal.created", "clv.graded"),
        "whsec_1",
        at(minutes),
    )


async def test_webhook_endpoints_round_trip_filter_move_rotate_disable_and_delete(repos: Repositories) -> None:
    async with repos.db.transaction():
        await repos.api.create_endpoint(endpoint("we_2", minutes=2))
        await repos.api.create_endpoint(endpoint("we_1", minutes=1))
        await repos.api.create_endpoint(endpoint("we_3", "strat_b", minutes=3))

    assert await repos.api.endpoint("we_1") == endpoint("we_1", minutes=1)
    assert await repos.api.endpoint("we_none") is None
    assert [e.id for e in await repos.api.endpoints()] == ["we_1", "we_2", "we_3"]
    assert [e.id for e in await repos.api.endpoints("strat_a")] == ["we_1", "we_2"]

    async with repos.db.transaction():
        await repos.api.rotate_secret("we_1", "whsec_2", at(60))
        await repos.api.disable_endpoint("we_2", "x" * 400, at(10))
        await repos.api.disable_endpoint("we_2", "a second reason", at(11))  # the first disabling stays
    rotated = await repos.api.endpoint("we_1")
    assert rotated is not None
    assert (rotated.secret, rotated.old_secret, rotated.old_secret_until) == ("whsec_2", "whsec_1", at(60))
    disabled = await repos.api.endpoint("we_2")
    assert disabled is not None
    assert (disabled.disabled_at, disabled.disabled_reason) == (at(10), "x" * 300)
    assert [e.id for e in await repos.api.endpoints("strat_a", active_only=True)] == ["we_1"]
    assert [e.id for e in await repos.api.endpoints(active_only=True)] == ["we_1", "we_3"]

    async with repos.db.transaction():
        assert await repos.api.move_endpoints("strat_a", "strat_new") == 2
        assert await repos.api.move_endpoints("strat_a", "strat_new") == 0
        assert await repos.api.delete_endpoint("we_3")
        assert not await repos.api.delete_endpoint("we_3")
    assert [e.id for e in await repos.api.endpoints("strat_new")] == ["we_1", "we_2"]
    assert [e.id for e in await repos.api.endpoints()] == ["we_1", "we_2"]


async def test_webhook_deliveries_are_read_from_the_outbox(repos: Repositories) -> None:
    """The outbox rows are written here with plain SQL so this test holds `storage.api`'s reads alone."""
    rows = [
        ("k1", "msg_b", "webhook", "webhook:we_1", "webhook:we_1", at(2), 0, at(2), None, None, None),
        ("k2", "msg_a", "webhook", "webhook:we_1", "webhook:we_1", at(1), 3, at(9), at(3), None, 200),
        ("k3", "msg_c", "webhook", "webhook:we_2", "webhook:we_2", at(1), 5, at(9), None, at(8), 500),
        ("k4", "msg_d", "discord_post", "channel:1", "discord", at(1), 0, at(1), None, None, None),
    ]
    async with repos.db.transaction():
        await repos.db.execute_many(
            "INSERT INTO outbox (key, msg_id, kind, target, queue, payload, created_at, attempts, next_attempt_at, "
            "sent_at, failed_at, last_status) VALUES (:key, :msg_id, :kind, :target, :queue, :payload, :created_at, "
            ":attempts, :next_attempt_at, :sent_at, :failed_at, :last_status)",
            [
                {
                    "key": k,
                    "msg_id": msg,
                    "kind": kind,
                    "target": target,
                    "queue": queue,
                    "payload": json_dumps(
                        {
                            "endpoint_id": target.removeprefix("webhook:"),
                            "event_type": "signal.created",
                            "body": {"n": msg},
                        }
                    ),
                    "created_at": created,
                    "attempts": attempts,
                    "next_attempt_at": due,
                    "sent_at": sent,
                    "failed_at": failed,
                    "last_status": status,
                }
                for k, msg, kind, target, queue, created, attempts, due, sent, failed, status in rows
            ],
        )

    assert [d.id for d in await repos.api.deliveries("we_1")] == ["msg_a", "msg_b"]
    assert await repos.api.delivery("msg_a") == Delivery(
        "msg_a", "we_1", "signal.created", {"n": "msg_a"}, "webhook:we_1", at(1), 3, at(9), at(3), None, 200
    )
    failed = await repos.api.delivery("msg_c")
    assert failed is not None
    assert (failed.failed_at, failed.delivered_at, failed.last_status) == (at(8), None, 500)
    assert await repos.api.delivery("msg_d") is None  # not a webhook row
    assert await repos.api.deliveries("we_none") == []
    assert await repos.api.queues() == ["webhook:we_1"]  # only pending webhook rows


# --- billing links -----------------------------------------------------------------------------------------


async def test_billing_links_round_trip_relink_and_unlink(repos: Repositories) -> None:
    async with repos.db.transaction():
        await repos.billing.link(BillingLink(GUILD, MEMBER, "cus_1", MOD, at(0)))
        await repos.billing.link(BillingLink(GUILD, OTHER, "cus_2", MOD, at(1)))
        await repos.billing.link(BillingLink(GUILD + 1, MEMBER, "cus_3", MEMBER, at(2)))
        await repos.billing.link(BillingLink(GUILD, MEMBER, "cus_4", MEMBER, at(3)))  # relinked: the row changes

    assert await repos.billing.link_of_member(GUILD, MEMBER) == BillingLink(GUILD, MEMBER, "cus_4", MEMBER, at(3))
    assert await repos.billing.link_of_member(GUILD, MOD) is None
    assert await repos.billing.link_of_customer("cus_2") == BillingLink(GUILD, OTHER, "cus_2", MOD, at(1))
    assert await repos.billing.link_of_customer("cus_1") is None
    assert [(x.guild_id, x.user_id) for x in await repos.billing.links()] == [
        (GUILD, MEMBER),
        (GUILD, OTHER),
        (GUILD + 1, MEMBER),
    ]
    assert [x.customer_id for x in await repos.billing.links(GUILD)] == ["cus_4", "cus_2"]

    async with repos.db.transaction():
        assert await repos.billing.unlink(GUILD, MEMBER)
        assert not await repos.billing.unlink(GUILD, MEMBER)
    assert [x.customer_id for x in await repos.billing.links(GUILD)] == ["cus_2"]


# --- Stripe events -----------------------------------------------------------------------------------------


async def store(
    repos: Repositories, event_id: str, minutes: float, kind: str = "customer.subscription.updated"
) -> bool:
    async with repos.db.transaction():
        return await repos.billing.store_event(event_id, kind, {"id": event_id, "data": {"object": {}}}, at(minutes))


async def test_stripe_events_are_stored_once_processed_failed_and_parked(repos: Repositories) -> None:
    assert await store(repos, "evt_2", 2)
    assert await store(repos, "evt_1", 1)
    assert await store(repos, "evt_3", 3)
    assert not await store(repos, "evt_1", 9)  # a replay changes nothing
    first = await repos.billing.event("evt_1")
    assert first is not None
    assert (first.type, first.payload["id"], first.received_at, first.processed_at, first.attempts) == (
        "customer.subscription.updated",
        "evt_1",
        at(1),
        None,
        0,
    )
    assert await repos.billing.event("evt_none") is None
    assert [e.id for e in await repos.billing.pending_events()] == ["evt_1", "evt_2", "evt_3"]

    async with repos.db.transaction():
        await repos.billing.mark_failed("evt_2", "E" * 600)
        await repos.billing.mark_failed("evt_2", "StripeError: down")
    failed = await repos.billing.event("evt_2")
    assert failed is not None
    assert (failed.attempts, failed.last_error, failed.processed_at) == (2, "StripeError: down", None)

    async with repos.db.transaction():
        assert await repos.billing.mark_processed("evt_1", at(4))
        assert not await repos.billing.mark_processed("evt_1", at(5))  # claimed once: the first stays
        assert await repos.billing.park("evt_2", at(6))
        assert not await repos.billing.park("evt_2", at(7))  # already parked
        assert not await repos.billing.park("evt_1", at(7))  # already handled
        await repos.billing.mark_failed("evt_1", "a late failure from another worker")  # changes nothing
    done = await repos.billing.event("evt_1")
    assert done is not None
    assert (done.processed_at, done.attempts, done.last_error) == (at(4), 1, None)
    assert [e.id for e in await repos.billing.pending_events()] == ["evt_3"]

    assert await repos.billing.parked_events() == (1, [await repos.billing.event("evt_2")])
    async with repos.db.transaction():
        assert await repos.billing.park("evt_3", at(8))
    count, newest = await repos.billing.parked_events(limit=5)
    assert (count, [e.id for e in newest], newest[0].parked_at) == (2, ["evt_3", "evt_2"], at(8))


async def test_a_stripe_event_is_claimed_by_exactly_one_of_two_workers(
    repos: Repositories, second: Repositories
) -> None:
    """Two workers finishing the same event at once: one conditional UPDATE each, exactly one wins, and
    the attempt is counted once."""
    assert await store(repos, "evt_race", 1)

    async def finish(worker: Repositories, n: int) -> bool:
        async with worker.db.transaction():
            claimed = await worker.billing.mark_processed("evt_race", at(2 + n))
            await asyncio.sleep(0)
            return claimed

    async with asyncio.timeout(60):
        claims = await asyncio.gather(*(finish(repos if n % 2 else second, n) for n in range(20)))
    assert claims.count(True) == 1
    won = await repos.billing.event("evt_race")
    assert won is not None
    assert (won.attempts, won.processed_at) == (1, at(2 + claims.index(True)))


# --- subscriptions -----------------------------------------------------------------------------------------


async def test_subscriptions_are_saved_as_last_seen(repos: Repositories) -> None:
    active = SubscriptionState("sub_b", "cus_1", "active", at(30 * 24 * 60), ("price_pro",))
    late = SubscriptionState("sub_a", "cus_1", "past_due", None, ("price_pro", "price_api"), at(5), True)
    async with repos.db.transaction():
        await repos.billing.save_subscription(active, at(1))
        await repos.billing.save_subscription(late, at(2))
        await repos.billing.save_subscription(SubscriptionState("sub_c", "cus_2", "canceled", None, ()), at(3))
    assert await repos.billing.subscriptions("cus_1") == [late, active]

    paid = SubscriptionState("sub_a", "cus_1", "active", at(60), ("price_pro",), None, False)
    async with repos.db.transaction():
        await repos.billing.save_subscription(paid, at(4))
    assert await repos.billing.subscriptions("cus_1") == [paid, active]
    assert await repos.billing.subscriptions("cus_none") == []
    flag = await repos.db.scalar("SELECT cancel_at_period_end FROM subscriptions WHERE id = :id", {"id": "sub_a"})
    assert not flag
