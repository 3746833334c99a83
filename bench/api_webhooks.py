"""Webhook fan-out: from a committed `signal.created` to receipt at 1,000 receivers in another process.

    python bench/api_webhooks.py [--receivers 1000] [--rounds 3] [--concurrency N]

The receivers are one aiohttp server in a separate process (so the sender does not share its event loop
with them) serving 1,000 distinct paths, each registered as its own endpoint of one Pro Infra key (its
webhook limit raised). Each round writes the fan-out rows of one signal in one transaction, as the engine's
commit does, and the app's one outbox worker delivers them over real HTTP from a real SQLite file. The
latency of every delivery is the receiver's clock at receipt minus the sender's clock at commit (one
machine, one wall clock); p50/p99 and deliveries per second are printed next to a baseline: bare POSTs
with the sender's own client (aiohttp), and with httpx, from this process to the same receivers at the
same concurrency. Each round stops after 60 s, so the script always ends. Nothing is asserted about time.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from config.settings import load_settings
from delivery.policy import RetryPolicy
from delivery.webhooks import WebhookService, webhook_session
from delivery.worker import DeliveryWorker
from services.keys import create_key
from storage import Repositories

ROUND_TIMEOUT = 60.0


def _now() -> datetime:
    return datetime.now(UTC)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def serve_receivers(port_file: Path) -> None:
    """The receiver process: records the wall-clock receipt time of each message id, first receipt only."""
    from aiohttp import web

    arrivals: dict[str, float] = {}
    duplicates = 0

    async def receive(request: web.Request) -> web.Response:
        nonlocal duplicates
        await request.read()
        at = time.time()
        msg_id = request.headers.get("webhook-id", "")
        if msg_id in arrivals:
            duplicates += 1
        else:
            arrivals[msg_id] = at
        return web.Response(status=204)

    async def raw(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=204)

    async def stats(_: web.Request) -> web.Response:
        return web.json_response({"arrivals": arrivals, "duplicates": duplicates})

    async def main() -> None:
        app = web.Application()
        app.router.add_post("/r/{n}", receive)
        app.router.add_post("/raw/{n}", raw)
        app.router.add_get("/stats", stats)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        await asyncio.to_thread(port_file.write_text, str(runner.addresses[0][1]))
        await asyncio.sleep(3600)

    asyncio.run(main())


async def _baseline(http: httpx.AsyncClient | aiohttp.ClientSession, port: int, count: int, concurrency: int) -> float:
    """Requests per second of plain POSTs (no outbox, no signing) to the same receivers."""
    gate = asyncio.Semaphore(concurrency)
    body = b"x" * 400

    async def one(n: int) -> None:
        url = f"http://127.0.0.1:{port}/raw/{n}"
        async with gate:
            if isinstance(http, aiohttp.ClientSession):
                async with http.post(url, data=body) as response:
                    response.raise_for_status()
            else:
                (await http.post(url, content=body)).raise_for_status()

    started = time.perf_counter()
    await asyncio.wait_for(asyncio.gather(*(one(n) for n in range(count))), ROUND_TIMEOUT)
    return count / (time.perf_counter() - started)


async def _arrivals(http: httpx.AsyncClient, port: int) -> tuple[dict[str, float], int]:
    data = (await http.get(f"http://127.0.0.1:{port}/stats")).json()
    return data["arrivals"], data["duplicates"]


async def main(receivers: int, rounds: int, concurrency: int | None) -> None:
    settings = load_settings(env_file=None)
    concurrency = concurrency or settings.delivery.concurrency
    with tempfile.TemporaryDirectory() as tmp:
        port_file = Path(tmp) / "port"
        child = await asyncio.create_subprocess_exec(sys.executable, __file__, "--serve-receivers", str(port_file))
        try:
            for _ in range(200):
                if await asyncio.to_thread(lambda: port_file.exists() and port_file.read_text()):
                    break
                await asyncio.sleep(0.05)
            port = int(await asyncio.to_thread(port_file.read_text))
            await _run(settings, Path(tmp), port, receivers, rounds, concurrency)
        finally:
            child.kill()
            await child.wait()


async def _run(settings, tmp: Path, port: int, receivers: int, rounds: int, concurrency: int) -> None:
    repos = await Repositories.open(tmp / "bench.db")
    config = settings.delivery
    limits = httpx.Limits(max_connections=max(100, concurrency * 4), max_keepalive_connections=100)
    sender = webhook_session(allow_loopback=True, limit=max(100, concurrency * 4))
    policy = RetryPolicy(base=config.retry_base_seconds, cap=config.retry_cap_seconds)
    try:
        async with httpx.AsyncClient(trust_env=False, limits=limits, follow_redirects=False) as http:
            worker = DeliveryWorker(repos, clock=_now, policy=policy, concurrency=concurrency, poll_seconds=0.5)
            service = WebhookService(
                repos, settings, sender, clock=_now, allow_loopback_http=True, concurrency=concurrency, worker=worker
            )
            key, _ = await create_key(
                repos, settings, owner="bench", plan="pro_infra", now=_now(), webhooks_override=receivers
            )
            started = time.perf_counter()
            for n in range(receivers):
                await service.create(key, f"http://127.0.0.1:{port}/r/{n}", ["signal.created"], _now())
            print(f"registered {receivers} endpoints in {time.perf_counter() - started:.2f} s")
            ceiling = await _baseline(sender, port, receivers, concurrency)
            with_httpx = await _baseline(http, port, receivers, concurrency)
            print(
                f"baseline at concurrency {concurrency}: bare aiohttp POSTs {ceiling:.0f}/s, bare httpx POSTs "
                f"{with_httpx:.0f}/s"
            )
            worker.start()
            try:
                for r in range(rounds):
                    before = set((await _arrivals(http, port))[0])
                    t0 = time.time()
                    async with repos.db.transaction():  # the engine's commit writes the rows like this
                        queued = await service.publish("signal.created", {"round": r, "id": f"sig{r}"}, _now())
                    enqueue = time.time() - t0
                    deadline = time.perf_counter() + ROUND_TIMEOUT
                    got: list[float] = []
                    while time.perf_counter() < deadline:
                        arrivals, _ = await _arrivals(http, port)
                        got = [at for msg, at in arrivals.items() if msg not in before]
                        if len(got) >= queued:
                            break
                        await asyncio.sleep(0.1)
                    if not got:
                        print(f"round {r}: nothing arrived")
                        continue
                    latencies = [(at - t0) * 1000 for at in got]
                    span = max(got) - t0
                    print(
                        f"round {r}: {len(got)}/{queued} delivered; commit of the rows {enqueue * 1000:.0f} ms; "
                        f"latency p50 {_pct(latencies, 0.5):.0f} ms, p99 {_pct(latencies, 0.99):.0f} ms, "
                        f"max {max(latencies):.0f} ms, mean {statistics.fmean(latencies):.0f} ms; "
                        f"{len(got) / span:.0f} deliveries/s ({len(got) / span / ceiling:.2f}x the bare aiohttp POSTs)"
                    )
            finally:
                await worker.stop()
            _, duplicates = await _arrivals(http, port)
            print(f"duplicates seen by receivers: {duplicates}")
    finally:
        await sender.close()
        await repos.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--receivers", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=None)
    parser.add_argument("--serve-receivers", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_receivers:
        serve_receivers(args.serve_receivers)
        sys.exit(0)
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(main(min(args.receivers, 5000), min(args.rounds, 20), args.concurrency))
