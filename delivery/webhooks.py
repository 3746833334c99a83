"""Partner webhooks on the one outbox (the Standard Webhooks spec: https://www.standardwebhooks.com).

- **Durable and idempotent.** `publish` writes one outbox row per subscribed endpoint, keyed
  ``<event>:<subject>:webhook:<endpoint>`` (``ON CONFLICT DO NOTHING``), in the caller's transaction when
  there is one (the engine's commit writes ``signal.created`` and ``clv.graded`` rows with the snapshot), so
  an event and what it owes are committed together. The `webhook-id` is derived from that key: a receiver
  may see a message twice after a crash, with the same id, never miss one.
- **Signed.** ``webhook-signature: v1,<base64 HMAC-SHA256 over "id.timestamp.body">`` with a ``whsec_``
  secret, computed by the spec's own library (`standardwebhooks`); during a secret rotation both the new and
  the old signature are sent until the overlap ends. ``webhook-timestamp`` is the wall clock's (`wall`), never
  the app's: a receiver checks it against its own real clock (±5 minutes), and the demo's clock runs ahead.
- **Polite and bounded.** The outbox's one retry policy (`delivery.policy.RetryPolicy`: exponential backoff
  with full jitter, base 5 s, cap 1 h, a larger ``Retry-After`` wins); a ``410 Gone`` or a message still
  failing after a day disables the endpoint and tells the owner.
- **No SSRF.** Endpoint URLs must be public ``https://`` (plain ``http://`` to loopback only in development
  and tests). One rule, `address_refusal`, decides which addresses a receiver may live at: globally
  routable unicast only, never private, loopback, link-local (cloud metadata), site-local, unique-local,
  multicast, reserved, nor any IPv6 form that embeds or translates IPv4 (``::a.b.c.d``, ``::ffff:0:0/96``,
  NAT64 ``64:ff9b::/96``, 6to4 ``2002::/16``, Teredo ``2001::/32``). At registration every address of the
  name must pass. At delivery the session's `GuardedResolver` resolves the name once and gives aiohttp only
  the addresses that pass, and aiohttp connects to exactly those, so the address checked is the address
  connected to (DNS rebinding cannot reach a private address); IP literals, which aiohttp never resolves,
  are checked before each attempt. Redirects are never followed.
- **Isolated.** An Enterprise key's endpoints write their rows to the key's own queue, which the worker
  serves on its own, so a slow partner cannot delay the shared queue.
"""

from __future__ import annotations

import asyncio
import base64
import builtins
import hashlib
import ipaddress
import json
import logging
import random
import re
import secrets
import socket
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver
from standardwebhooks import Webhook

import access
from access import NotFound, UserError
from config.settings import Settings
from delivery.policy import PermanentFailure, RetryPolicy, TemporaryFailure
from delivery.worker import DeliveryWorker, Round
from domain.api import ApiKey, Delivery, WebhookEndpoint
from engine.clock import utc_now
from storage.outbox import SHARED_QUEUE, OutboxItem, msg_id_for, outbox_key

if TYPE_CHECKING:
    from storage import Repositories

__all__ = [
    "API_VERSION",
    "EVENT_TYPES",
    "TEST_EVENT",
    "AddressRefused",
    "GuardedConnector",
    "GuardedResolver",
    "HttpSender",
    "PlanLimitReached",
    "UnresolvableHost",
    "WebhookService",
    "address_refusal",
    "check_url",
    "new_secret",
    "webhook_session",
]

log = logging.getLogger(__name__)

#: `move.created`: one poll's signals on one game × market × side, with the best price then (see README).
EVENT_TYPES = ("signal.created", "move.created", "clv.graded", "usage.anomaly")
#: Sent by `WebhookService.send_test` to any endpoint, whatever it subscribed to.
TEST_EVENT = "webhook.test"
#: The envelope's version; the app passes the API's own (`api.serialize.API_VERSION`).
API_VERSION = "2026-12-08"  # = api.schemas.API_VERSION (delivery may not import api)
SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret
MAX_URL_LENGTH = 2000
BACKOFF_BASE = 5.0
BACKOFF_CAP = 3600.0
USER_AGENT = "Stratum-Webhooks/1"
#: Response bodies are read (so the connection can be reused) up to this many bytes, then dropped.
MAX_RESPONSE_BYTES = 64 * 1024

