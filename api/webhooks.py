"""Signed, durable webhooks (the Standard Webhooks spec: https://www.standardwebhooks.com).

Why it is built this way:

- **Durable.** `publish` writes one delivery per subscribed endpoint to the outbox table in one
  transaction and only then does anyone try to send it; `deliver_due` marks the row after the receiver
  answered. A crash between the POST and the mark means the receiver may see a message twice, never that
  it misses one; the `webhook-id` (the delivery's id) is stable across retries so receivers can dedupe.
- **Signed.** ``webhook-signature: v1,<base64 HMAC-SHA256 over "id.timestamp.body">`` with a ``whsec_``
  secret, so any Standard Webhooks library verifies our messages. During a secret rotation both the new
  and the old signature are sent (space-separated, as the spec allows) until the overlap ends.
- **Polite and bounded.** Failures retry with exponential backoff and full jitter (base 5 s, ×2, cap 1 h),
  honouring a larger ``Retry-After``; a ``410 Gone`` or a message still failing after `max_age` disables the
  endpoint and tells the owner, so dead receivers stop costing us work.
- **No SSRF.** Endpoint URLs must be public ``https://`` (plain ``http://`` to loopback only in development
  and tests). Host names are resolved and refused if *any* address is private, loopback, link-local
  (cloud metadata), multicast or unspecified, both when the endpoint is registered and again before each
  attempt, because DNS can change. Redirects are never followed. (A resolver that answers differently
  between our check and httpx's own lookup could still slip through; closing that needs a connect-time
  guard in the transport the app factory builds.)
- **Isolated.** Enterprise keys get their own queue and worker (`run`), so a slow partner cannot delay the
  shared queue.
"""

from __future__ import annotations

import asyncio
import base64
import builtins
import hashlib
import hmac
import ipaddress
import json
import logging
import random
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx

import access
from access import NotFound, UserError
from api.serialize import API_VERSION, iso
from config.settings import Settings
from domain.api import ApiKey, Delivery, WebhookEndpoint
from storage import Repositories

__all__ = [
    "EVENT_TYPES",
    "TEST_EVENT",
    "PlanLimitReached",
    "UnresolvableHost",
    "WebhookService",
    "check_url",
    "new_secret",
    "sign",
]

log = logging.getLogger(__name__)

EVENT_TYPES = ("signal.created", "clv.graded", "usage.anomaly")
#: Sent by `WebhookService.send_test` to any endpoint, whatever it subscribed to.
TEST_EVENT = "webhook.test"
SHARED_QUEUE = "shared"
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


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256(key, "msg_id.timestamp." + body)>``, the key being the secret's base64 part."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def _signature_header(endpoint: WebhookEndpoint, msg_id: str, timestamp: int, body: bytes, now: datetime) -> str:
    signatures = [sign(endpoint.secret, msg_id, timestamp, body)]
    if endpoint.old_secret and endpoint.old_secret_until is not None and now < endpoint.old_secret_until:
        signatures.append(sign(endpoint.old_secret, msg_id, timestamp, body))
    return " ".join(signatures)


# --------------------------------------------------------------------------------------- URL policy


def _forbidden(ip: IPAddress, allow_loopback: bool) -> str | None:
    """Why a receiver may not live at this address, or None if it may."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:10.0.0.1 is 10.0.0.1
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_loopback:
        return None if allow_loopback else "a loopback address"
    if ip.is_link_local:
        return "a link-local address (this includes cloud metadata services)"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_private:
        return "a private address"
    if not ip.is_global:
        return "a reserved, non-public address"
    return None


async def _resolve(host: str, port: int) -> list[IPAddress]:
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, proto=6)  # 6: TCP
    except OSError as exc:
        raise UnresolvableHost(f"The webhook host {host} could not be resolved.") from exc
    addresses = {ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos}
    if not addresses:
        raise UnresolvableHost(f"The webhook host {host} could not be resolved.")
    return sorted(addresses, key=str)


async def check_url(url: str, *, allow_loopback_http: bool) -> str:
    """The URL if a receiver may be called there; else `UserError` naming the problem.

    Only public ``https://`` URLs; ``http://`` only to loopback and only when `allow_loopback_http`
    (development and tests). Names are resolved and every address must pass, since a receiver on a
    private network or the metadata service is what an attacker would register.
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
    try:
        addresses: list[IPAddress] = [ipaddress.ip_address(host)]
    except ValueError:
        addresses = await _resolve(host, port)
    for ip in addresses:
        reason = _forbidden(ip, allow_loopback_http)
        if reason is not None:
            raise UserError(f"The webhook URL points to {reason} ({ip}); use a public https:// URL.")
    if scheme == "http" and not all(ip.is_loopback for ip in addresses):
        raise UserError("The webhook URL must use https:// (plain http:// is only for loopback in development).")
    return url


