"""The API's routes, one module per resource; `ROUTES` is the whole surface (served and documented)."""

from __future__ import annotations

from api.http import Operation
from api.routes import clv, games, signals, usage, webhooks

ROUTES: tuple[Operation, ...] = (*games.ROUTES, *signals.ROUTES, *clv.ROUTES, *usage.ROUTES, *webhooks.ROUTES)

__all__ = ["ROUTES"]
