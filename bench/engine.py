"""Engine tick cost and replay throughput.

    python bench/engine.py

1. For slates of 5, 15 and 30 games × 10 and 40 books, the cost of one engine tick — decode (json.loads),
   parse into BookLines, diff against the last quotes, consensus, the three detectors; no I/O — as a
   ratio to json.loads of the same payload, measured side by side in this run. Payloads are synthetic
   (The Odds API v4 shape; each game's fair line takes a random walk and each tick ~10% of the books
   catch up with it, like the real five-minute tape), because no real slate has 40 books. Both the
   first tick of a slate (every quote new) and steady-state ticks are shown.
2. Replay throughput (snapshots per second) of the bundled real tape, including the SQLite writes.

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
from app.settings import load_settings
from engine.core import Engine
from engine.events import EventBus
from engine.providers.base import RawSnapshot
from engine.providers.parse import parse_snapshot
from engine.providers.tape import read_tape
from engine.service import EngineService
from storage import Repositories

START = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
TICKS = 40
CHANGE_SHARE = 0.10


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
            if self.rng.random() < 0.3:
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


def _median_seconds(fn, repeat: int = 5) -> float:
    samples = []
    for _ in range(repeat):
        gc.collect()
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def bench_ticks() -> None:
    settings = load_settings(env_file=None)
    print("1. Engine tick (json.loads + parse + diff + consensus + detect) vs json.loads of the same payload")
    header = f"{'games':>5} {'books':>5} {'payload':>9} {'json.loads':>11} {'first tick':>11} {'ratio':>6}"
    header += f" {'steady tick':>12} {'ratio':>6} {'µs/book-mkt':>12}"
    print(header)
    for games in (5, 15, 30):
        for books in (10, 40):
            slate = Slate(games, books)
            payloads = [
                (START + timedelta(minutes=5 * i), slate.payload(START + timedelta(minutes=5 * i)))
                for i in range(TICKS)
            ]

            def loads_all(payloads=payloads) -> None:
                for _, body in payloads:
                    json.loads(body)

            def ticks(payloads=payloads, first_only: bool = False) -> None:
                engine = Engine(settings)
                for index, (at, body) in enumerate(payloads):
                    if index and first_only:
                        break
                    engine.ingest(parse_snapshot(RawSnapshot(fetched_at=at, data=json.loads(body))))

            loads = _median_seconds(loads_all) / TICKS
            first = _median_seconds(lambda p=payloads: ticks(p, first_only=True))
            full = _median_seconds(lambda p=payloads: ticks(p))
            steady = (full - first) / (TICKS - 1)
            first_loads = _median_seconds(lambda p=payloads: json.loads(p[0][1]))
            per_unit = steady / (games * books * 3) * 1e6
            print(
                f"{games:>5} {books:>5} {len(payloads[0][1]) / 1024:>7.0f}KB {loads * 1e3:>9.2f}ms"
                f" {first * 1e3:>9.2f}ms {first / first_loads:>5.2f}x {steady * 1e3:>10.2f}ms"
                f" {steady / loads:>5.2f}x {per_unit:>11.2f}"
            )
    print("   (µs/book-mkt staying flat across rows = cost linear in books × games)\n")


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
        await repos.close()
    engine_only = Engine(settings)
    started = time.perf_counter()
    for raw in snapshots:
        engine_only.ingest(parse_snapshot(raw))
    pure = time.perf_counter() - started
    print("2. Replay of the bundled tape (real WNBA odds)")
    print(f"   {len(snapshots)} snapshots, {quotes} changed quotes stored")
    print(f"   with SQLite writes: {elapsed:.2f}s = {len(snapshots) / elapsed:,.0f} snapshots/s")
    print(f"   engine only:        {pure:.2f}s = {len(snapshots) / pure:,.0f} snapshots/s")
    print(f"   storage share of replay time: {100 * (1 - pure / elapsed):.0f}%")


if __name__ == "__main__":
    bench_ticks()
    asyncio.run(bench_replay())
