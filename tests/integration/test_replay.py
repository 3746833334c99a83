"""ReplaySource: pacing through an injected sleep, and use as an OddsSource."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.providers.base import FeedError, OddsSource, RawSnapshot
from engine.providers.replay import ReplayFinished, ReplaySource, parse_speed
from engine.providers.tape import TapeRecorder
from tests.paths import FIXTURES

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def tape(tmp_path: Path) -> Path:
    path = tmp_path / "tape.jsonl"
    with TapeRecorder(path) as recorder:
        for seconds in (0, 300, 900, 960):
            recorder.append(RawSnapshot(fetched_at=T0 + timedelta(seconds=seconds), data=[seconds]))
    return path


async def test_max_speed_never_sleeps(tape: Path) -> None:
    sleeps = Sleeps()
    got = [raw.data async for raw in ReplaySource(tape, "max", sleep=sleeps)]
    assert got == [[0], [300], [900], [960]]
    assert sleeps.calls == []


async def test_speed_60_sleeps_gap_over_60(tape: Path) -> None:
    sleeps = Sleeps()
    got = [raw.data async for raw in ReplaySource(tape, 60, sleep=sleeps)]
    assert got == [[0], [300], [900], [960]]
    assert sleeps.calls == pytest.approx([5.0, 10.0, 1.0])


async def test_numeric_string_speed(tape: Path) -> None:
    sleeps = Sleeps()
    _ = [raw async for raw in ReplaySource(tape, "2.5", sleep=sleeps)]
    assert sleeps.calls == pytest.approx([120.0, 240.0, 24.0])


async def test_wnba_excerpt_at_speed_300() -> None:
    sleeps = Sleeps()
    count = 0
    async for _ in ReplaySource(FIXTURES / "wnba_tape_excerpt.jsonl.gz", 300, sleep=sleeps):
        count += 1
    assert count == 260
    assert len(sleeps.calls) == 259
    # 02:05:24 → 23:45:27 is 78,003 s of market time; at 300× that is 260.01 s of sleeping
    assert sum(sleeps.calls) == pytest.approx(78_003 / 300)


async def test_fetch_hands_out_snapshots_then_finishes(tape: Path) -> None:
    sleeps = Sleeps()
    source = ReplaySource(tape, 60, sleep=sleeps)
    assert isinstance(source, OddsSource)
    got = [(await source.fetch()).data for _ in range(4)]
    assert got == [[0], [300], [900], [960]]
    with pytest.raises(ReplayFinished):
        await source.fetch()
    with pytest.raises(FeedError):  # and keeps saying so
        await source.fetch()
    assert sleeps.calls == []  # fetch() leaves the pacing to the caller


@pytest.mark.parametrize("bad", [0, -1, "fast", "", float("nan"), float("inf"), True])
def test_bad_speed_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="speed"):
        parse_speed(bad)  # type: ignore[arg-type]


def test_speed_values() -> None:
    assert parse_speed("max") is None
    assert parse_speed("MAX") is None
    assert parse_speed(60) == 60.0
    assert parse_speed("0.5") == 0.5
