"""The REST API installed on a web application the app's wiring point built (`app.bootstrap`).

Everything long-lived — the web server, the webhook service and its HTTP client, the delivery worker, the
usage-anomaly fan-out — is built once in `app.bootstrap` and passed in; this module only binds the API's
context to them and mounts the routes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web

from api.server import ApiContext, build_api

if TYPE_CHECKING:
    from config.settings import Settings
    from storage import Repositories

__all__ = ["install_api"]


def install_api(
    target: web.Application,
    settings: Settings,
    repos: Repositories,
    *,
    clock: Callable[[], datetime],
    webhooks: Any,
    on_anomaly: Any,
) -> ApiContext:
    """Mount `/v1` on `target` (before the server starts) and return the API's context."""
    ctx = ApiContext.create(settings, repos, clock=clock, webhooks=webhooks, on_anomaly=on_anomaly)
    build_api(target, ctx)
    return ctx
