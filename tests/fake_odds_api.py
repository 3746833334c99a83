"""A stand-in for The Odds API v4 on loopback (127.0.0.1 only): serves tape snapshots one per request,
or scripted failures, with the real quota headers (`FakeOddsApi`); or cycles through every kind of failure
between healthy snapshots for the soak (`FaultCycle`, `bench/soak.py`)."""

from __future__ import annotations

import asyncio
import json
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
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


#: One turn of `FaultCycle`: every fault is followed by a healthy snapshot, so each is recovered from at once.
FAULTS = ("timeout", "429", "500", "garbage", "truncated", "absurd")
CYCLE = tuple(step for fault in FAULTS for step in ("healthy", fault))


def _bookline_keys(event: dict[str, Any]) -> set[tuple]:
    """The quotes of one Odds API event as the `quotes` table keys them: (game, book, market, point, price_a,
    price_b); h2h and spreads home first (spreads' point the home team's), totals Over first. Read from the
    payload itself, not by the engine's parser, so a quote the engine drops is counted as lost."""
    home, away = event["home_team"], event["away_team"]
    keys = set()
    for bookmaker in event.get("bookmakers", []):
        for market in bookmaker.get("markets", []):
            by_name = {o["name"]: o for o in market.get("outcomes", [])}
            a, b = ("Over", "Under") if market["key"] == "totals" else (home, away)
            if a not in by_name or b not in by_name:
                continue
            point = by_name[a].get("point") if market["key"] != "h2h" else None
            point = None if point is None else float(point)
            keys.add((event["id"], bookmaker["key"], market["key"], point, by_name[a]["price"], by_name[b]["price"]))
    return keys


class FaultCycle:
    """A loopback Odds API that cycles through `CYCLE`, one step per request: a healthy snapshot (the next of
    the tape, its times shifted so every game tips in the future, `last_update` = now), a timeout (held
    longer than the client waits), 429 with `Retry-After`, 500, garbage bytes, truncated JSON, and a snapshot
    with absurd values (prices of 1e19, points of 1e9). It records what it served: every healthy quote
    (`healthy_quotes`), each fault kind, and each recovery (a healthy snapshot served right after a fault).
    When the tape runs out it starts again with the events renamed (`<id>-<n>`), so quotes stay new.

    `drain()` stops serving snapshots (every request then gets a 503) so a run can end with nothing in flight.
    """

    def __init__(self, snapshots: list[Any], *, hold_seconds: float, retry_after: int = 1) -> None:
        from engine.providers.replay import TimeShift

        self.tape = snapshots
        self.hold_seconds = hold_seconds
        self.retry_after = retry_after
        self.shift = TimeShift(datetime.now(UTC) + timedelta(hours=1) - snapshots[0].fetched_at)
        self.step = 0
        self.position = 0
        self.served: Counter[str] = Counter()
        self.recovered: Counter[str] = Counter()
        self.healthy_quotes: set[tuple] = set()
        self.draining = False
        self._last: str | None = None
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    def _next_payload(self) -> list[dict[str, Any]]:
        turn, index = divmod(self.position, len(self.tape))
        self.position += 1
        data = self.shift.apply(self.tape[index]).data
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        for event in data:
            if turn:
                event["id"] = f"{event['id']}-{turn}"
            for bookmaker in event.get("bookmakers", []):
                bookmaker["last_update"] = now
                for market in bookmaker.get("markets", []):
                    market["last_update"] = now
        return data

    @staticmethod
    def _absurd(data: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for event in data[:2]:
            for bookmaker in event.get("bookmakers", [])[:2]:
                for market in bookmaker.get("markets", []):
                    for outcome in market.get("outcomes", []):
                        if market["key"] == "h2h":
                            outcome["price"] = 10**19
                        else:
                            outcome["point"] = 1e9 if outcome.get("point", 0) >= 0 else -1e9
        return data

    def _json(self, data: Any) -> web.Response:
        headers = {"x-requests-remaining": "1000000000", "x-requests-used": "0", "x-requests-last": "3"}
        return web.Response(text=json.dumps(data), content_type="application/json", headers=headers)

    async def _odds(self, request: web.Request) -> web.StreamResponse:
        if self.draining:
            return web.Response(status=503, text="draining")
        kind = CYCLE[self.step % len(CYCLE)]
        self.step += 1
        self.served[kind] += 1
        if kind == "healthy" and self._last not in (None, "healthy"):
            self.recovered[self._last] += 1
        self._last = kind
        if kind == "healthy":
            data = self._next_payload()
            for event in data:
                self.healthy_quotes |= _bookline_keys(event)
            return self._json(data)
        if kind == "timeout":
            await asyncio.sleep(self.hold_seconds)
            return web.Response(status=500, text="too late")
        if kind == "429":
            return web.Response(status=429, text="slow down", headers={"Retry-After": str(self.retry_after)})
        if kind == "500":
            return web.Response(status=500, text="internal error")
        if kind == "garbage":
            return web.Response(body=bytes(range(256)) * 4, content_type="application/json")
        if kind == "truncated":
            text = json.dumps(self._next_payload())
            return web.Response(text=text[: len(text) // 2], content_type="application/json")
        return self._json(self._absurd(self._next_payload()))

    def drain(self) -> None:
        self.draining = True

    async def start(self) -> FaultCycle:
        app = web.Application()
        app.router.add_get("/v4/sports/{sport}/odds", self._odds)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.base_url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
