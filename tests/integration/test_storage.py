"""Storage against a real database: transactions and every repository's round trip (on SQLite and PostgreSQL:
the `repos` fixture takes the `db_url` of each backend). The migrations and a new file's WAL and pragmas:
tests/integration/test_migrations.py."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.exc import IntegrityError

from engine.models import Close, Entry, Market, Quota, Side, Signal, SignalType
from storage import ClassRecord, Repositories, StoredGame
from storage.codec import from_db, to_db
from tests.storage_builders import TIP, at, consensus, game, grade, line, signal

# --- codec -----------------------------------------------------------------------------------------


def test_to_db_fixed_width_utc_and_text_order_is_time_order() -> None:
    est = timezone(timedelta(hours=-5))
    local = datetime(2024, 11, 5, 12, 0, 0, tzinfo=est)
    assert to_db(local) == "2024-11-05T17:00:00.000000Z"
    assert from_db(to_db(local)) == local
    assert from_db(to_db(local)).tzinfo == UTC
    times = [at(0), at(0.000001 / 60), at(59), at(60 * 24 * 400), datetime(2024, 11, 5, 16, 59, tzinfo=UTC)]
    texts = [to_db(t) for t in times]
    assert len({len(t) for t in texts}) == 1
    assert sorted(texts) == [to_db(t) for t in sorted(times)]
    with pytest.raises(ValueError, match="naive"):
        to_db(datetime(2024, 1, 1))  # noqa: DTZ001 - the point of the test


# --- database, transactions ------------------------------------------------------------------------


async def test_memory_database_works() -> None:
    repos = await Repositories.open(":memory:")
    try:
        async with repos.db.transaction():
            await repos.games.upsert(game(), seen_at=at(0))
        stored = await repos.games.get("g1")
        assert stored is not None
        assert stored.game == game()
    finally:
        await repos.close()


async def test_transaction_rollback_leaves_nothing_written(repos: Repositories) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        async with repos.db.transaction():
            await repos.games.upsert(game(), seen_at=at(0))
            await repos.quotes.insert_many([line("pinnacle", 1), line("draftkings", 1)])
            assert await repos.quotes.count() == 2  # visible inside the transaction
            raise RuntimeError("boom")
    assert await repos.games.get("g1") is None
    assert await repos.quotes.count() == 0
    assert not repos.db.in_transaction
    # The connection is usable afterwards.
    async with repos.db.transaction():
        await repos.quotes.insert_many([line("pinnacle", 2)])
    assert await repos.quotes.count() == 1


async def test_nested_transaction_savepoint(repos: Repositories) -> None:
    async with repos.db.transaction():
        await repos.quotes.insert_many([line("pinnacle", 1)])
        with pytest.raises(ValueError, match="inner"):
            async with repos.db.transaction():
                await repos.quotes.insert_many([line("fanduel", 1)])
                raise ValueError("inner")
        async with repos.db.transaction():
            await repos.quotes.insert_many([line("betmgm", 1)])
        assert repos.db.in_transaction
    assert not repos.db.in_transaction
    books = sorted(q.book for q in await repos.quotes.history("g1"))
    assert books == ["betmgm", "pinnacle"]

    # An inner error that propagates undoes the outer work too.
    with pytest.raises(ValueError, match="deep"):
        async with repos.db.transaction(), repos.db.transaction():
            await repos.quotes.insert_many([line("bovada", 2)])
            raise ValueError("deep")
    assert await repos.quotes.count() == 2


async def test_concurrent_tasks_transactions_do_not_interleave(repos: Repositories) -> None:
    async def writer(book: str, fail: bool) -> None:
        async with repos.db.transaction():
            await repos.quotes.insert_many([line(book, 1)])
            await asyncio.sleep(0.01)  # let the other task run while this transaction is open
            await repos.quotes.insert_many([line(book, 2)])
            if fail:
                raise RuntimeError(book)

    results = await asyncio.gather(writer("ok", False), writer("bad", True), return_exceptions=True)
    assert results[0] is None
    assert isinstance(results[1], RuntimeError)
    assert sorted((q.book, q.observed_at) for q in await repos.quotes.history("g1")) == [
        ("ok", at(1)),
        ("ok", at(2)),
    ]


async def test_cancelled_transaction_rolls_back_and_frees_the_lock(repos: Repositories) -> None:
    inside = asyncio.Event()

    async def slow_writer() -> None:
        async with repos.db.transaction():
            await repos.quotes.insert_many([line("pinnacle", 1)])
            inside.set()
            await asyncio.sleep(10)

    task = asyncio.create_task(slow_writer())
    await inside.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await repos.quotes.count() == 0
    async with asyncio.timeout(2), repos.db.transaction():  # the lock was released
        await repos.quotes.insert_many([line("fanduel", 1)])
    assert [q.book for q in await repos.quotes.history("g1")] == ["fanduel"]


async def test_bookkeeping_writes_leave_the_data_version_alone_even_while_open(repos: Repositories) -> None:
    """The API's usage counters (flushed every ~2 s) are bookkeeping: the data version cached answers are
    keyed on does not move with them — not even while their transaction is open and a request reads the
    version mid-flush — while a data write moves it."""
    from services.freshness import DataVersion
    from services.usage import add_counts

    version = DataVersion(repos)
    start = await version.version()
    inside, release = asyncio.Event(), asyncio.Event()

    async def slow_flush() -> None:
        async with repos.db.transaction(bookkeeping=True):
            await repos.api.add_usage("strat_k1", "2026-08-05T18:00", 3, 0)
            inside.set()
            await release.wait()
            await repos.api.add_usage("strat_k1", "2026-08-05T18:01", 1, 1)

    flush = asyncio.create_task(slow_flush())
    async with asyncio.timeout(10):
        await inside.wait()
    assert await version.version() == start  # read while the flush is open
    release.set()
    await flush
    await add_counts(repos, [("strat_k2", "2026-08-05T18:02", 5, 0)])
    assert await version.version() == start
    async with repos.db.transaction():
        await repos.quotes.insert_many([line("pinnacle", 1)])
    assert await version.version() != start


async def test_committed_data_survives_restart(db_url: str) -> None:
    repos = await Repositories.open(db_url)
    async with repos.db.transaction():
        await repos.games.upsert(game(), seen_at=at(0))
        await repos.quotes.insert_many([line("pinnacle", 1, point=-6.0)])
        await repos.signals.insert(signal("s1", at(1)))
        await repos.feed_state.save("odds_api", at(1), Quota(480, 20, 3), now=at(1))
    await repos.close()

    reopened = await Repositories.open(db_url)
    try:
        assert (await reopened.games.get("g1")) == StoredGame(game(), TIP, "scheduled")
        assert await reopened.quotes.latest() == [line("pinnacle", 1, point=-6.0)]
        assert await reopened.signals.get("s1") == signal("s1", at(1))
        state = await reopened.feed_state.get("odds_api")
        assert state is not None
        assert state.cursor == at(1)
        assert state.quota == Quota(480, 20, 3)
    finally:
        await reopened.close()


# --- games -----------------------------------------------------------------------------------------


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

    async with repos.db.transaction():
        await repos.games.upsert(game(commence=moved), seen_at=at(6))  # out of order after closing: stays
    cur = await repos.db.execute("SELECT first_seen, last_seen FROM games WHERE id = 'g1'")
    first_seen, last_seen = cur.first()
    assert (from_db(first_seen), from_db(last_seen)) == (at(0), at(11))


async def test_games_list_filters_and_keyset_pages(repos: Repositories) -> None:
    # Ten games, several sharing a commence time, inserted out of order.
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
    open_in_window = await repos.games.list(
        since=TIP + timedelta(hours=1), until=TIP + timedelta(hours=3), status="scheduled"
    )
    assert [g.game.id for g in open_in_window] == ["g03", "g05", "g06", "g07", "g08"]
    assert [g.game.id for g in await repos.games.list(status="closed")] == ["g04"]
    assert [g.game.id for g in await repos.games.list_open()] == [g.id for g in games if g.id != "g04"]
    assert await repos.games.list(after_id="unknown") == []


# --- quotes ----------------------------------------------------------------------------------------


async def test_quotes_latest_withdrawals_timelines_and_as_of(repos: Repositories) -> None:
    draftkings_again = line("draftkings", 1, point=-5.5, price_a=-110, price_b=-110)
    async with repos.db.transaction():
        await repos.games.upsert_many([game("g1"), game("g2"), game("g3")], seen_at=at(0))
        first = [
            line("pinnacle", 1, point=-5.5),
            line("draftkings", 1, point=-5.0, price_a=-115, price_b=-105),
            line("circasports", 1, point=-5.0),
        ]
        assert await repos.quotes.insert_many(iter(first)) == 3  # a lazy iterable is read once
        await repos.quotes.insert_many(
            [
                line("pinnacle", 3, point=-6.5),
                line("pinnacle", 2, point=-6.0),  # inserted late, but older than minute 3
                line("pinnacle", 1, market=Market.TOTALS, point=221.5),
                line("pinnacle", 4, market=Market.TOTALS, point=223.0),
                line("pinnacle", 2, market=Market.H2H, point=None, price_a=-240, price_b=195),
                line("pinnacle", 9, game_id="g2", point=2.5),
                line("fanduel", 9, game_id="g3", point=1.0),
            ]
        )
        # Same observed_at twice for one key: the later insert wins.
        await repos.quotes.insert_many([draftkings_again])
        # circasports stops offering the spread at minute 4: its last line, flagged withdrawn.
        assert await repos.quotes.insert_many([line("circasports", 4, point=-5.0)], withdrawn=True) == 1
        assert await repos.quotes.insert_many([]) == 0
        await repos.games.mark_closed("g3")

    assert await repos.quotes.latest(["g1"]) == [  # ordered by market, then book; circasports withdrew
        line("pinnacle", 2, market=Market.H2H, point=None, price_a=-240, price_b=195),
        draftkings_again,
        line("pinnacle", 3, point=-6.5),
        line("pinnacle", 4, market=Market.TOTALS, point=223.0),
    ]
    assert await repos.quotes.latest("g2") == [line("pinnacle", 9, game_id="g2", point=2.5)]
    # None = every scheduled game; g3 is closed.
    assert {(q.game_id, q.book, q.market) for q in await repos.quotes.latest()} == {
        ("g1", "draftkings", Market.SPREADS),
        ("g1", "pinnacle", Market.SPREADS),
        ("g1", "pinnacle", Market.TOTALS),
        ("g1", "pinnacle", Market.H2H),
        ("g2", "pinnacle", Market.SPREADS),
    }
    assert await repos.quotes.latest(["g3", "nope"]) == [line("fanduel", 9, game_id="g3", point=1.0)]

    timeline = await repos.quotes.timeline("g1", Market.SPREADS)
    assert [(q.book, q.observed_at, q.point, withdrawn) for q, withdrawn in timeline] == [
        ("pinnacle", at(1), -5.5, False),
        ("draftkings", at(1), -5.0, False),
        ("circasports", at(1), -5.0, False),
        ("draftkings", at(1), -5.5, False),
        ("pinnacle", at(2), -6.0, False),
        ("pinnacle", at(3), -6.5, False),
        ("circasports", at(4), -5.0, True),
    ]
    assert all(type(withdrawn) is bool for _, withdrawn in timeline)
    history = await repos.quotes.history("g1", Market.SPREADS)  # the timeline without withdrawals
    assert [(q.book, q.point) for q in history] == [
        ("pinnacle", -5.5),
        ("draftkings", -5.0),
        ("circasports", -5.0),
        ("draftkings", -5.5),
        ("pinnacle", -6.0),
        ("pinnacle", -6.5),
    ]
    assert [q.point for q in await repos.quotes.history("g1", Market.SPREADS, since=at(2))] == [-6.0, -6.5]
    assert len(await repos.quotes.history("g1")) == 9
    assert len(await repos.quotes.timeline("g1", since=at(3))) == 3
    everything = await repos.quotes.all_timelines()
    assert [(q.game_id, q.market) for q, _ in everything][:2] == [("g1", Market.H2H), ("g1", Market.SPREADS)]
    assert sum(withdrawn for _, withdrawn in everything) == 1

    # At minute 3.5 circasports still quoted -5.0; by minute 4 it had withdrawn.
    assert await repos.quotes.as_of("g1", at(3.5)) == [
        line("pinnacle", 2, market=Market.H2H, point=None, price_a=-240, price_b=195),
        line("circasports", 1, point=-5.0),
        draftkings_again,
        line("pinnacle", 3, point=-6.5),
        line("pinnacle", 1, market=Market.TOTALS, point=221.5),
    ]
    assert [(q.market, q.book) for q in await repos.quotes.as_of("g1", at(4))] == [
        (Market.H2H, "pinnacle"),
        (Market.SPREADS, "draftkings"),
        (Market.SPREADS, "pinnacle"),
        (Market.TOTALS, "pinnacle"),
    ]
    assert await repos.quotes.as_of("g1", at(0)) == []
    assert await repos.quotes.count() == 12


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
        deleted = await repos.quotes.delete_older_than(at(10))
    assert deleted == 3  # pinnacle@1, pinnacle@2, fanduel@5
    assert await repos.quotes.latest(["g1"]) == before
    assert sorted((q.book, q.observed_at) for q in await repos.quotes.history("g1")) == [
        ("draftkings", at(1)),
        ("fanduel", at(6)),
        ("pinnacle", at(30)),
    ]
    async with repos.db.transaction():
        assert await repos.quotes.delete_older_than(at(100)) == 0  # only latest rows left
    assert await repos.quotes.count() == 3


async def test_quotes_insert_many_bulk_and_latest(repos: Repositories) -> None:
    """Bulk insert in one executemany; speed is measured in bench/, never asserted here."""
    lines = [
        line(f"book{b}", minute, game_id=f"g{g}", point=-5.5 + (minute % 3) * 0.5)
        for minute in range(100)
        for g in range(10)
        for b in range(10)
    ]
    async with repos.db.transaction():
        assert await repos.quotes.insert_many(lines) == 10_000
    assert await repos.quotes.count() == 10_000
    latest = await repos.quotes.latest([f"g{g}" for g in range(10)])
    assert len(latest) == 100
    assert {q.observed_at for q in latest} == {at(99)}


# --- consensus -------------------------------------------------------------------------------------


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
        await repos.consensus.insert_many([consensus(3, -9.0, 0.1)])  # same key again: ignored, the first stays
        await repos.consensus.insert_many([])
        await repos.games.mark_closed("g2")

    assert await repos.consensus.latest("g1", Market.SPREADS) == items[3]
    assert await repos.consensus.latest("g1", Market.H2H) == items[5]
    assert await repos.consensus.latest("g9", Market.SPREADS) is None
    assert await repos.consensus.latest_before("g1", Market.SPREADS, at(3)) == items[1]  # strictly before
    assert await repos.consensus.latest_before("g1", Market.SPREADS, at(3.01)) == items[2]
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


# --- signals ---------------------------------------------------------------------------------------


async def test_signal_round_trip_is_equal(repos: Repositories) -> None:
    original = signal("s1", at(1))
    async with repos.db.transaction():
        assert await repos.signals.insert(original) is True
        assert await repos.signals.insert(original) is False  # same id: ignored
    loaded = await repos.signals.get("s1")
    assert loaded == original
    assert loaded is not None
    assert loaded.books == ("pinnacle", "circasports", "draftkings", "fanduel")
    assert loaded.breakdown.time_to_tip == 0.1234567890123
    assert loaded.entry == Entry(book="betmgm", point=-5.0, price=-108, prob=0.5123456789)
    assert loaded.details["nested"] == {"gap": 1.25, "ev": None, "label": "Celtics −6.5"}

    moneyline = Signal(
        **{
            **{f: getattr(original, f) for f in original.__dataclass_fields__},
            "id": "s2",
            "type": SignalType.DISLOCATION,
            "market": Market.H2H,
            "side": Side.AWAY,
            "velocity": None,
            "consensus_point": None,
            "entry": Entry(book="bovada", point=None, price=185, prob=0.31),
            "details": {},
            "books": ("bovada",),
        }
    )
    async with repos.db.transaction():
        assert await repos.signals.insert(moneyline)
    assert await repos.signals.get("s2") == moneyline
    assert await repos.signals.get("missing") is None


async def test_signal_details_tuples_come_back_as_lists(repos: Repositories) -> None:
    original = signal("s1", at(1))
    with_tuple = Signal(
        **{**{f: getattr(original, f) for f in original.__dataclass_fields__}, "details": {"pair": (1, 2)}}
    )
    async with repos.db.transaction():
        await repos.signals.insert(with_tuple)
    loaded = await repos.signals.get("s1")
    assert loaded is not None
    assert loaded.details == {"pair": [1, 2]}


async def test_signals_round_trip_filters_and_keyset_pages(repos: Repositories) -> None:
    # 25 signals; groups of 5 share a created_at so the id must break ties.
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
    assert len(set(seen)) == 25

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
    assert len(await repos.signals.list(types=[], limit=1000)) == 25  # empty = every type
    windowed = await repos.signals.list(since=at(1), until=at(3))
    assert [s.id for s in windowed] == [s.id for s in newest_first if at(1) <= s.created_at < at(3)]

    restored = await repos.signals.since(at(3))
    assert [s.id for s in restored] == [f"s{i:02d}" for i in range(15, 25)]

    counts = await repos.signals.count_by_type()
    assert counts == {SignalType.STEAM: 9, SignalType.DISLOCATION: 8, SignalType.KEY_CROSS: 8}

    # Graded signals leave the game's ungraded list; one marked ungraded (no close) stays on it.
    async with repos.db.transaction():
        assert await repos.grades.insert(grade("s01", at(600), beat=True))
        assert await repos.grades.mark_ungraded("s03", at(600), "no close")
    ungraded = [s.id for s in await repos.signals.ungraded_for_game("g1")]
    assert ungraded == sorted(s.id for s in all_signals if s.game_id == "g1" and s.id != "s01")


# --- closes and grades -----------------------------------------------------------------------------


async def test_closes_first_capture_is_final_and_results(repos: Repositories) -> None:
    first = Close("g1", Market.SPREADS, captured_at=TIP, at=at(400), point=-7.0, prob_a=0.505, books=9)
    h2h = Close("g1", Market.H2H, captured_at=TIP, at=at(401), point=None, prob_a=0.71, books=8, source="external")
    other = Close("g0", Market.TOTALS, captured_at=TIP, at=at(402), point=220.5, prob_a=0.5, books=7)
    async with repos.db.transaction():
        assert await repos.closes.insert(first)
        assert await repos.closes.insert(h2h)
        assert await repos.closes.insert(other)
        later = Close("g1", Market.SPREADS, captured_at=TIP, at=at(403), point=-8.0, prob_a=0.5, books=9)
        assert not await repos.closes.insert(later)
        await repos.closes.save_result("g1", 101, 99, source="closes file")
        await repos.closes.save_result("g1", 1, 2, source="closes file")  # the first result stays
    assert await repos.closes.get("g1", Market.SPREADS) == first
    assert await repos.closes.get("g1", Market.TOTALS) is None
    assert await repos.closes.for_game("g1") == [h2h, first]
    assert await repos.closes.for_game("g2") == []
    assert await repos.closes.all() == [other, h2h, first]
    assert await repos.closes.results() == {"g1": (101, 99)}


async def test_grades_booleans_records_pages_and_version(repos: Repositories) -> None:
    specs = [
        # id, type, market, beat, push
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
        await repos.signals.insert(signal("s7", at(10)))  # never graded
        for i, (sid, _, _, beat, push) in enumerate(specs):
            # s1 and s2 graded at the same instant: the id breaks the tie.
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
    assert pairs[0][0] == signal("s1", at(0))

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

    assert [s.id for s in await repos.signals.ungraded_for_game("g1")] == ["s7"]

    async with repos.db.transaction():
        assert await repos.grades.mark_ungraded("s7", at(600), "no close")
        assert not await repos.grades.mark_ungraded("s7", at(601), "again")
    assert [(s.id, reason) for s, reason in await repos.grades.ungraded()] == [("s7", "no close")]
    assert await repos.grades.version() != graded


async def test_grade_requires_stored_signal(repos: Repositories) -> None:
    with pytest.raises(IntegrityError):
        async with repos.db.transaction():
            await repos.grades.insert(grade("ghost", at(1), beat=True))
    assert await repos.grades.get("ghost") is None


# --- feed state ------------------------------------------------------------------------------------


async def test_feed_state_save_replace_and_empty_values(repos: Repositories) -> None:
    assert await repos.feed_state.get("odds_api") is None
    async with repos.db.transaction():
        await repos.feed_state.save("odds_api", at(1), Quota(remaining=499, used=1, last=1), now=at(1.5))
        await repos.feed_state.save("replay", at(2), None, now=at(2))
        await repos.feed_state.save("tape", None, None, now=at(2), recent_gaps=[300, 299.5])
    state = await repos.feed_state.get("odds_api")
    assert state is not None
    assert (state.source, state.cursor, state.quota, state.updated_at, state.recent_gaps) == (
        "odds_api",
        at(1),
        Quota(499, 1, 1),
        at(1.5),
        (),
    )
    async with repos.db.transaction():
        await repos.feed_state.save("odds_api", at(5), Quota(remaining=None, used=4, last=None), now=at(5))
    state = await repos.feed_state.get("odds_api")
    assert state is not None
    assert (state.cursor, state.quota, state.updated_at) == (at(5), Quota(None, 4, None), at(5))
    replay = await repos.feed_state.get("replay")
    assert replay is not None
    assert (replay.cursor, replay.quota) == (at(2), None)
    tape = await repos.feed_state.get("tape")
    assert tape is not None
    assert (tape.cursor, tape.quota, tape.recent_gaps) == (None, None, (300.0, 299.5))
