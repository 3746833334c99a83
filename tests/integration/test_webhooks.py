"""Webhooks end to end: a real SQLite file, real HTTP to aiohttp receivers on 127.0.0.1, an injected clock.

Deliveries are checked as a receiver checks them, with the spec's own library (`standardwebhooks`'s
`Webhook.verify`: the signature, and the timestamp within 5 minutes of the real clock). No test resolves a
public name or touches a non-loopback address: URL policy tests use IP literals, "localhost", and a fake
resolver for made-up `.test` names.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ipaddress
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from standardwebhooks import Webhook, WebhookVerificationError

from access import NotFound, UserError
from api.serialize import API_VERSION
from config.settings import Settings
from delivery.webhooks import (
    EVENT_TYPES,
    PlanLimitReached,
    WebhookService,
    address_refusal,
    check_url,
    new_secret,
    webhook_session,
)
from domain.api import ApiKey, WebhookEndpoint
from services.keys import create_key
from storage import Repositories
from tests.engine_builders import T0, Clock, settings

Answer = int | tuple[int, dict[str, str]] | Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)


def verified(secret: str, seen: Seen) -> bool:
    """A receiver's check, by the Standard Webhooks library rather than by the code under test."""
    try:
        Webhook(secret).verify(seen.body, seen.headers)
    except WebhookVerificationError:
        return False
    return True


@dataclass
class Receiver:
    """A webhook receiver on 127.0.0.1: answers are used in order, the last one repeats."""

    answers: list[Answer] = field(default_factory=lambda: [200])
    seen: list[Seen] = field(default_factory=list)
    port: int = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.seen.append(Seen(request.path, {k.lower(): v for k, v in request.headers.items()}, await request.read()))
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if callable(answer):
            return await answer(request)
        status, headers = answer if isinstance(answer, tuple) else (answer, {})
        return web.Response(status=status, headers=headers, text="ok")

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@pytest.fixture
def cfg() -> Settings:
    return settings()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with webhook_session(allow_loopback=True) as client:  # development mode: loopback receivers
        yield client


@pytest.fixture
async def receiver() -> AsyncIterator[Callable[..., Awaitable[Receiver]]]:
    runners: list[web.AppRunner] = []

    async def start(*answers: Answer) -> Receiver:
        rx = Receiver(list(answers) or [200])
        app = web.Application()
        app.router.add_route("POST", "/{tail:.*}", rx.handle)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        rx.port = runner.addresses[0][1]
        return rx

    yield start
    for runner in runners:
        await runner.cleanup()


@pytest.fixture
def notified() -> list[tuple[str, str]]:
    return []


@pytest.fixture
def make_service(repos, cfg, http, notified) -> Callable[..., WebhookService]:
    async def notify(key: ApiKey, message: str) -> None:
        notified.append((key.id, message))

    def make(clock: Clock, **overrides: Any) -> WebhookService:
        options: dict[str, Any] = {"rng": lambda: 0.1, "allow_loopback_http": True, "notify": notify}
        return WebhookService(repos, cfg, http, clock=clock, **(options | overrides))

    return make


async def key(repos: Repositories, cfg: Settings, plan: str = "pro_infra", owner: str = "acme") -> ApiKey:
    made, _ = await create_key(repos, cfg, owner=owner, plan=plan, now=T0)
    return made


# ------------------------------------------------------------------------------------------ signing


async def test_signed_headers_verify_and_the_id_is_stable_across_retries(repos, cfg, receiver, make_service):
    rx = await receiver(500, 200)
    clock = Clock(T0)
    wall = Clock()  # the real clock, moved by hand between the two attempts
    svc = make_service(clock, wall=wall)
    owner = await key(repos, cfg)
    endpoint, secret = await svc.create(owner, rx.url(), None, T0)
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 24
    assert endpoint.secret == "" and endpoint.events == EVENT_TYPES  # shown once, never listed

    assert await svc.publish("signal.created", {"id": "sig1", "score": 71}, T0) == 1
    signed_first = int(wall().timestamp())
    assert await svc.deliver_due(None, T0) == (1, 0)
    later = T0 + timedelta(minutes=1)
    wall.advance(minutes=1)
    assert await svc.deliver_due(None, later) == (1, 1)

    first, second = rx.seen
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert first.headers["webhook-id"].startswith("msg_")
    assert first.headers["webhook-timestamp"] == str(signed_first)
    assert second.headers["webhook-timestamp"] == str(signed_first + 60)  # fresh per attempt
    assert verified(secret, first) and verified(secret, second)
    stamp_moved = {**second.headers, "webhook-timestamp": str(signed_first + 61)}
    assert not verified(secret, Seen(second.path, stamp_moved, second.body))  # the timestamp is signed
    assert not verified(secret, Seen(second.path, second.headers, second.body.replace(b"71", b"72")))
    assert not verified("whsec_" + base64.b64encode(b"x" * 24).decode(), second)
    assert first.headers["content-type"] == "application/json"
    assert first.headers["user-agent"] == "Stratum-Webhooks/1"
    assert first.body == second.body
    assert first.json == {
        "type": "signal.created",
        "version": API_VERSION,
        "timestamp": "2026-01-10T18:00:00Z",
        "data": {"id": "sig1", "score": 71},
    }


