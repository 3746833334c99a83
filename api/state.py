"""What only the API holds: its limiter, usage counts, key cache, response cache, the data version the cache
keys on and the webhook port. One `ApiState` per app (`install_api` builds it over the app's one
`ServiceContext`); it is never passed to a service — services get `state.ctx`, the context every surface shares."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from access import ApiAudience, PlanLimits, api_audience
from api.cache import ResponseCache
from api.ratelimit import RateLimiter
from api.usage import AnomalyCallback, UsageRecorder
from domain.api import ApiKey
from services.context import ServiceContext
from services.freshness import DataVersion
from services.keys import KeyCache, watch

__all__ = ["ApiState", "WebhookPort"]


class WebhookPort(Protocol):
    """What the API needs from the webhook service (`delivery.webhooks.WebhookService` provides it)."""

    async def create(self, key: ApiKey, url: str, events: list[str] | None, now: datetime) -> tuple[Any, str]: ...

    async def list(self, key: ApiKey) -> Sequence[Any]: ...

    async def delete(self, key: ApiKey, endpoint_id: str) -> None: ...

    async def send_test(self, key: ApiKey, endpoint_id: str, now: datetime) -> Any: ...

    async def rotate_secret(self, key: ApiKey, endpoint_id: str, now: datetime) -> str: ...


@dataclass(slots=True)
class ApiState:
    """The API's own state beside the shared context `ctx` (whose clock, settings and repositories it uses)."""

    ctx: ServiceContext
    limiter: RateLimiter
    usage: UsageRecorder
    data: DataVersion
    webhooks: WebhookPort | None = None
    keys: KeyCache = field(default_factory=KeyCache)
    responses: ResponseCache = field(init=False)  # bounded by `[api] response_cache_max_bytes / _entries`
    routes: list[Any] = field(default_factory=list)  # the API's routes, as the document and the 405 see them
    document: bytes | None = None  # the generated document, once asked for (`api.document`)
    _audiences: dict[str, ApiAudience] = field(default_factory=dict)

    @classmethod
    def create(
        cls, ctx: ServiceContext, *, webhooks: WebhookPort | None = None, on_anomaly: AnomalyCallback | None = None
    ) -> ApiState:
        """The usual wiring: a limiter on the context's clock, usage counts and the data version over its
        database."""
        return cls(
            ctx=ctx,
            limiter=RateLimiter(ctx.clock),
            usage=UsageRecorder(ctx.repos, on_anomaly),
            data=DataVersion(ctx.repos),
            webhooks=webhooks,
        )

    def __post_init__(self) -> None:
        api = self.ctx.settings.api
        self.responses = ResponseCache(api.response_cache_max_bytes, api.response_cache_max_entries)
        watch(self.ctx.repos, self.keys)

    def data_changed(self, *_: Any) -> None:
        """Hook for the engine's events (signal.created, clv.graded): look for other processes' commits
        now. This process's own writes are seen without it (the connection's change counter)."""
        self.data.refresh()

    def audience(self, limits: PlanLimits) -> ApiAudience:
        """What the plan's keys see (`access.api_audience`), worked out once per plan."""
        audience = self._audiences.get(limits.plan)
        if audience is None:
            audience = self._audiences[limits.plan] = api_audience(
                limits.plan, self.ctx.settings.api.redistribute_raw_odds
            )
        return audience
