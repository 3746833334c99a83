"""Signal hygiene and close rules, on crafted snapshots with hand-worked values: operator groups count
once (consensus weight, STEAM movers, breadth, sharp component, DISLOCATION), one side per game ×
market per move (and across a restart), STEAM's maximum window, closes that are closes, and
external closes from the NBA lines+scores file."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from engine.consensus import build_consensus
from engine.core import Engine
from engine.events import EventBus
from engine.models import BookComponent, Game, Market, Side, SignalType
from engine.providers.base import RawSnapshot
from engine.providers.closes import ExternalCloses, ExternalLine
from engine.scoring import sharp_component
from engine.service import EngineService
from storage import Repositories
from tests.backends import copy_database
from tests.engine_builders import BOOKS, GAME, T0, TIP, api_event, line, minutes, settings, snapshot, spreads

PAIR = ("betonlineag", "lowvig")


def _ungrouped():
    config = settings()
    config.consensus.operator_groups = []
    return config


def _of(tick, kind):
    return [s for s in tick.signals if s.type == kind]


# ------------------------------------------------------------------ operator groups: consensus


def test_default_config_groups_betonline_and_lowvig():
    config = settings()
    assert config.consensus.operator_map() == {"betonlineag": "betonlineag", "lowvig": "betonlineag"}
    assert config.consensus.weight("lowvig") == 2.0 and config.consensus.weight("betonlineag") == 2.0
    assert config.signals.opposite_side_cooldown_seconds == 1800
    assert config.steam.max_window_seconds == 1800
    assert config.clv.close_max_age_seconds == 1800


def test_consensus_weighs_the_pair_as_one_book_on_spreads():
    config = settings()
    w = config.consensus.weight
    parts = [
        BookComponent("pinnacle", -3.0, 0.50, w("pinnacle")),  # 3.0
        BookComponent("lowvig", -4.0, 0.52, w("lowvig")),  # 2.0
        BookComponent("betonlineag", -4.0, 0.52, w("betonlineag")),  # 2.0
    ]
    # As two books: -4.0 weighs 4 of 7 (> half 3.5): the median is -4.0, at the pair's probability.
    apart = build_consensus("g1", Market.SPREADS, T0, parts)
    assert apart.point == -4.0 and apart.books == 3
    assert apart.prob_a == pytest.approx(0.52)
    # As one operator: each member weighs 2.0 / 2 = 1.0; -4.0 weighs 2 of 5 (< half 2.5): -3.0 (pinnacle).
    grouped = build_consensus("g1", Market.SPREADS, T0, parts, config.consensus.operator_map())
    assert grouped.point == -3.0
    assert grouped.prob_a == pytest.approx(0.50)
    assert grouped.books == 2
    assert {c.book: c.weight for c in grouped.components} == {"betonlineag": 1.0, "lowvig": 1.0, "pinnacle": 3.0}


def test_consensus_weighs_the_pair_as_one_book_on_moneyline():
    config = settings()
    w = config.consensus.weight
    parts = [
        BookComponent("pinnacle", None, 0.60, w("pinnacle")),
        BookComponent("lowvig", None, 0.50, w("lowvig")),
        BookComponent("betonlineag", None, 0.50, w("betonlineag")),
    ]
    apart = build_consensus("g1", Market.H2H, T0, parts)
    assert apart.prob_a == pytest.approx((3 * 0.60 + 2 * 0.50 + 2 * 0.50) / 7)  # 0.542857
    grouped = build_consensus("g1", Market.H2H, T0, parts, config.consensus.operator_map())
    assert grouped.prob_a == pytest.approx((3 * 0.60 + 1 * 0.50 + 1 * 0.50) / 5)  # 0.56
    assert grouped.books == 2


def test_a_lone_member_of_the_group_keeps_its_full_weight():
    config = settings()
    parts = [
        BookComponent("pinnacle", None, 0.60, 3.0),
        BookComponent("lowvig", None, 0.50, 2.0),
        BookComponent("fanduel", None, 0.40, 1.2),
    ]
    consensus = build_consensus("g1", Market.H2H, T0, parts, config.consensus.operator_map())
    assert consensus.books == 3
    assert {c.book: c.weight for c in consensus.components}["lowvig"] == 2.0
    assert consensus.prob_a == pytest.approx((1.8 + 1.0 + 0.48) / 6.2)


def test_the_engine_consensus_counts_operators():
    engine = Engine(settings())
    tick = engine.ingest(spreads(minutes(0), dict.fromkeys(("alpha", "bravo", *PAIR), -3.0)))
    assert tick.consensus[0].books == 3
    apart = Engine(_ungrouped()).ingest(spreads(minutes(0), dict.fromkeys(("alpha", "bravo", *PAIR), -3.0)))
    assert apart.consensus[0].books == 4


# ------------------------------------------------------------------ operator groups: STEAM, breadth, sharp

FIVE_OPERATORS_BOOKS = ("alpha", "bravo", "charlie", "delta", "echo", *PAIR)  # 7 books, 6 operators


def _steam_with(config, movers, books=FIVE_OPERATORS_BOOKS):
    engine = Engine(config)
    engine.ingest(spreads(minutes(0), dict.fromkeys(books, -3.0)))
    tick = engine.ingest(spreads(minutes(1), {**dict.fromkeys(books, -3.0), **dict.fromkeys(movers, -3.5)}))
    return _of(tick, SignalType.STEAM)


def test_steam_with_three_books_and_the_pair_fires_as_four_operators():
    [steam] = _steam_with(settings(), ("alpha", "bravo", "charlie", *PAIR))
    assert steam.side == Side.HOME
    assert steam.books == ("alpha", "betonlineag", "bravo", "charlie", "lowvig")  # all five books listed
    # Five books are four operators: min_books 5 does not fire.
    config = settings()
    config.steam.min_books = 5
    assert _steam_with(config, ("alpha", "bravo", "charlie", *PAIR)) == []
    # ... while without the group they are five.
    ungrouped = _ungrouped()
    ungrouped.steam.min_books = 5
    assert len(_steam_with(ungrouped, ("alpha", "bravo", "charlie", *PAIR))) == 1


def test_steam_with_two_books_and_the_pair_is_three_operators_and_does_not_fire():
    movers = ("alpha", "bravo", *PAIR)
    assert settings().steam.min_books == 4
    assert _steam_with(settings(), movers) == []
    [steam] = _steam_with(_ungrouped(), movers)  # four books when the pair is not grouped
    assert steam.side == Side.HOME and steam.books == ("alpha", "betonlineag", "bravo", "lowvig")


def test_breadth_and_sharp_count_the_pair_once():
    [steam] = _steam_with(settings(), ("alpha", "bravo", "charlie", *PAIR))
    # 4 moving operators of 6 quoting (alpha..echo, betonline group).
    assert steam.breakdown.breadth == round(4 / 6, 4) == 0.6667
    # alpha, betonlineag (lowvig counts with it), bravo, charlie: weights 1 + 2 + 1 + 1, sharp 2.
    assert steam.breakdown.sharp == 0.4
    [apart] = _steam_with(_ungrouped(), ("alpha", "bravo", "charlie", *PAIR))
    assert apart.breakdown.breadth == round(5 / 7, 4) == 0.7143
    assert apart.breakdown.sharp == round(4 / 7, 4) == 0.5714


def test_sharp_component_counts_one_operator_once():
    config = settings().consensus
    books = ["lowvig", "betonlineag", "fanduel"]
    # lowvig speaks for the group: 2.0 sharp of 2.0 + 1.2.
    assert sharp_component(books, config.sharp_books, config.weight, config.operator_map()) == pytest.approx(2.0 / 3.2)
    assert sharp_component(books, config.sharp_books, config.weight) == pytest.approx(4.0 / 5.2)


# ------------------------------------------------------------------ operator groups: DISLOCATION


def test_the_pair_far_out_at_one_number_is_one_dislocation():
    books = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot")
    points = {**dict.fromkeys(books, -3.0), **dict.fromkeys(PAIR, -4.5)}
    tick = Engine(settings()).ingest(spreads(minutes(0), points))
    [signal] = _of(tick, SignalType.DISLOCATION)
    assert signal.books == ("betonlineag",)  # equally far out: the first by name speaks for the operator
    assert signal.side == Side.AWAY
    assert signal.details["gap"] == pytest.approx(1.5)
    assert signal.details["consensus_point"] == 3.0
    assert signal.details["consensus_books"] == 7
    assert signal.breakdown.breadth == 0.7  # min(1, 7 operators / 10)
    # Without the group, the two brands are two dislocations (2 of 8 books far out, share 0.25).
    apart = _of(Engine(_ungrouped()).ingest(spreads(minutes(0), points)), SignalType.DISLOCATION)
    assert sorted(s.books for s in apart) == [("betonlineag",), ("lowvig",)]


def test_the_pair_counts_as_one_operator_in_the_as_far_out_share():
    books = ("alpha", "bravo", "charlie", "delta", "echo")
    points = {**dict.fromkeys(books, -3.0), **dict.fromkeys(PAIR, -4.5)}
    # Grouped: 6 operators, 1 as far out <= 0.25 * 6 = 1.5: a dislocation.
    [signal] = _of(Engine(settings()).ingest(spreads(minutes(0), points)), SignalType.DISLOCATION)
    assert signal.books == ("betonlineag",) and signal.details["consensus_books"] == 6
    # As brands: 7 books, 2 as far out > 0.25 * 7 = 1.75: a split market, nothing.
    assert _of(Engine(_ungrouped()).ingest(spreads(minutes(0), points)), SignalType.DISLOCATION) == []


# ------------------------------------------------------------------ one side per game × market per move


def _steamed_home(config=None) -> Engine:
    """STEAM towards home at minute 1 (alpha..delta -3.0 -> -3.5; echo, foxtrot stay)."""
    engine = Engine(config or settings())
    engine.ingest(spreads(minutes(0), dict.fromkeys(BOOKS, -3.0)))
    tick = engine.ingest(spreads(minutes(1), {**dict.fromkeys(BOOKS, -3.0), **dict.fromkeys(BOOKS[:4], -3.5)}))
    [steam] = _of(tick, SignalType.STEAM)
    assert steam.side == Side.HOME
    assert {s.side for s in tick.signals} == {Side.HOME}
    return engine


AFTER_STEAM = {**dict.fromkeys(BOOKS, -3.0), **dict.fromkeys(BOOKS[:4], -3.5)}


def test_an_away_dislocation_inside_the_cooldown_is_suppressed():
    engine = _steamed_home()
    # foxtrot at -5.0 against a -3.5 consensus offers the away side +5.0: an AWAY dislocation.
    tick = engine.ingest(spreads(minutes(10), {**AFTER_STEAM, "foxtrot": -5.0}))
    assert tick.consensus and tick.consensus[0].point == -3.5
    assert tick.signals == []
    # With no side lock the same snapshot is a dislocation.
    config = settings()
    config.signals.opposite_side_cooldown_seconds = 0
    free = _steamed_home(config)
    [signal] = free.ingest(spreads(minutes(10), {**AFTER_STEAM, "foxtrot": -5.0})).signals
    assert signal.type == SignalType.DISLOCATION and signal.side == Side.AWAY


def test_an_away_steam_and_key_cross_inside_the_cooldown_are_suppressed():
    back = dict.fromkeys(BOOKS, -2.5)  # every book to -2.5: STEAM away and a cross of 3 towards away
    assert _steamed_home().ingest(spreads(minutes(10), back)).signals == []
    config = settings()
    config.signals.opposite_side_cooldown_seconds = 0
    tick = _steamed_home(config).ingest(spreads(minutes(10), back))
    assert {(s.type, s.side) for s in tick.signals} == {
        (SignalType.STEAM, Side.AWAY),
        (SignalType.KEY_CROSS, Side.AWAY),
    }


def test_the_same_side_is_not_locked():
    engine = _steamed_home()
    # foxtrot at -2.0 against -3.5: the home bettor gets -2.0, a HOME dislocation.
    [signal] = engine.ingest(spreads(minutes(10), {**AFTER_STEAM, "foxtrot": -2.0})).signals
    assert signal.type == SignalType.DISLOCATION and signal.side == Side.HOME


def test_the_away_side_is_free_again_after_the_cooldown():
    late = {**AFTER_STEAM, "foxtrot": -5.0}
    # 29 minutes after the STEAM (minute 1): still locked.
    assert _steamed_home().ingest(spreads(minutes(30), late)).signals == []
    # 30 minutes after it: the lock (1800 s) has run out.
    [signal] = _steamed_home().ingest(spreads(minutes(31), late)).signals
    assert signal.type == SignalType.DISLOCATION and signal.side == Side.AWAY


def test_the_lock_is_per_market():
    engine = _steamed_home()
    at = minutes(10)
    totals = [line(b, Market.TOTALS, 224.5 if b == "echo" else 221.5, at=at) for b in BOOKS]
    tick = engine.ingest(snapshot(at, [*spreads(at, AFTER_STEAM).events[0].lines, *totals]))
    [signal] = tick.signals
    assert (signal.type, signal.market, signal.side) == (SignalType.DISLOCATION, Market.TOTALS, Side.UNDER)


def _raw(at: datetime, points: dict[str, float]) -> RawSnapshot:
    event = api_event(GAME.id, TIP, points)
    stamp = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    for bookmaker in event["bookmakers"]:
        bookmaker["last_update"] = stamp
    return RawSnapshot(fetched_at=at, data=[event])


async def _restored(path, config):
    repos = await Repositories.open(path)
    return repos, await EngineService.restore(config, repos, EventBus(), source="test")


async def test_the_side_lock_survives_a_restart(db_url, tmp_path):
    db = db_url
    repos, service = await _restored(db, settings())
    try:
        await service.process(_raw(minutes(0), dict.fromkeys(BOOKS, -3.0)))
        tick = await service.process(_raw(minutes(1), AFTER_STEAM))
        [steam] = _of(tick, SignalType.STEAM)
        assert steam.side == Side.HOME
    finally:
        await repos.close()
    control = copy_database(db, tmp_path, "control.db")
    back = _raw(minutes(10), dict.fromkeys(BOOKS, -2.5))

    repos, service = await _restored(db, settings())
    try:
        assert service.engine.state.sides[(GAME.id, Market.SPREADS.value)] == (Side.HOME, minutes(1))
        tick = await service.process(back)
        assert tick.consensus and tick.consensus[0].point == -2.5
        assert tick.signals == []
    finally:
        await repos.close()

    # The same restart with no side lock: the away STEAM fires, so the lock above did the suppressing.
    config = settings()
    config.signals.opposite_side_cooldown_seconds = 0
    repos, service = await _restored(control, config)
    try:
        tick = await service.process(back)
        assert (SignalType.STEAM, Side.AWAY) in {(s.type, s.side) for s in tick.signals}
    finally:
        await repos.close()


# ------------------------------------------------------------------ STEAM's maximum window

FAR_GAME = Game(
    id="g-far", sport_key="basketball_nba", home_team="Home", away_team="Away", commence_time=T0 + timedelta(days=5)
)


def _far(at: datetime, points: dict[str, float]):
    return snapshot(at, [line(b, Market.SPREADS, p, at=at, game=FAR_GAME) for b, p in points.items()], game=FAR_GAME)


def _coordinated_move(config, step: timedelta):
    engine = Engine(config)
    engine.ingest(_far(T0, dict.fromkeys(BOOKS, -3.0)))
    engine.ingest(_far(T0 + step, dict.fromkeys(BOOKS, -3.0)))
    tick = engine.ingest(_far(T0 + 2 * step, {**dict.fromkeys(BOOKS, -3.0), **dict.fromkeys(BOOKS[:5], -5.0)}))
    return _of(tick, SignalType.STEAM)


def test_daily_snapshots_fire_no_steam():
    assert _coordinated_move(settings(), timedelta(days=1)) == []
    # The move itself is a STEAM when the maximum does not apply (window 2 days).
    config = settings()
    config.steam.max_window_seconds = 3 * 86400
    [steam] = _coordinated_move(config, timedelta(days=1))
    assert steam.details["window_seconds"] == 2 * 86400


def test_the_same_move_five_minutes_apart_is_a_steam():
    [steam] = _coordinated_move(settings(), timedelta(minutes=5))
    assert steam.side == Side.HOME
    assert steam.details["window_seconds"] == 600  # max(180, 2 x 300)
    assert steam.magnitude == pytest.approx(2.0)
    assert len(steam.books) == 5


# ------------------------------------------------------------------ closes that are closes


def _steam_at(engine: Engine, base_at: datetime, fire_at: datetime):
    engine.ingest(spreads(base_at, dict.fromkeys(BOOKS, -3.0)))
    [steam] = _of(engine.ingest(spreads(fire_at, AFTER_STEAM)), SignalType.STEAM)
    return steam


def _verdict(tick, signal):
    graded = [g for s, g in tick.grades if s.id == signal.id]
    ungraded = [reason for s, reason in tick.ungraded if s.id == signal.id]
    return graded, ungraded


def test_a_signal_in_the_last_snapshot_before_tip_is_ungraded():
    engine = Engine(settings())
    steam = _steam_at(engine, TIP - timedelta(minutes=20), TIP - timedelta(minutes=19))
    tick = engine.ingest(spreads(TIP + timedelta(minutes=1), dict.fromkeys(BOOKS, -9.0)))  # in play
    [close] = tick.closes
    assert close.at == steam.created_at == TIP - timedelta(minutes=19)
    assert _verdict(tick, steam) == ([], ["no close after the signal"])
    assert tick.closed_games == [GAME.id]


def test_a_signal_whose_last_later_snapshot_is_far_from_tip_is_ungraded():
    engine = Engine(settings())
    steam = _steam_at(engine, minutes(0), minutes(1))
    engine.ingest(spreads(TIP - timedelta(minutes=31), dict.fromkeys(BOOKS, -3.5)))
    tick = engine.close_due(TIP)
    [close] = tick.closes
    assert close.at == TIP - timedelta(minutes=31) and close.point == -3.5
    assert _verdict(tick, steam) == ([], ["no close near tip-off"])


def test_a_close_exactly_the_maximum_age_before_tip_grades():
    engine = Engine(settings())
    steam = _steam_at(engine, minutes(0), minutes(1))
    engine.ingest(spreads(TIP - timedelta(minutes=30), dict.fromkeys(BOOKS, -3.5)))
    [grade], ungraded = _verdict(engine.close_due(TIP), steam)
    assert ungraded == [] and grade.clv_points == pytest.approx(0.5)


def test_a_signal_followed_by_a_snapshot_near_tip_is_graded():
    engine = Engine(settings())
    steam = _steam_at(engine, minutes(0), minutes(1))
    assert steam.entry.point == -3.0 and steam.entry.price == -110  # echo still at -3.0
    engine.ingest(spreads(TIP - timedelta(minutes=10), dict.fromkeys(BOOKS, -4.5)))
    tick = engine.close_due(TIP)
    [close] = tick.closes
    assert close.at == TIP - timedelta(minutes=10) and close.point == -4.5 and close.source == "consensus"
    [grade], ungraded = _verdict(tick, steam)
    assert ungraded == []
    assert grade.clv_points == pytest.approx(1.5)  # took -3.0, closed -4.5
    assert grade.close_point == -4.5
    assert grade.beat


def test_an_unchanged_later_snapshot_still_dates_the_close():
    """No quote changes at TIP - 10 min, but the market was still quoted then: the close is dated then."""
    engine = Engine(settings())
    steam = _steam_at(engine, minutes(0), minutes(1))
    quiet = engine.ingest(spreads(TIP - timedelta(minutes=10), AFTER_STEAM))
    assert quiet.lines == [] and quiet.consensus == []
    tick = engine.close_due(TIP)
    [close] = tick.closes
    assert close.at == TIP - timedelta(minutes=10)
    [grade], ungraded = _verdict(tick, steam)
    # The close is the -3.5 consensus of minute 1 (alpha..delta at -3.5), dated TIP - 10 min; took -3.0.
    assert ungraded == [] and grade.clv_points == pytest.approx(0.5) and close.point == -3.5


async def test_the_service_stores_the_ungraded_reason(db_url):
    repos, service = await _restored(db_url, settings())
    try:
        await service.process(_raw(TIP - timedelta(minutes=20), dict.fromkeys(BOOKS, -3.0)))
        [steam] = _of(await service.process(_raw(TIP - timedelta(minutes=19), AFTER_STEAM)), SignalType.STEAM)
        tick = await service.close_due(TIP)
        assert tick.closed_games == [GAME.id]
        stored = {signal.id: reason for signal, reason in await repos.grades.ungraded()}
        assert stored[steam.id] == "no close after the signal"
        assert steam.id not in {s.id for s, _ in await repos.grades.graded_signals()}
    finally:
        await repos.close()


# ------------------------------------------------------------------ external closes

CELTICS = Game(
    id="g-bos", sport_key="basketball_nba", home_team="Boston Celtics", away_team="Miami Heat", commence_time=TIP
)
# TIP is 2026-01-11 00:00 UTC: 19:00 on 2026-01-10 in the US East, the file's date.
CELTICS_ROW = ExternalLine(
    date=date(2026, 1, 10),
    home="bos",
    away="mia",
    home_spread=-6.5,
    total=221.5,
    moneyline_home=None,
    moneyline_away=None,
    home_score=112,
    away_score=104,
)


def _celtics(at: datetime, points: dict[str, float]):
    return snapshot(at, [line(b, Market.SPREADS, p, at=at, game=CELTICS) for b, p in points.items()], game=CELTICS)


def test_an_external_close_replaces_the_consensus_close():
    assert datetime(2026, 1, 11, 0, 0, tzinfo=UTC) == TIP
    engine = Engine(settings(), closes=ExternalCloses.from_lines([CELTICS_ROW]))
    engine.ingest(_celtics(minutes(0), dict.fromkeys(BOOKS, -3.0)))
    [steam] = _of(engine.ingest(_celtics(minutes(1), AFTER_STEAM)), SignalType.STEAM)
    assert steam.game_id == "g-bos" and steam.entry.point == -3.0
    # No later snapshot: the consensus close would be the signal's own snapshot (ungradable).
    tick = engine.close_due(TIP)
    closes = {c.market: c for c in tick.closes}
    assert set(closes) == {Market.SPREADS, Market.TOTALS}
    spread = closes[Market.SPREADS]
    assert spread.source == "external"
    assert spread.point == -6.5 and spread.prob_a == 0.5
    assert spread.at == TIP and spread.books == 0
    assert closes[Market.TOTALS].point == 221.5
    assert tick.results == [("g-bos", 112, 104)]
    [grade], ungraded = _verdict(tick, steam)
    assert ungraded == []
    assert grade.clv_points == pytest.approx(3.5)  # took -3.0, closed -6.5
    assert grade.close_point == -6.5


def test_a_game_the_file_does_not_know_keeps_the_consensus_close():
    engine = Engine(settings(), closes=ExternalCloses.from_lines([CELTICS_ROW]))
    engine.ingest(spreads(minutes(0), dict.fromkeys(BOOKS, -3.0)))
    engine.ingest(spreads(TIP - timedelta(minutes=10), dict.fromkeys(BOOKS, -4.0)))
    tick = engine.close_due(TIP)
    [close] = tick.closes
    assert (close.source, close.point, close.at) == ("consensus", -4.0, TIP - timedelta(minutes=10))
    assert tick.results == []


# ------------------------------------------------------------------ known bugs (strict: they fail once fixed)


def test_one_operator_is_one_dislocation_when_its_speaking_brand_changes():
    engine = Engine(settings())
    base = dict.fromkeys(BOOKS, -3.0)
    [first] = _of(
        engine.ingest(spreads(minutes(0), {**base, "lowvig": -4.5, "betonlineag": -4.5})), SignalType.DISLOCATION
    )
    assert first.books == ("betonlineag",)
    # lowvig hangs half a point further out: the same operator's dislocation, now spoken for by lowvig.
    tick = engine.ingest(spreads(minutes(1), {**base, "lowvig": -5.0, "betonlineag": -4.5}))
    assert _of(tick, SignalType.DISLOCATION) == []


def test_a_close_near_an_earlier_actual_start_grades():
    engine = Engine(settings())
    steam = _steam_at(engine, TIP - timedelta(minutes=40), TIP - timedelta(minutes=39))
    engine.ingest(spreads(TIP - timedelta(minutes=37), dict.fromkeys(BOOKS, -4.5)))
    # The feed rewrites the tip to the actual start, TIP - 36 min: the close (TIP - 37 min) is 1 minute old.
    started = replace(GAME, commence_time=TIP - timedelta(minutes=36))
    at = TIP - timedelta(minutes=35)
    tick = engine.ingest(
        snapshot(at, [line(b, Market.SPREADS, -6.0, at=at, game=started) for b in BOOKS], game=started)
    )
    assert tick.closed_games == [GAME.id]
    [grade], ungraded = _verdict(tick, steam)
    assert ungraded == [] and grade.clv_points == pytest.approx(1.5)