async def test_signatures_carry_the_real_time_when_the_app_clock_runs_ahead(repos, cfg, receiver, make_service):
    """The demo's clock runs ahead of the wall's; a receiver checks `webhook-timestamp` against its own real
    clock (5 minutes either way), so the signature is stamped by the wall clock, not the app's."""
    rx = await receiver(200)
    ahead = datetime.now(UTC) + timedelta(hours=1)
    svc = make_service(Clock(ahead))  # the real wall clock (the default)
    owner = await key(repos, cfg)
    _, secret = await svc.create(owner, rx.url(), None, ahead)
    await svc.publish("signal.created", {"id": "sig1"}, ahead)
    before = int(datetime.now(UTC).timestamp())
    assert await svc.deliver_due(None, ahead) == (1, 1)

    (seen,) = rx.seen
    assert verified(secret, seen)  # an hour off the receiver's clock, this would be "timestamp too new"
    assert before <= int(seen.headers["webhook-timestamp"]) <= int(datetime.now(UTC).timestamp())
    assert seen.json["timestamp"] == ahead.isoformat().replace("+00:00", "Z")  # the event's time is the app's


# ------------------------------------------------------------------------------------------ retries


async def test_backoff_honours_retry_after_and_delivers_once_after_recovery(repos, cfg, receiver, make_service):
    rx = await receiver(500, (429, {"Retry-After": "2"}), 200)
    svc = make_service(Clock(T0))
    owner = await key(repos, cfg)
    endpoint, _ = await svc.create(owner, rx.url(), ["signal.created"], T0)
    await svc.publish("signal.created", {"id": "sig1"}, T0)
    (delivery,) = await repos.api.deliveries(endpoint.id)

    assert await svc.deliver_due("shared", T0) == (1, 0)
    d = await repos.api.delivery(delivery.id)
    assert (d.attempts, d.last_status, d.next_attempt_at) == (1, 500, T0 + timedelta(seconds=0.5))  # 0.1 × 5 s

    assert await svc.deliver_due("shared", T0 + timedelta(seconds=0.4)) == (0, 0)  # not due yet
    t1 = T0 + timedelta(seconds=0.5)
    assert await svc.deliver_due("shared", t1) == (1, 0)
    d = await repos.api.delivery(delivery.id)
    # jitter would give 0.1 × 10 s = 1 s; the receiver's Retry-After: 2 is larger and wins
    assert (d.attempts, d.last_status, d.next_attempt_at) == (2, 429, t1 + timedelta(seconds=2))

    t2 = t1 + timedelta(seconds=2)
    assert await svc.deliver_due("shared", t2 - timedelta(milliseconds=1)) == (0, 0)
    assert await svc.deliver_due("shared", t2) == (1, 1)
    assert await svc.deliver_due("shared", t2 + timedelta(hours=2)) == (0, 0)
    d = await repos.api.delivery(delivery.id)
    assert (d.attempts, d.last_status, d.delivered_at, d.failed_at) == (3, 200, t2, None)
    assert len(rx.seen) == 3 and len({s.headers["webhook-id"] for s in rx.seen}) == 1


async def test_backoff_is_exponential_capped_and_jittered(repos, cfg, http):
    svc = WebhookService(repos, cfg, http, clock=Clock(T0), rng=lambda: 1.0, allow_loopback_http=True)
    assert [svc.backoff(n) for n in range(4)] == [5, 10, 20, 40]
    assert svc.backoff(10) == svc.backoff(50) == 3600
    assert svc.backoff(3, retry_after=2) == 40
    assert svc.backoff(0, retry_after=30) == 30
    assert svc.backoff(0, retry_after=86400) == 3600  # a receiver cannot park messages for a day
    half = WebhookService(repos, cfg, http, clock=Clock(T0), rng=lambda: 0.5, allow_loopback_http=True)
    assert half.backoff(2) == 10