# ------------------------------------------------------------------------------------------ service


def _token() -> str:
    return secrets.token_hex(12)


def _redacted(endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """Secrets are shown once (at creation or rotation), never in a listing."""
    return replace(endpoint, secret="", old_secret=None)


def _body(payload: dict[str, Any]) -> bytes:
    """Deterministic bytes: the same payload gives the same body (and signature input) on every retry."""
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()


def _retry_after(response: httpx.Response | None) -> float | None:
    if response is None:
        return None
    try:
        seconds = float(response.headers.get("retry-after", ""))
    except ValueError:
        return None  # the HTTP-date form is rare from webhook receivers; our own backoff applies
    return seconds if seconds >= 0 else None


class WebhookService:
    """Endpoints (register, list, delete, rotate, test), publishing to the outbox, and delivery workers."""

    def __init__(
        self,
        repos: Repositories,
        settings: Settings,
        http: httpx.AsyncClient,
        *,
        clock: Callable[[], datetime],
        rng: Callable[[], float] = random.random,
        allow_loopback_http: bool = False,
        notify: Notify | None = None,
        secret_overlap: timedelta = timedelta(hours=24),
        max_age: timedelta = timedelta(days=1),
        timeout: float = 10.0,
        concurrency: int = 8,
    ) -> None:
        self.repos = repos
        self.settings = settings
        self.http = http
        self.clock = clock
        self.rng = rng
        self.allow_loopback_http = allow_loopback_http
        self.notify = notify
        self.secret_overlap = secret_overlap
        self.max_age = max_age
        self.timeout = timeout
        self.concurrency = max(1, concurrency)
        # Wake-ups so a publish is sent at once rather than at the next poll (in-process only).
        self._wakers: dict[str, asyncio.Event] = {}
        self._new_queue = asyncio.Event()

    # endpoints --------------------------------------------------------------------------------
    async def create(
        self, key: ApiKey, url: str, events: builtins.list[str] | None, now: datetime
    ) -> tuple[WebhookEndpoint, str]:
        """Register an endpoint; returns it and its secret, which is shown this once."""
        if not key.active:
            raise UserError(f"The API key {key.id} is revoked.")
        wanted = _check_events(events)
        url = await check_url(url, allow_loopback_http=self.allow_loopback_http)
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
            await self.repos.api.fail_pending(endpoint_id, "endpoint deleted", self.clock())
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
        msg_id = "msg_" + _token()
        data = {"endpoint_id": endpoint.id, "message": "A test message from Stratum."}
        queue = self._queue(key)
        async with self.repos.db.transaction():
            await self.repos.api.enqueue(msg_id, endpoint.id, TEST_EVENT, _envelope(TEST_EVENT, data, now), queue, now)
        self._wake({queue})
        delivery = await self.repos.api.delivery(msg_id)
        if delivery is None:  # pragma: no cover - written just above
            raise RuntimeError(f"test delivery {msg_id} vanished")
        return delivery

    # publishing -------------------------------------------------------------------------------
    async def publish(self, event_type: str, data: dict[str, Any], now: datetime, *, key_id: str | None = None) -> int:
        """Write one delivery per active endpoint subscribed to `event_type` (only `key_id`'s endpoints when
        given, e.g. a key's own usage anomaly), all in one transaction; returns how many were queued."""
        if event_type not in EVENT_TYPES:
            raise ValueError(f"unknown webhook event type {event_type!r}")
        payload = _envelope(event_type, data, now)
        queued: set[str] = set()
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
                if await self.repos.api.enqueue("msg_" + _token(), endpoint.id, event_type, payload, queue, now):
                    count += 1
                    queued.add(queue)
        self._wake(queued)
        return count

    def _queue(self, key: ApiKey) -> str:
        return f"key:{key.id}" if access.plan_limits(key, self.settings.plans).dedicated_queue else SHARED_QUEUE

    # delivery ---------------------------------------------------------------------------------
    def backoff(self, attempts: int, retry_after: float | None = None) -> float:
        """Seconds until the next try after `attempts` failed ones: full jitter over 5 s × 2^attempts (at most
        1 h), so receivers coming back from an outage are not hit by every sender at once; a larger
        Retry-After wins (also capped at 1 h, so a receiver cannot park its messages past `max_age`)."""
        delay = self.rng() * min(BACKOFF_CAP, BACKOFF_BASE * 2 ** min(attempts, 20))
        if retry_after is not None and retry_after > delay:
            delay = min(retry_after, BACKOFF_CAP)
        return delay

    async def deliver_due(self, queue: str | None, now: datetime) -> tuple[int, int]:
        """Attempt each delivery due at `now` once (in `queue`, or every queue when None), up to `concurrency`
        at a time; returns (attempted, delivered). 2xx delivers; 410 disables the endpoint; anything else
        (429, 5xx, other 4xx since a receiver's bug may get fixed, 3xx since redirects are not followed,
        timeouts, network errors) is retried with `backoff` until the message is older than `max_age`."""
        gate = asyncio.Semaphore(self.concurrency)
        seen: set[str] = set()
        attempted = delivered = 0
        while True:
            batch = [d for d in await self.repos.api.due(queue, now, limit=100) if d.id not in seen]
            if not batch:
                return attempted, delivered
            seen.update(d.id for d in batch)
            results = await asyncio.gather(*(self._attempt_safely(gate, d, now) for d in batch))
            attempted += len(batch)
            delivered += sum(results)

    async def _attempt_safely(self, gate: asyncio.Semaphore, delivery: Delivery, now: datetime) -> bool:
        """One attempt; an unexpected error is logged and the delivery pushed back, never lost or spun on."""
        async with gate:
            try:
                return await self._attempt(delivery, now)
            except Exception:
                log.exception("webhook delivery %s: unexpected error", delivery.id)
                try:
                    async with self.repos.db.transaction():
                        next_at = now + timedelta(seconds=self.backoff(delivery.attempts))
                        await self.repos.api.retry_later(delivery.id, None, "internal error", next_at)
                except Exception:
                    log.exception("webhook delivery %s: could not reschedule", delivery.id)
                return False

    async def _attempt(self, delivery: Delivery, now: datetime) -> bool:
        endpoint = await self.repos.api.endpoint(delivery.endpoint_id)
        if endpoint is None or endpoint.disabled_at is not None:  # gone since this batch was read
            async with self.repos.db.transaction():
                await self.repos.api.fail_pending(delivery.endpoint_id, "endpoint deleted or disabled", now)
            return False
        try:  # again at every attempt: the name may resolve elsewhere now
            await check_url(endpoint.url, allow_loopback_http=self.allow_loopback_http)
        except UnresolvableHost as exc:
            await self._failed(delivery, endpoint, None, str(exc), None, now)
            return False
        except UserError as exc:
            log.warning("webhook delivery %s refused: %s", delivery.id, exc)
            async with self.repos.db.transaction():
                await self.repos.api.give_up(delivery.id, None, f"refused: {exc}", now)
            return False

        body = _body(delivery.payload)
        timestamp = int(now.timestamp())
        headers = {
            "webhook-id": delivery.id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": _signature_header(endpoint, delivery.id, timestamp, body, now),
            "content-type": "application/json",
            "user-agent": USER_AGENT,
        }
        status: int | None = None
        response: httpx.Response | None = None
        error = ""
        try:
            async with (
                asyncio.timeout(self.timeout),  # the whole attempt, not only each read
                self.http.stream(
                    "POST", endpoint.url, content=body, headers=headers, timeout=self.timeout, follow_redirects=False
                ) as response,
            ):
                await _drain(response)
            status = response.status_code
        except (httpx.HTTPError, TimeoutError, OSError) as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__

        if status is not None and 200 <= status < 300:
            async with self.repos.db.transaction():
                await self.repos.api.mark_delivered(delivery.id, status, now)
            return True
        if status == 410:
            await self._disable(endpoint, delivery, status, "the receiver answered 410 Gone", now)
            return False
        await self._failed(delivery, endpoint, status, error or f"HTTP {status}", _retry_after(response), now)
        return False

    async def _failed(
        self,
        delivery: Delivery,
        endpoint: WebhookEndpoint,
        status: int | None,
        error: str,
        retry_after: float | None,
        now: datetime,
    ) -> None:
        """Retry later, unless the message has been failing for longer than `max_age`: then stop, disable the
        endpoint and tell its owner, rather than queueing for a receiver that is gone."""
        if now - delivery.created_at >= self.max_age:
            reason = f"deliveries kept failing for over {self.max_age} (last: {error})"
            await self._disable(endpoint, delivery, status, reason, now)
            return
        next_at = now + timedelta(seconds=self.backoff(delivery.attempts, retry_after))
        async with self.repos.db.transaction():
            await self.repos.api.retry_later(delivery.id, status, error, next_at)

    async def _disable(
        self, endpoint: WebhookEndpoint, delivery: Delivery, status: int | None, reason: str, now: datetime
    ) -> None:
        async with self.repos.db.transaction():
            await self.repos.api.give_up(delivery.id, status, reason, now)
            current = await self.repos.api.endpoint(endpoint.id)
            first = current is not None and current.disabled_at is None  # notify once, even if racing
            if first:
                await self.repos.api.disable_endpoint(endpoint.id, reason, now)
                await self.repos.api.fail_pending(endpoint.id, f"endpoint disabled: {reason}", now)
        if not first:
            return
        log.warning("webhook endpoint %s disabled: %s", endpoint.id, reason)
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

    # workers ----------------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event, poll_seconds: float = 1.0) -> None:
        """Deliver until `stop` is set: one loop per queue (shared, and each Enterprise key's), so a slow
        partner's receiver only ever delays its own messages. New queues are picked up as they appear."""
        loops: dict[str, asyncio.Task[None]] = {}
        try:
            while not stop.is_set():
                self._new_queue.clear()
                try:
                    queues = {SHARED_QUEUE, *await self.repos.api.queues()}
                except Exception:
                    log.exception("webhook workers: could not list queues")
                    queues = {SHARED_QUEUE}
                for queue in queues - loops.keys():
                    loops[queue] = asyncio.create_task(self._loop(queue, stop, poll_seconds), name=f"webhooks:{queue}")
                await _sleep(self._new_queue, stop, poll_seconds)
        finally:
            if not stop.is_set():  # cancelled: take the loops down with us
                for task in loops.values():
                    task.cancel()
            await asyncio.gather(*loops.values(), return_exceptions=True)

    async def _loop(self, queue: str, stop: asyncio.Event, poll_seconds: float) -> None:
        wake = self._wakers.setdefault(queue, asyncio.Event())
        while not stop.is_set():
            wake.clear()  # before looking, so a publish landing meanwhile still wakes us
            try:
                attempted, _ = await self.deliver_due(queue, self.clock())
            except Exception:
                log.exception("webhook queue %s: delivery round failed", queue)
                attempted = 0
            if not attempted:
                await _sleep(wake, stop, poll_seconds)

    def _wake(self, queues: set[str]) -> None:
        for queue in queues:
            waker = self._wakers.get(queue)
            if waker is None:
                self._new_queue.set()
            else:
                waker.set()


def _check_events(events: list[str] | None) -> tuple[str, ...]:
    if events is None:
        return EVENT_TYPES
    unknown = sorted(set(events) - set(EVENT_TYPES))
    if unknown:
        raise UserError(f"Unknown webhook event {', '.join(unknown)}: choose from {', '.join(EVENT_TYPES)}.")
    if not events:
        raise UserError(f"Subscribe to at least one event: {', '.join(EVENT_TYPES)}.")
    return tuple(t for t in EVENT_TYPES if t in events)


def _envelope(event_type: str, data: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Every message has the same versioned shape, so receivers can route on `type` and parse by `version`."""
    return {"type": event_type, "version": API_VERSION, "timestamp": iso(now), "data": data}


async def _drain(response: httpx.Response) -> None:
    """Read a little of the answer so the connection can be reused; we only need the status."""
    read = 0
    async for chunk in response.aiter_raw():
        read += len(chunk)
        if read > MAX_RESPONSE_BYTES:
            return


async def _sleep(wake: asyncio.Event, stop: asyncio.Event, seconds: float) -> None:
    """Up to `seconds`, or until woken or stopped."""
    waiters = [asyncio.ensure_future(wake.wait()), asyncio.ensure_future(stop.wait())]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
