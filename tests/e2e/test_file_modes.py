"""Files the app writes are 0600 whatever the umask (issue #11, item 5): the database and its -wal and
-shm (webhook signing secrets in clear, key hashes, Stripe links), tapes, and the audit summary."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from app.bootstrap import BUNDLED_TAPE
from engine.providers.tape import TapeRecorder, read_tape
from storage import Repositories
from tests.paths import ROOT


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def usual_umask():
    """The usual umask (022), under which every file used to come out 0644."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


async def test_the_database_and_its_wal_and_shm_are_0600(tmp_path, usual_umask) -> None:
    """SQLite only: the files are SQLite's (a PostgreSQL server keeps its data in its own directory)."""
    db = tmp_path / "data" / "stratum.db"
    repos = await Repositories.open(db)
    try:
        async with repos.db.transaction():
            await repos.db.execute("CREATE TABLE probe (x)")
            await repos.db.execute("INSERT INTO probe VALUES (1)")
        wal, shm = Path(f"{db}-wal"), Path(f"{db}-shm")
        # WAL mode keeps both while the database is open (`mode` raises if either is missing).
        assert {path.name: mode(path) for path in (db, wal, shm)} == {
            "stratum.db": 0o600,
            "stratum.db-wal": 0o600,
            "stratum.db-shm": 0o600,
        }
    finally:
        await repos.close()


async def test_a_database_left_readable_by_an_older_version_is_tightened(tmp_path, usual_umask) -> None:
    """SQLite only: the files are SQLite's (a PostgreSQL server keeps its data in its own directory)."""
    db = tmp_path / "stratum.db"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE probe (x)")
    conn.commit()
    leftovers = [db, Path(f"{db}-wal"), Path(f"{db}-shm")]
    for path in leftovers:
        os.chmod(path, 0o644)
    repos = await Repositories.open(db)  # opened while the old connection still holds -wal and -shm
    try:
        assert [mode(path) for path in leftovers] == [0o600, 0o600, 0o600]
    finally:
        await repos.close()
        conn.close()


@pytest.mark.parametrize("name", ["live.jsonl", "live.jsonl.gz"])
def test_a_recorded_tape_is_0600(tmp_path, usual_umask, name) -> None:
    path = tmp_path / "tapes" / name
    first = next(iter(read_tape(BUNDLED_TAPE)))
    with TapeRecorder(path) as recorder:
        recorder.append(first)
    assert mode(path) == 0o600
    with TapeRecorder(path) as recorder:  # a later session appends to it, and it stays private
        recorder.append(first)
    assert mode(path) == 0o600
    assert len(list(read_tape(path))) == 1  # the same time twice: one snapshot, the file is intact


def test_the_replay_job_writes_its_database_and_summary_0600(tmp_path) -> None:
    """`run_bot.py --replay` in its own process, started under umask 022. SQLite only: the database file's
    mode is the point."""
    tape = tmp_path / "short.jsonl"
    with TapeRecorder(tape) as recorder:
        for raw in list(read_tape(BUNDLED_TAPE))[:5]:
            recorder.append(raw)
    db, summary = tmp_path / "out" / "replay.db", tmp_path / "summary.json"
    env = {key: value for key, value in os.environ.items() if not key.startswith("STRATUM_")} | {
        "PYTHONPATH": str(ROOT)
    }
    argv = [sys.executable, str(ROOT / "run_bot.py"), "--replay", str(tape), "--db", str(db)]
    done = subprocess.run(  # noqa: S603 (our own interpreter and script)
        [*argv, "--summary-json", str(summary)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        umask=0o022,
    )
    assert done.returncode == 0, done.stderr
    assert summary.read_text(encoding="utf-8").startswith("{")
    assert {path.name: mode(path) for path in (db, summary)} == {"replay.db": 0o600, "summary.json": 0o600}
