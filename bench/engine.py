"""Engine tick cost, and replay throughput before and after #18 on SQLite and PostgreSQL, side by side.

    python bench/engine.py [--replay-only] [--rounds 3] [--postgres URL] [--baseline e3072cb]

1. For slates of 5, 15 and 30 games × 10 and 40 books, the cost of one engine tick — decode (json.loads),
   parse into BookLines, diff against the last quotes, consensus, the three detectors; no I/O — as a
   ratio to json.loads of the same payload, measured side by side in this run. Payloads are synthetic
   (The Odds API v4 shape; each game's fair line takes a random walk and each tick ~10% of the books
   catch up with it, like the real five-minute tape), because no real slate has 40 books. Both the
   first tick of a slate (every quote new) and steady-state ticks are shown.
2. Replay throughput (snapshots per second) of the bundled real tape with its database writes, storage's
   share of that time (1 - the engine alone on the same snapshots / the replay), and the CLV audit's time,
   for three variants measured in turn, round after round, each replay in a new process on a new database
   (bench/replay_probe.py, the same lines for all three):
   (a) the code before #18 (``--baseline``, main's e3072cb) on SQLite, checked out into a temporary git
       worktree that is removed afterwards;
   (b) this checkout on SQLite;
   (c) this checkout on PostgreSQL: a throwaway database created on the server of ``--postgres URL`` (or
       ``STRATUM_TEST_POSTGRES_URL``; a role that may create databases, e.g. from .ci/postgres.sh) and dropped.
   Then the ratios b/a (#18 wants ≥ 0.8) and c/b (≥ 0.5), each the median of the rounds' own pairs, and, from
   one more replay of (b) and of (c) with `Database.watch` on, the three
   most expensive statements per snapshot (calls and time per statement text; COMMIT timed as one too). A
   variant that fails prints its one-line error (and where in the code) and the others still run.

Figures are medians of repeated runs; ratios are what to compare across machines.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from config.settings import load_settings  # noqa: E402
from engine.core import Engine  # noqa: E402
from engine.providers.base import RawSnapshot  # noqa: E402
from engine.providers.parse import ParseMemo, parse_snapshot  # noqa: E402

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


# -- 2. replay, side by side ------------------------------------------------------------------------------------

#: main before #18 (aiosqlite, no SQLAlchemy): "today's code" of the issue's speed targets.
BASELINE = "e3072cb"
PROBE = ROOT / "bench" / "replay_probe.py"
PROBE_TIMEOUT_SECONDS = 900
POSTGRES_ENV = "STRATUM_TEST_POSTGRES_URL"
#: (numerator, denominator, what #18 asks of their ratio)
TARGETS = (("b", "a", 0.8), ("c", "b", 0.5))


class VariantFailed(Exception):
    """A variant could not be measured; the message is one line."""


@dataclass
class Variant:
    """One column of the comparison: whose code, on which backend, and what its runs gave."""

    key: str
    label: str
    root: Path | None = None
    new_database: Callable[[str], str] | None = None  # a run's name -> a new, empty database's path or URL
    profile: bool = False
    error: str | None = None
    runs: list[dict[str, Any] | None] = field(default_factory=list)  # per round; None where it failed
    #: the run with statement listeners on (its "statements": statement text -> [calls, seconds])
    profiled: dict[str, Any] | None = None
    profile_error: str | None = None

    @property
    def ok(self) -> list[dict[str, Any]]:
        return [run for run in self.runs if run is not None]


def _one_line(text: str, limit: int = 160) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    line = lines[-1] if lines else "no output"
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _where(traceback: str, root: Path) -> str:
    """Where a traceback ends in `root`'s own code, as ' (at storage/x.py:12)'; empty if nowhere."""
    frames = re.findall(r'File "([^"]+)", line (\d+)', traceback)
    for path, line in reversed(frames):
        file = Path(path)
        if file.is_relative_to(root) and ".venv" not in file.parts:
            return f" (at {file.relative_to(root)}:{line})"
    return ""


def _probe(root: Path, db: str, *, profile: bool = False) -> dict[str, Any]:
    """One replay by bench/replay_probe.py of the code in `root`, in a new process; its JSON figures."""
    command = [sys.executable, str(PROBE), "--root", str(root), "--db", db]
    if profile:
        command.append("--profile")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # `root`'s code, never this tree's
    try:
        done = subprocess.run(  # noqa: S603 (our own interpreter and script)
            command, cwd=root, env=env, capture_output=True, text=True, timeout=PROBE_TIMEOUT_SECONDS
        )
    except subprocess.TimeoutExpired:
        raise VariantFailed(f"no result within {PROBE_TIMEOUT_SECONDS} s") from None
    if done.returncode != 0:
        raise VariantFailed(_one_line(done.stderr or done.stdout) + _where(done.stderr, root))
    try:
        return json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise VariantFailed(f"unreadable output: {_one_line(done.stdout)}") from None


