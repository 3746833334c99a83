"""REST API throughput and latency of `GET /v1/signals`, against a bare aiohttp handler.

    python bench/api.py [--requests 2000] [--concurrency 8] [--keys 50] [--receivers 1000]

Part 2 (from bench/api_webhooks.py, run after part 1): the time from `signal.created` to its delivery at
1,000 registered local receivers, p50/p99, through the durable outbox and its workers.

What it measures: the bundled tape is replayed into a temporary SQLite file, 50 Pro Infra keys are made
(with raised overrides, so the limiter and the soft limit never refuse: we measure the work, not the
refusals), and the real API (`build_api` on the embedded `WebServer`, on loopback) answers
`GET /v1/signals?limit=50` from many concurrent clients, each request with the next key in turn. Every
request therefore pays what production pays: key lookup (a SHA-256 and an indexed read), the limiter, the
keyset query and serialisation, and the usage upsert in its own SQLite transaction.

The baseline, in the same run and with the same client: a bare aiohttp handler returning the same JSON
bytes, so the ratio isolates what the API adds over aiohttp and the loopback round trip (the httpx client
is a large share of both; the ratio is what to compare across machines). The two servers are measured
alternately, twice each, and the better run of each is kept. Bounded request counts; no assertions.

Client and servers share one event loop and one CPU. The default of 8 concurrent requests keeps the
httpx client from becoming the bottleneck: at 32 it queues inside its own pool and the bare server's
p99 reaches hundreds of milliseconds, which measures the client, not the server.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from api.server import ApiContext, build_api
from app.bootstrap import BUNDLED_TAPE
from app.web import WebServer
from config.settings import load_settings
from engine.events import EventBus
from engine.providers.tape import read_tape
from engine.service import EngineService
from services.context import utc_now
from services.keys import create_key
from storage import Repositories

PATH = "/v1/signals?limit=50"


@dataclass(frozen=True, slots=True)
class Run:
    requests: int
    seconds: float
    latencies: list[float]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def percentile(self, share: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))]

    def line(self, name: str) -> str:
        return (
            f"{name:<28} {self.rps:8.0f} req/s   p50 {1000 * statistics.median(self.latencies):6.2f} ms   "
            f"p99 {1000 * self.percentile(0.99):6.2f} ms"
        )


async def load(base: str, tokens: list[str], total: int, concurrency: int) -> Run:
    """`total` GETs from `concurrency` workers sharing one connection pool; keys taken in turn."""
    latencies: list[float] = []
    issued = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:

        async def worker() -> None:
            nonlocal issued
            while issued < total:
                n = issued
                issued += 1
                headers = {"Authorization": f"Bearer {tokens[n % len(tokens)]}"} if tokens else None
                started = time.perf_counter()
                response = await client.get(PATH, headers=headers)
                latencies.append(time.perf_counter() - started)
                if response.status_code != 200:
                    raise RuntimeError(f"{response.status_code}: {response.text[:200]}")

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return Run(requests=total, seconds=elapsed, latencies=latencies)


async def bare_server(body: bytes) -> tuple[web.AppRunner, int]:
    """A plain aiohttp app answering the API's path with the same bytes: the floor to compare with."""

    async def handler(_: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_get("/v1/signals", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, runner.addresses[0][1]


async def main(total: int, concurrency: int, key_count: int) -> None:
    settings = load_settings(env_file=None)
    settings.web.host, settings.web.port = "127.0.0.1", 0
    with tempfile.TemporaryDirectory() as tmp:
        repos = await Repositories.open(Path(tmp) / "bench.db")
        try:
            started = time.perf_counter()
            service = await EngineService.restore(settings, repos, EventBus(), source="bench")
            for raw in read_tape(BUNDLED_TAPE):
                await service.process(raw)
            print(f"tape replayed into SQLite in {time.perf_counter() - started:.1f} s")
            tokens = []
            for n in range(key_count):
                _, token = await create_key(
                    repos,
                    settings,
                    owner=f"bench-{n}",
                    plan="pro_infra",
                    now=utc_now(),
                    rpm_override=10**9,
                    monthly_override=0,
                )
                tokens.append(token)

            server = WebServer(settings.web)
            build_api(server, ApiContext.create(settings, repos))
            port = await server.start()
            api_base = f"http://127.0.0.1:{port}"
            async with httpx.AsyncClient(base_url=api_base) as client:
                body = (await client.get(PATH, headers={"Authorization": f"Bearer {tokens[0]}"})).content
            runner, bare_port = await bare_server(body)
            bare_base = f"http://127.0.0.1:{bare_port}"
            print(
                f"GET {PATH}: {len(body)} bytes; {total} requests, {concurrency} concurrent, "
                f"{key_count} keys (Pro Infra, limits raised)"
            )
            try:
                warm = max(100, total // 10)
                await load(bare_base, [], warm, concurrency)
                await load(api_base, tokens, warm, concurrency)
                bare_runs, api_runs = [], []
                for _ in range(2):
                    bare_runs.append(await load(bare_base, [], total, concurrency))
                    api_runs.append(await load(api_base, tokens, total, concurrency))
            finally:
                await runner.cleanup()
                await server.stop()
            bare = max(bare_runs, key=lambda r: r.rps)
            api = max(api_runs, key=lambda r: r.rps)
            print(bare.line("bare aiohttp, same body"))
            print(api.line("Stratum API /v1/signals"))
            print(
                f"ratio API / bare: throughput {api.rps / bare.rps:.2f}×, "
                f"p50 latency {statistics.median(api.latencies) / statistics.median(bare.latencies):.2f}×, "
                f"p99 latency {api.percentile(0.99) / bare.percentile(0.99):.2f}×"
            )
        finally:
            await repos.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--keys", type=int, default=50)
    parser.add_argument("--receivers", type=int, default=1000)
    args = parser.parse_args()
    print("1. GET /v1/signals under load")
    asyncio.run(main(args.requests, args.concurrency, args.keys))
    print("\n2. signal.created → delivery at local webhook receivers")
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import api_webhooks  # the sibling script

    asyncio.run(api_webhooks.main(min(args.receivers, 5000), 1, 8))