async def test_a_timed_out_answer_is_retried_so_the_receiver_may_see_it_twice_but_never_misses_it(
    repos, cfg, receiver, make_service
):
    release = asyncio.Event()

    async def too_slow(request: web.Request) -> web.StreamResponse:
        await asyncio.wait_for(release.wait(), 5)  # processed, but the answer comes too late
        return web.Response(status=200)

    rx = await receiver(too_slow, 200)
    svc = make_service(Clock(T0), timeout=0.2)
    endpoint, _ = await svc.create(await key(repos, cfg), rx.url(), None, T0)
    await svc.publish("clv.graded", {"signal_id": "sig1"}, T0)

    assert await svc.deliver_due(None, T0) == (1, 0)
    assert await svc.deliver_due(None, T0 + timedelta(seconds=1)) == (1, 1)
    release.set()
    assert [s.headers["webhook-id"] for s in rx.seen] == [rx.seen[0].headers["webhook-id"]] * 2
    (d,) = await repos.api.deliveries(endpoint.id)
    assert d.delivered_at is not None and d.attempts == 2


# ------------------------------------------------------------------------------------- disabling


async def test_410_disables_the_endpoint_at_once_and_notifies_the_owner(repos, cfg, receiver, make_service, notified):
    rx = await receiver(410)
    svc = make_service(Clock(T0), concurrency=1)
    owner = await key(repos, cfg, plan="builder")
    endpoint, _ = await svc.create(owner, rx.url(), None, T0)
    await svc.publish("signal.created", {"id": "a"}, T0)
    await svc.publish("signal.created", {"id": "b"}, T0)

    assert await svc.deliver_due(None, T0) == (2, 0)
    assert len(rx.seen) == 1  # the second was not attempted: the endpoint was gone
    (gone,) = await svc.list(owner)
    assert gone.disabled_at == T0 and "410" in (gone.disabled_reason or "")
    deliveries = await repos.api.deliveries(endpoint.id)
    assert all(d.failed_at == T0 and d.delivered_at is None for d in deliveries)
    assert [(k, endpoint.id in m) for k, m in notified] == [(owner.id, True)]
    assert await svc.publish("signal.created", {"id": "c"}, T0) == 0
    # a disabled endpoint no longer counts against the Builder plan's one webhook
    await svc.create(owner, rx.url("/new"), None, T0)


async def test_a_delivery_failing_for_over_a_day_gives_up_disables_and_notifies(repos, cfg, receiver, make_service):
    rx = await receiver(503)
    calls: list[str] = []

    async def broken_notify(key: ApiKey, message: str) -> None:
        calls.append(message)
        raise RuntimeError("Discord is down")  # must not break delivery

    svc = make_service(Clock(T0), notify=broken_notify)
    owner = await key(repos, cfg)
    endpoint, _ = await svc.create(owner, rx.url(), None, T0)
    await svc.publish("signal.created", {"id": "a"}, T0)

    assert await svc.deliver_due(None, T0) == (1, 0)
    late = T0 + timedelta(days=1)
    assert await svc.deliver_due(None, late) == (1, 0)
    (d,) = await repos.api.deliveries(endpoint.id)
    assert (d.failed_at, d.delivered_at, d.attempts, d.last_status) == (late, None, 2, 503)
    ep = await repos.api.endpoint(endpoint.id)
    assert ep.disabled_at == late and "1 day" in (ep.disabled_reason or "")
    assert len(calls) == 1
    assert await svc.deliver_due(None, late + timedelta(days=1)) == (0, 0)


# ---------------------------------------------------------------------------------------- outbox


async def test_the_outbox_survives_a_restart(db_url, cfg, http, receiver):
    rx = await receiver(200)
    path = db_url
    repos = await Repositories.open(path)
    svc = WebhookService(repos, cfg, http, clock=Clock(T0), allow_loopback_http=True)
    endpoint, secret = await svc.create(await key(repos, cfg), rx.url(), None, T0)
    assert await svc.publish("signal.created", {"id": "owed"}, T0) == 1
    (owed,) = await repos.api.deliveries(endpoint.id)
    await repos.close()  # the process dies before sending

    repos = await Repositories.open(path)
    try:
        svc = WebhookService(repos, cfg, http, clock=Clock(T0), allow_loopback_http=True)
        assert await svc.deliver_due(None, T0 + timedelta(seconds=5)) == (1, 1)
        (seen,) = rx.seen
        assert seen.headers["webhook-id"] == owed.id and seen.json["data"] == {"id": "owed"}
        assert verified(secret, seen)
    finally:
        await repos.close()


# ------------------------------------------------------------------------------------ endpoints


