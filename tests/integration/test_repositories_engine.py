"""The engine's repositories on both backends, beyond the round trips of tests/integration/test_storage.py:
instants given in any zone, book titles, the per-type count when nothing is stored, legacy grades without
`clv_ev` (NULL or NaN), the snapshot's bulk writes staying one statement per table, and the engine rebuilt
from either backend remembering what the running one did."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta, timezone
from itertools import islice
from pathlib import Path

from app.bootstrap import BUNDLED_TAPE
from engine.models import Market, SignalType
from engine.providers.tape import read_tape
from storage import ClassRecord, Repositories
from tests.backends import Backend
from tests.engine_builders import settings
from tests.restarts import side_by_side
from tests.storage_builders import TIP, at, consensus, game, grade, line, signal

#: Snapshots of the bundled tape before its first close: restarts over them read every restored table, and
#: no grade is made (the alert states' table is another repository's).
FIRST_CLOSE = 260


@contextmanager
def statements(repos: Repositories) -> Iterator[list[tuple[str, bool]]]:
    """Every statement sent to the database meanwhile: (SQL, whether it was an executemany)."""
    sent: list[tuple[str, bool]] = []
    stop = repos.db.watch(lambda statement: sent.append((statement.sql, statement.many)))
    try:
        yield sent
    finally:
        stop()


# --- instants ----------------------------------------------------------------------------------------------


async def test_instants_in_any_zone_come_back_as_the_same_utc_moment(repos: Repositories) -> None:
    east = timezone(timedelta(hours=-5))
    tip_east = TIP.astimezone(east)
    async with repos.db.transaction():
        await repos.games.upsert(game(commence=tip_east), seen_at=at(0).astimezone(east))
    stored = await repos.games.get("g1")
    assert stored is not None
    assert stored.game.commence_time == TIP
    assert stored.game.commence_time.utcoffset() == timedelta(0)
    assert stored.scheduled_tip == TIP
    assert await repos.games.last_seen("g1") == at(0)
    assert await repos.games.last_seen("missing") is None


# --- books -------------------------------------------------------------------------------------------------


async def test_book_titles_take_the_newest_name(repos: Repositories) -> None:
    assert await repos.books.titles() == {}
    async with repos.db.transaction():
        await repos.books.upsert_titles({"pinnacle": "Pinnacle", "draftkings": "DK"}, at(0))
        await repos.books.upsert_titles({}, at(0))
    async with repos.db.transaction():
        await repos.books.upsert_titles({"draftkings": "DraftKings"}, at(1))
    assert await repos.books.titles() == {"pinnacle": "Pinnacle", "draftkings": "DraftKings"}


# --- signals -----------------------------------------------------------------------------------------------


async def test_signal_count_by_type_is_zero_for_every_type_when_empty(repos: Repositories) -> None:
    assert await repos.signals.count_by_type() == dict.fromkeys(SignalType, 0)


# --- grades ------------------------------------------------------------------------------------------------


async def test_grades_without_clv_ev_are_legacy_on_both_backends(repos: Repositories) -> None:
    """A grade with no `clv_ev` (NULL, or NaN, which SQLite stores as NULL) is a legacy grade, left out of
    the records and regraded at start; `delete` removes them."""
    async with repos.db.transaction():
        for sid in ("s1", "s2", "s3"):
            await repos.signals.insert(signal(sid, at(1)))
        await repos.grades.insert(grade("s1", at(500), beat=True))
        await repos.grades.insert(grade("s2", at(500), beat=False, clv_ev=math.nan))
    assert await repos.grades.legacy_ids() == ["s2"]
    assert [s.id for s, _ in await repos.grades.graded_signals()] == ["s1"]
    assert [s.id for s, _ in await repos.grades.list()] == ["s1"]
    assert await repos.grades.class_records() == [ClassRecord(SignalType.STEAM, Market.SPREADS, 1, 1, 0)]
    legacy = await repos.grades.get("s2")
    assert legacy is not None
    assert math.isnan(legacy.clv_ev)
    async with repos.db.transaction():
        await repos.grades.delete(["s2"])
        await repos.grades.delete([])
    assert await repos.grades.legacy_ids() == []
    assert await repos.grades.get("s1") is not None


# --- the snapshot's statements -----------------------------------------------------------------------------


async def test_a_snapshots_bulk_writes_are_one_statement_per_table(repos: Repositories) -> None:
    """The replay's hot path: however many games, lines and consensus rows a snapshot holds, each table's
    bulk write is one statement (an executemany), never one per row."""
    games = [game(f"g{i}") for i in range(5)]
    lines = [line(f"book{b}", m, game_id=g.id) for g in games for b in range(8) for m in range(5)]
    rows = [consensus(m, -5.5, game_id=g.id) for g in games for m in range(5)]
    async with repos.db.transaction():
        with statements(repos) as sent:
            await repos.books.upsert_titles({f"book{b}": f"Book {b}" for b in range(8)}, at(0))
            await repos.games.upsert_many(games, seen_at=at(0))
            await repos.games.touch_many([g.id for g in games], at(1))
            await repos.quotes.insert_many(lines)
            await repos.quotes.insert_many(lines[:3], withdrawn=True)
            await repos.consensus.insert_many(rows)
    assert len(sent) == 6
    assert all(many for _, many in sent)
    assert await repos.quotes.count() == len(lines) + 3
    assert len(await repos.consensus.history("g4")) == 5


# --- the engine rebuilt from these repositories ------------------------------------------------------------


async def test_the_engine_rebuilt_from_either_backend_remembers_what_the_running_one_did(
    db_url: str, backend: Backend, tmp_path: Path
) -> None:
    """Every read a restart makes (open games, last quotes, consensus and its history, key sides, moves as of
    the retention cutoff, recent and pending signals, the cursor) on the backend of this run: the tape up to
    its first close, replayed straight and with restarts (130 is where a KEY_CROSS on a key number was once
    lost), makes the same signals, and each rebuilt memory equals the running one's."""
    tape = list(islice(read_tape(BUNDLED_TAPE), FIRST_CLOSE))
    restarts = {index for index in range(1, len(tape)) if index % 30 == 7} | {123, 130, 252}
    restarted = backend.fresh(tmp_path, "restarted.db")  # a second database on the same backend
    async with side_by_side(settings(), db_url, restarted, tape, restarts) as run:
        assert not any(tick.closes for tick in run.ticks), "the slice ends before the first close"
        made = [(s.id, s.type) for tick in run.ticks for s in tick.signals]
        assert SignalType.KEY_CROSS in {kind for _, kind in made}
        for side in (run.restarted, run.straight):
            assert sorted((s.id, s.type) for s in await side.signals.since(tape[0].fetched_at)) == sorted(made)
            state = await side.feed_state.get("test")
            assert state is not None
            assert state.cursor == tape[-1].fetched_at
        assert await run.restarted.quotes.count() == await run.straight.quotes.count()
