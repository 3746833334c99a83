"""The engine's repositories (games, quotes, books, consensus, signals, closes, grades, feed state) on both
backends: every method's round trip, the filters built from optional arguments, booleans, instants and the
aggregates PostgreSQL types differently, and the snapshot writes staying one statement per table."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError

from engine.models import Close, Market, Quota, Side, SignalType
from storage import ClassRecord, Repositories, StoredGame
from tests.backends import Backend
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


# --- instants and games ------------------------------------------------------------------------------------


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


async def test_games_upsert_touch_tip_and_close(repos: Repositories) -> None:
    async with repos.db.transaction():
        await repos.games.upsert(game(), seen_at=at(0))
    moved = TIP + timedelta(minutes=30)
    async with repos.db.transaction():
        await repos.games.upsert_many([game(commence=moved, home="Boston")], seen_at=at(5))
    assert await repos.games.get("g1") == StoredGame(
        game(commence=moved, home="Boston"), scheduled_tip=TIP, status="scheduled"
    )
    assert await repos.games.last_seen("g1") == at(5)

    async with repos.db.transaction():
        await repos.games.upsert(game(commence=moved), seen_at=at(1))  # out of order: last_seen stays
        await repos.games.touch_many(["g1", "unknown"], at(2))  # older: stays
    assert await repos.games.last_seen("g1") == at(5)
    async with repos.db.transaction():
        await repos.games.touch_many(["g1"], at(9))
        await repos.games.touch_many([], at(10))
    assert await repos.games.last_seen("g1") == at(9)

    async with repos.db.transaction():
        assert await repos.games.set_scheduled_tip("g1", moved)
        assert not await repos.games.set_scheduled_tip("missing", moved)
        assert await repos.games.mark_closed("g1")
        assert not await repos.games.mark_closed("missing")
        await repos.games.upsert(game(commence=moved), seen_at=at(11))  # seen again after closing
    stored = await repos.games.get("g1")
    assert stored is not None
    assert (stored.scheduled_tip, stored.status) == (moved, "closed")
    assert await repos.games.list_open() == []
    assert await repos.games.get("missing") is None


async def test_games_list_filters_and_keyset_pages(repos: Repositories) -> None:
    games = [game(f"g{i:02d}", commence=TIP + timedelta(hours=i // 3)) for i in range(10)]
    async with repos.db.transaction():
        await repos.games.upsert_many(reversed(games), seen_at=at(0))
        await repos.games.mark_closed("g04")

    pages: list[list[str]] = []
    after: str | None = None
    for _ in range(20):  # bounded: a broken cursor must fail the test, not hang it
        page = await repos.games.list(limit=3, after_id=after)
        if not page:
            break
        pages.append([g.game.id for g in page])
        after = page[-1].game.id
    assert [gid for p in pages for gid in p] == [g.id for g in games]
    assert [len(p) for p in pages] == [3, 3, 3, 1]

    window = await repos.games.list(since=TIP + timedelta(hours=1), until=TIP + timedelta(hours=3))
    assert [g.game.id for g in window] == ["g03", "g04", "g05", "g06", "g07", "g08"]
    scheduled = await repos.games.list(
        since=TIP + timedelta(hours=1), until=TIP + timedelta(hours=3), status="scheduled"
    )
    assert [g.game.id for g in scheduled] == ["g03", "g05", "g06", "g07", "g08"]
    assert [g.game.id for g in await repos.games.list(status="closed")] == ["g04"]
    assert [g.game.id for g in await repos.games.list_open()] == [g.id for g in games if g.id != "g04"]
    assert await repos.games.list(after_id="unknown") == []


# --- quotes ------------------------------------------------------------------------------------------------


async def test_quotes_latest_withdrawals_timelines_and_as_of(repos: Repositories) -> None:
    async with repos.db.transaction():
        await repos.games.upsert_many([game("g1"), game("g2"), game("g3")], seen_at=at(0))
        assert await repos.quotes.insert_many(iter([line("pinnacle", 1), line("draftkings", 1, point=-5.0)])) == 2
        await repos.quotes.insert_many(
            [
                line("pinnacle", 3, point=-6.5),
                line("pinnacle", 2, point=-6.0),  # inserted late, but older than minute 3
                line("pinnacle", 2, market=Market.H2H, point=None, price_a=-240, price_b=195),
                line("pinnacle", 9, game_id="g2", point=2.5),
                line("fanduel", 9, game_id="g3", point=1.0),
            ]
        )
        # draftkings stops offering the spread at minute 4: its last line, flagged withdrawn.
        assert await repos.quotes.insert_many([line("draftkings", 4, point=-5.0)], withdrawn=True) == 1
        assert await repos.quotes.insert_many([]) == 0
        await repos.games.mark_closed("g3")

    assert await repos.quotes.latest(["g1"]) == [
        line("pinnacle", 2, market=Market.H2H, point=None, price_a=-240, price_b=195),
        line("pinnacle", 3, point=-6.5),
    ]
    assert await repos.quotes.latest("g2") == [line("pinnacle", 9, game_id="g2", point=2.5)]
    assert {(q.game_id, q.book, q.market) for q in await repos.quotes.latest()} == {
        ("g1", "pinnacle", Market.SPREADS),
        ("g1", "pinnacle", Market.H2H),
        ("g2", "pinnacle", Market.SPREADS),
    }
    assert await repos.quotes.latest(["g3", "nope"]) == [line("fanduel", 9, game_id="g3", point=1.0)]

    timeline = await repos.quotes.timeline("g1", Market.SPREADS)
    assert [(q.book, q.observed_at, withdrawn) for q, withdrawn in timeline] == [
        ("pinnacle", at(1), False),
        ("draftkings", at(1), False),
        ("pinnacle", at(2), False),
        ("pinnacle", at(3), False),
        ("draftkings", at(4), True),
    ]
    assert all(type(withdrawn) is bool for _, withdrawn in timeline)
    assert [q.point for q in await repos.quotes.history("g1", Market.SPREADS, since=at(2))] == [-6.0, -6.5]
    assert len(await repos.quotes.history("g1")) == 5
    assert len(await repos.quotes.timeline("g1", since=at(3))) == 2
    everything = await repos.quotes.all_timelines()
    assert [(q.game_id, q.market) for q, _ in everything][:2] == [("g1", Market.H2H), ("g1", Market.SPREADS)]
    assert sum(withdrawn for _, withdrawn in everything) == 1

    # At minute 3.5 draftkings still quoted -5.0; by minute 4 it had withdrawn.
    assert await repos.quotes.as_of("g1", at(3.5)) == [
        line("pinnacle", 2, market=Market.H2H, point=None, price_a=-240, price_b=195),
        line("draftkings", 1, point=-5.0),
        line("pinnacle", 3, point=-6.5),
    ]
    assert [q.book for q in await repos.quotes.as_of("g1", at(4))] == ["pinnacle", "pinnacle"]
    assert await repos.quotes.as_of("g1", at(0)) == []
    assert await repos.quotes.count() == 8


async def test_quotes_retention_keeps_each_keys_latest_line(repos: Repositories) -> None:
    async with repos.db.transaction():
        await repos.games.upsert(game(), seen_at=at(0))
        await repos.quotes.insert_many(
            [
                line("pinnacle", 1, point=-5.5),
                line("pinnacle", 2, point=-6.0),
                line("pinnacle", 30, point=-6.5),
                line("draftkings", 1, point=-5.0),  # old but still draftkings' latest
                line("fanduel", 5, point=-5.0),
                line("fanduel", 6, point=-5.5),  # old but fanduel's latest
            ]
        )
    before = await repos.quotes.latest(["g1"])
    async with repos.db.transaction():
        assert await repos.quotes.delete_older_than(at(10)) == 3
    assert await repos.quotes.latest(["g1"]) == before
    async with repos.db.transaction():
        assert await repos.quotes.delete_older_than(at(100)) == 0
    assert await repos.quotes.count() == 3


# --- books -------------------------------------------------------------------------------------------------


async def test_book_titles_take_the_newest_name(repos: Repositories) -> None:
    assert await repos.books.titles() == {}
    async with repos.db.transaction():
        await repos.books.upsert_titles({"pinnacle": "Pinnacle", "draftkings": "DK"}, at(0))
        await repos.books.upsert_titles({}, at(0))
    async with repos.db.transaction():
        await repos.books.upsert_titles({"draftkings": "DraftKings"}, at(1))
    assert await repos.books.titles() == {"pinnacle": "Pinnacle", "draftkings": "DraftKings"}


# --- consensus ---------------------------------------------------------------------------------------------


async def test_consensus_latest_history_recent_and_key_sides(repos: Repositories) -> None:
    items = [
        consensus(1, -5.5, 0.5),
        consensus(2, -6.0, 0.51234),
        consensus(3, -6.5, 0.49),
        consensus(4, -6.0, 0.495),
        consensus(2, 221.5, 0.48, market=Market.TOTALS),
        consensus(1, None, 0.7012, market=Market.H2H),
        consensus(5, 3.5, 0.4, game_id="g2"),
    ]
    async with repos.db.transaction():
        await repos.games.upsert_many([game("g1"), game("g2")], seen_at=at(0))
        await repos.consensus.insert_many(iter(items))
        await repos.consensus.insert_many([consensus(3, -9.0, 0.1)])  # same key again: the first stays
        await repos.consensus.insert_many([])
        await repos.games.mark_closed("g2")

    assert await repos.consensus.latest("g1", Market.SPREADS) == items[3]
    assert await repos.consensus.latest("g9", Market.SPREADS) is None
    assert await repos.consensus.latest_before("g1", Market.SPREADS, at(3)) == items[1]  # strictly before
    assert await repos.consensus.latest_before("g1", Market.SPREADS, at(1)) is None
    assert await repos.consensus.history("g1", Market.SPREADS) == items[:4]
    assert await repos.consensus.history("g1") == [items[5], items[0], items[1], items[4], items[2], items[3]]
    assert await repos.consensus.recent("g1", Market.SPREADS, 2) == [items[2], items[3]]  # oldest first
    assert await repos.consensus.latest_for_open_games() == [items[5], items[3], items[4]]

    # The newest point off -6.0 (by more than the tolerance) is -6.5; nothing is off 221.5.
    assert await repos.consensus.last_point_off("g1", Market.SPREADS, -6.0, 0.01) == -6.5
    assert await repos.consensus.last_point_off("g1", Market.SPREADS, -6.0, 1.0) is None
    assert await repos.consensus.last_point_off("g1", Market.TOTALS, 221.5, 0.01) is None
    assert await repos.consensus.last_point_off("g1", Market.H2H, 0.0, 0.01) is None  # NULL points never count


# --- signals -----------------------------------------------------------------------------------------------


async def test_signals_round_trip_filters_and_keyset_pages(repos: Repositories) -> None:
    types = [SignalType.STEAM, SignalType.DISLOCATION, SignalType.KEY_CROSS]
    all_signals = [
        signal(
            f"s{i:02d}",
            at(i // 5),
            game_id="g1" if i % 2 else "g2",
            type_=types[i % 3],
            market=Market.TOTALS if i % 4 == 0 else Market.SPREADS,
            side=Side.OVER if i % 4 == 0 else Side.HOME,
            score=40 + i,
        )
        for i in range(25)
    ]
    async with repos.db.transaction():
        for s in reversed(all_signals):
            assert await repos.signals.insert(s) is True
        assert await repos.signals.insert(all_signals[0]) is False  # same id: ignored
    assert await repos.signals.get("s00") == all_signals[0]
    assert await repos.signals.get("missing") is None

    newest_first = sorted(all_signals, key=lambda s: (s.created_at, s.id), reverse=True)
    seen: list[str] = []
    cursor: tuple[datetime, str] | None = None
    for _ in range(20):  # bounded: a broken cursor must fail the test, not hang it
        page = await repos.signals.list(limit=4, before=cursor)
        if not page:
            break
        seen.extend(s.id for s in page)
        cursor = (page[-1].created_at, page[-1].id)
    assert seen == [s.id for s in newest_first]

    assert [s.id for s in await repos.signals.list(game_id="g1", min_score=55)] == [
        s.id for s in newest_first if s.game_id == "g1" and s.score >= 55
    ]
    only = await repos.signals.list(types=[SignalType.KEY_CROSS, SignalType.STEAM], market=Market.TOTALS)
    assert [s.id for s in only] == [
        s.id for s in newest_first if s.type in (SignalType.KEY_CROSS, SignalType.STEAM) and s.market == Market.TOTALS
    ]
    assert [s.id for s in await repos.signals.list(types=[SignalType.DISLOCATION], limit=2)] == [
        s.id for s in newest_first if s.type == SignalType.DISLOCATION
    ][:2]
    assert len(await repos.signals.list(types=[], limit=1000)) == 25
    windowed = await repos.signals.list(since=at(1), until=at(3))
    assert [s.id for s in windowed] == [s.id for s in newest_first if at(1) <= s.created_at < at(3)]

    assert [s.id for s in await repos.signals.since(at(3))] == [f"s{i:02d}" for i in range(15, 25)]
    assert await repos.signals.count_by_type() == {
        SignalType.STEAM: 9,
        SignalType.DISLOCATION: 8,
        SignalType.KEY_CROSS: 8,
    }

    async with repos.db.transaction():
        assert await repos.grades.insert(grade("s01", at(600), beat=True))
        assert await repos.grades.mark_ungraded("s03", at(600), "no close")
    ungraded = [s.id for s in await repos.signals.ungraded_for_game("g1")]
    assert ungraded == sorted(s.id for s in all_signals if s.game_id == "g1" and s.id != "s01")


async def test_signal_count_by_type_is_zero_for_every_type_when_empty(repos: Repositories) -> None:
    assert await repos.signals.count_by_type() == dict.fromkeys(SignalType, 0)


# --- closes and results ------------------------------------------------------------------------------------


async def test_closes_first_capture_is_final_and_results(repos: Repositories) -> None:
    first = Close("g1", Market.SPREADS, captured_at=TIP, at=at(400), point=-7.0, prob_a=0.505, books=9)
    h2h = Close("g1", Market.H2H, captured_at=TIP, at=at(401), point=None, prob_a=0.71, books=8, source="external")
    other = Close("g0", Market.TOTALS, captured_at=TIP, at=at(402), point=220.5, prob_a=0.5, books=7)
    async with repos.db.transaction():
        assert await repos.closes.insert(first)
        assert await repos.closes.insert(h2h)
        assert await repos.closes.insert(other)
        assert not await repos.closes.insert(Close("g1", Market.SPREADS, TIP, at(403), -8.0, 0.5, 9))
        await repos.closes.save_result("g1", 101, 99, source="closes file")
        await repos.closes.save_result("g1", 1, 2, source="closes file")  # the first result stays
    assert await repos.closes.get("g1", Market.SPREADS) == first
    assert await repos.closes.get("g1", Market.TOTALS) is None
    assert await repos.closes.for_game("g1") == [h2h, first]
    assert await repos.closes.all() == [other, h2h, first]
    assert await repos.closes.results() == {"g1": (101, 99)}


# --- grades ------------------------------------------------------------------------------------------------


async def test_grades_booleans_records_pages_and_version(repos: Repositories) -> None:
    specs = [
        ("s1", SignalType.STEAM, Market.SPREADS, True, False),
        ("s2", SignalType.STEAM, Market.SPREADS, False, True),
        ("s3", SignalType.STEAM, Market.SPREADS, True, False),
        ("s4", SignalType.STEAM, Market.TOTALS, False, False),
        ("s5", SignalType.DISLOCATION, Market.H2H, True, False),
        ("s6", SignalType.KEY_CROSS, Market.SPREADS, False, False),
    ]
    empty = await repos.grades.version()
    async with repos.db.transaction():
        for i, (sid, type_, market, _, _) in enumerate(specs):
            side = Side.OVER if market == Market.TOTALS else Side.HOME
            await repos.signals.insert(signal(sid, at(i), type_=type_, market=market, side=side))
        await repos.signals.insert(signal("s7", at(10)))
        for i, (sid, _, _, beat, push) in enumerate(specs):
            assert await repos.grades.insert(grade(sid, at(500 + max(i, 1)), beat=beat, push=push))
        assert not await repos.grades.insert(grade("s1", at(900), beat=False))  # graded once
    graded = await repos.grades.version()
    assert graded != empty

    stored = await repos.grades.get("s2")
    assert stored == grade("s2", at(501), beat=False, push=True)
    assert stored is not None
    assert (type(stored.beat), type(stored.push)) == (bool, bool)
    assert await repos.grades.get("s7") is None

    assert await repos.grades.class_records() == [
        ClassRecord(SignalType.DISLOCATION, Market.H2H, graded=1, beats=1, pushes=0),
        ClassRecord(SignalType.KEY_CROSS, Market.SPREADS, graded=1, beats=0, pushes=0),
        ClassRecord(SignalType.STEAM, Market.SPREADS, graded=3, beats=2, pushes=1),
        ClassRecord(SignalType.STEAM, Market.TOTALS, graded=1, beats=0, pushes=0),
    ]
    pairs = await repos.grades.graded_signals()
    assert [(s.id, g.signal_id) for s, g in pairs] == [(sid, sid) for sid, *_ in specs]

    ids: list[str] = []
    cursor: tuple[datetime, str] | None = None
    for _ in range(20):  # bounded: a broken cursor must fail the test, not hang it
        page = await repos.grades.list(limit=2, before=cursor)
        if not page:
            break
        ids.extend(s.id for s, _ in page)
        cursor = (page[-1][1].graded_at, page[-1][1].signal_id)
    assert ids == ["s6", "s5", "s4", "s3", "s2", "s1"]
    assert [s.id for s, _ in await repos.grades.list(since=at(503))] == ["s6", "s5", "s4"]
    assert [s.id for s, _ in await repos.grades.list(since=at(502), until=at(503))] == ["s4", "s3"]

    async with repos.db.transaction():
        assert await repos.grades.mark_ungraded("s7", at(600), "no close")
        assert not await repos.grades.mark_ungraded("s7", at(601), "again")
    assert [(s.id, reason) for s, reason in await repos.grades.ungraded()] == [("s7", "no close")]
    assert await repos.grades.version() != graded


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


async def test_a_grade_needs_its_signal_stored_on_both_backends(repos: Repositories) -> None:
    with pytest.raises(IntegrityError):
        async with repos.db.transaction():
            await repos.grades.insert(grade("ghost", at(1), beat=True))
    assert await repos.grades.get("ghost") is None


# --- feed state --------------------------------------------------------------------------------------------


async def test_feed_state_save_replace_and_empty_values(repos: Repositories) -> None:
    assert await repos.feed_state.get("odds_api") is None
    async with repos.db.transaction():
        await repos.feed_state.save("odds_api", at(1), Quota(remaining=499, used=1, last=1), now=at(1.5))
        await repos.feed_state.save("replay", None, None, now=at(2), recent_gaps=[300, 299.5])
    state = await repos.feed_state.get("odds_api")
    assert state is not None
    assert (state.cursor, state.quota, state.updated_at, state.recent_gaps) == (
        at(1),
        Quota(499, 1, 1),
        at(1.5),
        (),
    )
    async with repos.db.transaction():
        await repos.feed_state.save("odds_api", at(5), Quota(remaining=None, used=4, last=None), now=at(5))
    state = await repos.feed_state.get("odds_api")
    assert state is not None
    assert (state.cursor, state.quota) == (at(5), Quota(None, 4, None))
    replay = await repos.feed_state.get("replay")
    assert replay is not None
    assert (replay.cursor, replay.quota, replay.recent_gaps) == (None, None, (300.0, 299.5))


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
    from engine.events import EventBus
    from engine.service import EngineService
    from tests.engine_builders import settings
    from tests.integration.test_restart_equivalence import SNAPSHOTS, restorable_view

    config = settings()
    tape = SNAPSHOTS[:FIRST_CLOSE]
    restarts = {index for index in range(1, len(tape)) if index % 30 == 7} | {123, 130, 252}
    straight_repos = await Repositories.open(db_url)
    location = backend.fresh(tmp_path, "restarted.db")  # a second database on the same backend
    repos = await Repositories.open(location)
    try:
        straight = await EngineService.restore(config, straight_repos, EventBus(), source="test")
        service = await EngineService.restore(config, repos, EventBus(), source="test")
        made: list[tuple[str, SignalType]] = []
        for index, raw in enumerate(tape):
            if index in restarts:
                await repos.close()
                repos = await Repositories.open(location)
                service = await EngineService.restore(config, repos, EventBus(), source="test")
                assert restorable_view(service.engine.state, config) == restorable_view(
                    straight.engine.state, config
                ), f"the memory rebuilt before snapshot {index} differs"
            expected = await straight.process(raw)
            tick = await service.process(raw)
            assert not tick.closes, "the slice ends before the first close"
            assert [(s.id, s.details) for s in tick.signals] == [(s.id, s.details) for s in expected.signals], index
            made.extend((s.id, s.type) for s in tick.signals)
        assert SignalType.KEY_CROSS in {kind for _, kind in made}
        for side in (repos, straight_repos):
            assert sorted((s.id, s.type) for s in await side.signals.since(tape[0].fetched_at)) == sorted(made)
            state = await side.feed_state.get("test")
            assert state is not None
            assert state.cursor == tape[-1].fetched_at
        assert await repos.quotes.count() == await straight_repos.quotes.count()
    finally:
        await straight_repos.close()
        await repos.close()