async def test_plan_webhook_counts(repos, cfg, make_service):
    svc = make_service(Clock(T0))
    builder = await key(repos, cfg, plan="builder")
    await svc.create(builder, "http://127.0.0.1:9/one", None, T0)
    with pytest.raises(PlanLimitReached) as refused:
        await svc.create(builder, "http://127.0.0.1:9/two", None, T0)
    assert refused.value.status == 403 and isinstance(refused.value, UserError)

    infra = await key(repos, cfg, plan="pro_infra")
    made = [await svc.create(infra, f"http://127.0.0.1:9/{n}", None, T0) for n in range(5)]
    with pytest.raises(PlanLimitReached):
        await svc.create(infra, "http://127.0.0.1:9/6", None, T0)
    await svc.delete(infra, made[0][0].id)
    await svc.create(infra, "http://127.0.0.1:9/6", None, T0)
    assert len(await svc.list(infra)) == 5 and len(await svc.list(builder)) == 1


async def test_events_ownership_test_messages_and_per_key_events(repos, cfg, receiver, make_service):
    rx = await receiver(200)
    svc = make_service(Clock(T0))
    alice, bob = await key(repos, cfg, owner="alice"), await key(repos, cfg, owner="bob")
    with pytest.raises(UserError, match="Unknown webhook event"):
        await svc.create(alice, rx.url(), ["signal.created", "nope"], T0)
    with pytest.raises(UserError, match="at least one"):
        await svc.create(alice, rx.url(), [], T0)
    mine, _ = await svc.create(alice, rx.url("/alice"), ["usage.anomaly"], T0)
    await svc.create(bob, rx.url("/bob"), None, T0)

    assert await svc.publish("signal.created", {"id": "s"}, T0) == 1  # bob only: alice did not subscribe
    assert await svc.publish("usage.anomaly", {"kind": "rate_spike"}, T0, key_id=alice.id) == 1  # alice's own
    with pytest.raises(ValueError, match="unknown webhook event"):
        await svc.publish("signal.deleted", {}, T0)
    test = await svc.send_test(alice, mine.id, T0)  # allowed although alice subscribed to usage.anomaly only
    assert test.event_type == "webhook.test" and test.queue == "shared"
    assert await svc.deliver_due(None, T0) == (3, 3)
    by_path = sorted((s.path, s.json["type"]) for s in rx.seen)
    assert by_path == [("/alice", "usage.anomaly"), ("/alice", "webhook.test"), ("/bob", "signal.created")]

    for call in (svc.delete(bob, mine.id), svc.rotate_secret(bob, mine.id, T0), svc.send_test(bob, mine.id, T0)):
        with pytest.raises(NotFound):
            await call
    await svc.publish("usage.anomaly", {"kind": "error_spike"}, T0, key_id=alice.id)
    await svc.delete(alice, mine.id)
    assert await svc.list(alice) == []
    assert all(d.failed_at is not None for d in await repos.api.deliveries(mine.id) if d.delivered_at is None)
    assert await svc.deliver_due(None, T0) == (0, 0)


async def test_rotation_signs_with_both_secrets_during_the_overlap_only(repos, cfg, receiver, make_service):
    rx = await receiver(200)
    svc = make_service(Clock(T0))
    owner = await key(repos, cfg)
    endpoint, old = await svc.create(owner, rx.url(), None, T0)
    new = await svc.rotate_secret(owner, endpoint.id, T0)
    assert new != old

    during = T0 + timedelta(hours=23)
    await svc.publish("signal.created", {"id": "a"}, during)
    await svc.deliver_due(None, during)
    after = T0 + timedelta(hours=24, seconds=1)
    await svc.publish("signal.created", {"id": "b"}, after)
    await svc.deliver_due(None, after)

    overlap, later = rx.seen
    assert len(overlap.headers["webhook-signature"].split(" ")) == 2
    assert verified(new, overlap) and verified(old, overlap)
    assert len(later.headers["webhook-signature"].split(" ")) == 1
    assert verified(new, later) and not verified(old, later)


# ----------------------------------------------------------------------------------- URL policy


@pytest.fixture
async def resolver(monkeypatch) -> dict[str, Any]:
    """Names the tests may resolve (to a list of addresses, or a callable giving one per lookup); anything
    else fails the test instead of touching the network. Both the URL check and the webhook session's
    resolver (aiohttp's threaded resolver) go through the loop's getaddrinfo, patched here."""
    answers: dict[str, Any] = {
        "localhost": ["127.0.0.1", "::1"],
        "public.test": ["93.184.216.34"],
        "mixed.test": ["1.1.1.1", "10.1.2.3"],
    }
    loop = asyncio.get_running_loop()

    async def getaddrinfo(host: str, port: int, *args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
        try:
            ips = [str(ipaddress.ip_address(host))]  # a literal (servers binding 127.0.0.1) needs no lookup
        except ValueError:
            if host not in answers:
                raise AssertionError(f"the test tried to resolve {host}") from None
            answer = answers[host]
            ips = answer() if callable(answer) else answer
        return [
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (ip, port, 0, 0))
            if ":" in ip
            else (socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port))
            for ip in ips
        ]

    monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)
    return answers


