"""Relative times in autocomplete names, as pure functions: what a bettor reads, exact to the minute."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from access import SignalView
from bot.choices import signal_choice_name, signal_choices
from engine.models import Game, Market, Side, SignalType
from services.games import Phase, fit, label, phase, tip_text
from services.when import ago, span
from storage import StoredGame

NOW = datetime(2026, 8, 5, 12, 0, tzinfo=UTC)


def _game(tip: datetime, away: str = "Dallas Wings", home: str = "Washington Mystics") -> Game:
    return Game(id="g1", sport_key="basketball_wnba", home_team=home, away_team=away, commence_time=tip)


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(seconds=59), "0 min"),
        (timedelta(minutes=45, seconds=59), "45 min"),
        (timedelta(hours=3), "3 h"),
        (timedelta(hours=3, minutes=20, seconds=30), "3 h 20 min"),
        (timedelta(hours=9, minutes=59), "9 h 59 min"),
        (timedelta(hours=11, minutes=30), "11 h"),
        (timedelta(hours=47, minutes=59), "47 h"),
        (timedelta(hours=48), "2 days"),
        (timedelta(days=3, hours=23), "3 days"),
        (timedelta(seconds=-5), "0 min"),
    ],
)
def test_span_rounds_down(delta, text):
    assert span(delta) == text


@pytest.mark.parametrize(
    ("tip", "text", "stage"),
    [
        (NOW + timedelta(minutes=45), "tips in 45 min", Phase.UPCOMING),
        (NOW + timedelta(hours=3), "tips in 3 h", Phase.UPCOMING),
        (NOW + timedelta(hours=11, minutes=30), "tips in 11 h", Phase.UPCOMING),
        (NOW + timedelta(days=2, hours=1), "tips in 2 days", Phase.UPCOMING),
        (NOW + timedelta(seconds=30), "tips now", Phase.UPCOMING),
        (NOW, "live", Phase.LIVE),
        (NOW - timedelta(minutes=20), "live · tipped 20 min ago", Phase.LIVE),
        (NOW - timedelta(hours=2, minutes=59), "live · tipped 2 h 59 min ago", Phase.LIVE),
        (NOW - timedelta(hours=3), "final", Phase.FINAL),
        (NOW - timedelta(days=2), "final", Phase.FINAL),
    ],
)
def test_tip_text_and_phase(tip, text, stage):
    assert tip_text(_game(tip), NOW) == text
    assert phase(_game(tip), NOW) == stage


def test_label_is_relative_to_the_clock_passed_in_never_a_utc_time():
    tip = NOW + timedelta(hours=3)
    stored = StoredGame(game=_game(tip), scheduled_tip=tip, status="scheduled")
    assert label(stored, NOW) == "Dallas Wings @ Washington Mystics · tips in 3 h"
    # A shifted (demo) clock: the same game, seen 3 h 20 min later.
    assert (
        label(stored, NOW + timedelta(hours=3, minutes=20))
        == "Dallas Wings @ Washington Mystics · live · tipped 20 min ago"
    )
    assert "Z" not in label(stored, NOW) and ":" not in label(stored, NOW)


def test_a_long_name_is_cut_in_the_matchup_and_keeps_its_time():
    tip = NOW - timedelta(hours=5)
    long = StoredGame(game=_game(tip, away="A" * 80, home="B" * 80), scheduled_tip=tip, status="closed")
    name = label(long, NOW)
    assert len(name) == 100 and name.endswith("… · final") and name.startswith("A" * 80)
    assert fit("short", "final") == "short · final"


def test_ago():
    assert ago(NOW - timedelta(minutes=12, seconds=40), NOW) == "12 min ago"
    assert ago(NOW - timedelta(seconds=20), NOW) == "just now"
    assert ago(NOW + timedelta(minutes=3), NOW) == "just now"
    assert ago(NOW - timedelta(hours=26), NOW) == "26 h ago"


def _view(n: int, *, book: str | None, market=None) -> SignalView:
    return SignalView(
        id=f"ab{n:02d}cdef",
        type=SignalType.STEAM,
        game_id="g1",
        market=market or Market.TOTALS,
        side=Side.UNDER,
        created_at=NOW - timedelta(minutes=12),
        commence_time=NOW + timedelta(hours=3),
        score_band="high",
        heat=1,
        redacted=book is None,
        entry_book=book,
        entry_point=183.5,
        entry_price=-110,
    )


def test_signal_choice_names_and_the_filter():
    game = _game(NOW + timedelta(hours=3))
    assert signal_choice_name(_view(1, book=None), game, NOW) == "STEAM · Under 183.5 · Wings @ Mystics · 12 min ago"
    assert signal_choice_name(_view(1, book="fanduel"), game, NOW) == (
        "STEAM · Under 183.5 at fanduel · Wings @ Mystics · 12 min ago"
    )
    rows = [(_view(n, book=None), game) for n in range(30)]
    assert len(signal_choices(rows, "", NOW)) == 25
    assert [c.value for c in signal_choices(rows, "AB07", NOW)] == ["ab07cdef"]
    assert len(signal_choices(rows, "under 183", NOW)) == 25
    assert signal_choices(rows, "over", NOW) == []
