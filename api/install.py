"""Scaffolding while #19's API moves to FastAPI (replaced by the API's own installer on this branch)."""

from __future__ import annotations

from typing import Any


def install_api(root: Any, lifespan: Any, ctx: Any, *, webhooks: Any, on_anomaly: Any) -> None:
    return None
