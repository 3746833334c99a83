"""A soak of live mode against a loopback Odds API that keeps failing in every way it can.

    python bench/soak.py [--minutes 10] [--seconds N] [--keep DIR]

`run_bot.py` runs in its own process in live mode (an odds key set, `feed.base_url` pointed at
`tests.fake_odds_api.FaultCycle` on 127.0.0.1, the web server off) with the cadence made short through its
settings: a tick every 0.25 s, a poll every 0.5 s, a 1 s client timeout, 0.1 s first retry and 1 s after a
failed poll. The fake answers one step per request, cycling: healthy snapshot (the bundled tape, shifted so
every game tips in the future), timeout (held 1.5 s), healthy, 429 with `Retry-After: 1`, healthy, 500,
healthy, garbage bytes, healthy, truncated JSON, healthy, absurd values (prices 1e19, points 1e9), ...

At the end the fake stops serving snapshots (503s only) until every healthy quote it served is in the
database (or 15 s pass), then the process gets SIGTERM. Printed: uptime and exit code, polls attempted / ok
/ failed / recovered (an ok poll after a retried or failed request), each fault kind served and recovered
from (a healthy snapshot served right after it), quotes rejected by the engine (its "feed data rejected"
warnings), errors logged, RSS of the process (VmRSS) after its first poll and at the end, and lost quotes:
healthy quotes served that are not in the `quotes` table (must be 0).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import signal
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.bootstrap import BUNDLED_TAPE  # noqa: E402
from engine.providers.tape import read_tape  # noqa: E402
from tests.fake_odds_api import FAULTS, FaultCycle  # noqa: E402

CLIENT_TIMEOUT = 1.0
HOLD = 1.5  # a "timeout" answers after this: longer than the client waits

OK = re.compile(r" engine\.jobs: polled ")
FAILED = re.compile(r"odds poll failed")
CRASHED = re.compile(r"poll job failed")
BREAKER = re.compile(r"odds feed unavailable")
RETRIED = re.compile(r"attempt \d+/\d+: .*; retrying")
REJECTED = re.compile(r"feed data rejected")
ERROR = re.compile(r" (ERROR|CRITICAL) |^Traceback")


def child_env(base_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRATUM_")}
    env.update(
        {
            "PYTHONPATH": str(ROOT),
            "STRATUM_FEED__API_KEY": "soak-key",
            "STRATUM_FEED__BASE_URL": base_url,
            "STRATUM_FEED__SPORT": "basketball_wnba",
            "STRATUM_FEED__TIMEOUT_SECONDS": str(CLIENT_TIMEOUT),
            "STRATUM_FEED__BACKOFF_SECONDS": "0.1",
            "STRATUM_FEED__FAILURE_BACKOFF_SECONDS": "1",
            "STRATUM_CADENCE__TICK_SECONDS": "0.25",
            "STRATUM_CADENCE__BANDS": json.dumps([{"within_hours": 1_000_000, "interval_seconds": 0.5}]),
            "STRATUM_CADENCE__IDLE_INTERVAL_SECONDS": "0.5",
            "STRATUM_CADENCE__DAILY_CREDIT_BUDGET": "1000000000",
            "STRATUM_WEB__ENABLED": "false",
        }
    )
    return env


def rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def stored_quotes(db: Path) -> set[tuple]:
    if not db.exists():
        return set()
    with sqlite3.connect(db, timeout=10) as conn:
        rows = conn.execute("SELECT game_id, book, market, point, price_a, price_b FROM quotes").fetchall()
    return {(g, b, m, None if p is None else float(p), a, z) for g, b, m, p, a, z in rows}


def polls(lines: list[str]) -> dict[str, int]:
    """Polls from the child's log, in order: an ok poll is recovered when a request of it was retried, or the
    poll before it failed."""
    counts = {"attempted": 0, "ok": 0, "failed": 0, "breaker_open": 0, "recovered": 0, "retried_requests": 0}
    counts["crashed"] = 0
    troubled = False
    for line in lines:
        if RETRIED.search(line):
            counts["retried_requests"] += 1
            troubled = True
        elif OK.search(line):
            counts["attempted"] += 1
            counts["ok"] += 1
            counts["recovered"] += troubled
            troubled = False
        elif FAILED.search(line):
            counts["attempted"] += 1
            counts["failed"] += 1
            troubled = True
        elif CRASHED.search(line):  # an exception out of the poll (e.g. its commit failed)
            counts["attempted"] += 1
            counts["failed"] += 1
            counts["crashed"] += 1
            troubled = True
        elif BREAKER.search(line):
            counts["breaker_open"] += 1
            troubled = True
    return counts


async def soak(seconds: float, workdir: Path) -> dict[str, Any]:
    fake = await FaultCycle(list(read_tape(BUNDLED_TAPE)), hold_seconds=HOLD).start()
    db, log = workdir / "soak.db", workdir / "soak.log"
    for path in (db, log):
        path.unlink(missing_ok=True)
    with log.open("wb") as stderr:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(ROOT / "run_bot.py"),
            "--db",
            str(db),
            "--log-level",
            "INFO",
            cwd=str(ROOT),
            env=child_env(fake.base_url),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        began = time.monotonic()
        while not OK.search(log.read_text(errors="replace")):
            if process.returncode is not None or time.monotonic() - began > 60:
                raise RuntimeError(f"run_bot.py did not poll (exit {process.returncode}); see {log}")
            await asyncio.sleep(0.1)
        rss_start = rss_kib(process.pid)
        started = time.monotonic()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), seconds)  # returns early only if the process died
        alive = process.returncode is None
        fake.drain()
        drained_at = len(log.read_bytes())
        deadline = time.monotonic() + 15
        while fake.healthy_quotes - stored_quotes(db) and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.25)
        rss_end = rss_kib(process.pid)
        uptime = time.monotonic() - started
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 30)
            except TimeoutError:
                process.kill()
                await process.wait()
        await fake.stop()
    lines = log.read_bytes()[:drained_at].decode(errors="replace").splitlines()
    lost = fake.healthy_quotes - stored_quotes(db)
    return {
        "seconds": round(uptime, 1),
        "alive_throughout": alive,
        "exit_code": process.returncode,
        "polls": polls(lines),
        "served": dict(fake.served),
        "recovered": {kind: fake.recovered[kind] for kind in FAULTS},
        "rejected_quotes": sum(1 for line in lines if REJECTED.search(line)),
        "errors_logged": sum(1 for line in lines if ERROR.search(line)),
        "rss_kib_start": rss_start,
        "rss_kib_end": rss_end,
        "healthy_quotes": len(fake.healthy_quotes),
        "lost_quotes": len(lost),
        "lost_sample": sorted(map(str, lost))[:5],
        "log": str(log),
    }


def report(result: dict[str, Any]) -> str:
    p = result["polls"]
    served = ", ".join(f"{kind} {result['served'].get(kind, 0)}" for kind in ("healthy", *FAULTS))
    recovered = ", ".join(f"{kind} {n}" for kind, n in result["recovered"].items())
    start, end = result["rss_kib_start"], result["rss_kib_end"]
    return "\n".join(
        [
            f"uptime          {result['seconds']:.0f} s, alive throughout: {result['alive_throughout']}, "
            f"exit code {result['exit_code']}",
            f"polls           {p['attempted']} attempted, {p['ok']} ok, {p['failed']} failed, "
            f"{p['recovered']} recovered ({p['crashed']} of the failed by an exception; "
            f"{p['retried_requests']} requests retried; breaker open {p['breaker_open']})",
            f"served          {served}",
            f"recovered from  {recovered}",
            f"rejected quotes {result['rejected_quotes']}",
            f"errors logged   {result['errors_logged']}",
            f"memory (VmRSS)  {start / 1024:.1f} MiB at start, {end / 1024:.1f} MiB at end"
            if start and end
            else "memory (VmRSS)  unknown (no /proc)",
            f"lost quotes     {result['lost_quotes']} of {result['healthy_quotes']} healthy quotes served",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="how long to soak (default 10)")
    parser.add_argument("--seconds", type=float, help="how long to soak, in seconds (overrides --minutes)")
    parser.add_argument("--keep", metavar="DIR", help="keep the database and the log in DIR")
    args = parser.parse_args(argv)
    seconds = args.seconds if args.seconds is not None else args.minutes * 60
    if args.keep:
        Path(args.keep).mkdir(parents=True, exist_ok=True)
        result = asyncio.run(soak(seconds, Path(args.keep)))
    else:
        with tempfile.TemporaryDirectory(prefix="stratum-soak-") as tmp:
            result = asyncio.run(soak(seconds, Path(tmp)))
    print(report(result))
    if result["lost_sample"]:
        print("lost, e.g.:", *result["lost_sample"], sep="\n  ")
    return 0 if result["lost_quotes"] == 0 and result["exit_code"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
