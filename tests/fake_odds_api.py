"""A stand-in for The Odds API v4 on loopback (127.0.0.1 only): serves tape snapshots one per request,
or scripted failures, with the real quota headers."""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Scripted:
    status: int
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)


class FakeOddsApi:
    def __init__(self, snapshots: list[Any]) -> None:
        self.snapshots = deque(snapshots)
        self.script: deque[Scripted] = deque()
        self.requests: list[dict[str, str]] = []
        self.remaining = 20_000
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    async def _odds(self, request: web.Request) -> web.Response:
        self.requests.append(dict(request.query))
        if self.script:
            step = self.script.popleft()
            return web.Response(status=step.status, text=step.body, headers=step.headers)
        if not self.snapshots:
            return web.Response(status=500, text="tape exhausted")
        raw = self.snapshots.popleft()
        self.remaining -= 3
        headers = {
            "x-requests-remaining": str(self.remaining),
            "x-requests-used": str(20_000 - self.remaining),
            "x-requests-last": "3",
        }
        return web.Response(text=json.dumps(raw.data), content_type="application/json", headers=headers)

    async def start(self) -> FakeOddsApi:
        app = web.Application()
        app.router.add_get("/v4/sports/{sport}/odds", self._odds)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
