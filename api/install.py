"""The partner API installed on the app's one ASGI app (`app.asgi.build_asgi` calls `install_api`).

Everything long-lived — the services' context, the webhook service, the usage-anomaly fan-out — is built once
in `app.bootstrap` and passed in; this module binds the API's own state (`api.state.ApiState`) to them, adds
the routes (the operations under `/v1`, the document at `/openapi.json` and `/v1/openapi.json`, the answer to
every other path under `/v1`, the webhooks the document describes) and has the usage counts flushed while the
app serves and once more when it stops."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from fastapi import FastAPI
from fastapi.routing import iter_route_contexts

from api import events
from api.document import document_router
from api.routes import refusals, resources
from api.state import ApiState, WebhookPort
from api.usage import AnomalyCallback
from services.context import ServiceContext

__all__ = ["install_api"]


class Hooks(Protocol):
    """The app's start and stop hooks (`app.asgi.Lifespan`)."""

    def on_start(self, hook: Callable[[], Awaitable[Any]]) -> None: ...

    def on_stop(self, hook: Callable[[], Awaitable[Any]]) -> None: ...


def install_api(
    root: FastAPI,
    lifespan: Hooks,
    ctx: ServiceContext,
    *,
    webhooks: WebhookPort | None,
    on_anomaly: AnomalyCallback | None,
) -> ApiState:
    """Add the API to `root` (before it serves) and return its state."""
    state = ApiState.create(ctx, webhooks=webhooks, on_anomaly=on_anomaly)
    root.state.api = state
    first = len(root.router.routes)
    for router in resources(ctx.settings):
        # The router's routes (their paths under /v1 already) become the app's own: not `include_router`,
        # whose included-router contexts cost each request ~8 µs here, a tenth of a cached answer.
        root.router.routes.extend(router.routes)
    root.include_router(document_router())
    root.include_router(refusals())  # last: every other path under /v1
    root.webhooks.include_router(events.router)
    state.routes = list(iter_route_contexts(root.router.routes[first:]))
    lifespan.on_start(state.usage.start)
    lifespan.on_stop(state.usage.close)
    return state