@contextlib.contextmanager
def _checkout(revision: str) -> Iterator[Path]:
    """`revision` checked out into a temporary git worktree of this repository, removed on the way out."""
    parent = Path(tempfile.mkdtemp(prefix="stratum-bench-"))
    tree = parent / "tree"
    git = ["git", "-C", str(ROOT)]
    try:
        added = subprocess.run(  # noqa: S603
            [*git, "worktree", "add", "--detach", "--quiet", str(tree), revision],
            capture_output=True,
            text=True,
        )
        if added.returncode != 0:
            raise VariantFailed(f"git worktree add {revision}: {_one_line(added.stderr)}")
        yield tree
    finally:
        try:
            subprocess.run([*git, "worktree", "remove", "--force", str(tree)], capture_output=True)  # noqa: S603
        finally:
            shutil.rmtree(parent, ignore_errors=True)


def _postgres_databases(url: str) -> Any:
    """The server of `url` as tests/backends.py drives it: creates each database and drops them all at the end."""
    from tests.backends import PostgresServer

    return PostgresServer(url)


def _drop_databases(server: Any) -> None:
    """Drop the bench's databases; a server gone meanwhile is one line, not a traceback."""
    if not server.created:
        return
    try:
        server.drop_all()
    except Exception as exc:
        print(f"   could not drop the bench's PostgreSQL databases {server.created}: {_failure(exc)}")


def _rate(run: dict[str, Any]) -> float:
    return run["snapshots"] / run["replay_seconds"]


def _share(run: dict[str, Any]) -> float:
    return 1 - run["engine_seconds"] / run["replay_seconds"]


def _run(variant: Variant, name: str, *, profile: bool = False) -> dict[str, Any]:
    if variant.root is None or variant.new_database is None:
        raise VariantFailed("not set up")
    return _probe(variant.root, variant.new_database(name), profile=profile)


def _failure(exc: Exception) -> str:
    """One line for a failed variant: a probe's own last line, or the first line of an exception raised here
    (e.g. psycopg's, whose later lines are hints)."""
    if isinstance(exc, VariantFailed):
        return str(exc)
    first = (str(exc).strip().splitlines() or [""])[0]
    return _one_line(f"{type(exc).__name__}: {first}")


def _measure(variants: list[Variant], rounds: int) -> None:
    """Every variant once per round, in turn (a b c a b c …), so a slow spell of the machine hits all of them."""
    for number in range(rounds):
        for variant in variants:
            if variant.error is not None:
                variant.runs.append(None)
                continue
            try:
                variant.runs.append(_run(variant, f"{variant.key}{number}"))
            except Exception as exc:  # one variant's failure never stops the others
                variant.error = _failure(exc)
                variant.runs.append(None)
    for variant in variants:
        if variant.profile and variant.error is None:
            try:
                variant.profiled = _run(variant, f"{variant.key}p", profile=True)
            except Exception as exc:
                variant.profile_error = _failure(exc)


def _pair_ratios(variants: dict[str, Variant], top: str, bottom: str) -> list[float]:
    """Per round, top's rate / bottom's rate measured in that round (rounds where both ran)."""
    return [
        _rate(t) / _rate(b)
        for t, b in zip(variants[top].runs, variants[bottom].runs, strict=True)
        if t is not None and b is not None
    ]


