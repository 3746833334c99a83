"""The dashboard under load, measured out of process: the board page with wrk, and one new signal fanned out
over server-sent events to many open live streams.

    python bench/web.py [--duration 10] [--connections 8] [--streams 500]

Set-up: the bundled tape (app.bootstrap.BUNDLED_TAPE) is replayed into a temporary SQLite file up to the
snapshot before its last signal-creating one; the rest of the tape is kept for the fan-out. The whole app
(`app.bootstrap.build_app` + `start_web`: the API, the dashboard, the security headers — what `run_bot.py`
serves) then runs in its own process on 127.0.0.1, its clock fixed at that snapshot's time so the board shows
that day's games.

1. The board (`GET /`), with wrk `-t1 -cN`: signed out (Community: 10 minutes late, no book names) and signed
   in as Pro (the loopback demo sign-in's cookie). req/s and latency p50/p99.
2. The live feed: this process opens `--streams` streams of `GET /signals/live` as Pro (raw sockets on
   loopback; the server's per-member and total caps raised for the run), then tells the server to process the
   rest of the tape. The server prints the wall-clock instant its snapshot with the new signal(s) was committed
   and published; each stream notes when the first `event: signal` arrives. Reported: how many streams got
   it, and the delay from the commit at p50, p99 and the last stream.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _sibling(name: str):
    """A script beside this one, as a module under another name (`api` is the project's package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"bench_{name}", Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


bench_api = _sibling("api")  # wrk, free ports, waiting for a port

TAPE = ROOT / "engine" / "data" / "wnba_demo_tape.jsonl.gz"  # app.bootstrap.BUNDLED_TAPE


def _settings(streams: int):
    from config.settings import load_settings

    settings = load_settings(config_path=ROOT / "config.toml", env_file=None)
    settings.web.cookie_secure = False  # plain http on loopback
    settings.web.live_streams_per_member = streams + 10  # one member holds every stream of the run
    settings.web.live_streams_max = streams + 10
    return settings


# ---------------------------------------------------------------------- the server (a child process)


async def serve(db: str, port: int, split: int, streams: int) -> None:
    """The app over `db` on 127.0.0.1:`port`; a line on stdin replays the tape from snapshot `split` on."""
    from app.bootstrap import build_app, start_web
    from engine.providers.tape import read_tape

    tape = list(read_tape(TAPE))
    settings = _settings(streams)
    settings.web.port = port
    at = tape[split].fetched_at
    app = await build_app(settings, db_path=db, source="bench", clock=lambda: at)
    await start_web(app)
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    for raw in tape[split:]:
        tick = await app.service.process(raw)
        if tick.signals:
            print(f"committed {time.time():.6f} {len(tick.signals)}", flush=True)
            break
    await asyncio.to_thread(sys.stdin.readline)  # until the parent is done reading
    await app.close()


# ---------------------------------------------------------------------- the parent


async def seed(db: Path) -> int:
    """Replay the tape into `db` up to the snapshot before its last signal-creating one; that index."""
    from engine.events import EventBus
    from engine.providers.tape import read_tape
    from engine.service import EngineService
    from storage import Repositories

    settings = _settings(0)
    tape = list(read_tape(TAPE))
    probe = await Repositories.open(":memory:")
    try:
        service = await EngineService.restore(settings, probe, EventBus(), source="bench")
        last = 0
        for i, raw in enumerate(tape):
            if (await service.process(raw)).signals:
                last = i
    finally:
        await probe.close()
    repos = await Repositories.open(db)
    try:
        service = await EngineService.restore(settings, repos, EventBus(), source="bench")
        for raw in tape[:last]:
            await service.process(raw)
    finally:
        await repos.close()
    return last


async def pro_cookie(base: str) -> str:
    """The loopback demo sign-in as Pro, as a browser does it; the session cookie's header value."""
    import httpx

    async with httpx.AsyncClient(base_url=base, follow_redirects=False) as http:
        page = await http.get("/signin")
        token = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        answer = await http.post("/auth/demo", data={"csrf": token, "tier": "pro", "next": "/"})
        assert answer.status_code == 303, (answer.status_code, answer.text[:200])
        return "; ".join(f"{name}={value}" for name, value in http.cookies.items())


def wrk_row(binary: str, url: str, cookie: str | None, duration: int, connections: int) -> dict[str, float]:
    _ms = bench_api._ms
    command = [binary, "-t1", f"-c{connections}", f"-d{duration}s", "--latency"]
    if cookie:
        command += ["-H", f"Cookie: {cookie}"]
    out = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout  # noqa: S603
    import re

    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if non2xx:
        raise SystemExit(f"{url}: {non2xx.group(1)} answers were errors")
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50": _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1)),  # type: ignore[union-attr]
        "p99": _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1)),  # type: ignore[union-attr]
    }


