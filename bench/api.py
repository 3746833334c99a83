"""REST API throughput and latency, measured out of process with wrk, against a bare aiohttp handler.

    python bench/api.py [--duration 10] [--connections 8] [--webhooks]

What it measures: the bundled tape (app.bootstrap.BUNDLED_TAPE) is replayed into a temporary SQLite
file and a Pro Infra key is made (limits raised, so the limiter and the soft limit never refuse: we
measure the work, not the refusals). Then, each in its own process on 127.0.0.1:

- the real API: the app's ASGI app (FastAPI, `app.asgi.build_asgi`) under uvicorn over that database, exactly
  as the app mounts it (key lookup, limiter, usage counting, parameter parsing, the services, the models, the
  response cache);
- a bare aiohttp handler answering the same path with the very same bytes (the floor to compare with).

`wrk -t1 -c8 -d10s` (installed with apt-get if missing) runs against each in turn with the
`Authorization: Bearer <key>` header, for `GET /v1/signals?limit=50`, `?limit=1`, an unknown key (401)
and `GET /v1/usage`; the table prints req/s, latency p50/p99 and the API / bare ratio side by side.
`--webhooks` also runs part 2 (bench/api_webhooks.py): signal.created → delivery at local receivers.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TAPE = ROOT / "engine" / "data" / "wnba_demo_tape.jsonl.gz"  # app.bootstrap.BUNDLED_TAPE


# ---------------------------------------------------------------------- the servers (child processes)


def _settings():
    from config.settings import load_settings

    return load_settings(config_path=ROOT / "config.toml", env_file=None)


async def serve_api(db: str, port: int) -> None:
    """The real API over `db` on 127.0.0.1:`port`, until SIGTERM: the app's own wiring (`build_app`) and its
    one ASGI app (`build_web`: `app.asgi.build_asgi`) under uvicorn, without its jobs and worker (idle here)."""
    from app.bootstrap import build_app, build_web

    settings = _settings()
    settings.web.host, settings.web.port = "127.0.0.1", port
    settings.web.dashboard = False  # the dashboard's routes come after /v1's: no work for an API request
    app = await build_app(settings, db_path=db, source="bench")
    server = build_web(app)
    await server.start()
    await _until_terminated()
    await app.close()


async def serve_bare(bodies: dict[str, bytes], port: int) -> None:
    """A plain aiohttp handler answering /v1/signals with the API's own bytes for the same `limit`."""
    from aiohttp import web

    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=bodies[request.query.get("limit", "50")], content_type="application/json")

    app = web.Application()
    app.router.add_get("/v1/signals", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await _until_terminated()
    await runner.cleanup()


async def _until_terminated() -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()


# ---------------------------------------------------------------------- the parent: seed, start, measure


async def seed(db: Path) -> str:
    from engine.events import EventBus
    from engine.providers.tape import read_tape
    from engine.service import EngineService
    from services.context import utc_now
    from services.keys import create_key
    from storage import Repositories

    settings = _settings()
    repos = await Repositories.open(db)
    try:
        started = time.perf_counter()
        service = await EngineService.restore(settings, repos, EventBus(), source="bench")
        for raw in read_tape(TAPE):
            await service.process(raw)
        print(f"tape replayed into SQLite in {time.perf_counter() - started:.1f} s")
        _, token = await create_key(
            repos, settings, owner="bench", plan="pro_infra", now=utc_now(), rpm_override=10**9, monthly_override=0
        )
        return token
    finally:
        await repos.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def fetch(url: str, token: str | None) -> tuple[int, bytes]:
    import httpx

    headers = {"Authorization": f"Bearer {token}"} if token else None
    response = httpx.get(url, headers=headers, timeout=30)
    return response.status_code, response.content


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    print("installing wrk (apt-get) ...")
    subprocess.run(["apt-get", "update", "-qq"], check=False)  # noqa: S607
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True)  # noqa: S607
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk is not installed and apt-get could not install it")
    return found


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(binary: str, url: str, token: str | None, duration: int, connections: int) -> dict[str, float]:
    command = [binary, "-t1", f"-c{connections}", f"-d{duration}s", "--latency"]
    if token:
        command += ["-H", f"Authorization: Bearer {token}"]
    out = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout  # noqa: S603
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    return {"rps": rps, "p50": p50, "p99": p99}


