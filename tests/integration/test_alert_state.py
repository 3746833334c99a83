"""The audit decides what pings: the alert-state rule (tiered / unproven / refuted), the bars servers and
members set, and its walk-forward evaluation on a small hand-built tape (`tests/walk_tape.py`), where each
state is earned only from grades committed before the instant it gates."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from engine.alert_state import (
    REFUTED,
    TIERED,
    UNPROVEN,
    ClassState,
    decide_state,
    meets,
    no_ping_reason,
    parse_minimum,
    state_before,
)
from engine.audit import ClassAudit
from engine.core import Tick
from engine.events import EventBus
from engine.integrity import STATES_CURSOR
from engine.models import Market
from engine.presets import passes
from engine.service import EngineService
from engine.walkforward import WalkForward
from storage import Repositories
from tests import walk_tape as tape
from tests.engine_builders import settings

# ------------------------------------------------------------------ the rule


@pytest.mark.parametrize(
    ("graded", "tier", "lift_high", "state"),
    [
        (35, UNPROVEN, -0.062, REFUTED),  # the bundled tape's DISLOCATION:spreads: −10.9 (−15.7…−6.2) over 35
        (30, UNPROVEN, -0.001, REFUTED),  # at least 30 graded: 30 is enough
        (29, UNPROVEN, -0.300, UNPROVEN),  # one short: too little evidence either way
        (30, UNPROVEN, 0.0, UNPROVEN),  # an interval reaching zero is not entirely below it
        (500, UNPROVEN, 0.05, UNPROVEN),
        (300, UNPROVEN, None, UNPROVEN),  # no interval (no null, one game): nothing refuted
        (30, "B", 0.40, TIERED),
        (120, "A", 0.20, TIERED),
        (600, "S", 0.10, TIERED),
    ],
)
def test_state_rule_hand_worked(graded, tier, lift_high, state):
    assert decide_state(graded, tier, lift_high, refute_min_graded=30) == state


@pytest.mark.parametrize(
    ("state", "minimum", "ok"),
    [
        (TIERED, UNPROVEN, True),
        (TIERED, TIERED, True),
        (UNPROVEN, UNPROVEN, True),
        (UNPROVEN, TIERED, False),
        (REFUTED, UNPROVEN, False),  # a refuted class clears no bar
        (REFUTED, TIERED, False),
    ],
)
def test_bars(state, minimum, ok):
    assert meets(state, minimum) is ok


def test_a_minimum_is_unproven_or_tiered():
    assert parse_minimum(" Tiered ") == TIERED and parse_minimum("unproven") == UNPROVEN
    with pytest.raises(ValueError, match="unproven, tiered"):
        parse_minimum("refuted")


def _state(name: str, state: str, since, tier: str = UNPROVEN, **sample) -> ClassState:
    return ClassState(name=name, state=state, tier=tier, since=since, **sample)


def test_a_refuted_class_never_pings_and_says_why():
    refuted = _state(
        "DISLOCATION:spreads",
        REFUTED,
        tape.T0,
        graded=35,
        beats=11,
        null_rate=0.423,
        lift=-0.109,
        lift_low=-0.157,
        lift_high=-0.062,
    )
    expected = "no ping: our audit refutes DISLOCATION:spreads — lift −10.9 pts (−15.7…−6.2) over 35 graded"
    assert no_ping_reason("DISLOCATION:spreads", refuted, UNPROVEN, whose="this server's") == expected
    assert no_ping_reason("DISLOCATION:spreads", refuted, TIERED, whose="your") == expected


def test_below_a_raised_bar_says_which_bar():
    unproven = _state("STEAM:spreads", UNPROVEN, None, graded=14, reason="too few: 14 graded, 30 needed")
    assert no_ping_reason("STEAM:spreads", unproven, UNPROVEN, whose="this server's") is None
    assert no_ping_reason("STEAM:spreads", unproven, TIERED, whose="this server's") == (
        "no ping: STEAM:spreads is unproven (too few: 14 graded, 30 needed), below this server's minimum (tiered)"
    )
    # A class with no recorded state is unproven from the start: it pings unless the bar is tiered.
    assert no_ping_reason("KEY_CROSS:spreads", None, UNPROVEN, whose="your") is None
    assert no_ping_reason("KEY_CROSS:spreads", None, TIERED, whose="your").startswith(
        "no ping: KEY_CROSS:spreads is unproven"
    )
    tiered = _state("STEAM:totals", TIERED, tape.T0, tier="B", graded=34, lift=0.335, lift_low=0.234, lift_high=0.457)
    assert no_ping_reason("STEAM:totals", tiered, TIERED, whose="this server's") is None


def test_a_state_gates_only_what_fires_strictly_after_it():
    first = _state("STEAM:totals", TIERED, tape.tip(3), tier="B")
    second = _state("STEAM:totals", REFUTED, tape.tip(7))
    history = [first, second]
    assert state_before(history, tape.tip(3)) == {}  # the grades of that very commit are not known yet
    assert state_before(history, tape.tip(3) + timedelta(microseconds=1)) == {"STEAM:totals": first}
    assert state_before(history, tape.tip(7)) == {"STEAM:totals": first}
    assert state_before(history, tape.tip(9)) == {"STEAM:totals": second}


def test_a_change_is_a_new_state_or_tier_not_a_grown_sample():
    b = _state("STEAM:totals", TIERED, tape.T0, tier="B", graded=30)
    assert b.changes(None)
    assert not replace(b, graded=40, lift=0.2).changes(b)
    assert replace(b, tier="A").changes(b)
    assert replace(b, state=REFUTED, tier=UNPROVEN).changes(b)
    unproven = _state("STEAM:totals", UNPROVEN, tape.T0, reason="too few")
    assert not unproven.changes(None)  # every class starts unproven
    assert not replace(unproven, reason="lift interval crosses zero").changes(unproven)


# ------------------------------------------------------------------ presets


def _row(name: str, graded: int, lift_low: float, state: str) -> ClassAudit:
    return ClassAudit(
        name=name,
        kind="class",
        graded=graded,
        beats=graded,
        pushes=0,
        ungraded=0,
        interval=(0.0, 1.0),
        null_graded=10 * graded,
        null_rate=0.3,
        lift=lift_low + 0.1,
        lift_low=lift_low,
        lift_high=lift_low + 0.2,
        opposite_rate=0.2,
        mean_clv=0.01,
        mean_clv_points=None,
        record=None,
        tier=UNPROVEN,
        reason="",
        alert_state=state,
    )


def test_presets_leave_refuted_classes_out_and_never_rest_on_fewer_than_30_graded():
    config = settings()
    high = config.presets["high_confidence"]
    plain = config.presets["low_noise"].model_copy(update={"class_lift": "", "min_books": 1})
    signal = replace(tape.signals(0)[0], score=80)  # a STEAM:h2h of two books
    proven = {"STEAM:h2h": _row("STEAM:h2h", 30, 0.05, UNPROVEN)}
    assert passes(signal, high, proven, min_graded=30)
    few = {"STEAM:h2h": _row("STEAM:h2h", 29, 0.05, UNPROVEN)}
    assert not passes(signal, high, few, min_graded=30)  # a lift interval over 29 proves nothing here
    assert passes(signal, plain, few, min_graded=30)  # a preset on score alone rests on no class's audit
    refuted = {"STEAM:h2h": _row("STEAM:h2h", 60, 0.05, REFUTED)}
    assert not passes(signal, high, refuted, min_graded=30)
    assert not passes(signal, plain, refuted, min_graded=30)  # every preset leaves a refuted class out


# ------------------------------------------------------------------ walk-forward on the hand-built tape


def _walk() -> WalkForward:
    walk = WalkForward(settings(), lambda game_id: tape.COVER)
    for k in range(tape.GAMES):
        walk.add_lines(tape.lines(k))
    return walk


def _commit(walk: WalkForward, k: int) -> list[ClassState]:
    """What the engine's commit at game k's tip hands the walk-forward audit: its closes, then its grades."""
    for close in tape.closes(k):
        walk.add_close(close, tape.tip(k))
    return walk.grade(tape.grades(k), tape.tip(k))


def test_the_hand_built_tape_grades_as_worked_by_hand():
    by_class: dict[str, list[float]] = {}
    for signal, grade in tape.grades(0):
        by_class.setdefault(signal.signal_class, []).append(grade.clv_ev)
    assert by_class["STEAM:h2h"] == [pytest.approx(0.025)] * 3  # +105 at a 50% close
    assert by_class["STEAM:totals"] == [pytest.approx(-0.0833, abs=1e-4)] * 3  # −120 at the closing number


def test_walk_forward_earns_b_and_refutes_at_the_thirtieth_grade():
    walk = _walk()
    for k in range(tape.GAMES - 1):
        assert _commit(walk, k) == [], f"game {k}: {3 * (k + 1)} graded is too few to change anything"
    changes = {c.name: c for c in _commit(walk, tape.GAMES - 1)}
    last = tape.tip(tape.GAMES - 1)
    b, refuted = changes["STEAM:h2h"], changes["STEAM:totals"]
    assert (b.state, b.tier, b.since, b.graded, b.beats) == (TIERED, "B", last, 30, 30)
    assert (b.null_rate, b.lift, b.lift_low, b.lift_high) == (0.0, 1.0, 1.0, 1.0)
    assert (refuted.state, refuted.tier, refuted.since) == (REFUTED, UNPROVEN, last)
    assert (refuted.graded, refuted.beats) == (30, 0)
    assert (refuted.null_rate, refuted.lift, refuted.lift_low, refuted.lift_high) == (1.0, -1.0, -1.0, -1.0)
    assert refuted.evidence() == "lift −100.0 pts (−100.0…−100.0) over 30 graded"
    # What fires at the tenth tip is gated by the states before it; what fires after, by the new ones.
    history = list(changes.values())
    assert state_before(history, last) == {}
    assert state_before(history, last + timedelta(seconds=1)) == changes


def test_each_null_is_drawn_only_from_games_closed_when_the_signal_was_graded():
    walk = _walk()
    for k in range(4):
        _commit(walk, k)
        for name in ("STEAM:h2h", "STEAM:totals"):
            sample = walk.samples[name]
            assert len(sample.signals) == 3 * (k + 1)
            for index, trial in sample.null:
                graded_with = index // 3  # the game whose commit measured this signal
                assert int(trial.game_id[2:]) <= graded_with, (name, index, trial.game_id)
    # Game 0 was graded alone: its nulls come from game 0 itself, the only close known then.
    assert {trial.game_id for index, trial in walk.samples["STEAM:h2h"].null if index < 3} == {"wf00"}


def test_the_walk_forward_state_is_the_same_fed_in_one_go_or_commit_by_commit():
    """The restart path: everything stored so far fed at once (closes in commit order) gives what the live
    feed built, so the decisions after a restart are those of an uninterrupted run."""
    live = _walk()
    for k in range(tape.GAMES):
        _commit(live, k)
    rebuilt = _walk()
    for k in range(tape.GAMES):
        for close in tape.closes(k):
            rebuilt.add_close(close, tape.tip(k))
        rebuilt.absorb(tape.grades(k))
    for name in ("STEAM:h2h", "STEAM:totals"):
        assert rebuilt.samples[name] == live.samples[name]
    assert live.candidates[Market.TOTALS] == rebuilt.candidates[Market.TOTALS] == [f"wf{k:02d}" for k in range(10)]


# ------------------------------------------------------------------ stored, through the engine service's commit


def _ticks(games: range) -> list[Tick]:
    """The hand-built tape as the engine commits it: each game's quotes (six hours before tip), its signals
    (two hours before) and, at tip, its closes and grades — every game's ticks in time order."""
    ticks = []
    for k in games:
        g = tape.game(k)
        ticks.append(Tick(at=tape.tip(k) - timedelta(hours=6), games=[g], lines=tape.lines(k)))
        ticks.append(Tick(at=tape.tip(k) - timedelta(hours=2), signals=tape.signals(k)))
        graded = tape.grades(k)
        ticks.append(Tick(at=tape.tip(k), closes=tape.closes(k), closed_games=[g.id], grades=graded))
    return sorted(ticks, key=lambda t: t.at)