Notify = Callable[[ApiKey, str], Awaitable[None]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class PlanLimitReached(UserError):
    """The key's plan allows no more webhook endpoints."""

    status = 403


class UnresolvableHost(UserError):
    """The host name did not resolve. A user error at registration; a temporary failure at delivery."""


# ------------------------------------------------------------------------------------------ signing


def new_secret() -> str:
    """A fresh signing secret in the spec's format: ``whsec_`` + base64 of 24 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def _signature_header(endpoint: WebhookEndpoint, msg_id: str, signed_at: datetime, body: bytes, now: datetime) -> str:
    """The new secret's signature, and the old one's while the rotation overlap (on `now`'s clock) lasts."""
    secrets_in_use = [endpoint.secret]
    if endpoint.old_secret and endpoint.old_secret_until is not None and now < endpoint.old_secret_until:
        secrets_in_use.append(endpoint.old_secret)
    return " ".join(Webhook(secret).sign(msg_id, signed_at, body) for secret in secrets_in_use)


# --------------------------------------------------------------------------------------- URL policy

#: IPv6 ranges that carry or translate an IPv4 address. A receiver never needs one, and each can reach an
#: IPv4 host the IPv4 rules would refuse (``[::127.0.0.1]``, NAT64 ``[64:ff9b::a9fe:a9fe]`` for the metadata
#: service, 6to4 ``[2002:a9fe:a9fe::]``), so they are refused whole, whatever IPv4 address they embed.
EMBEDDED_IPV4 = tuple(
    (ipaddress.IPv6Network(net), name)
    for net, name in (
        ("::/96", "IPv4-compatible, ::/96"),
        ("::ffff:0:0/96", "IPv4-mapped, ::ffff:0:0/96"),
        ("::ffff:0:0:0/96", "IPv4-translated, ::ffff:0:0:0/96"),
        ("64:ff9b::/96", "NAT64, 64:ff9b::/96"),
        ("64:ff9b:1::/48", "local NAT64, 64:ff9b:1::/48"),
        ("2002::/16", "6to4, 2002::/16"),
        ("2001::/32", "Teredo, 2001::/32"),
    )
)

#: Special-purpose ranges (IANA registries) that are not globally reachable, named here so the rule does not
#: depend on which Python's `ipaddress` tables are in use (3.11's counts some of them as global).
NOT_GLOBAL = tuple(
    ipaddress.ip_network(net)
    for net in (
        "0.0.0.0/8",
        "100.64.0.0/10",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.88.99.0/24",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "240.0.0.0/4",
        "100::/64",
        "2001:2::/48",
        "2001:10::/28",
        "2001:20::/28",
        "2001:db8::/32",
        "3fff::/20",
        "5f00::/16",
    )
)


def address_refusal(ip: IPAddress, *, allow_loopback: bool = False) -> str | None:
    """Why a receiver may not live at `ip`, or None if it may: the one rule for registration and connection.

    Only globally routable unicast addresses pass; loopback too when `allow_loopback` (development, tests).
    """
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_loopback:
        return None if allow_loopback else "a loopback address"
    if isinstance(ip, ipaddress.IPv6Address):
        for network, name in EMBEDDED_IPV4:
            if ip in network:
                return f"an IPv6 address that embeds or translates IPv4 ({name})"
        if ip.is_site_local:
            return "a site-local address"
    if ip.is_link_local:
        return "a link-local address (this includes cloud metadata services)"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_private:
        return "a private address"
    if ip.is_reserved or not ip.is_global or any(ip in net for net in NOT_GLOBAL if net.version == ip.version):
        return "a reserved, non-public address"
    return None


def _parse_ip(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


class AddressRefused(OSError):
    """A name resolved only to addresses a receiver may not live at (raised inside the connector)."""


class GuardedResolver(AbstractResolver):
    """Resolves a name once and returns only the addresses `address_refusal` allows (raises if none).

    aiohttp connects to exactly the addresses its resolver returned (`TCPConnector` turns them into
    numeric address infos for the connect; its DNS cache holds this resolver's filtered answers), so what
    was checked is what is connected to: a name that answers differently from one lookup to the next (DNS
    rebinding) cannot slip a private address in between.

    Hand-written because no library fits: the check has to sit on the connection, after the one lookup,
    inside aiohttp's connector. URL validators (`validators`, pydantic's `HttpUrl`) check a name, not the
    connection, so a name that resolves to a public address when checked and a private one when connected
    to passes them; the libraries that guard the connection wrap other clients (`advocate`: requests, no
    release since 2020; `safehttpx`: one httpx GET over its own DNS), and the sender stays on aiohttp for
    its fan-out throughput.
    """

    def __init__(self, *, allow_loopback: bool, resolver: AbstractResolver | None = None) -> None:
        self.allow_loopback = allow_loopback
        self.inner = resolver or ThreadedResolver()  # the loop's getaddrinfo

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self.inner.resolve(host, port, family)
        allowed: list[ResolveResult] = []
        refused: list[str] = []
        for result in results:
            ip = _parse_ip(result["host"])
            reason = "not an IP address" if ip is None else address_refusal(ip, allow_loopback=self.allow_loopback)
            if reason is None:
                allowed.append(result)
            else:
                refused.append(f"{result['host']} is {reason}")
        if refused:
            log.warning("webhook host %s: refused %s", host, "; ".join(refused))
        if not allowed:
            raise AddressRefused(f"{host} resolves to no address a webhook may be sent to ({'; '.join(refused)})")
        return allowed

    async def close(self) -> None:
        await self.inner.close()


class GuardedConnector(aiohttp.TCPConnector):
    """A `TCPConnector` whose resolver is a `GuardedResolver`; the only connector `HttpSender` accepts."""

    def __init__(self, *, allow_loopback: bool, resolver: AbstractResolver | None = None, **kwargs: Any) -> None:
        self.guard = GuardedResolver(allow_loopback=allow_loopback, resolver=resolver)
        super().__init__(resolver=self.guard, **kwargs)


def webhook_session(
    *, allow_loopback: bool, limit: int = 100, resolver: AbstractResolver | None = None
) -> aiohttp.ClientSession:
    """The HTTP client for webhook delivery: guarded connector, no proxies from the environment (a proxy
    would do its own lookup), no cookie jar (a partner's cookies never reach another endpoint)."""
    return aiohttp.ClientSession(
        connector=GuardedConnector(allow_loopback=allow_loopback, resolver=resolver, limit=limit),
        cookie_jar=aiohttp.DummyCookieJar(),
        trust_env=False,
    )


def _guard_of(http: aiohttp.ClientSession, allow_loopback: bool) -> GuardedResolver:
    connector = http.connector
    if not isinstance(connector, GuardedConnector) or http.trust_env:
        raise TypeError("webhooks need the session from delivery.webhooks.webhook_session (the connect-time guard)")
    if connector.guard.allow_loopback and not allow_loopback:
        raise ValueError("the webhook session allows loopback targets but the service does not")
    return connector.guard


#: What aiohttp takes for an IP literal (and so never resolves): digits and dots, or any colon.
_NUMERIC_HOST = re.compile(r"[0-9.]+|.*:.*|(?:.*\.)?(?:0x[0-9a-f]*|[0-9]+)\.?", re.IGNORECASE)


async def check_url(
    url: str, *, allow_loopback_http: bool, resolver: AbstractResolver | None = None, resolve: bool = True
) -> str:
    """The URL if a receiver may be called there; else `UserError` naming the problem.

    Only public ``https://`` URLs; ``http://`` only to loopback and only when `allow_loopback_http`
    (development and tests). IP literals go through `address_refusal`; names are resolved (by `resolver`,
    the loop's getaddrinfo by default) and every address must pass, since a receiver on a private network
    or the metadata service is what an attacker would register. With `resolve` false only literals are
    checked: at delivery the connector's `GuardedResolver` checks the one lookup it connects with.
    """
    url = (url or "").strip()
    if not url:
        raise UserError("Give the webhook URL.")
    if len(url) > MAX_URL_LENGTH:
        raise UserError(f"The webhook URL is longer than {MAX_URL_LENGTH} characters.")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise UserError("The webhook URL contains spaces or control characters.")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        raise UserError("The webhook URL must start with https://.")
    if scheme == "http" and not allow_loopback_http:
        raise UserError("The webhook URL must use https:// (plain http:// is not accepted).")
    if "@" in parts.netloc or parts.username is not None or parts.password is not None:
        raise UserError("The webhook URL must not contain credentials; authenticate by the signature.")
    host = parts.hostname
    if not host:
        raise UserError("The webhook URL has no host.")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        raise UserError("The webhook URL has an invalid port.") from None
    literal = _parse_ip(host)
    if literal is None and _NUMERIC_HOST.fullmatch(host):
        # 2130706433, 0177.0.0.1, 0x7f.1: not a name, and the C library would read them as 127.0.0.1
        raise UserError(f"The webhook URL's host {host} is an IP address in a non-standard form.")
    if literal is not None:
        addresses: list[IPAddress] = [literal]
    elif resolve or scheme == "http":  # http:// (development only) must still resolve to loopback only
        addresses = await _resolve(resolver or ThreadedResolver(), host, port)
    else:
        return url
    for ip in addresses:
        reason = address_refusal(ip, allow_loopback=allow_loopback_http)
        if reason is not None:
            shown = host if literal is not None else f"{host} resolves to {ip}"
            raise UserError(f"The webhook URL points to {reason} ({shown}); use a public https:// URL.")
    if scheme == "http" and not all(ip.is_loopback for ip in addresses):
        raise UserError("The webhook URL must use https:// (plain http:// is only for loopback in development).")
    return url


async def _resolve(resolver: AbstractResolver, host: str, port: int) -> list[IPAddress]:
    try:
        results = await resolver.resolve(host, port, socket.AF_UNSPEC)
    except OSError as exc:
        raise UnresolvableHost(f"The webhook host {host} could not be resolved.") from exc
    addresses = set()
    for result in results:
        ip = _parse_ip(result["host"])
        if ip is None:
            raise UserError(f"The webhook host {host} resolved to {result['host']!r}, which is not an IP address.")
        addresses.add(ip)
    if not addresses:
        raise UnresolvableHost(f"The webhook host {host} could not be resolved.")
    return sorted(addresses, key=str)


# ------------------------------------------------------------------------------------------ service


def _token() -> str:
    return secrets.token_hex(12)


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _redacted(endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """Secrets are shown once (at creation or rotation), never in a listing."""
    return replace(endpoint, secret="", old_secret=None)


def _body(payload: dict[str, Any]) -> bytes:
    """Deterministic bytes: the same payload gives the same body (and signature input) on every retry."""
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()


def _retry_after(headers: Mapping[str, str]) -> float | None:
    try:
        seconds = float(headers.get("retry-after", ""))
    except ValueError:
        return None  # the HTTP-date form is rare from webhook receivers; our own backoff applies
    return seconds if seconds >= 0 else None


def _subject(event_type: str, data: dict[str, Any]) -> str:
    """What the event is about, for its idempotency key: the signal's id, or a digest of the data."""
    if event_type in ("signal.created", "move.created") and data.get("id"):
        return str(data["id"])
    if event_type == "clv.graded" and isinstance(data.get("signal"), dict) and data["signal"].get("id"):
        return str(data["signal"]["id"])
    return hashlib.sha256(_body(data)).hexdigest()[:24]


class HttpSender:
    """Puts one webhook row on the wire: SSRF check, Standard Webhooks signature stamped by the `wall`
    clock, no redirects."""

    kinds = frozenset({"webhook"})
    disable_on_give_up = True  # a day of failures: the endpoint is disabled and its owner told

    def __init__(
        self,
        repos: Repositories,
        http: aiohttp.ClientSession,
        *,
        policy: RetryPolicy,
        allow_loopback_http: bool,
        timeout: float,
        on_disabled: Callable[[WebhookEndpoint, str, datetime], Awaitable[None]],
        wall: Callable[[], datetime] = utc_now,
    ) -> None:
        self.repos = repos
        self.wall = wall
        self.guard = _guard_of(http, allow_loopback_http)  # refuses a session without the connect-time guard
        self.http = http
        self.policy = policy
        self.allow_loopback_http = allow_loopback_http
        self.timeout = timeout
        self._on_disabled = on_disabled

    def ready(self) -> bool:
        return True

    async def send(self, item: OutboxItem, now: datetime) -> int | None:
        endpoint = await self.repos.api.endpoint(item.payload.get("endpoint_id", ""))
        if endpoint is None or endpoint.disabled_at is not None:  # gone since the row was read
            raise PermanentFailure("endpoint deleted or disabled", target_gone=True)
        try:  # the URL and an IP literal again; a name is checked by the guard, on the lookup it connects with
            await check_url(
                endpoint.url, allow_loopback_http=self.allow_loopback_http, resolver=self.guard.inner, resolve=False
            )
        except UnresolvableHost as exc:
            raise TemporaryFailure(str(exc)) from exc
        except UserError as exc:
            raise PermanentFailure(f"refused: {exc}") from exc  # this message only: the next is checked afresh
        body = _body(item.payload.get("body", {}))
        signed_at = self.wall().replace(microsecond=0)  # the real clock's: receivers check it against theirs
        headers = {
            "webhook-id": item.msg_id,
            "webhook-timestamp": str(int(signed_at.timestamp())),
            "webhook-signature": _signature_header(endpoint, item.msg_id, signed_at, body, now),
            "content-type": "application/json",
            "user-agent": USER_AGENT,
        }
        try:
            async with (
                asyncio.timeout(self.timeout),  # the whole attempt, not only each read
                self.http.post(endpoint.url, data=body, headers=headers, allow_redirects=False) as response,
            ):
                await response.content.read(MAX_RESPONSE_BYTES)  # a little, so the connection can be reused
                status = response.status
                retry_after = _retry_after(response.headers)
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, AddressRefused):  # retried: the name may point somewhere public again
                raise TemporaryFailure(f"refused at connect: {exc.os_error}") from exc
            raise TemporaryFailure(f"{type(exc).__name__}: {exc}") from exc
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise TemporaryFailure(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__) from exc
        if 200 <= status < 300:
            return status
        if status == 410:
            raise PermanentFailure("the receiver answered 410 Gone", status=status, target_gone=True)
        # 429, 5xx, other 4xx (a receiver's bug may get fixed), 3xx (redirects are not followed)
        raise TemporaryFailure(f"HTTP {status}", retry_after=retry_after, status=status)

    async def gave_up(self, item: OutboxItem, reason: str, now: datetime, *, target_gone: bool) -> None:
        if not target_gone:
            return
        endpoint_id = item.payload.get("endpoint_id", "")
        async with self.repos.db.transaction():
            current = await self.repos.api.endpoint(endpoint_id)
            first = current is not None and current.disabled_at is None  # notify once, even if racing
            if first:
                await self.repos.api.disable_endpoint(endpoint_id, reason, now)
                await self.repos.outbox.fail_target(item.target, f"endpoint disabled: {reason}", now)
        if first and current is not None:
            log.warning("webhook endpoint %s disabled: %s", endpoint_id, reason)
            await self._on_disabled(current, reason, now)


class WebhookService:
    """Endpoints (register, list, delete, rotate, test) and publishing to the outbox. Satisfies the API's
    `WebhookPort`. Its `HttpSender` is registered with the app's one `DeliveryWorker` (`worker`); built
    alone (tests, benches) it makes a worker of its own.

    Two clocks: `clock` is the app's (the demo's may run ahead) and schedules, stamps envelopes and
    retries; `wall` is the real one and stamps signatures, which receivers check against their own."""

    def __init__(
        self,
        repos: Repositories,
        settings: Settings,
        http: aiohttp.ClientSession,
        *,
        clock: Callable[[], datetime],
        rng: Callable[[], float] = random.random,
        allow_loopback_http: bool = False,
        notify: Notify | None = None,
        secret_overlap: timedelta = timedelta(hours=24),
        max_age: timedelta = timedelta(days=1),
        timeout: float = 10.0,
        concurrency: int = 8,
        api_version: str = API_VERSION,
        worker: DeliveryWorker | None = None,
        policy: RetryPolicy | None = None,
        wall: Callable[[], datetime] = utc_now,
    ) -> None:
        self.repos = repos
        self.settings = settings
        self.http = http
        self.clock = clock
        self.allow_loopback_http = allow_loopback_http
        self.notify = notify
        self.secret_overlap = secret_overlap
        self.api_version = api_version
        self.policy = policy or RetryPolicy(base=BACKOFF_BASE, cap=BACKOFF_CAP, max_age=max_age, rng=rng)
        self.sender = HttpSender(
            repos,
            http,
            policy=self.policy,
            allow_loopback_http=allow_loopback_http,
            timeout=timeout,
            on_disabled=self._endpoint_disabled,
            wall=wall,
        )
        self.worker = worker or DeliveryWorker(repos, clock=clock, policy=self.policy, concurrency=concurrency)
        self.worker.register(self.sender)

    @property
    def max_age(self) -> timedelta:
        return self.policy.max_age

    # endpoints --------------------------------------------------------------------------------
    async def create(
        self, key: ApiKey, url: str, events: builtins.list[str] | None, now: datetime
    ) -> tuple[WebhookEndpoint, str]:
        """Register an endpoint; returns it and its secret, which is shown this once."""
        if not key.active:
            raise UserError(f"The API key {key.id} is revoked.")
        wanted = _check_events(events)
        url = await check_url(url, allow_loopback_http=self.allow_loopback_http, resolver=self.sender.guard.inner)
        limit = access.plan_limits(key, self.settings.plans).webhooks
        secret = new_secret()
        endpoint = WebhookEndpoint(
            id="we_" + _token(), key_id=key.id, url=url, events=wanted, secret=secret, created_at=now
        )
        async with self.repos.db.transaction():  # count and insert together: two requests cannot both fit
            if len(await self.repos.api.endpoints(key.id, active_only=True)) >= limit:
                raise PlanLimitReached(
                    f"Your plan allows {limit} webhook endpoint{'s' if limit != 1 else ''}; "
                    "delete one or upgrade to add another."
                )
            await self.repos.api.create_endpoint(endpoint)
        return _redacted(endpoint), secret

    async def list(self, key: ApiKey) -> builtins.list[WebhookEndpoint]:
        return [_redacted(e) for e in await self.repos.api.endpoints(key.id)]

    async def _own(self, key: ApiKey, endpoint_id: str) -> WebhookEndpoint:
        endpoint = await self.repos.api.endpoint(endpoint_id)
        if endpoint is None or endpoint.key_id != key.id:
            raise NotFound(f"No webhook endpoint {endpoint_id}.")
        return endpoint

    async def delete(self, key: ApiKey, endpoint_id: str) -> None:
        """Remove the endpoint; what it was still owed is marked failed, not sent."""
        async with self.repos.db.transaction():
            await self._own(key, endpoint_id)
            await self.repos.outbox.fail_target("webhook:" + endpoint_id, "endpoint deleted", self.clock())
            await self.repos.api.delete_endpoint(endpoint_id)

    async def rotate_secret(self, key: ApiKey, endpoint_id: str, now: datetime) -> str:
        """A new secret, shown once; the old one keeps signing (alongside) until now + secret_overlap so the
        receiver can switch without dropping a message."""
        secret = new_secret()
        async with self.repos.db.transaction():
            await self._own(key, endpoint_id)
            await self.repos.api.rotate_secret(endpoint_id, secret, now + self.secret_overlap)
        return secret

    async def send_test(self, key: ApiKey, endpoint_id: str, now: datetime) -> Delivery:
        """Queue a `webhook.test` message to one endpoint, whatever it subscribed to."""
        endpoint = await self._own(key, endpoint_id)
        if endpoint.disabled_at is not None:
            raise UserError(f"Webhook endpoint {endpoint_id} is disabled ({endpoint.disabled_reason}).")
        data = {"endpoint_id": endpoint.id, "message": "A test message from Stratum."}
        row_key = outbox_key(TEST_EVENT, _token(), "webhook:" + endpoint.id)
        async with self.repos.db.transaction():
            await self._enqueue(
                row_key, endpoint, TEST_EVENT, self._envelope(TEST_EVENT, data, now), self._queue(key), now
            )
        delivery = await self.repos.api.delivery(msg_id_for(row_key))
        if delivery is None:  # pragma: no cover - written just above
            raise RuntimeError(f"test delivery {row_key} vanished")
        return delivery

    # publishing -------------------------------------------------------------------------------
    async def subscribed(self, event_type: str) -> bool:
        """Whether any active endpoint takes `event_type`: the fan-out skips building a message nobody takes."""
        return any(event_type in e.events for e in await self.repos.api.endpoints(active_only=True))

    async def publish(
        self,
        event_type: str,
        data: dict[str, Any],
        now: datetime,
        *,
        key_id: str | None = None,
        subject: str | None = None,
    ) -> int:
        """Write one row per active endpoint subscribed to `event_type` (only `key_id`'s endpoints when given,
        e.g. a key's own usage anomaly), keyed ``event:subject:webhook:<endpoint>``, inside the caller's
        transaction if one is open (else in one of its own); returns how many were new."""
        if event_type not in EVENT_TYPES:
            raise ValueError(f"unknown webhook event type {event_type!r}")
        payload = self._envelope(event_type, data, now)
        subject = subject or _subject(event_type, data)
        count = 0
        async with self.repos.db.transaction():
            keys: dict[str, ApiKey | None] = {}
            for endpoint in await self.repos.api.endpoints(key_id, active_only=True):
                if event_type not in endpoint.events:
                    continue
                if endpoint.key_id not in keys:
                    keys[endpoint.key_id] = await self.repos.api.key(endpoint.key_id)
                key = keys[endpoint.key_id]
                queue = self._queue(key) if key is not None else SHARED_QUEUE
                row_key = outbox_key(event_type, subject, "webhook:" + endpoint.id)
                count += await self._enqueue(row_key, endpoint, event_type, payload, queue, now)
        return count

    async def _enqueue(
        self, row_key: str, endpoint: WebhookEndpoint, event_type: str, body: dict[str, Any], queue: str, now: datetime
    ) -> bool:
        payload = {"event_type": event_type, "endpoint_id": endpoint.id, "body": body}
        return await self.repos.outbox.enqueue(row_key, "webhook", "webhook:" + endpoint.id, payload, now, queue=queue)

    def _queue(self, key: ApiKey) -> str:
        return f"key:{key.id}" if access.plan_limits(key, self.settings.plans).dedicated_queue else SHARED_QUEUE

    def _envelope(self, event_type: str, data: dict[str, Any], now: datetime) -> dict[str, Any]:
        """Every message has the same versioned shape: receivers route on `type` and parse by `version`."""
        return {"type": event_type, "version": self.api_version, "timestamp": _iso(now), "data": data}

    async def _endpoint_disabled(self, endpoint: WebhookEndpoint, reason: str, now: datetime) -> None:
        key = await self.repos.api.key(endpoint.key_id)
        if key is None or self.notify is None:
            return
        message = (
            f"Your webhook endpoint {endpoint.id} ({endpoint.url}) was disabled: {reason}. "
            "Fix the receiver, then register it again."
        )
        try:
            await self.notify(key, message)
        except Exception:
            log.exception("could not notify the owner of webhook endpoint %s", endpoint.id)

    # delivery (the worker does it; these are for tests, benches and one-queue use) --------------
    def backoff(self, attempts: int, retry_after: float | None = None) -> float:
        return self.policy.backoff(attempts, retry_after)

    async def deliver_due(self, queue: str | None, now: datetime) -> tuple[int, int]:
        """Attempt each webhook due at `now` once (in `queue`, or every queue); returns (attempted, delivered)."""
        done: Round = await self.worker.deliver_due(queue, now, kinds=self.sender.kinds)
        return done.attempted, done.sent

    async def run(self, stop: asyncio.Event, poll_seconds: float = 1.0) -> None:
        await self.worker.run(stop, poll_seconds)


def _check_events(events: list[str] | None) -> tuple[str, ...]:
    if events is None:
        return EVENT_TYPES
    unknown = sorted(set(events) - set(EVENT_TYPES))
    if unknown:
        raise UserError(f"Unknown webhook event {', '.join(unknown)}: choose from {', '.join(EVENT_TYPES)}.")
    if not events:
        raise UserError(f"Subscribe to at least one event: {', '.join(EVENT_TYPES)}.")
    return tuple(t for t in EVENT_TYPES if t in events)
