"""Engine tick cost and replay throughput.

    python bench/engine.py

1. For slates of 5, 15 and 30 games × 10 and 40 books, the cost of one engine tick — decode (json.loads),
   parse into BookLines, diff against the last quotes, consensus, the three detectors; no I/O — as a
   ratio to json.loads of the same payload, measured side by side in this run. Payloads are synthetic
   (The Odds API v4 shape; each game's fair line takes a random walk and each tick ~10% of the books
   catch up with it, like the real five-minute tape), because no real slate has 40 books. Both the
   first tick of a slate (every quote new) and steady-state ticks are shown.
2. Replay throughput (snapshots per second) of the bundled real tape, including the SQLite writes, and
   the time its CLV audit takes (null draws and bootstrap included).

Figures are medians of repeated runs; ratios are what to compare across machines.
"""

from __future__ import annotations

import asyncio
import gc
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.bootstrap import BUNDLED_TAPE
from config.settings import load_settings
from engine.core import Engine
from engine.events import EventBus
from engine.integrity import build_audit
from engine.providers.base import RawSnapshot
from engine.providers.parse import ParseMemo, parse_snapshot
from engine.providers.tape import read_tape
from engine.service import EngineService
from storage import Repositories

START = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
TICKS = 40
CHANGE_SHARE = 0.10  # share of books catching up with the fair line each tick
FAIR_MOVE_SHARE = 0.10  # share of games whose fair line moves each tick


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