@pytest.mark.parametrize(
    ("url", "loopback_ok", "problem"),
    [
        ("http://10.0.0.1/hook", True, "private"),
        ("https://10.0.0.1/hook", False, "private"),
        ("http://192.168.1.5/", True, "private"),
        ("http://172.16.0.1/", True, "private"),
        ("https://[fc00::1]/", False, "private"),
        ("https://[::ffff:10.0.0.1]/", False, "embeds"),
        ("http://169.254.169.254/latest", True, "link-local"),
        ("http://[fe80::1]/", True, "link-local"),
        ("https://224.0.0.1/", False, "multicast"),
        ("https://0.0.0.0/", False, "unspecified"),
        ("https://localhost/hook", False, "loopback"),
        ("https://127.0.0.1/hook", False, "loopback"),
        ("https://[::1]/hook", False, "loopback"),
        ("ftp://public.test/file", True, "https://"),
        ("http://example.com/hook", False, "https://"),  # refused before any lookup
        ("http://public.test/hook", True, "https://"),  # http only to loopback, even in development
        ("https://user:pass@public.test/hook", False, "credentials"),
        ("https://mixed.test/hook", False, "private"),  # any forbidden address refuses the name
        ("https://public.test/" + "a" * 2000, False, "longer than"),
        ("https://public.test:99999/", False, "port"),
        ("https:///nohost", False, "no host"),
    ],
)
async def test_url_policy_refuses_ssrf_targets(resolver, url, loopback_ok, problem):
    with pytest.raises(UserError, match=problem):
        await check_url(url, allow_loopback_http=loopback_ok)


@pytest.mark.parametrize(
    ("url", "loopback_ok"),
    [
        ("https://public.test/hooks/stratum?x=1", False),
        ("http://127.0.0.1:8080/hook", True),
        ("http://localhost:8080/hook", True),
        ("http://[::1]:8080/hook", True),
    ],
)
async def test_url_policy_accepts_public_https_and_loopback_in_development(resolver, url, loopback_ok):
    assert await check_url(url, allow_loopback_http=loopback_ok) == url


async def test_the_url_is_checked_again_at_delivery_time(repos, cfg, receiver, make_service, resolver):
    rx = await receiver(200)
    resolver["rebind.test"] = ["127.0.0.1"]
    svc = make_service(Clock(T0))
    endpoint, _ = await svc.create(await key(repos, cfg), f"http://rebind.test:{rx.port}/hook", None, T0)
    resolver["rebind.test"] = ["10.0.0.5"]  # the name now points inside the network
    await svc.publish("signal.created", {"id": "a"}, T0)

    assert await svc.deliver_due(None, T0) == (1, 0)
    assert rx.seen == []
    (d,) = await repos.api.deliveries(endpoint.id)
    assert d.failed_at == T0
    assert (await repos.api.endpoint(endpoint.id)).disabled_at is None  # the next event is checked afresh


# ------------------------------------------------------------------------- SSRF at connect time

#: IPv6 forms that embed or translate IPv4, and other non-global addresses: refused in both modes.
REFUSED_ADDRESSES = [
    ("::127.0.0.1", "embeds"),  # IPv4-compatible loopback
    ("::a9fe:a9fe", "embeds"),  # IPv4-compatible 169.254.169.254
    ("::8.8.8.8", "embeds"),  # even a public IPv4 inside
    ("::ffff:127.0.0.1", "embeds"),  # IPv4-mapped
    ("::ffff:8.8.8.8", "embeds"),
    ("::ffff:0:a9fe:a9fe", "embeds"),  # IPv4-translated
    ("64:ff9b::a9fe:a9fe", "embeds"),  # NAT64 of 169.254.169.254
    ("64:ff9b::808:808", "embeds"),  # NAT64 of a public address: the whole prefix goes
    ("64:ff9b:1::a9fe:a9fe", "embeds"),  # local-use NAT64
    ("2002:a9fe:a9fe::", "embeds"),  # 6to4 of 169.254.169.254
    ("2002:808:808::1", "embeds"),
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "embeds"),  # Teredo
    ("2001::1", "embeds"),
    ("fec0::1", "site-local"),
    ("fc00::1", "private"),
    ("fd12:3456::1", "private"),
    ("fe80::1", "link-local"),
    ("fe80::1%eth0", "link-local"),
    ("ff02::1", "multicast"),
    ("ff0e::1", "multicast"),
    ("::", "unspecified"),
    ("100::1", "private"),  # discard-only
    ("2001:db8::1", "private"),  # documentation
    ("0.0.0.0", "unspecified"),  # noqa: S104 - a table entry, nothing binds it
    ("10.1.2.3", "private"),
    ("172.31.255.255", "private"),
    ("192.168.0.1", "private"),
    ("169.254.169.254", "link-local"),
    ("100.64.0.1", "non-public"),  # carrier-grade NAT
    ("192.0.0.8", "non-public"),  # IPv4 dummy address (3.11's ipaddress calls it global)
    ("203.0.113.9", "private"),
    ("3fff::1", "non-public"),  # documentation, 2024
    ("198.18.0.1", "private"),  # benchmarking
    ("192.0.2.1", "private"),  # documentation
    ("224.0.0.251", "multicast"),
    ("240.0.0.1", "private"),
    ("255.255.255.255", "private"),
]