async def _service(path) -> tuple[Repositories, EngineService]:
    repos = await Repositories.open(path)
    return repos, await EngineService.restore(settings(), repos, EventBus(), source="test")


async def _commit_all(path, ticks: list[Tick], *, restart: bool) -> list[ClassState]:
    repos, service = await _service(path)
    try:
        for tick in ticks:
            if restart:  # a fresh process before every commit: the walk-forward memory rebuilt from the file
                await repos.close()
                repos, service = await _service(path)
            await service._commit_or_rebuild(tick, quota=None, move_cursor=False)
        return await repos.class_states.history()
    finally:
        await repos.close()


def _expected_history() -> list[tuple]:
    last = tape.tip(tape.GAMES - 1)
    return [
        ("STEAM:h2h", last, TIERED, "B", 30, 30, 0.0, 1.0, 1.0, 1.0),
        ("STEAM:totals", last, REFUTED, UNPROVEN, 30, 0, 1.0, -1.0, -1.0, -1.0),
    ]


def _rows(history: list[ClassState]) -> list[tuple]:
    return [
        (c.name, c.since, c.state, c.tier, c.graded, c.beats, c.null_rate, c.lift, c.lift_low, c.lift_high)
        for c in history
    ]


async def test_changes_are_stored_with_the_commit_of_the_grades_that_made_them(db_url):
    history = await _commit_all(db_url, _ticks(range(tape.GAMES)), restart=False)
    assert _rows(history) == _expected_history()


