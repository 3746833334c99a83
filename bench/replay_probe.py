"""One replay of the bundled tape into one database, timed, in a process of its own (for bench/engine.py).

    python bench/replay_probe.py --root CHECKOUT --db PATH_OR_URL [--profile]

The code that runs is CHECKOUT's, not this file's tree's: bench/engine.py runs the same probe against a
temporary worktree of the code before #18 and against this checkout, so each variant is measured by the same
lines in the same kind of process. That is why this file imports nothing of the project at module level and
uses only what both versions have (`Repositories.open`, `EngineService.restore`/`process`, `build_audit`).

It prints one JSON line: snapshots, seconds of the replay with its database writes, seconds of the engine
alone on the same snapshots (so storage's share is 1 - engine/replay), changed quotes stored, the audit's
seconds, and with `--profile` every SQL statement the replay sent (count and seconds per statement text,
through `Database.watch`; the watcher costs a little, so bench/engine.py takes
speeds from unprofiled runs). Failures go to stderr and the exit code; bench/engine.py shows their last line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any


def _use_checkout(root: Path) -> None:
    """Import the project from `root` only: not from this script's folder, nor another checkout."""
    here = str(Path(__file__).resolve().parent)
    sys.path[:] = [str(root)] + [p for p in sys.path if p not in ("", here) and Path(p).resolve() != root]


class StatementProfile:
    """Count and time every statement the database sends, keyed by its SQL text (BEGIN and COMMIT included),
    through `Database.watch`, which sees both of its paths on both backends."""

    def __init__(self) -> None:
        self.stats: dict[str, list[float]] = {}  # text -> [count, seconds]
        self.recording = False

    def attach(self, db: Any) -> None:
        db.watch(self._record)

    def _record(self, sent: Any) -> None:
        if self.recording:
            entry = self.stats.setdefault(" ".join(sent.sql.split()), [0, 0.0])
            entry[0] += 1
            entry[1] += sent.seconds


async def replay(db: str, profile: bool) -> dict[str, Any]:
    from app.bootstrap import BUNDLED_TAPE
    from config.settings import load_settings
    from engine.core import Engine
    from engine.events import EventBus
    from engine.integrity import build_audit
    from engine.providers.parse import ParseMemo, parse_snapshot
    from engine.providers.tape import read_tape
    from engine.service import EngineService
    from storage import Repositories

    settings = load_settings(env_file=None)
    snapshots = list(read_tape(BUNDLED_TAPE))
    target: Any = Path(db) if "://" not in db else db
    repos = await Repositories.open(target)
    statements = None
    try:
        if profile:
            if not hasattr(repos.db, "watch"):
                raise SystemExit("--profile needs the SQLAlchemy storage layer (#18); this checkout has none")
            statements = StatementProfile()
            statements.attach(repos.db)
        service = await EngineService.restore(settings, repos, EventBus(), source="bench")
        if statements is not None:
            statements.recording = True
        started = time.perf_counter()
        for raw in snapshots:
            await service.process(raw)
        elapsed = time.perf_counter() - started
        if statements is not None:
            statements.recording = False
        quotes = await repos.quotes.count()
        started = time.perf_counter()
        report = await build_audit(repos, settings)
        audit = time.perf_counter() - started
    finally:
        await repos.close()
    engine_only, memo = Engine(settings), ParseMemo()
    started = time.perf_counter()
    for raw in snapshots:
        engine_only.ingest(parse_snapshot(raw, memo))
    pure = time.perf_counter() - started
    return {
        "snapshots": len(snapshots),
        "replay_seconds": elapsed,
        "engine_seconds": pure,
        "quotes": quotes,
        "audit_seconds": audit,
        "graded": report.graded,
        "statements": None if statements is None else statements.stats,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True, help="the checkout whose code runs")
    parser.add_argument("--db", required=True, help="a new SQLite file's path, or an empty PostgreSQL database's URL")
    parser.add_argument("--profile", action="store_true", help="also count and time each SQL statement")
    args = parser.parse_args()
    root = args.root.resolve()
    _use_checkout(root)
    import storage

    if not Path(storage.__file__).resolve().is_relative_to(root):
        raise SystemExit(f"imported {storage.__file__}, not the code of {root}")
    print(json.dumps(asyncio.run(replay(args.db, args.profile))))


if __name__ == "__main__":
    main()