@pytest.mark.parametrize(("address", "problem"), REFUSED_ADDRESSES)
@pytest.mark.parametrize("allow_loopback", [False, True])
def test_address_refusal_refuses_embedded_ipv4_and_every_non_global_address(address, problem, allow_loopback):
    reason = address_refusal(ipaddress.ip_address(address), allow_loopback=allow_loopback)
    assert reason is not None and problem in reason


@pytest.mark.parametrize(
    ("address", "allow_loopback", "problem"),
    [
        ("127.0.0.1", False, "loopback"),
        ("127.8.9.10", False, "loopback"),
        ("::1", False, "loopback"),
        ("127.0.0.1", True, None),
        ("::1", True, None),
        ("93.184.216.34", False, None),
        ("1.1.1.1", True, None),
        ("2606:4700:4700::1111", False, None),
        ("2a00:1450:4001:82b::200e", False, None),
    ],
)
def test_address_refusal_allows_global_unicast_and_loopback_only_in_development(address, allow_loopback, problem):
    reason = address_refusal(ipaddress.ip_address(address), allow_loopback=allow_loopback)
    assert reason is None if problem is None else problem in (reason or "")


@pytest.mark.parametrize(
    "url",
    [
        "https://[::127.0.0.1]/",
        "https://[64:ff9b::a9fe:a9fe]/",
        "https://[2002:a9fe:a9fe::]/",
        "https://[::ffff:169.254.169.254]/latest",
        "https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",
        "https://[fec0::1]/",
        "https://[fd00::1]:8443/hook",
        "https://nat64.test/hook",  # a name is refused for the address it resolves to
        "https://sixtofour.test/hook",
        "https://cgnat.test/hook",
    ],
)
async def test_url_policy_refuses_ipv6_forms_that_embed_ipv4_in_production(resolver, url):
    resolver.update(
        {"nat64.test": ["64:ff9b::a00:1"], "sixtofour.test": ["2002:7f00:1::"], "cgnat.test": ["100.64.3.4"]}
    )
    with pytest.raises(UserError, match=r"points to .*(embeds|site-local|private|non-public)"):
        await check_url(url, allow_loopback_http=False)


@pytest.mark.parametrize(
    "url",
    ["https://2130706433/", "https://0177.0.0.1/", "https://0x7f.1/", "https://0x7f000001/", "https://127.1/"],
)
async def test_url_policy_refuses_ip_addresses_in_non_standard_forms(resolver, url):
    """aiohttp takes an all-digit host for a literal and never resolves it; the C library reads it as 127.0.0.1."""
    with pytest.raises(UserError, match="non-standard form"):
        await check_url(url, allow_loopback_http=True)


async def test_registration_over_http_refuses_ssrf_targets_with_a_clear_reason(db_url, resolver):
    from app.bootstrap import build_app, start_web  # the whole app, in production mode

    resolver.update({"nat64.test": ["64:ff9b::a9fe:a9fe"], "rebind.test": ["93.184.216.34"]})
    config = settings()
    assert config.web.allow_loopback_webhooks is False
    app = await build_app(config, db_path=db_url, source="test")
    server = await start_web(app)
    refused = {
        "https://[::127.0.0.1]/": "IPv4-compatible",
        "https://[64:ff9b::a9fe:a9fe]/": "NAT64",
        "https://[2002:a9fe:a9fe::]/": "6to4",
        "https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/": "Teredo",
        "https://[::ffff:127.0.0.1]/": "IPv4-mapped",
        "https://[fec0::1]/": "site-local",
        "https://nat64.test/hook": "NAT64",
        "https://127.0.0.1/hook": "loopback",
        "https://2130706433/hook": "non-standard form",
        f"http://127.0.0.1:{server.port}/hook": "https://",
    }
    try:
        _, secret = await create_key(app.repos, config, owner="acme", plan="pro_infra", now=T0)
        async with aiohttp.ClientSession(
            base_url=f"http://127.0.0.1:{server.port}", headers={"Authorization": f"Bearer {secret}"}
        ) as client:
            for url, problem in refused.items():
                async with client.post("/v1/webhooks", json={"url": url}) as response:
                    body = await response.json()
                assert response.status == 400, (url, body)
                assert problem in body["error"]["message"], (url, body)
            async with client.post("/v1/webhooks", json={"url": "https://rebind.test/hook"}) as response:
                assert response.status == 201  # a public name is accepted
            async with client.get("/v1/webhooks") as response:
                assert [e["url"] for e in (await response.json())["data"]] == ["https://rebind.test/hook"]
    finally:
        await app.close()