def spawn(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, __file__, *args], cwd=ROOT)  # noqa: S603


def main(duration: int, connections: int) -> None:
    binary = ensure_wrk()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        token = asyncio.run(seed(db))
        api_port, bare_port = free_port(), free_port()
        api = spawn("--serve-api", str(db), str(api_port))
        bare = None
        try:
            wait_for(api_port)
            api_base = f"http://127.0.0.1:{api_port}"
            bodies = {}
            for limit in ("50", "1"):
                status, body = fetch(f"{api_base}/v1/signals?limit={limit}", token)
                assert status == 200, (status, body[:200])
                (Path(tmp) / f"body{limit}").write_bytes(body)
                bodies[limit] = body
            bare = spawn("--serve-bare", tmp, str(bare_port))
            wait_for(bare_port)
            bare_base = f"http://127.0.0.1:{bare_port}"
            for limit, body in bodies.items():
                assert fetch(f"{bare_base}/v1/signals?limit={limit}", None)[1] == body
            print(
                f"wrk -t1 -c{connections} -d{duration}s, loopback; API and bare handler each in its own process; "
                f"bodies {len(bodies['50']):,} B (limit=50) and {len(bodies['1']):,} B (limit=1)"
            )
            print(f"{'request':<34} {'bare req/s':>10} {'API req/s':>10} {'ratio':>6}   {'API p50':>8} {'API p99':>8}")
            rows = [
                ("GET /v1/signals?limit=50", "/v1/signals?limit=50", token, True),
                ("GET /v1/signals?limit=1", "/v1/signals?limit=1", token, True),
                ("GET /v1/signals, unknown key (401)", "/v1/signals?limit=50", "strat_00000000_unknown", False),
                ("GET /v1/usage", "/v1/usage", token, False),
            ]
            wrk(binary, f"{api_base}/v1/signals?limit=50", token, 2, connections)  # warm up
            wrk(binary, f"{bare_base}/v1/signals?limit=50", None, 2, connections)
            for name, path, key, compare in rows:
                bare_run = wrk(binary, bare_base + path, None, duration, connections) if compare else None
                api_run = wrk(binary, api_base + path, key, duration, connections)
                ratio = f"{api_run['rps'] / bare_run['rps']:5.2f}×" if bare_run else "     -"
                bare_rps = f"{bare_run['rps']:10.0f}" if bare_run else f"{'-':>10}"
                print(
                    f"{name:<34} {bare_rps} {api_run['rps']:10.0f} {ratio}   "
                    f"{api_run['p50']:6.2f}ms {api_run['p99']:6.2f}ms"
                )
        finally:
            for process in (api, bare):
                if process is not None:
                    process.send_signal(signal.SIGTERM)
                    process.wait(10)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve-api":
        asyncio.run(serve_api(sys.argv[2], int(sys.argv[3])))
        raise SystemExit(0)
    if len(sys.argv) > 1 and sys.argv[1] == "--serve-bare":
        folder = Path(sys.argv[2])
        asyncio.run(serve_bare({n: (folder / f"body{n}").read_bytes() for n in ("50", "1")}, int(sys.argv[3])))
        raise SystemExit(0)
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--webhooks", action="store_true", help="also run part 2 (bench/api_webhooks.py)")
    parser.add_argument("--receivers", type=int, default=1000)
    args = parser.parse_args()
    print("1. the REST API under wrk")
    main(args.duration, args.connections)
    if args.webhooks:
        print("\n2. signal.created → delivery at local webhook receivers")
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import api_webhooks  # the sibling script

        asyncio.run(api_webhooks.main(min(args.receivers, 5000), 1, 8))
