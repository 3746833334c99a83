"""The whole pipeline on real data and a real database (SQLite and PostgreSQL): the bundled WNBA tape
through parse, engine, storage and the event bus; reproducibility; and a restart in the middle that changes nothing."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime

import pytest

from app.bootstrap import BUNDLED_TAPE
from app.cli import main
from engine.events import CLV_GRADED, SIGNAL_CREATED, EventBus
from engine.integrity import build_audit
from engine.models import SignalType
from engine.presets import passes
from engine.providers.tape import read_tape
from engine.service import EngineService
from storage import Repositories
from tests.engine_builders import settings
from tests.paths import FIXTURES

SNAPSHOTS = list(read_tape(BUNDLED_TAPE))


async def _replay(db: str, snapshots, bus: EventBus | None = None) -> Repositories:
    repos = await Repositories.open(db)
    service = await EngineService.restore(settings(), repos, bus or EventBus(), source="test")
    for raw in snapshots:
        await service.process(raw)
    return repos


async def _signals_and_grades(repos: Repositories):
    signals = await repos.signals.list(limit=10_000)
    grades = {s.id: g for s, g in await repos.grades.graded_signals()}
    return signals, grades


def test_the_bundled_tape_is_real_wnba_data_of_a_few_games():
    assert len(SNAPSHOTS) > 500
    sports = {event["sport_key"] for raw in SNAPSHOTS for event in raw.data}
    games = {event["id"] for raw in SNAPSHOTS for event in raw.data}
    assert sports == {"basketball_wnba"}
    assert 2 <= len(games) <= 5


async def test_book_titles_of_the_feed_are_stored_with_the_quotes(db_url):
    repos = await _replay(db_url, SNAPSHOTS[:3])
    try:
        titles = await repos.books.titles()
        assert titles["williamhill_us"] == "Caesars" and titles["betonlineag"] == "BetOnline.ag"
        quoted = {line.book for line in await repos.quotes.latest([e["id"] for e in SNAPSHOTS[0].data])}
        assert quoted <= set(titles)
    finally:
        await repos.close()


async def test_replay_produces_every_signal_type_and_grades_them(db_url):
    created, graded = [], []
    bus = EventBus()

    async def on_created(signal):
        created.append(signal)

    async def on_graded(item):
        graded.append(item)

    bus.subscribe(SIGNAL_CREATED, on_created)
    bus.subscribe(CLV_GRADED, on_graded)
    repos = await _replay(db_url, SNAPSHOTS, bus)
    try:
        signals, grades = await _signals_and_grades(repos)
        assert {s.type for s in signals} == set(SignalType)
        assert sorted(s.id for s in created) == sorted(s.id for s in signals)
        assert grades, "games tipped inside the tape, so their signals are graded"
        assert {item.grade.signal_id for item in graded} == set(grades)
        for signal in signals:
            assert signal.books, signal
            assert 0 <= signal.score <= 100
            assert signal.created_at < signal.commence_time
        for signal_id, grade in grades.items():
            assert not (grade.beat and grade.push), signal_id
        report = await build_audit(repos, settings())
        assert report.graded == len(grades)
        # A preset row holds exactly the graded signals its rule lets through, judged by the classes' lift
        # (never a refuted class, never a class with fewer graded than `clv.preset_min_graded`).
        rows = {row.name: row for row in report.classes}
        minimum = settings().clv.preset_min_graded
        for name, preset in settings().presets.items():
            passing = [
                s for s in signals if s.id in grades and passes(s, preset, report.class_lifts(), min_graded=minimum)
            ]
            assert rows[f"preset:{name}"].graded == len(passing), name
        # Nothing is tiered without lift proven above zero and a rate above its opposite side's.
        for row in report.classes:
            if row.tier != "unproven":
                assert row.lift_low > 0 and row.rate > row.opposite_rate, row
    finally:
        await repos.close()


async def test_replay_is_reproducible(backend, tmp_path):
    reports = []
    for run in ("a", "b"):
        repos = await _replay(backend.fresh(tmp_path, f"{run}.db"), SNAPSHOTS)
        try:
            reports.append((await build_audit(repos, settings())).as_dict())
        finally:
            await repos.close()
    assert reports[0] == reports[1]
    assert reports[0]["graded"] > 0


async def test_a_restart_mid_tape_resumes_exactly(backend, tmp_path):
    straight = await _replay(backend.fresh(tmp_path, "straight.db"), SNAPSHOTS)
    expected_signals, expected_grades = await _signals_and_grades(straight)
    await straight.close()

    db = backend.fresh(tmp_path, "restarted.db")
    for part in (SNAPSHOTS[: len(SNAPSHOTS) // 3], SNAPSHOTS[len(SNAPSHOTS) // 3 :]):
        repos = await _replay(db, part)
        await repos.close()
    repos = await Repositories.open(db)
    try:
        signals, grades = await _signals_and_grades(repos)
    finally:
        await repos.close()
    assert [s.id for s in signals] == [s.id for s in expected_signals]
    assert grades == expected_grades


async def test_replaying_an_already_ingested_tape_adds_nothing(db_url):
    db = db_url
    repos = await _replay(db, SNAPSHOTS)
    before = (await repos.quotes.count(), len(await repos.signals.list(limit=10_000)))
    await repos.close()
    repos = await _replay(db, SNAPSHOTS)
    try:
        assert (await repos.quotes.count(), len(await repos.signals.list(limit=10_000))) == before
    finally:
        await repos.close()


def test_main_job_runs_offline_and_writes_the_summary(tmp_path, capsys, monkeypatch):
    """SQLite only: with no `--db` the database is the default `storage.url`, a SQLite file."""
    monkeypatch.delenv("STRATUM_FEED__API_KEY", raising=False)
    monkeypatch.delenv("STRATUM_DISCORD__TOKEN", raising=False)
    monkeypatch.chdir(tmp_path)
    summary = tmp_path / "summary.json"
    assert main(["--summary-json", str(summary)]) == 0
    out = capsys.readouterr().out
    assert "bundled demo tape" in out and "WNBA" in out
    assert "STEAM" in out and "DISLOCATION" in out and "KEY_CROSS" in out
    assert "CLV audit" in out
    assert (tmp_path / "stratum.db").exists()
    data = json.loads(summary.read_text())
    assert set(data["signals_by_type"]) == {"STEAM", "DISLOCATION", "KEY_CROSS"}
    assert all(count > 0 for count in data["signals_by_type"].values())
    assert data["graded"] > 0
    columns = {
        "class",
        "graded",
        "beats",
        "pushes",
        "beat_rate",
        "null_rate",
        "lift",
        "lift_low",
        "lift_high",
        "opposite_rate",
        "mean_clv",
        "tier",
        "reason",
    }
    for row in data["classes"]:
        assert columns <= set(row)
        if row["graded"]:
            assert 0 <= row["wilson_low"] <= row["beat_rate"] <= row["wilson_high"] <= 1
        assert (row["tier"] == "unproven") == bool(row["reason"])
    # Every class row carries its alert state, since when, and its record since then beside the whole record;
    # preset and score rows have none.
    forward_keys = {"graded", "beat_rate", "null_rate", "lift", "lift_low", "lift_high"}
    graded = asyncio.run(_graded_signals(tmp_path / "stratum.db"))
    for row in data["classes"]:
        if row["kind"] != "class":
            assert (row["alert_state"], row["state_since"], row["forward"]) == (None, None, None), row
            continue
        assert row["alert_state"] in ("tiered", "unproven", "refuted") and row["state_reason"], row
        assert set(row["forward"]) == forward_keys
        since = datetime.fromisoformat(row["state_since"]) if row["state_since"] else None
        fired_since = [
            s for s, _ in graded if s.signal_class == row["class"] and (since is None or s.created_at > since)
        ]
        assert row["forward"]["graded"] == len(fired_since), row
        if since is None:  # never changed: the record since is the whole record
            assert (row["forward"]["graded"], row["forward"]["beat_rate"]) == (row["graded"], row["beat_rate"])
    # A second run resumes: nothing new to replay, the same audit.
    assert main(["--summary-json", str(summary)]) == 0
    assert "already replayed" in capsys.readouterr().out
    assert json.loads(summary.read_text()) == data


async def _graded_signals(path):
    repos = await Repositories.open(path)
    try:
        return await repos.grades.graded_signals()
    finally:
        await repos.close()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--replay", "does/not/exist.jsonl"], "tape not found"),
        (["--speed", "fast"], "--speed"),
        (["--speed", "-2"], "--speed"),
    ],
)
def test_main_job_rejects_bad_arguments(tmp_path, monkeypatch, argv, message, capsys):
    """SQLite only: "refused before anything is written" is checked as no database file created."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("STRATUM_FEED__API_KEY", raising=False)
    assert main([*argv, "--db", str(tmp_path / "x.db")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x.db").exists()


def test_a_bad_config_value_fails_at_start_naming_the_key(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("STRATUM_STEAM__MIN_BOOKS", "many")
    assert main(["--db", str(tmp_path / "x.db")]) == 2
    assert "steam.min_books" in capsys.readouterr().err


def test_main_job_grades_nba_snapshots_against_a_closes_file(db_url, tmp_path, capsys, monkeypatch):
    """The NBA daily-snapshot audit: the Christmas 2024 slate (a morning snapshot, no later one) graded
    against the lines+scores CSV excerpt, with the record against the final score."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("STRATUM_FEED__API_KEY", raising=False)
    summary = tmp_path / "nba.json"
    argv = [
        "--replay",
        str(FIXTURES / "nba_odds_2024-12-25_featured.json"),
        "--closes",
        str(FIXTURES / "nba_closes_excerpt.csv"),
        "--db",
        db_url,
        "--summary-json",
        str(summary),
        "--quiet",
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "approximate consensus close" in out and "against the result" in out
    data = json.loads(summary.read_text())
    assert data["close_source"].startswith("approximate consensus close")
    [row] = [r for r in data["classes"] if r["class"] == "DISLOCATION:spreads"]
    assert row["graded"] == 1 and row["record"] == {"wins": 0, "losses": 1, "pushes": 0}
    assert row["tier"] == "unproven" and row["reason"] == "too few: 1 graded, 30 needed"


def test_a_missing_closes_file_is_refused_before_anything_is_written(tmp_path, capsys, monkeypatch):
    """SQLite only: "before anything is written" is checked as no database file created."""
    monkeypatch.chdir(tmp_path)
    argv = [
        "--replay",
        str(FIXTURES / "nba_odds_2024-12-25_featured.json"),
        "--closes",
        "nope.csv",
        "--db",
        str(tmp_path / "x.db"),
    ]
    assert main(argv) == 2
    assert "--closes" in capsys.readouterr().err
    assert not (tmp_path / "x.db").exists()


async def test_grades_of_the_old_rule_are_regraded_at_start(db_url):
    """A database graded before grades carried CLV% (the vig-free rule) is regraded by today's rules from the
    stored closes when the engine starts, and comes out as a fresh replay grades it."""
    db = db_url
    repos = await _replay(db, SNAPSHOTS)
    expected = {s.id: g for s, g in await repos.grades.graded_signals()}
    ungraded = await repos.grades.ungraded()
    async with repos.db.transaction():
        await repos.db.execute("UPDATE grades SET clv_ev = NULL, beat = TRUE")
    assert await repos.grades.graded_signals() == []
    await EngineService.restore(settings(), repos, EventBus(), source="test")
    try:
        regraded = {s.id: g for s, g in await repos.grades.graded_signals()}
        assert regraded.keys() == expected.keys()
        for signal_id, grade in regraded.items():
            old = expected[signal_id]
            assert (grade.beat, grade.push, grade.clv_ev, grade.clv_points) == (
                old.beat,
                old.push,
                old.clv_ev,
                old.clv_points,
            )
        assert await repos.grades.ungraded() == ungraded
    finally:
        await repos.close()
