"""Tapes: recorder → reader round trip, gzip, the three time keys, historical files, bad lines."""

from __future__ import annotations

import gzip
import json
import logging
import shutil
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest

from engine.models import Quota
from engine.providers.base import RawSnapshot
from engine.providers.parse import parse_snapshot
from engine.providers.tape import TapeRecorder, read_tape
from tests.paths import FIXTURES

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def snap(minutes: float, data: object = None, quota: Quota | None = None) -> RawSnapshot:
    return RawSnapshot(
        fetched_at=T0 + timedelta(minutes=minutes),
        data=data if data is not None else [{"n": minutes}],
        quota=quota,
    )


@pytest.mark.parametrize("name", ["tape.jsonl", "tape.jsonl.gz"])
def test_round_trip(tmp_path: Path, name: str) -> None:
    path = tmp_path / "sub" / name
    originals = [snap(0, quota=Quota(100, 5, 3)), snap(5), snap(10, data=[])]
    with TapeRecorder(path) as recorder:
        for item in originals:
            recorder.append(item)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == name.endswith(".gz")
    assert list(read_tape(path)) == originals


def test_recorder_appends_across_sessions_and_flushes_each_line(tmp_path: Path) -> None:
    path = tmp_path / "tape.jsonl.gz"
    recorder = TapeRecorder(path)
    recorder.append(snap(0))
    # flushed: a reader sees the line while the recorder is still open
    assert [s.fetched_at for s in read_tape(path)] == [T0]
    recorder.close()
    with TapeRecorder(path) as again:  # a second session adds a gzip member
        again.append(snap(1))
    assert [s.fetched_at for s in read_tape(path)] == [T0, T0 + timedelta(minutes=1)]


def test_recorded_line_format(tmp_path: Path) -> None:
    path = tmp_path / "tape.jsonl"
    with TapeRecorder(path) as recorder:
        recorder.append(snap(0, data=[{"id": "x"}]))
    (line,) = path.read_text(encoding="utf-8").splitlines()
    assert json.loads(line) == {"fetched_at": "2025-03-01T12:00:00+00:00", "data": [{"id": "x"}]}


