"""Same answers on both backends (#18): the bundled tape replayed by the real `run_bot.py --replay TAPE --speed
max --summary-json PATH --db LOCATION` in a child process gives on PostgreSQL exactly what it gives on SQLite —
every field of every signal, every grade and ungraded reason, the classes' records and alert states, closes,
games, quotes, consensus, the feed's state, and the summary JSON byte for byte.

The reference is one replay into a SQLite file. `[sqlite]` replays the tape again into a second file and must
match it too: whatever a replay does not fix by itself (a wall-clock time, an unordered read) fails there, on
one backend, so a `[postgresql]` failure is a difference between the backends. Everything is read back through
the repositories, the way every surface reads it. Without `STRATUM_TEST_POSTGRES_URL` the `[postgresql]` half
is skipped with the standard reason (tests/backends.py).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.bootstrap import BUNDLED_TAPE
from storage import Repositories
from tests.backends import Backend
from tests.paths import ROOT

#: The tape replayed: the bundled one, or another named by STRATUM_SAME_ANSWERS_TAPE for a one-off check (the
#: shared WNBA tape's figures in docs/postgresql.md were taken that way; the suite itself reads no other file).
TAPE = Path(os.environ.get("STRATUM_SAME_ANSWERS_TAPE") or BUNDLED_TAPE).resolve()
SOURCE = f"replay:{TAPE.name}"
EVER = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Answers:
    """What one replay left behind, as the repositories give it back (lists in the order they promise)."""

    summary: str
    signals: list
    grades: list
    ungraded: list
    legacy: list
    class_records: list
    alert_states: list
    closes: list
    results: dict
    games: list
    quotes: list
    consensus: list
    feed: object


async def _read(location: str) -> Answers:
    repos = await Repositories.open(location)
    try:
        games = await repos.games.list(limit=10_000)
        consensus = [await repos.consensus.history(stored.game.id) for stored in games]
        return Answers(
            summary="",
            signals=await repos.signals.since(EVER),
            grades=[(signal.id, grade) for signal, grade in await repos.grades.graded_signals()],
            ungraded=[(signal.id, reason) for signal, reason in await repos.grades.ungraded()],
            legacy=await repos.grades.legacy_ids(),
            class_records=await repos.grades.class_records(),
            alert_states=await repos.class_states.history(),
            closes=await repos.closes.all(),
            results=await repos.closes.results(),
            games=games,
            quotes=await repos.quotes.all_timelines(),
            consensus=consensus,
            feed=await repos.feed_state.get(SOURCE),
        )
    finally:
        await repos.close()


def _replay(location: str, folder: Path) -> Answers:
    """The real command line in a child process (its own working folder, none of the developer's STRATUM_
    settings), then the database read back in this one."""
    summary = folder / "summary.json"
    env = {key: value for key, value in os.environ.items() if not key.startswith("STRATUM_")}
    env["PYTHONPATH"] = str(ROOT)
    argv = [sys.executable, str(ROOT / "run_bot.py"), "--replay", str(TAPE), "--speed", "max", "--quiet"]
    done = subprocess.run(  # noqa: S603 (our own interpreter and script)
        [*argv, "--summary-json", str(summary), "--db", location],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    answers = asyncio.run(_read(location))
    assert answers.signals and answers.grades and answers.feed is not None, "the replay stored nothing"
    return replace(answers, summary=summary.read_text(encoding="utf-8"))


def _first_difference(expected: object, got: object) -> str:
    """Where two answers part, in a line (the whole lists would drown it)."""
    if isinstance(expected, list) and isinstance(got, list):
        for index, (a, b) in enumerate(zip(expected, got, strict=False)):
            if a != b:
                return f"item {index}: {a!r} != {b!r}"
        return f"{len(expected)} items != {len(got)} items"
    if isinstance(expected, str) and isinstance(got, str):
        for number, (a, b) in enumerate(zip(expected.splitlines(), got.splitlines(), strict=False), start=1):
            if a != b:
                return f"line {number}: {a!r} != {b!r}"
        return f"{len(expected.splitlines())} lines != {len(got.splitlines())} lines"
    return f"{expected!r} != {got!r}"


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Answers:
    """The tape replayed once into a SQLite file: what every replay, on every backend, must give back."""
    folder = tmp_path_factory.mktemp("reference")
    return _replay(str(folder / "stratum.db"), folder)


def test_a_replay_gives_the_same_answers_on_every_backend(backend: Backend, tmp_path: Path, reference: Answers):
    answers = _replay(backend.fresh(tmp_path), tmp_path)
    differ = {
        field.name: _first_difference(getattr(reference, field.name), getattr(answers, field.name))
        for field in fields(Answers)
        if getattr(reference, field.name) != getattr(answers, field.name)
    }
    assert differ == {}, f"{backend.name} answers differently from SQLite"
