"""The engine on crafted sequences: each detector fires, stays quiet, points the right way, honours
first movers and cooldowns; the close and CLV grading; keep-only-what-changed."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from engine.core import Engine
from engine.models import Market, Side, SignalType
from tests.engine_builders import BOOKS, GAME, TIP, line, minutes, settings, snapshot, spreads


def _engine() -> Engine:
    return Engine(settings())


def _of(tick, kind):
    return [s for s in tick.signals if s.type == kind]


def _base(engine: Engine, point: float = -3.0, books=BOOKS, at=None) -> None:
    engine.ingest(spreads(at or minutes(0), dict.fromkeys(books, point)))


# ------------------------------------------------------------------ keep only what changed


def test_only_changed_quotes_are_reported_but_unchanged_books_stay_in_consensus():
    engine = _engine()
    first = engine.ingest(spreads(minutes(0), dict.fromkeys(BOOKS, -3.0)))
    assert len(first.lines) == len(BOOKS)
    second = engine.ingest(spreads(minutes(1), {**dict.fromkeys(BOOKS, -3.0), "alpha": -3.5}))
    assert [(ln.book, ln.point) for ln in second.lines] == [("alpha", -3.5)]
    consensus = second.consensus[0]
    assert consensus.books == len(BOOKS)  # the five unchanged books still count
    assert consensus.point == -3.0
    third = engine.ingest(spreads(minutes(2), {**dict.fromkeys(BOOKS, -3.0), "alpha": -3.5}))
    assert third.lines == [] and third.consensus == []


def test_an_older_or_repeated_snapshot_is_skipped():
    engine = _engine()
    engine.ingest(spreads(minutes(5), dict.fromkeys(BOOKS, -3.0)))
    assert engine.ingest(spreads(minutes(5), dict.fromkeys(BOOKS, -4.0))).skipped
    assert engine.ingest(spreads(minutes(4), dict.fromkeys(BOOKS, -4.0))).skipped


def test_a_book_that_stops_quoting_leaves_the_consensus():
    engine = _engine()
    _base(engine)
    tick = engine.ingest(spreads(minutes(1), dict.fromkeys(BOOKS[:5], -3.0)))
    assert tick.consensus[0].books == 5


# ------------------------------------------------------------------ STEAM


def test_steam_fires_towards_the_home_side_with_first_mover_first():
    engine = _engine()
    _base(engine)
    # alpha and bravo move at minute 1, but bravo's own last_update is earlier; charlie, delta at minute 2.
    m1 = minutes(1)
    tick1 = engine.ingest(
        spreads(
            m1,
            {**dict.fromkeys(BOOKS, -3.0), "alpha": -3.5, "bravo": -3.5},
            updated={"alpha": m1 - timedelta(seconds=10), "bravo": m1 - timedelta(seconds=40)},
        )
    )
    assert _of(tick1, SignalType.STEAM) == []
    tick2 = engine.ingest(
        spreads(
            minutes(2),
            {**dict.fromkeys(BOOKS, -3.0), "alpha": -3.5, "bravo": -3.5, "charlie": -3.5, "delta": -3.5},
        )
    )
    [steam] = _of(tick2, SignalType.STEAM)
    assert steam.side == Side.HOME
    assert steam.market == Market.SPREADS
    assert steam.books == ("bravo", "alpha", "charlie", "delta")
    assert steam.magnitude == pytest.approx(0.5)
    # 0.5 points between bravo's first move (00:00:20 past minute 0) and minute 2.
    assert steam.velocity == pytest.approx(0.5 / (100 / 60))
    assert steam.details["consensus_before"]["point"] == -3.0
    assert steam.details["consensus_after"]["point"] == -3.5
    # The best home number left on the board is -3.0 (echo, foxtrot have not moved).
    assert steam.entry.point == -3.0 and steam.entry.book == "echo"
    assert 0 <= steam.score <= 100
    assert set(steam.breakdown.as_dict()) == {"magnitude", "velocity", "breadth", "sharp", "time_to_tip"}


def test_steam_needs_enough_books():
    engine = _engine()
    _base(engine)
    tick = engine.ingest(
        spreads(minutes(1), {**dict.fromkeys(BOOKS, -3.0), "alpha": -3.5, "bravo": -3.5, "charlie": -3.5})
    )
    assert _of(tick, SignalType.STEAM) == []


def test_steam_ignores_moves_older_than_the_window():
    engine = _engine()
    _base(engine)
    engine.ingest(spreads(minutes(1), {**dict.fromkeys(BOOKS, -3.0), "alpha": -3.5, "bravo": -3.5}))
    engine.ingest(spreads(minutes(2), {**dict.fromkeys(BOOKS, -3.0), "alpha": -3.5, "bravo": -3.5}))
    # Ten minutes later two more books move: the first two moves are out of a 3-minute window
    # (the feed polls every minute, so the window stays 3 minutes).
    for m in range(3, 12):
        engine.ingest(spreads(minutes(m), {**dict.fromkeys(BOOKS, -3.0), "alpha": -3.5, "bravo": -3.5}))
    tick = engine.ingest(
        spreads(
            minutes(12),
            {**dict.fromkeys(BOOKS, -3.0), "alpha": -3.5, "bravo": -3.5, "charlie": -3.5, "delta": -3.5},
        )
    )
    assert _of(tick, SignalType.STEAM) == []


def test_steam_window_stretches_to_two_polls_of_a_slow_feed():
    engine = _engine()
    _base(engine, at=minutes(0))
    engine.ingest(spreads(minutes(15), dict.fromkeys(BOOKS, -3.0)))
    engine.ingest(spreads(minutes(30), {**dict.fromkeys(BOOKS, -3.0), "alpha": -2.5, "bravo": -2.5}))
    tick = engine.ingest(
        spreads(
            minutes(45),
            {**dict.fromkeys(BOOKS, -3.0), "alpha": -2.5, "bravo": -2.5, "charlie": -2.5, "delta": -2.5},
        )
    )
    [steam] = _of(tick, SignalType.STEAM)
    assert steam.side == Side.AWAY  # the home spread rose: money on the away team
    assert steam.details["window_seconds"] == 1800


def test_steam_cooldown_makes_one_move_one_signal():
    engine = _engine()
    _base(engine)
    moved = {**dict.fromkeys(BOOKS, -3.0), **dict.fromkeys(BOOKS[:4], -3.5)}
    assert len(_of(engine.ingest(spreads(minutes(1), moved)), SignalType.STEAM)) == 1
    further = {**dict.fromkeys(BOOKS, -3.0), **dict.fromkeys(BOOKS[:4], -4.0)}
    assert _of(engine.ingest(spreads(minutes(2), further)), SignalType.STEAM) == []


def test_steam_on_totals_points_to_the_over():
    engine = _engine()
    at0, at1 = minutes(0), minutes(1)
    engine.ingest(snapshot(at0, [line(b, Market.TOTALS, 220.5, at=at0) for b in BOOKS]))
    tick = engine.ingest(
        snapshot(at1, [line(b, Market.TOTALS, 222.0 if b in BOOKS[:4] else 220.5, at=at1) for b in BOOKS])
    )
    [steam] = _of(tick, SignalType.STEAM)
    assert steam.side == Side.OVER
    assert steam.entry.point == 220.5  # the over is best taken at the lowest total


def test_steam_on_moneyline_uses_devigged_probability():
    engine = _engine()
    at0, at1 = minutes(0), minutes(1)
    engine.ingest(snapshot(at0, [line(b, Market.H2H, None, -150, 130, at=at0) for b in BOOKS]))
    tick = engine.ingest(
        snapshot(
            at1,
            [line(b, Market.H2H, None, *((-180, 155) if b in BOOKS[:4] else (-150, 130)), at=at1) for b in BOOKS],
        )
    )
    [steam] = _of(tick, SignalType.STEAM)
    assert steam.side == Side.HOME
    assert steam.details["unit"] == "probability"
    assert steam.magnitude == pytest.approx(0.0406, abs=1e-3)
    assert steam.entry.price == -150  # the best home price left


# ------------------------------------------------------------------ DISLOCATION


def test_dislocation_points_to_the_side_the_book_offers_better():
    engine = _engine()
    tick = engine.ingest(spreads(minutes(0), {**dict.fromkeys(BOOKS, -3.0), "foxtrot": -4.5}))
    [signal] = _of(tick, SignalType.DISLOCATION)
    assert signal.side == Side.AWAY  # foxtrot gives the away team +4.5 against a +3 market
    assert signal.books == ("foxtrot",)
    assert signal.entry.book == "foxtrot" and signal.entry.point == 4.5
    assert signal.details["gap"] == pytest.approx(1.5)
    assert signal.details["consensus_point"] == 3.0
    assert signal.details["expected_value"] > 0


def test_dislocation_needs_five_books_and_the_threshold():
    engine = _engine()
    tick = engine.ingest(spreads(minutes(0), {"alpha": -3.0, "bravo": -3.0, "charlie": -3.0, "foxtrot": -4.5}))
    assert _of(tick, SignalType.DISLOCATION) == []
    engine2 = _engine()
    tick2 = engine2.ingest(spreads(minutes(0), {**dict.fromkeys(BOOKS, -3.0), "foxtrot": -3.5}))
    assert _of(tick2, SignalType.DISLOCATION) == []


def test_dislocation_fires_once_while_it_lasts():
    engine = _engine()
    base = {**dict.fromkeys(BOOKS, -3.0), "foxtrot": -4.5}
    assert len(_of(engine.ingest(spreads(minutes(0), base)), SignalType.DISLOCATION)) == 1
    tick = engine.ingest(spreads(minutes(1), {**base, "alpha": -2.5}))
    assert _of(tick, SignalType.DISLOCATION) == []


def test_dislocation_on_totals_high_book_favours_the_under():
    engine = _engine()
    at = minutes(0)
    tick = engine.ingest(snapshot(at, [line(b, Market.TOTALS, 224.5 if b == "echo" else 221.5, at=at) for b in BOOKS]))
    [signal] = _of(tick, SignalType.DISLOCATION)
    assert signal.side == Side.UNDER and signal.entry.point == 224.5


# ------------------------------------------------------------------ KEY_CROSS


def _consensus_path(engine, points):
    ticks = []
    for i, point in enumerate(points):
        ticks.append(engine.ingest(spreads(minutes(i * 20), dict.fromkeys(BOOKS, point))))
    return ticks


def test_key_cross_through_three():
    ticks = _consensus_path(_engine(), [-2.5, -3.0, -3.5])
    crosses = [s for t in ticks for s in _of(t, SignalType.KEY_CROSS)]
    assert len(crosses) == 1
    [cross] = crosses
    assert cross.side == Side.HOME
    assert cross.details["key_number"] == 3
    assert (cross.details["from"], cross.details["to"]) == (-3.0, -3.5)


def test_landing_on_a_key_and_back_is_not_a_cross():
    ticks = _consensus_path(_engine(), [-2.5, -3.0, -2.5])
    assert [s for t in ticks for s in _of(t, SignalType.KEY_CROSS)] == []


def test_key_cross_is_symmetric_for_underdogs():
    ticks = _consensus_path(_engine(), [2.5, 3.5])
    [cross] = [s for t in ticks for s in _of(t, SignalType.KEY_CROSS)]
    assert cross.side == Side.AWAY  # home +2.5 → +3.5: the away favourite is laying more
    assert cross.details["key_number"] == 3


def test_one_move_through_two_keys_is_one_signal():
    ticks = _consensus_path(_engine(), [-2.5, -4.5])
    [cross] = [s for t in ticks for s in _of(t, SignalType.KEY_CROSS)]
    assert cross.details["keys_crossed"] == [3.0, 4.0]
    assert cross.details["key_number"] == 3


# ------------------------------------------------------------------ caps, heat, close and CLV


def test_per_game_daily_cap():
    config = settings()
    config.signals.max_per_game_per_day = 1
    engine = Engine(config)
    tick = engine.ingest(spreads(minutes(0), {**dict.fromkeys(BOOKS, -3.0), "foxtrot": -4.5, "echo": -1.5}))
    assert len(tick.signals) == 1


def test_the_daily_cap_counts_per_signal_type():
    """A run of dislocations must not silence a STEAM of the same game that day."""
    config = settings()
    config.signals.max_per_game_per_day = 1
    engine = Engine(config)
    first = engine.ingest(spreads(minutes(0), {**dict.fromkeys(BOOKS, -3.0), "foxtrot": -4.5, "echo": -1.5}))
    assert [s.type for s in first.signals] == [SignalType.DISLOCATION]
    moved = {**dict.fromkeys(BOOKS, -3.0), **dict.fromkeys(BOOKS[:4], -3.5), "foxtrot": -4.5, "echo": -1.5}
    second = engine.ingest(spreads(minutes(1), moved))
    assert SignalType.STEAM in {s.type for s in second.signals}


def test_close_at_tip_grades_pending_signals():
    engine = _engine()
    _base(engine)
    moved = {**dict.fromkeys(BOOKS, -3.0), **dict.fromkeys(BOOKS[:4], -3.5)}
    [steam] = _of(engine.ingest(spreads(minutes(1), moved)), SignalType.STEAM)
    late = TIP - timedelta(minutes=10)
    engine.ingest(spreads(late, dict.fromkeys(BOOKS, -4.5)))
    assert engine.heat(GAME.id, late) >= 0
    tick = engine.close_due(TIP)
    assert tick.closed_games == [GAME.id]
    [close] = tick.closes
    assert close.point == -4.5 and close.at == late
    [grade] = [g for s, g in tick.grades if s.id == steam.id]
    assert grade.clv_points == pytest.approx(1.5)  # took -3.0, closed -4.5
    assert grade.beat and grade.clv_ev > 0
    # After the close the game's in-play odds are ignored.
    live = engine.ingest(spreads(TIP + timedelta(minutes=5), dict.fromkeys(BOOKS, -9.0)))
    assert live.lines == [] and live.signals == []


def test_tip_rewritten_to_an_earlier_actual_start_closes_the_game():
    engine = _engine()
    _base(engine, at=TIP - timedelta(minutes=20))
    # At 23:55 the feed rewrites the tip to the actual start, 23:53: the game is live, so it closes
    # on the last pre-game consensus, even though the scheduled tip (00:00) has not come yet.
    started = replace(GAME, commence_time=TIP - timedelta(minutes=7))
    at = TIP - timedelta(minutes=5)
    tick = engine.ingest(
        snapshot(at, [line(b, Market.SPREADS, -6.0, at=at, game=started) for b in BOOKS], game=started)
    )
    assert tick.closed_games == [GAME.id]
    assert tick.closes[0].point == -3.0
    assert tick.lines == []


def test_schedule_move_before_tip_is_followed():
    engine = _engine()
    _base(engine)
    later = replace(GAME, commence_time=TIP + timedelta(hours=2))
    tick = engine.ingest(
        snapshot(minutes(5), [line(b, Market.SPREADS, -3.0, at=minutes(5), game=later) for b in BOOKS], game=later)
    )
    assert tick.tip_changes == [(GAME.id, later.commence_time)]
    assert engine.close_due(TIP).closed_games == []
    assert engine.close_due(later.commence_time).closed_games == [GAME.id]