@dataclass
class Listener:
    """A bare TCP server on 127.0.0.1 that counts the connections reaching it (standing in for a service on
    a private network that an attacker wants a webhook to reach)."""

    port: int = 0
    connections: int = 0


@pytest.fixture
async def listener() -> AsyncIterator[Listener]:
    counted = Listener()

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        counted.connections += 1
        writer.close()

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    counted.port = server.sockets[0].getsockname()[1]
    yield counted
    server.close()
    await server.wait_closed()


@pytest.fixture
async def connects(monkeypatch) -> list[str]:
    """Every address the client connects to; anything but loopback is refused here, never dialled."""
    attempted: list[str] = []
    loop = asyncio.get_running_loop()
    real = loop.sock_connect

    async def sock_connect(sock: socket.socket, address: Any) -> None:
        attempted.append(address[0])
        if not ipaddress.ip_address(address[0]).is_loopback:
            raise ConnectionRefusedError(f"the test refuses to dial {address[0]}")
        await real(sock, address)

    monkeypatch.setattr(loop, "sock_connect", sock_connect)
    return attempted


@pytest.fixture
async def production(repos, cfg) -> AsyncIterator[WebhookService]:
    async with webhook_session(allow_loopback=False) as client:
        yield WebhookService(repos, cfg, client, clock=Clock(T0), rng=lambda: 0.1)


async def test_a_name_rebound_to_loopback_after_registration_is_refused_at_connect_and_retried(
    repos, cfg, resolver, listener, connects, production
):
    lookups: list[str] = []

    def rebind() -> list[str]:
        lookups.append("rebind.test")
        return ["93.184.216.34"] if len(lookups) == 1 else ["127.0.0.1"]

    resolver["rebind.test"] = rebind
    endpoint, _ = await production.create(await key(repos, cfg), f"https://rebind.test:{listener.port}/hook", None, T0)
    await production.publish("signal.created", {"id": "a"}, T0)

    assert await production.deliver_due(None, T0) == (1, 0)
    (item,) = await repos.outbox.for_target("webhook:" + endpoint.id)
    assert item.failed_at is None and item.attempts == 1  # retried per policy: the name may be fixed
    assert item.next_attempt_at == T0 + timedelta(seconds=0.5)
    assert "refused at connect" in item.last_error and "127.0.0.1 is a loopback address" in item.last_error
    assert await production.deliver_due(None, item.next_attempt_at) == (1, 0)
    (item,) = await repos.outbox.for_target("webhook:" + endpoint.id)
    assert item.attempts == 2 and item.failed_at is None
    assert listener.connections == 0 and connects == []
    assert len(lookups) == 3  # one at registration, one per attempt: what was checked is what was dialled


async def test_a_name_rebound_between_lookups_never_reaches_the_private_address(
    repos, cfg, resolver, listener, connects, production
):
    """The gap a check-then-connect design leaves: the answer changes between the check and the connect."""
    lookups: list[str] = []

    def rebind() -> list[str]:
        lookups.append("rebind.test")
        return ["93.184.216.34"] if len(lookups) <= 2 else ["127.0.0.1"]

    resolver["rebind.test"] = rebind
    endpoint, _ = await production.create(await key(repos, cfg), f"https://rebind.test:{listener.port}/hook", None, T0)
    await production.publish("signal.created", {"id": "a"}, T0)

    assert await production.deliver_due(None, T0) == (1, 0)
    assert await production.deliver_due(None, T0 + timedelta(minutes=5)) == (1, 0)
    assert listener.connections == 0
    assert connects and set(connects) == {"93.184.216.34"}  # only ever the address that was checked
    (item,) = await repos.outbox.for_target("webhook:" + endpoint.id)
    assert item.failed_at is None and item.attempts == 2