async def test_a_restart_before_every_commit_stores_the_same_history(backend, tmp_path):
    ticks = _ticks(range(tape.GAMES))
    straight = await _commit_all(backend.fresh(tmp_path, "straight.db"), ticks, restart=False)
    restarted = await _commit_all(backend.fresh(tmp_path, "restarted.db"), ticks, restart=True)
    assert restarted == straight and _rows(restarted) == _expected_history()


async def test_grades_from_before_the_states_existed_are_judged_in_their_order(db_url):
    """A database graded before migration 0014 (no state, no cursor): the first grading commit judges
    every earlier batch in turn, so each change is dated by the grades that made it, not by that commit."""
    path = db_url
    await _commit_all(path, _ticks(range(tape.GAMES)), restart=False)
    repos = await Repositories.open(path)
    async with repos.db.transaction():
        await repos.db.execute("DELETE FROM class_states")
        assert await repos.cursors.delete(STATES_CURSOR)
    await repos.close()
    history = await _commit_all(path, _ticks(range(tape.GAMES, tape.GAMES + 1)), restart=True)
    assert _rows(history) == _expected_history()  # dated at the tenth tip, where the thirtieth grades came


async def test_a_failed_commit_stores_no_state_and_the_retry_decides_again(db_url):
    ticks = _ticks(range(tape.GAMES))
    repos, service = await _service(db_url)
    failures = []

    async def fail_once(tick: Tick) -> None:
        if tick.grades and tick.at == tape.tip(tape.GAMES - 1) and not failures:
            failures.append(tick.at)
            raise OSError("disk full")

    service.commit_hooks.append(fail_once)
    try:
        for tick in ticks[:-1]:
            await service._commit_or_rebuild(tick, quota=None, move_cursor=False)
        with pytest.raises(OSError, match="disk full"):
            await service._commit_or_rebuild(ticks[-1], quota=None, move_cursor=False)
        assert await repos.class_states.history() == []  # rolled back with the grades that made them
        await service._commit_or_rebuild(ticks[-1], quota=None, move_cursor=False)
        assert _rows(await repos.class_states.history()) == _expected_history()
    finally:
        await repos.close()
