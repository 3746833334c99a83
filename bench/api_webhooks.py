"""Webhook fan-out: time from `publish("signal.created", ...)` to receipt at 1,000 receivers.

    python bench/api_webhooks.py [--receivers 1000] [--rounds 3] [--concurrency 8]

One aiohttp server on 127.0.0.1 serves 1,000 distinct paths, each registered as its own endpoint (one key
with its webhook limit raised). The `WebhookService.run()` workers deliver, as in production, over a real
SQLite file (the outbox) and real HTTP. For each round the latency of every delivery (publish call to the
receiver reading the request) is recorded; p50/p99 and deliveries per second are printed, next to a
baseline: bare httpx POSTs to the same server at the same concurrency, which is the ceiling here (client and
server share one process and one event loop). Each round stops after 60 s whatever happened, so the script
always ends. Nothing is asserted about time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from config.settings import load_settings
from delivery.webhooks import WebhookService
from services.keys import create_key
from storage import Repositories

ROUND_TIMEOUT = 60.0


def _now() -> datetime:
    return datetime.now(UTC)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _baseline(http: httpx.AsyncClient, port: int, count: int, concurrency: int) -> float:
    """Requests per second of plain POSTs (no outbox, no signing) to the same server."""
    gate = asyncio.Semaphore(concurrency)
    body = b"x" * 400

    async def one(n: int) -> None:
        async with gate:
            response = await http.post(f"http://127.0.0.1:{port}/raw/{n}", content=body)
            response.raise_for_status()

    started = time.perf_counter()
    await asyncio.wait_for(asyncio.gather(*(one(n) for n in range(count))), ROUND_TIMEOUT)
    return count / (time.perf_counter() - started)


async def main(receivers: int, rounds: int, concurrency: int) -> None:
    arrivals: dict[int, list[float]] = {r: [] for r in range(rounds)}
    complete = {r: asyncio.Event() for r in range(rounds)}
    seen_ids: set[str] = set()
    duplicates = 0

    async def receive(request: web.Request) -> web.Response:
        nonlocal duplicates
        body = await request.read()
        at = time.perf_counter()
        msg_id = request.headers["webhook-id"]
        if msg_id in seen_ids:
            duplicates += 1
        else:
            seen_ids.add(msg_id)
            r = json.loads(body)["data"]["round"]
            arrivals[r].append(at)
            if len(arrivals[r]) == receivers:
                complete[r].set()
        return web.Response(status=204)

    async def raw(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/r/{n}", receive)
    app.router.add_post("/raw/{n}", raw)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]

    settings = load_settings(env_file=None)
    with tempfile.TemporaryDirectory() as tmp:
        repos = await Repositories.open(Path(tmp) / "bench.db")
        limits = httpx.Limits(max_connections=max(concurrency, 10), max_keepalive_connections=max(concurrency, 10))
        try:
            async with httpx.AsyncClient(trust_env=False, limits=limits) as http:
                svc = WebhookService(
                    repos, settings, http, clock=_now, allow_loopback_http=True, concurrency=concurrency
                )
                key, _ = await create_key(
                    repos, settings, owner="bench", plan="pro_infra", now=_now(), webhooks_override=receivers
                )
                started = time.perf_counter()
                for n in range(receivers):
                    await svc.create(key, f"http://127.0.0.1:{port}/r/{n}", ["signal.created"], _now())
                print(f"registered {receivers} endpoints in {time.perf_counter() - started:.2f} s")
                ceiling = await _baseline(http, port, receivers, concurrency)
                print(f"baseline: bare httpx POSTs at concurrency {concurrency}: {ceiling:.0f}/s")

                stop = asyncio.Event()
                worker = asyncio.create_task(svc.run(stop, poll_seconds=0.05))
                try:
                    for r in range(rounds):
                        t0 = time.perf_counter()
                        queued = await svc.publish("signal.created", {"round": r, "id": f"sig{r}"}, _now())
                        enqueue = time.perf_counter() - t0
                        try:
                            await asyncio.wait_for(complete[r].wait(), ROUND_TIMEOUT)
                        except TimeoutError:
                            print(f"round {r}: timed out after {ROUND_TIMEOUT:.0f} s")
                        got = arrivals[r]
                        if not got:
                            continue
                        latencies = [(at - t0) * 1000 for at in got]
                        span = max(got) - t0
                        print(
                            f"round {r}: {len(got)}/{queued} delivered; publish (enqueue) {enqueue * 1000:.0f} ms; "
                            f"latency p50 {_pct(latencies, 0.5):.0f} ms, p99 {_pct(latencies, 0.99):.0f} ms, "
                            f"max {max(latencies):.0f} ms, mean {statistics.fmean(latencies):.0f} ms; "
                            f"{len(got) / span:.0f} deliveries/s"
                        )
                finally:
                    stop.set()
                    await asyncio.wait_for(worker, ROUND_TIMEOUT)
        finally:
            await repos.close()
            await runner.cleanup()
    print(f"duplicates seen by receivers: {duplicates}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--receivers", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(main(min(args.receivers, 5000), min(args.rounds, 20), args.concurrency))