class Slate:
    """A random-walk slate in The Odds API's shape."""

    def __init__(self, games: int, books: int, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.games = [
            {
                "id": f"game{g:03d}",
                "home": f"Home Team {g}",
                "away": f"Away Team {g}",
                "tip": _iso(START + timedelta(hours=8, minutes=30 * g)),
            }
            for g in range(games)
        ]
        self.books = [f"book{b:02d}" for b in range(books)]
        self.fair = {g["id"]: {"spread": -4.5, "total": 224.5, "fav": -180} for g in self.games}
        self.state = {
            (g["id"], b): {"spread": -4.5, "total": 224.5, "ml": (-180, 155), "updated": _iso(START)}
            for g in self.games
            for b in self.books
        }

    def payload(self, at: datetime) -> bytes:
        events = []
        for game in self.games:
            fair = self.fair[game["id"]]
            if self.rng.random() < FAIR_MOVE_SHARE:
                fair["spread"] += self.rng.choice((-0.5, 0.5))
                fair["total"] += self.rng.choice((-0.5, 0.5))
                fair["fav"] = max(-400, min(-110, fair["fav"] + self.rng.choice((-10, 10))))
            bookmakers = []
            for book in self.books:
                quote = self.state[(game["id"], book)]
                if self.rng.random() < CHANGE_SHARE:
                    quote["spread"] = fair["spread"]
                    quote["total"] = fair["total"]
                    quote["ml"] = (fair["fav"], -fair["fav"] - 25)
                    quote["updated"] = _iso(at)
                updated = quote["updated"]
                home, away = game["home"], game["away"]
                bookmakers.append(
                    {
                        "key": book,
                        "title": book.title(),
                        "last_update": updated,
                        "markets": [
                            {
                                "key": "h2h",
                                "last_update": updated,
                                "outcomes": [
                                    {"name": home, "price": quote["ml"][0]},
                                    {"name": away, "price": quote["ml"][1]},
                                ],
                            },
                            {
                                "key": "spreads",
                                "last_update": updated,
                                "outcomes": [
                                    {"name": home, "price": -110, "point": quote["spread"]},
                                    {"name": away, "price": -110, "point": -quote["spread"]},
                                ],
                            },
                            {
                                "key": "totals",
                                "last_update": updated,
                                "outcomes": [
                                    {"name": "Over", "price": -110, "point": quote["total"]},
                                    {"name": "Under", "price": -110, "point": quote["total"]},
                                ],
                            },
                        ],
                    }
                )
            events.append(
                {
                    "id": game["id"],
                    "sport_key": "basketball_nba",
                    "sport_title": "NBA",
                    "commence_time": game["tip"],
                    "home_team": game["home"],
                    "away_team": game["away"],
                    "bookmakers": bookmakers,
                }
            )
        return json.dumps(events).encode()


def _run_slate(settings, payloads) -> tuple[list[float], list[float]]:
    """Per tick, side by side: seconds of json.loads, and of the whole tick (loads + parse + engine)."""
    engine, memo = Engine(settings), ParseMemo()
    loads, ticks = [], []
    for at, body in payloads:
        started = time.perf_counter()
        json.loads(body)
        loaded = time.perf_counter()
        data = json.loads(body)
        engine.ingest(parse_snapshot(RawSnapshot(fetched_at=at, data=data), memo))
        done = time.perf_counter()
        loads.append(loaded - started)
        ticks.append(done - loaded)
    return loads, ticks


def bench_ticks() -> None:
    settings = load_settings(env_file=None)
    print("1. Engine tick (json.loads + parse + diff + consensus + detect) vs json.loads of the same payload")
    print("   side by side per tick; median over 5 runs of 40 ticks; 'gc off' isolates Python's cyclic GC")
    header = f"{'games':>5} {'books':>5} {'payload':>8} {'json.loads':>10} {'first':>7} {'steady tick':>11}"
    header += f" {'ratio':>6} {'ratio gc off':>12} {'µs/book-mkt':>11}"
    print(header)
    for games in (5, 15, 30):
        for books in (10, 40):
            slate = Slate(games, books)
            payloads = [
                (START + timedelta(minutes=5 * i), slate.payload(START + timedelta(minutes=5 * i)))
                for i in range(TICKS)
            ]
            results = {}
            for gc_on in (True, False):
                firsts, steadies, ratios = [], [], []
                for _ in range(5):
                    gc.collect()
                    if not gc_on:
                        gc.disable()
                    try:
                        loads, ticks = _run_slate(settings, payloads)
                    finally:
                        gc.enable()
                    firsts.append(ticks[0] / loads[0])
                    steadies.append(statistics.median(ticks[1:]))
                    ratios.append(sum(ticks[1:]) / sum(loads[1:]))
                results[gc_on] = (
                    statistics.median(firsts),
                    statistics.median(steadies),
                    statistics.median(ratios),
                )
            loads_only = statistics.median(_run_slate(settings, payloads)[0][1:])
            first, steady, ratio = results[True]
            per_unit = steady / (games * books * 3) * 1e6
            gc_off = results[False][2]
            print(
                f"{games:>5} {books:>5} {len(payloads[0][1]) / 1024:>6.0f}KB {loads_only * 1e3:>8.2f}ms"
                f" {first:>6.2f}x {steady * 1e3:>9.2f}ms {ratio:>5.2f}x {gc_off:>11.2f}x {per_unit:>11.2f}"
            )
    print("   (first = the first tick of a slate, every quote new, as a ratio to its json.loads;")
    print("    a ratio that stays flat across rows = the tick grows like parsing its payload)\n")


async def bench_replay() -> None:
    settings = load_settings(env_file=None)
    snapshots = list(read_tape(BUNDLED_TAPE))
    with tempfile.TemporaryDirectory() as folder:
        repos = await Repositories.open(Path(folder) / "bench.db")
        service = await EngineService.restore(settings, repos, EventBus(), source="bench")
        started = time.perf_counter()
        for raw in snapshots:
            await service.process(raw)
        elapsed = time.perf_counter() - started
        quotes = await repos.quotes.count()
        started = time.perf_counter()
        report = await build_audit(repos, settings)
        audit = time.perf_counter() - started
        await repos.close()
    engine_only, memo = Engine(settings), ParseMemo()
    started = time.perf_counter()
    for raw in snapshots:
        engine_only.ingest(parse_snapshot(raw, memo))
    pure = time.perf_counter() - started
    print("2. Replay of the bundled tape (real WNBA odds)")
    print(f"   {len(snapshots)} snapshots, {quotes} changed quotes stored")
    print(f"   with SQLite writes: {elapsed:.2f}s = {len(snapshots) / elapsed:,.0f} snapshots/s")
    print(f"   engine only:        {pure:.2f}s = {len(snapshots) / pure:,.0f} snapshots/s")
    print(f"   storage share of replay time: {100 * (1 - pure / elapsed):.0f}%")
    null = sum(row.null_graded for row in report.rows("class"))
    print(f"   the audit of it ({report.graded} graded signals, {null} null draws, game bootstrap): {audit:.2f}s")


if __name__ == "__main__":
    bench_ticks()
    asyncio.run(bench_replay())
