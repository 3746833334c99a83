"""The REST API on the embedded aiohttp server: `/v1`, JSON, bearer API keys, per-key limits and usage.

`build_api(app, ctx)` mounts a sub-application at `/v1` on an aiohttp `web.Application`, so its
middleware (authentication, rate limit, usage counting, JSON errors) wraps the API's routes only;
`/healthz` and the Stripe webhook on the same server are untouched. Everything the API needs arrives in
`ApiContext` (nothing global).

The routes live in `api.routes` (one module per resource), each an `api.http.Operation`: the server
parses its declared parameters, runs its thin handler (one service call, one `api.schemas` model) and
serialises the model. What a key may see is `access.api_audience` (its plan's rule); the document at
`/v1/openapi.json` is generated from the same operations and models (`api.openapi`).

Requests without a valid key are limited per client address (`api.unauthenticated_per_minute`, 429
with `Retry-After`): the budget is checked before the database is asked about an unknown key.

Per request, on the hot path, nothing touches the database: the key comes from an in-memory cache
(cleared at once on revoke/rotate; within ~1 s after another process's commit), the limiter and the usage
counts are in memory (counts flushed in batches, see `api.usage`), and answers that depend only on
(operation, parsed parameters, audience, data version) come from a bounded response cache
(`ResponseCache`; the data version is `services.freshness`'s, which the usage flushes leave alone).

Lists are paged by keyset (opaque cursors carrying the last row's sort key), so rows written between
two page requests never cause a duplicate or a skip.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import sys
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from aiohttp import web

from access import ApiAudience, PlanLimits, UserError, api_audience, plan_limits
from api.http import (
    Call,
    InvalidParameter,
    Operation,
    canonical,
    code_for,
    error_response,
    json_response,
    parse_query,
)
from api.openapi import build_openapi
from api.ratelimit import RateDecision, RateLimiter
from api.routes import ROUTES
from api.usage import AnomalyCallback, UsageRecorder
from config.settings import Settings
from domain.api import ApiKey
from engine.clock import utc_now as _utc_now
from services.audit import AuditCache
from services.freshness import DataVersion
from services.keys import KeyCache, authenticate_cached, cached_key, watch

if TYPE_CHECKING:
    from storage import Repositories

__all__ = ["ROUTES", "ApiContext", "InvalidParameter", "ResponseCache", "WebhookPort", "build_api"]

log = logging.getLogger(__name__)

PREFIX = "/v1"
OPENAPI_PATH = PREFIX + "/openapi.json"


class WebhookPort(Protocol):
    """What the API needs from the webhook service (api.webhooks.WebhookService provides it)."""

    async def create(self, key: ApiKey, url: str, events: list[str] | None, now: datetime) -> tuple[Any, str]: ...

    async def list(self, key: ApiKey) -> Sequence[Any]: ...

    async def delete(self, key: ApiKey, endpoint_id: str) -> None: ...

    async def send_test(self, key: ApiKey, endpoint_id: str, now: datetime) -> Any: ...

    async def rotate_secret(self, key: ApiKey, endpoint_id: str, now: datetime) -> str: ...


#: What an entry costs beyond its body's bytes and its key: the dict slot and the order link, the
#: (body, cost) pair and the body's object header (about 200 bytes on CPython 3.11; rounded up).
ENTRY_OVERHEAD = 256


def footprint(value: Any) -> int:
    """The bytes an object holds (`sys.getsizeof`), a tuple or list with its items: what a key costs.
    Objects the key shares with others (the operation id, the audience) are counted too: an over-count
    only makes the budget stricter."""
    size = sys.getsizeof(value)
    if isinstance(value, tuple | list):
        size += sum(footprint(item) for item in value)
    return size


class ResponseCache:
    """Answer bytes by (operation, parsed parameters, audience, data version), least recently used out first.

    Bounded in bytes — each entry costs its body, its key and `ENTRY_OVERHEAD`, so a flood of distinct
    valid queries with tiny answers (long filters, cursors) cannot hold more than the budget — and in
    entries. A new data version simply stops matching old entries, which age out."""

    def __init__(self, max_bytes: int = 32 * 1024 * 1024, max_entries: int = 10_000) -> None:
        self._entries: OrderedDict[tuple[Any, ...], tuple[bytes, int]] = OrderedDict()
        self._bytes = 0
        self._max_bytes = max_bytes
        self._max_entries = max_entries
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def size(self) -> int:
        """The bytes the entries are counted as (bodies, keys, overhead): at most `max_bytes`."""
        return self._bytes

    def get(self, key: tuple[Any, ...]) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            self.misses += 1
            return None
        self.hits += 1
        self._entries.move_to_end(key)
        return entry[0]

    def put(self, key: tuple[Any, ...], body: bytes) -> None:
        cost = len(body) + footprint(key) + ENTRY_OVERHEAD
        if self._max_entries <= 0 or cost > self._max_bytes // 8 or key in self._entries:
            return
        self._entries[key] = (body, cost)
        self._bytes += cost
        while self._bytes > self._max_bytes or len(self._entries) > self._max_entries:
            _, (_, old) = self._entries.popitem(last=False)
            self._bytes -= old

    def clear(self) -> None:
        self._entries.clear()
        self._bytes = 0


@dataclass(slots=True)
class ApiContext:
    """Everything the API's handlers use, built by the app factory and passed in. It carries what the
    services read (`settings`, `repos`, `clock`), so handlers pass it to them as their context."""

    settings: Settings
    repos: Repositories
    limiter: RateLimiter
    usage: UsageRecorder
    webhooks: WebhookPort | None = None
    clock: Callable[[], datetime] = _utc_now
    keys: KeyCache = field(default_factory=KeyCache)
    data: DataVersion | None = None
    audits: AuditCache = field(default_factory=AuditCache)
    responses: ResponseCache = field(init=False)  # bounded by `[api] response_cache_max_bytes / _entries`

    @classmethod
    def create(
        cls,
        settings: Settings,
        repos: Repositories,
        *,
        clock: Callable[[], datetime] = _utc_now,
        webhooks: WebhookPort | None = None,
        on_anomaly: AnomalyCallback | None = None,
    ) -> ApiContext:
        """The usual wiring: a limiter on the same clock and a usage recorder over the same database."""
        ctx = cls(
            settings=settings,
            repos=repos,
            limiter=RateLimiter(clock),
            usage=UsageRecorder(repos, on_anomaly),
            webhooks=webhooks,
            clock=clock,
            data=DataVersion(repos),
        )
        return ctx

    def __post_init__(self) -> None:
        api = self.settings.api
        self.responses = ResponseCache(api.response_cache_max_bytes, api.response_cache_max_entries)
        if self.data is None:
            self.data = DataVersion(self.repos)
        watch(self.repos, self.keys)

    def data_changed(self, *_: Any) -> None:
        """Hook for the engine's events (signal.created, clv.graded): look for other processes' commits
        now. This process's own writes are seen without it (the connection's change counter)."""
        assert self.data is not None  # noqa: S101 - set in __post_init__
        self.data.refresh()

    def audience(self, limits: PlanLimits) -> ApiAudience:
        return api_audience(limits.plan, self.settings.api.redistribute_raw_odds)


CTX = web.AppKey("stratum_api_context", ApiContext)
DOC = web.AppKey("stratum_api_openapi", bytes)


def _request_key(name: str, kind: type) -> Any:
    """A typed request key where aiohttp has them (3.13+), else the plain string older versions take."""
    maker = getattr(web, "RequestKey", None)
    return maker(name, kind) if maker is not None else name


KEY = _request_key("stratum_api_key", ApiKey)
LIMITS = _request_key("stratum_api_limits", PlanLimits)
RATE = _request_key("stratum_api_rate", RateDecision)


# ---------------------------------------------------------------------- errors and the middleware

_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large", 503: "unavailable"}


async def _answer(request: web.Request, handler: Callable[[web.Request], Any]) -> web.StreamResponse:
    """Run the handler; every failure becomes a JSON error (a 500 without details, logged)."""
    try:
        return await handler(request)
    except UserError as exc:
        return error_response(exc.status, code_for(exc), str(exc), parameter=getattr(exc, "parameter", None))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        return error_response(exc.status, _HTTP_CODES.get(exc.status, "http_error"), exc.reason, headers=headers)
    except Exception:
        log.exception("API error on %s %s", request.method, request.path)
        return error_response(500, "internal_error", "Unexpected server error; it has been logged.")


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


_UNAUTHORIZED = {"WWW-Authenticate": 'Bearer realm="stratum"'}


def client_address(request: web.Request) -> str:
    """The limiter's bucket for a client without a valid key: its peer address (not X-Forwarded-For, which
    anyone can write), an IPv6 address by its /64 (one host usually holds a whole /64), prefixed so it
    never meets a key id in the limiter."""
    remote = request.remote or "unknown"
    try:
        ip = ipaddress.ip_address(remote)
    except ValueError:
        return f"addr:{remote[:100]}"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return f"addr:{ip.ipv4_mapped}"
        return f"addr:{ipaddress.ip_network(f'{ip}/64', strict=False)}"
    return f"addr:{ip}"


@web.middleware
async def _api_middleware(request: web.Request, handler: Callable[[web.Request], Any]) -> web.StreamResponse:
    """Authenticate → rate limit → handle → count usage → rate-limit headers on the answer."""
    if request.path == OPENAPI_PATH:
        return await _answer(request, handler)
    ctx = request.config_dict[CTX]
    assert ctx.data is not None  # noqa: S101 - set in __post_init__
    ctx.keys.observe((await ctx.data.version())[1])
    presented = _bearer(request)
    known, key = cached_key(presented, ctx.keys)
    if key is None:
        # Not a key this process knows to be valid: the per-address budget for unauthenticated requests
        # is checked before the database is asked, and only a refusal spends it.
        address, allowance = client_address(request), ctx.settings.api.unauthenticated_per_minute
        standing = ctx.limiter.peek(address, allowance)
        if not standing.allowed:
            return error_response(
                429,
                "rate_limited",
                f"Too many requests without a valid API key from this address; retry in {standing.retry_after} s.",
                headers=standing.headers(),
            )
        if not known:
            key = await authenticate_cached(ctx.repos, presented, ctx.keys)
        if key is None:
            ctx.limiter.hit(address, allowance)
            return error_response(
                401,
                "unauthorized",
                "Send a valid API key as `Authorization: Bearer <key>`.",
                headers=dict(_UNAUTHORIZED),
            )
    try:
        limits = plan_limits(key, ctx.settings.plans)
    except KeyError:
        log.error("API key %s has plan %r, which is not configured", key.id, key.plan)
        return error_response(403, "plan_unavailable", f"The plan “{key.plan}” is no longer offered; contact support.")
    decision = ctx.limiter.hit(key.id, limits.requests_per_minute)
    if not decision.allowed:
        return error_response(
            429,
            "rate_limited",
            f"More than {decision.limit} requests this minute; retry in {decision.retry_after} s.",
            headers=decision.headers(),
        )
    request[KEY], request[LIMITS], request[RATE] = key, limits, decision
    response = await _answer(request, handler)
    try:
        outcome = await ctx.usage.record(key, limits, response.status, ctx.clock())
        ctx.usage.maybe_flush()
    except Exception:  # accounting must never cost the client an answer it was given
        log.exception("usage accounting failed for key %s", key.id)
    else:
        if outcome is not None and outcome.warning:
            response.headers["X-Usage-Warning"] = outcome.warning
    response.headers.update(decision.headers())
    return response


# ---------------------------------------------------------------------- operations → aiohttp handlers


def _endpoint(op: Operation) -> Callable[[web.Request], Any]:
    async def handle(request: web.Request) -> web.StreamResponse:
        ctx: ApiContext = request.config_dict[CTX]
        limits: PlanLimits = request[LIMITS]
        audience = ctx.audience(limits)
        params = parse_query(request.query, op.params, ctx.settings)
        for param in op.params:
            if param.where == "path":
                params[param.name] = param.parse(request.match_info[param.name], ctx.settings)
        cache_key = None
        if op.cached:
            # Keyed on what was asked (the parsed, canonical parameters), not on how the path spelled it:
            # percent-encoded or reordered duplicates share one entry, and a key is never larger than the
            # parameters' bounds allow.
            assert ctx.data is not None  # noqa: S101 - set in __post_init__
            version = await ctx.data.version()
            cache_key = (op.operation_id, canonical(params), audience.cache_key, version)
            body = ctx.responses.get(cache_key)
            if body is not None:
                return json_response(body, op.status)
        call = Call(request, ctx, params, request[KEY], limits, audience, request[RATE], ctx.clock())
        result = await op.handler(call)
        if isinstance(result, web.StreamResponse):
            return result
        body = result.body()
        if cache_key is not None:
            ctx.responses.put(cache_key, body)
        return json_response(body, op.status)

    handle.__name__ = op.operation_id
    return handle


async def _openapi(request: web.Request) -> web.Response:
    return json_response(request.config_dict[DOC])


def build_api(target: web.Application, ctx: ApiContext) -> web.Application:
    """Mount the API at `/v1` on the server's application (before it starts) and return the sub-app."""
    api = web.Application(middlewares=[_api_middleware])  # bodies are capped where read (`read_json`)
    api[CTX] = ctx
    api[DOC] = json.dumps(build_openapi(ctx.settings, ROUTES), separators=(",", ":"), ensure_ascii=False).encode()
    for op in ROUTES:
        api.router.add_route(op.method, op.path, _endpoint(op))
    api.router.add_route("GET", "/openapi.json", _openapi)

    async def start_usage(_: web.Application) -> None:
        await ctx.usage.start()

    async def stop_usage(_: web.Application) -> None:
        await ctx.usage.close()

    api.on_startup.append(start_usage)
    api.on_cleanup.append(stop_usage)
    target.add_subapp(PREFIX, api)
    return api