@pytest.mark.parametrize(
    "host", ["[::127.0.0.1]", "[64:ff9b::a9fe:a9fe]", "[2002:a9fe:a9fe::]", "[::ffff:127.0.0.1]", "[fec0::1]"]
)
async def test_an_ip_literal_stored_before_the_policy_is_refused_at_delivery(
    repos, cfg, listener, connects, production, host
):
    """IP literals never reach aiohttp's resolver, so the sender checks them before each attempt."""
    owner = await key(repos, cfg)
    url = f"https://{host}:{listener.port}/hook"
    await repos.api.create_endpoint(
        WebhookEndpoint(id="we_old", key_id=owner.id, url=url, events=EVENT_TYPES, secret=new_secret(), created_at=T0)
    )
    await production.publish("signal.created", {"id": "a"}, T0)

    assert await production.deliver_due(None, T0) == (1, 0)
    (item,) = await repos.outbox.for_target("webhook:we_old")
    assert item.failed_at == T0 and "refused" in item.last_error
    assert listener.connections == 0 and connects == []


async def test_a_redirect_to_a_private_address_is_not_followed(repos, cfg, receiver, listener, make_service):
    rx = await receiver((302, {"Location": f"http://127.0.0.1:{listener.port}/internal"}))
    svc = make_service(Clock(T0))
    endpoint, _ = await svc.create(await key(repos, cfg), rx.url(), None, T0)
    await svc.publish("signal.created", {"id": "a"}, T0)

    assert await svc.deliver_due(None, T0) == (1, 0)
    (d,) = await repos.api.deliveries(endpoint.id)
    assert d.last_status == 302 and d.failed_at is None  # a receiver's 3xx is a failure, retried
    assert len(rx.seen) == 1 and listener.connections == 0


async def test_the_service_refuses_a_session_without_the_connect_time_guard(repos, cfg):
    async with aiohttp.ClientSession() as plain, webhook_session(allow_loopback=True) as loose:
        with pytest.raises(TypeError, match="webhook_session"):
            WebhookService(repos, cfg, plain, clock=Clock(T0))
        with pytest.raises(ValueError, match="loopback"):
            WebhookService(repos, cfg, loose, clock=Clock(T0))  # production service, development session


# ------------------------------------------------------------------------------------ workers


async def test_a_slow_enterprise_receiver_does_not_delay_the_shared_queue(repos, cfg, receiver, make_service):
    order: list[str] = []
    shared_seen = asyncio.Event()
    slow_done = asyncio.Event()

    async def slow(request: web.Request) -> web.StreamResponse:
        order.append("slow started")
        # holds its connection until the shared delivery arrived (or 5 s, which fails the order below)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(shared_seen.wait(), 5)
        order.append("slow finished")
        slow_done.set()
        return web.Response(status=200)

    async def fast(request: web.Request) -> web.StreamResponse:
        order.append("shared received")
        shared_seen.set()
        return web.Response(status=200)

    slow_rx, fast_rx = await receiver(slow), await receiver(fast)
    svc = make_service(Clock(T0), concurrency=1)  # one at a time per queue: only separate queues can overlap
    enterprise, pro = await key(repos, cfg, plan="enterprise"), await key(repos, cfg, plan="pro_infra")
    await svc.create(enterprise, slow_rx.url(), ["clv.graded"], T0)
    await svc.create(pro, fast_rx.url(), ["signal.created"], T0)
    # the Enterprise message is older, so in one shared queue it would go first and block the other
    await svc.publish("clv.graded", {"signal_id": "s"}, T0 - timedelta(seconds=1))
    await svc.publish("signal.created", {"id": "s"}, T0)
    assert sorted(await repos.api.queues()) == [f"key:{enterprise.id}", "shared"]

    stop = asyncio.Event()
    worker = asyncio.create_task(svc.run(stop, poll_seconds=0.05))
    try:
        await asyncio.wait_for(asyncio.gather(shared_seen.wait(), slow_done.wait()), 10)
    finally:
        stop.set()
        await asyncio.wait_for(worker, 5)  # the loops finish the batch in hand (marking it) before leaving
    assert order.index("shared received") < order.index("slow finished")
    assert await repos.api.queues() == []


async def test_run_delivers_new_messages_promptly_and_stops(repos, cfg, receiver, make_service):
    got = asyncio.Event()

    async def answer(request: web.Request) -> web.StreamResponse:
        got.set()
        return web.Response(status=204)

    rx = await receiver(answer)
    svc = make_service(Clock(T0))
    await svc.create(await key(repos, cfg), rx.url(), None, T0)
    stop = asyncio.Event()
    worker = asyncio.create_task(svc.run(stop, poll_seconds=30))  # a poll this long: only the wake-up helps
    await asyncio.sleep(0.05)
    await svc.publish("signal.created", {"id": "s"}, T0)
    await asyncio.wait_for(got.wait(), 5)
    stop.set()
    await asyncio.wait_for(worker, 5)
    assert len(rx.seen) == 1