def test_three_time_keys(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    lines = [
        {"fetched_at": "2025-03-01T12:00:00+00:00", "data": [1]},
        {"commit": "abc", "committed_at": "2025-03-01T12:05:00+00:00", "kind": "live", "data": [2]},
        {
            "timestamp": "2025-03-01T12:10:00Z",
            "previous_timestamp": "2025-03-01T12:05:00Z",
            "next_timestamp": "2025-03-01T12:15:00Z",
            "data": [3],
        },
    ]
    path.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    got = list(read_tape(path))
    assert [s.data for s in got] == [[1], [2], [3]]
    assert [s.fetched_at for s in got] == [T0 + timedelta(minutes=m) for m in (0, 5, 10)]
    assert all(s.fetched_at.tzinfo is UTC for s in got)


def test_gzip_detected_by_magic_bytes_not_name(tmp_path: Path) -> None:
    path = tmp_path / "looks-plain.jsonl"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write(json.dumps({"fetched_at": "2025-03-01T12:00:00Z", "data": []}) + "\n")
    assert [s.fetched_at for s in read_tape(path)] == [T0]


def test_bad_lines_are_skipped_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(
        "\n".join(
            [
                '{"fetched_at": "2025-03-01T12:00:00Z", "data": [1]}',
                "{not json",
                '{"data": [2]}',
                '{"fetched_at": "yesterday", "data": [3]}',
                '{"fetched_at": "2025-03-01T12:03:00", "data": [4]}',
                "[1, 2]",
                "",
                '{"fetched_at": "2025-03-01T12:05:00Z"}',
                '{"fetched_at": "2025-03-01T12:06:00Z", "data": [5]}',
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    with caplog.at_level(logging.WARNING, logger="engine.providers.tape"):
        got = list(read_tape(path))
    assert [s.data for s in got] == [[1], [5]]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 6
    for line_no, text in zip((2, 3, 4, 5, 6, 8), warnings, strict=True):
        assert f"line {line_no} skipped" in text
    assert "not JSON" in warnings[0]
    assert "no time key" in warnings[1]
    assert "bad time" in warnings[2] and "bad time" in warnings[3]  # unparseable; naive
    assert "no data" in warnings[5]


def test_a_broken_first_line_is_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "bad-first.jsonl"
    path.write_text('{"fetched_at": \n{"fetched_at": "2025-03-01T12:00:00Z", "data": []}\n', encoding="utf-8")
    assert [s.fetched_at for s in read_tape(path)] == [T0]


def test_unsorted_tape_is_sorted_and_deduplicated(tmp_path: Path) -> None:
    path = tmp_path / "unsorted.jsonl"
    with TapeRecorder(path) as recorder:
        for minutes, tag in [(10, "a"), (0, "b"), (5, "c"), (0, "d"), (15, "e")]:
            recorder.append(snap(minutes, data=[tag]))
    got = list(read_tape(path))
    assert [s.data for s in got] == [["b"], ["c"], ["a"], ["e"]]  # the first copy of 0 wins


def test_sorted_tape_drops_repeated_times(tmp_path: Path) -> None:
    path = tmp_path / "dups.jsonl"
    with TapeRecorder(path) as recorder:
        for minutes, tag in [(0, "a"), (0, "b"), (5, "c")]:
            recorder.append(snap(minutes, data=[tag]))
    assert [s.data for s in read_tape(path)] == [["a"], ["c"]]


def test_reader_streams_a_sorted_tape(tmp_path: Path) -> None:
    path = tmp_path / "stream.jsonl"
    with TapeRecorder(path) as recorder:
        recorder.append(snap(0))
    reader = read_tape(path)
    first = next(reader)
    # Lines written after the reader started are still seen: it reads as it goes.
    with TapeRecorder(path) as recorder:
        recorder.append(snap(1))
    assert [first.fetched_at, *(s.fetched_at for s in reader)] == [T0, T0 + timedelta(minutes=1)]


def test_single_historical_file() -> None:
    (raw,) = read_tape(FIXTURES / "nba_odds_2024-12-25_featured.json")
    assert raw.fetched_at == datetime(2024, 12, 25, 11, 55, 38, tzinfo=UTC)
    assert isinstance(raw.data, list) and len(raw.data) == 4
    assert raw.quota is None


def test_directory_of_historical_files_deduplicated(tmp_path: Path) -> None:
    """02-18, 02-19 (gzip) and 02-20 all carry the stale 2022-02-18T05:55:00Z snapshot."""
    got = list(read_tape(FIXTURES / "historical_allstar_2022"))
    assert [s.fetched_at for s in got] == [
        datetime(2022, 2, 17, 11, 55, tzinfo=UTC),
        datetime(2022, 2, 18, 5, 55, tzinfo=UTC),
    ]
    assert [len(s.data) for s in got] == [1, 1]
    # The first file (by name) of a duplicated time is kept: give a later one different data.
    folder = tmp_path / "hist"
    shutil.copytree(FIXTURES / "historical_allstar_2022", folder)
    late = folder / "odds_2022-02-20_full_game_first_half.json"
    wrapper = json.loads(late.read_text(encoding="utf-8"))
    wrapper["data"] = []
    late.write_text(json.dumps(wrapper), encoding="utf-8")
    (folder / "notes.txt").write_text("not a snapshot", encoding="utf-8")
    got = list(read_tape(folder))
    assert len(got) == 2 and len(got[1].data) == 1


def test_historical_snapshot_parses_through_the_one_parser() -> None:
    """The stale All-Star snapshot: one game, already in play (commence before the snapshot)."""
    got = list(read_tape(FIXTURES / "historical_allstar_2022"))
    parsed = parse_snapshot(got[1])
    assert parsed.rejections == ()
    (event,) = parsed.events
    assert event.game.home_team == "Los Angeles Clippers"
    assert event.game.commence_time < parsed.fetched_at
    assert len(event.lines) == 17  # 12 books, not all quoting: 9 spreads + 4 totals + 4 h2h


def test_wnba_tape_excerpt() -> None:
    got = list(read_tape(FIXTURES / "wnba_tape_excerpt.jsonl.gz"))
    assert len(got) == 260
    assert got[0].fetched_at == datetime(2026, 8, 3, 2, 5, 24, tzinfo=UTC)
    assert got[-1].fetched_at == datetime(2026, 8, 3, 23, 45, 27, tzinfo=UTC)
    gaps = [(b.fetched_at - a.fetched_at).total_seconds() for a, b in pairwise(got)]
    assert all(g > 0 for g in gaps)
    assert sorted(gaps)[len(gaps) // 2] == pytest.approx(300, abs=30)  # the 5-minute cadence
    first = parse_snapshot(got[0])
    assert first.rejections == ()
    (event,) = first.events
    assert event.game.sport_key == "basketball_wnba"
    assert (event.game.home_team, event.game.away_team) == ("New York Liberty", "Seattle Storm")
    assert len(event.lines) == 33  # 11 books × 3 markets
    # commence_time is rewritten to the actual start after tip-off (quirk 2 in the data's SOURCE.md)
    last = parse_snapshot(got[-1])
    assert last.events[0].game.commence_time == datetime(2026, 8, 3, 23, 4, tzinfo=UTC)


def test_truncated_gzip_tape_keeps_what_was_written(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A recorder killed mid-write leaves a gzip stream without its trailer: not fatal."""
    path = tmp_path / "killed.jsonl.gz"
    with TapeRecorder(path) as recorder:
        for minutes in (0, 5, 10):
            recorder.append(snap(minutes))
    path.write_bytes(path.read_bytes()[:-8])  # drop the CRC/length trailer
    with caplog.at_level(logging.WARNING, logger="engine.providers.tape"):
        got = list(read_tape(path))
    assert [s.fetched_at for s in got] == [T0 + timedelta(minutes=m) for m in (0, 5, 10)]
    assert any("ends early" in r.getMessage() for r in caplog.records)
