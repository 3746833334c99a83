"""One replay of the bundled tape into one database, timed, in a process of its own (for bench/engine.py).

    python bench/replay_probe.py --root CHECKOUT --db PATH_OR_URL [--profile]

The code that runs is CHECKOUT's, not this file's tree's: bench/engine.py runs the same probe against a
temporary worktree of the code before #18 and against this checkout, so each variant is measured by the same
lines in the same kind of process. That is why this file imports nothing of the project at module level and
uses only what both versions have (`Repositories.open`, `EngineService.restore`/`process`, `build_audit`).

It prints one JSON line: snapshots, seconds of the replay with its database writes, seconds of the engine
alone on the same snapshots (so storage's share is 1 - engine/replay), changed quotes stored, the audit's
seconds, and with `--profile` every SQL statement the replay sent (count and seconds per statement text,
through SQLAlchemy's before/after_cursor_execute events; the listeners cost a little, so bench/engine.py takes
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
    """Count and time every statement the engines send, keyed by its SQL text, and each COMMIT.

    Statements through SQLAlchemy's before/after_cursor_execute events; a COMMIT is no cursor statement (the
    driver's own call), so the dialect's do_commit is timed as "COMMIT". PostgreSQL's BEGIN is sent by psycopg
    with a transaction's first statement and counted in that statement's time.
    """

    def __init__(self) -> None:
        self.stats: dict[str, list[float]] = {}  # text -> [count, seconds]
        self.recording = False

    def attach(self, engines: Any) -> None:
        from sqlalchemy import event

        dialects: dict[int, Any] = {}
        for engine in engines:
            event.listen(engine.sync_engine, "before_cursor_execute", self._before)
            event.listen(engine.sync_engine, "after_cursor_execute", self._after)
            dialects[id(engine.sync_engine.dialect)] = engine.sync_engine.dialect
        for dialect in dialects.values():
            dialect.do_commit = self._timed_commit(dialect.do_commit)

    def _record(self, statement: str, elapsed: float) -> None:
        if self.recording:
            entry = self.stats.setdefault(" ".join(statement.split()), [0, 0.0])
            entry[0] += 1
            entry[1] += elapsed

    def _before(self, conn: Any, cursor: Any, statement: str, params: Any, context: Any, executemany: bool) -> None:
        conn.info.setdefault("bench_started", []).append(time.perf_counter())

    def _after(self, conn: Any, cursor: Any, statement: str, params: Any, context: Any, executemany: bool) -> None:
        self._record(statement, time.perf_counter() - conn.info["bench_started"].pop())

    def _timed_commit(self, commit: Any) -> Any:
        def do_commit(dbapi_connection: Any) -> None:
            started = time.perf_counter()
            try:
                commit(dbapi_connection)
            finally:
                self._record("COMMIT", time.perf_counter() - started)

        return do_commit


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
            engines = getattr(repos.db, "engines", None)
            if engines is None:
                raise SystemExit("--profile needs the SQLAlchemy storage layer (#18); this checkout has none")
            statements = StatementProfile()
            statements.attach(engines)
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
