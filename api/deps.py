"""The caller of every `/v1` operation, as FastAPI dependencies: who asks (API key authentication), under
which limits (the key's plan), and whether this minute allows it (the rate limit) — plus the port to the
webhook service.

Every operation depends on `caller` (`api.route.ApiRoute` builds no operation that does not), and FastAPI
solves dependencies before it reads any parameter, so a request without a valid key is a 401 whatever else
is wrong with it, and every later refusal carries the rate-limit headers.

Requests without a valid key are limited per client address (`api.unauthenticated_per_minute`, 429 with
`Retry-After`): the budget is checked before the database is asked about an unknown key, and only a refusal
spends it. On the hot path nothing touches the database: the key comes from an in-memory cache (cleared at
once on revoke/rotate; within ~1 s after another process's commit), the limiter and the usage counts are in
memory (`api.usage`)."""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends
from fastapi.security import HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

from access import ApiAudience, PlanLimits, plan_limits
from api.errors import JSON, InvalidParameter, PlanUnavailable, RateLimited, Unauthorized, Unavailable
from api.ratelimit import RateDecision
from api.state import ApiState, WebhookPort
from domain.api import ApiKey
from services.context import ServiceContext
from services.keys import authenticate_cached, cached_key

__all__ = ["CALL", "ApiKeyAuth", "Call", "Caller", "Port", "caller", "client_address", "webhook_port"]

log = logging.getLogger(__name__)

#: Where the caller of a request is kept in its scope (for `api.route.ApiRoute` to settle the answer).
CALL = "stratum.api.call"


def state_of(request: Request) -> ApiState:
    state: ApiState = request.app.state.api
    return state


@dataclass(slots=True)
class Call:
    """One authenticated request: who asks, under which limits, seen as which audience, at which instant.
    Handlers pass `ctx` (the context every surface shares) to the services; `api` is the API's own state."""

    ctx: ServiceContext
    api: ApiState
    key: ApiKey
    limits: PlanLimits
    audience: ApiAudience
    rate: RateDecision
    now: datetime
    operation: str
    version: tuple[int, int | None]
    cache_key: tuple[Any, ...] | None = None

    def cached(self, query: BaseModel, **path: str) -> Response | None:
        """The stored answer to what was asked — keyed on the parsed parameters (however the query was spelled:
        a percent-encoded name, another order, an instant at another offset; the model's fields come in its
        own order), the audience and the data version — else None, and the answer this request gives is
        stored once it succeeds (`settle`)."""
        params = (*query.__dict__.items(), *sorted(path.items()))
        key = (self.operation, params, self.audience.cache_key, self.version)
        body = self.api.responses.get(key)
        if body is not None:
            return Response(body, media_type=JSON)
        self.cache_key = key
        return None

    async def settle(self, response: Response) -> None:
        """What every authenticated answer gets, errors included: counted as usage (`X-Usage-Warning` past the
        soft limit), the rate-limit headers, and a cacheable success stored. (The headers are appended raw:
        no answer carries them yet, and this runs on every request.)"""
        headers = response.raw_headers
        try:
            outcome = await self.api.usage.record(self.key, self.limits, response.status_code, self.now)
            self.api.usage.maybe_flush()
        except Exception:  # accounting must never cost the client an answer it was given
            log.exception("usage accounting failed for key %s", self.key.id)
        else:
            if outcome is not None and outcome.warning:
                headers.append((b"x-usage-warning", outcome.warning.encode("latin-1", "replace")))
        headers.extend(self.rate.raw_headers())
        if self.cache_key is not None and response.status_code == 200:
            self.api.responses.put(self.cache_key, bytes(response.body))


def client_address(host: str | None) -> str:
    """The limiter's bucket for a client without a valid key: its peer address (not X-Forwarded-For, which
    anyone can write), an IPv6 address by its /64 (one host usually holds a whole /64), prefixed so it
    never meets a key id in the limiter."""
    remote = host or "unknown"
    try:
        ip = ipaddress.ip_address(remote)
    except ValueError:
        return f"addr:{remote[:100]}"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return f"addr:{ip.ipv4_mapped}"
        return f"addr:{ipaddress.ip_network(f'{ip}/64', strict=False)}"
    return f"addr:{ip}"


_UNAUTHORIZED = {"WWW-Authenticate": 'Bearer realm="stratum"'}