def _print_results(variants: list[Variant], rounds: int) -> None:
    by_key = {variant.key: variant for variant in variants}
    measured = [run for variant in variants for run in variant.ok]
    snapshots = measured[0]["snapshots"] if measured else 0
    print("2. Replay of the bundled tape (real WNBA odds), side by side")
    print(f"   {snapshots} snapshots; median of {rounds} round(s), the variants in turn, each replay a new process")
    print(f"   {'variant':<38} {'snapshots/s':>11} {'storage share':>13} {'quotes stored':>13} {'audit':>7}")
    for variant in variants:
        runs = variant.ok
        if not runs:
            print(f"   {variant.label:<38} failed: {variant.error}")
            continue
        rate = statistics.median(_rate(run) for run in runs)
        share = statistics.median(_share(run) for run in runs)
        audit = statistics.median(run["audit_seconds"] for run in runs)
        quotes = sorted({run["quotes"] for run in runs})
        print(
            f"   {variant.label:<38} {rate:>11,.0f} {100 * share:>12.0f}% {'/'.join(map(str, quotes)):>13}"
            f" {audit:>6.2f}s"
        )
        if variant.error is not None:
            print(f"   {'':<38} (then failed: {variant.error})")
    if measured:
        pure = statistics.median(run["snapshots"] / run["engine_seconds"] for run in measured)
        print(f"   {'engine alone (no storage)':<38} {pure:>11,.0f}")
        stored = {run["quotes"] for run in measured}
        if len(stored) > 1:
            print(f"   note: the variants stored different numbers of quotes ({sorted(stored)}): not the same work")
    for top, bottom, wanted in TARGETS:
        pairs = _pair_ratios(by_key, top, bottom)
        if not pairs:
            print(f"   {top}/{bottom}: n/a ({top} or {bottom} did not run; #18 wants ≥ {wanted})")
            continue
        ratio = statistics.median(pairs)
        verdict = "met" if ratio >= wanted else "NOT met"
        spread = f", {min(pairs):.2f}–{max(pairs):.2f}" if len(pairs) > 1 else ""
        print(f"   {top}/{bottom}: {ratio:.2f} ({len(pairs)} round pair(s){spread}; #18 wants ≥ {wanted}: {verdict})")
    print("   The three most expensive statements per snapshot (one more replay with statement listeners on):")
    for variant in variants:
        if not variant.profile:
            continue
        if variant.profiled is None:
            print(f"   {variant.label}: n/a ({variant.profile_error or 'the variant did not run'})")
            continue
        _print_statements(variant.label, variant.profiled)


def _print_statements(label: str, profiled: dict[str, Any]) -> None:
    """The three statements that took the most time, per snapshot, against all SQL and all storage time."""
    snapshots = profiled["snapshots"]
    stats = profiled["statements"]
    total_calls = sum(calls for calls, _ in stats.values())
    total_seconds = sum(seconds for _, seconds in stats.values()) or 1e-12
    storage = profiled["replay_seconds"] - profiled["engine_seconds"]
    in_sql, in_storage = 1e3 * total_seconds / snapshots, 1e3 * storage / snapshots
    print(
        f"   {label}, per snapshot: {total_calls / snapshots:.1f} statements taking {in_sql:.3f} ms,"
        f" of {in_storage:.3f} ms of storage time"
    )
    print(f"      {'calls':>6} {'ms':>7} {'share':>5}  statement (per snapshot; share of the time in statements)")
    ranked = sorted(stats.items(), key=lambda item: item[1][1], reverse=True)[:3]
    for text, (calls, seconds) in ranked:
        shown = text if len(text) <= 90 else text[:89] + "…"
        per_call = f"{calls / snapshots:>6.2f} {1e3 * seconds / snapshots:>7.3f}"
        print(f"      {per_call} {seconds / total_seconds:>5.0%}  {shown}")


def bench_replay(*, baseline: str, postgres_url: str | None, rounds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="stratum-bench-db-") as folder, contextlib.ExitStack() as stack:

        def sqlite_file(name: str) -> str:
            return str(Path(folder) / f"{name}.db")

        before = Variant("a", f"(a) before #18 ({baseline}), SQLite", new_database=sqlite_file)
        try:
            before.root = stack.enter_context(_checkout(baseline))
        except (VariantFailed, OSError) as exc:  # OSError: no git at all
            before.error = _failure(exc)
        now_sqlite = Variant("b", "(b) this code, SQLite", ROOT, sqlite_file, profile=True)
        now_postgres = Variant("c", "(c) this code, PostgreSQL", ROOT, profile=True)
        if not postgres_url:
            now_postgres.error = f"no PostgreSQL: give --postgres URL or set {POSTGRES_ENV}"
        else:
            server = _postgres_databases(postgres_url)
            stack.callback(_drop_databases, server)

            def postgres_database(_name: str) -> str:
                return server.create()

            now_postgres.new_database = postgres_database
        variants = [before, now_sqlite, now_postgres]
        _measure(variants, rounds)
        _print_results(variants, rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replay-only", action="store_true", help="skip the tick costs (part 1)")
    parser.add_argument("--rounds", type=int, default=3, help="replays of each variant (default 3)")
    parser.add_argument("--baseline", default=BASELINE, help=f"the revision before #18 (default {BASELINE})")
    parser.add_argument("--postgres", metavar="URL", help=f"a PostgreSQL server's URL (default ${POSTGRES_ENV})")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if not args.replay_only:
        bench_ticks()
    postgres_url = args.postgres or os.environ.get(POSTGRES_ENV, "").strip() or None
    bench_replay(baseline=args.baseline, postgres_url=postgres_url, rounds=args.rounds)


if __name__ == "__main__":
    main()