async def open_stream(port: int, cookie: str, opened: asyncio.Event, arrived: list[float]) -> None:
    """One live stream on a raw socket: the headers, then bytes until the first signal event."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = f"GET /signals/live HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\nCookie: {cookie}\r\n\r\n"
    writer.write(request.encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"the live feed answered {head[:60]!r}")
    opened.set()
    seen = b""
    while b"event: signal" not in seen:
        chunk = await reader.read(65536)
        if not chunk:
            return
        seen = seen[-64:] + chunk
    arrived.append(time.time())
    writer.close()


async def fan_out(server: subprocess.Popen, port: int, cookie: str, streams: int) -> None:
    arrived: list[float] = []
    events = [asyncio.Event() for _ in range(streams)]
    tasks = [asyncio.create_task(open_stream(port, cookie, events[i], arrived)) for i in range(streams)]
    await asyncio.wait_for(asyncio.gather(*(e.wait() for e in events)), 120)
    await asyncio.sleep(1.0)  # every stream is registered with the hub before the signal comes
    assert server.stdin is not None and server.stdout is not None
    server.stdin.write("go\n")
    server.stdin.flush()
    line = await asyncio.to_thread(server.stdout.readline)
    _, committed, count = line.split()
    _, pending = await asyncio.wait(tasks, timeout=60)
    for task in pending:
        task.cancel()
    delays = sorted((at - float(committed)) * 1000 for at in arrived)
    print(f"{streams} open Pro streams of /signals/live; one snapshot with {count} new signal(s) committed")
    if not delays:
        print("  no stream received the signal")
        return
    p99 = delays[min(len(delays) - 1, int(len(delays) * 0.99))]
    print(
        f"  received by {len(delays)}/{streams} streams; delay from the commit: "
        f"p50 {statistics.median(delays):.1f} ms, p99 {p99:.1f} ms, last {delays[-1]:.1f} ms"
    )


def main(duration: int, connections: int, streams: int) -> None:
    binary = bench_api.ensure_wrk()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        started = time.perf_counter()
        split = asyncio.run(seed(db))
        print(f"tape replayed into SQLite up to snapshot {split} in {time.perf_counter() - started:.1f} s")
        port = bench_api.free_port()
        server = subprocess.Popen(  # noqa: S603
            [sys.executable, __file__, "--serve", str(db), str(port), str(split), str(streams)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert server.stdout is not None
            if server.stdout.readline().strip() != "ready":
                raise SystemExit("the server did not start")
            wait_for = bench_api.wait_for
            wait_for(port)
            base = f"http://127.0.0.1:{port}"
            cookie = asyncio.run(pro_cookie(base))
            print(f"1. the board page, wrk -t1 -c{connections} -d{duration}s, the app in its own process")
            print(f"   {'who':<28} {'req/s':>8} {'p50':>9} {'p99':>9}")
            wrk_row(binary, base + "/", None, 2, connections)  # warm up
            for who, jar in (("signed out (Community)", None), ("Pro (demo sign-in)", cookie)):
                row = wrk_row(binary, base + "/", jar, duration, connections)
                print(f"   {who:<28} {row['rps']:8.0f} {row['p50']:7.2f}ms {row['p99']:7.2f}ms")
            print("2. one signal fanned out over server-sent events")
            asyncio.run(fan_out(server, port, cookie, streams))
        finally:
            if server.stdin is not None and not server.stdin.closed:
                try:
                    server.stdin.write("stop\n")
                    server.stdin.flush()
                    server.stdin.close()
                except BrokenPipeError:
                    pass
            try:
                server.wait(20)
            except subprocess.TimeoutExpired:
                server.kill()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        _, _, db_arg, port_arg, split_arg, streams_arg = sys.argv
        asyncio.run(serve(db_arg, int(port_arg), int(split_arg), int(streams_arg)))
        raise SystemExit(0)
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--streams", type=int, default=500)
    args = parser.parse_args()
    main(args.duration, args.connections, args.streams)
