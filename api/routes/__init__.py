"""The API's routes: one router per resource (`resources`), each under `/v1`, and the answer to every other
path under it (`refusals`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from starlette.exceptions import HTTPException
from starlette.routing import Match

from api.deps import Caller, state_of
from api.route import PREFIX, ApiRoute
from api.routes import clv, games, signals, usage, webhooks
from config.settings import Settings

__all__ = ["PREFIX", "refusals", "resources"]

METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def resources(settings: Settings) -> list[APIRouter]:
    """Every operation, by resource; each behind the caller (`api.deps.caller`: key, plan, rate limit). The
    signals first: routes are tried in order, and the signal list is the busiest by far."""
    return [signals.router(list(settings.presets)), games.router, clv.router, usage.router, webhooks.router]


async def refused(_: Caller, request: Request, path: Annotated[str, Path()]) -> None:
    """No operation here: 405 with `Allow` where the path has operations (for other methods), else 404 — and
    first, like everything under `/v1`, a 401 without a valid key."""
    allowed = {
        method
        for route in state_of(request).routes
        if route.matches(request.scope)[0] == Match.PARTIAL
        for method in route.methods or ()
    }
    if allowed:
        raise HTTPException(405, headers={"Allow": ", ".join(sorted(allowed))})
    raise HTTPException(404)


def refusals() -> APIRouter:
    """The answer to every path under `/v1` that no operation has (included last)."""
    router = APIRouter(prefix=PREFIX, route_class=ApiRoute)
    router.add_api_route("/{path:path}", refused, methods=METHODS, include_in_schema=False)
    return router