async def authenticated(api: ApiState, presented: str | None, request: Request) -> ApiKey:
    """The key presented, else 401 — or 429 once this address has spent its budget of requests without a
    valid key (checked before the database is asked; only a refusal spends it)."""
    known, key = cached_key(presented, api.keys)
    if key is not None:
        return key
    address, allowance = client_address(_host(request)), api.ctx.settings.api.unauthenticated_per_minute
    standing = api.limiter.peek(address, allowance)
    if not standing.allowed:
        raise RateLimited(
            f"Too many requests without a valid API key from this address; retry in {standing.retry_after} s.",
            standing.headers(),
        )
    if not known:
        key = await authenticate_cached(api.ctx.repos, presented, api.keys)
    if key is None:
        api.limiter.hit(address, allowance)
        raise Unauthorized("Send a valid API key as `Authorization: Bearer <key>`.", dict(_UNAUTHORIZED))
    return key


def limits_of(api: ApiState, key: ApiKey) -> PlanLimits:
    """The key's plan's limits, else 403: a plan no longer configured serves nothing."""
    try:
        return plan_limits(key, api.ctx.settings.plans)
    except KeyError:
        log.error("API key %s has plan %r, which is not configured", key.id, key.plan)
        raise PlanUnavailable(f"The plan “{key.plan}” is no longer offered; contact support.") from None


def allowed(api: ApiState, key: ApiKey, limits: PlanLimits) -> RateDecision:
    """This request counted against the key's minute, else 429 with `Retry-After`."""
    decision = api.limiter.hit(key.id, limits.requests_per_minute)
    if not decision.allowed:
        raise RateLimited(
            f"More than {decision.limit} requests this minute; retry in {decision.retry_after} s.", decision.headers()
        )
    return decision


class ApiKeyAuth(HTTPBearer):
    """The caller of an operation, as one dependency: FastAPI's bearer scheme (so the document states it, as
    `bearerAuth`) that goes on to authenticate the key, its plan's limits and the rate limit — one dependency
    rather than a chain, since each costs every request its resolution."""

    async def __call__(self, request: Request) -> Call:  # type: ignore[override]
        """Authenticate → the plan's limits → rate limit: the request's `Call`, kept in its scope for `settle`
        (so every later refusal carries the rate-limit headers and counts). Then a parameter given twice is
        refused (which one would count? the framework would read the last). Asked once per request: the
        route may have asked already (`api.route.ApiRoute`, looking in the cache)."""
        known: Call | None = request.scope.get(CALL)
        if known is not None:
            return known
        # HTTPBearer's own reading of the header (its credentials model left out: this runs on every request).
        scheme, token = get_authorization_scheme_param(request.headers.get("Authorization"))
        api = state_of(request)
        version = await api.data.version()
        api.keys.observe(version[1])
        key = await authenticated(api, token if token and scheme.lower() == "bearer" else None, request)
        limits = limits_of(api, key)
        decision = allowed(api, key, limits)
        route = request.scope.get("route")
        call = Call(
            ctx=api.ctx,
            api=api,
            key=key,
            limits=limits,
            audience=api.audience(limits),
            rate=decision,
            now=api.ctx.clock(),
            operation=str(getattr(route, "operation_id", None) or request.url.path),
            version=version,
        )
        request.scope[CALL] = call
        _once_each(request)
        return call


#: The API key, as the document's security scheme (`bearerAuth`), and the caller it admits.
caller = ApiKeyAuth(scheme_name="bearerAuth", description="An API key.", auto_error=False)


def _once_each(request: Request) -> None:
    if b"&" not in request.scope["query_string"]:
        return  # one parameter at most: nothing to repeat (and nothing to parse here)
    query = request.query_params
    if len(query) < len(query.multi_items()):
        seen: set[str] = set()
        for name, _value in query.multi_items():
            if name in seen:
                raise InvalidParameter(name[:100], f"Give “{name[:100]}” once.")
            seen.add(name)


def _host(request: Request) -> str | None:
    return request.client.host if request.client else None


Caller = Annotated[Call, Depends(caller)]


async def webhook_port(request: Request, _: Caller) -> WebhookPort:
    """The webhook service, else 503 (a server wired without one)."""
    port = state_of(request).webhooks
    if port is None:
        raise Unavailable("Webhooks are not available on this server.")
    return port


Port = Annotated[WebhookPort, Depends(webhook_port)]
