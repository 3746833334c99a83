"""External closes and results from the NBA lines+scores CSV, checked on a real excerpt.

`fixtures/nba_closes_excerpt.csv` is the header plus 14 rows copied unchanged from
"Kaggle nba_2008-2025 via JDSB123/green_bier_sports_nba_model" (`data/external/kaggle/nba_2008-2025.csv`,
commit f90ee0932ee96ef1286ec39dac407426ea0fbff1): the five Christmas 2024 games, two games of
2024-12-26 (one is the Hornets at Wizards event of `nba_odds_2024-12-25_featured.json`), and 2021-22 /
2022-23 rows with moneylines, pushes and one empty spread. Expected values are worked by hand from
the rows, so these tests never read /work/shared.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from engine.models import Game, Market, Side
from engine.providers.closes import (
    CLOSE_SOURCE_LABEL,
    TEAM_CODES,
    ClosesFileError,
    ExternalCloses,
    ExternalLine,
    outcome_against_result,
)
from tests.paths import FIXTURES

EXCERPT = FIXTURES / "nba_closes_excerpt.csv"
CHRISTMAS_JSON = FIXTURES / "nba_odds_2024-12-25_featured.json"


def _game(home: str, away: str, tip: str, game_id: str = "g") -> Game:
    return Game(
        id=game_id,
        sport_key="basketball_nba",
        home_team=home,
        away_team=away,
        commence_time=datetime.fromisoformat(tip),
    )


def _christmas_games() -> list[Game]:
    payload = json.loads(CHRISTMAS_JSON.read_text())
    return [
        _game(event["home_team"], event["away_team"], event["commence_time"], event["id"]) for event in payload["data"]
    ]


@pytest.fixture(scope="module")
def closes() -> ExternalCloses:
    return ExternalCloses.load(EXCERPT)


def _rewrite(tmp_path: Path, edit) -> Path:
    """A copy of the excerpt with its lines passed through `edit` (a list → list function)."""
    lines = EXCERPT.read_text().splitlines()
    path = tmp_path / "closes.csv"
    path.write_text("\n".join(edit(lines)) + "\n")
    return path


# --- loading -------------------------------------------------------------------------------------------


def test_load_fixture(closes: ExternalCloses) -> None:
    assert len(closes) == 14
    assert closes.skipped_rows == 0
    assert closes.duplicate_rows == 0
    assert closes.dropped_moneylines == 0
    assert closes.label == CLOSE_SOURCE_LABEL


def test_team_codes_are_the_thirty_csv_codes() -> None:
    assert len(TEAM_CODES) == 30
    assert len(set(TEAM_CODES.values())) == 30
    assert TEAM_CODES["Los Angeles Clippers"] == "lac"
    assert TEAM_CODES["Philadelphia 76ers"] == "phi"
    assert TEAM_CODES["Utah Jazz"] == "utah"
    assert TEAM_CODES["Golden State Warriors"] == "gs"
    codes = {code for line in EXCERPT.read_text().splitlines()[1:] for code in line.split(",")[4:6]}
    assert codes <= set(TEAM_CODES.values())


# --- joining -------------------------------------------------------------------------------------------


def test_every_christmas_fixture_event_joins(closes: ExternalCloses) -> None:
    games = _christmas_games()
    assert len(games) == 4
    joined = {game.home_team: closes.lookup(game) for game in games}
    assert all(line is not None for line in joined.values())
    # The Wizards game tips 2024-12-27T00:10Z = 19:10 ET on Dec 26: the Eastern date, not the UTC one.
    wizards = joined["Washington Wizards"]
    assert wizards is not None
    assert (wizards.date, wizards.home, wizards.away) == (date(2024, 12, 26), "wsh", "cha")


def test_late_tip_joins_to_the_eastern_date(closes: ExternalCloses) -> None:
    # 00:30 UTC on Dec 26 is 19:30 ET on Dec 25 (EST, UTC-5).
    late = _game("Phoenix Suns", "Denver Nuggets", "2024-12-26T00:30:00Z")
    line = closes.lookup(late)
    assert line is not None
    assert line.date == date(2024, 12, 25)
    # 04:59 UTC is still Dec 25 in New York; 05:00 UTC is Dec 26, where the excerpt has no Suns game.
    assert closes.lookup(_game("Phoenix Suns", "Denver Nuggets", "2024-12-26T04:59:00Z")) == line
    assert closes.lookup(_game("Phoenix Suns", "Denver Nuggets", "2024-12-26T05:00:00Z")) is None


def test_summer_time_offset_is_used() -> None:
    # 2023-06-13T00:30Z is 20:30 EDT (UTC-4) on June 12.
    line = ExternalLine(date(2023, 6, 12), "den", "mia", -8.5, 208.5, -410, 320, 94, 89)
    closes = ExternalCloses.from_lines([line])
    assert closes.lookup(_game("Denver Nuggets", "Miami Heat", "2023-06-13T00:30:00Z")) == line
    assert closes.lookup(_game("Denver Nuggets", "Miami Heat", "2023-06-13T04:30:00Z")) is None


def test_home_and_away_must_match_the_row(closes: ExternalCloses) -> None:
    # Same teams, same night, home and away swapped: not the same game.
    assert closes.lookup(_game("San Antonio Spurs", "New York Knicks", "2024-12-25T17:00:00Z")) is None


def test_unknown_team_name_gives_none(closes: ExternalCloses) -> None:
    assert closes.lookup(_game("Seattle SuperSonics", "New York Knicks", "2024-12-25T17:00:00Z")) is None
    assert closes.lookup(_game("New York Knicks", "New York Liberty", "2024-12-25T17:00:00Z")) is None
    unknown = _game("New York Knicks", "Spurs", "2024-12-25T17:00:00Z")
    assert closes.closes_for(unknown, unknown.commence_time) == []
    assert closes.result(unknown) is None


def test_naive_commence_time_is_refused(closes: ExternalCloses) -> None:
    naive = Game("g", "basketball_nba", "New York Knicks", "San Antonio Spurs", datetime(2024, 12, 25, 17))  # noqa: DTZ001
    with pytest.raises(ValueError, match="timezone-aware"):
        closes.lookup(naive)


# --- the line ------------------------------------------------------------------------------------------


def test_home_spread_sign(closes: ExternalCloses) -> None:
    # Row "sa,ny,...,home,8.5,223.5": the Knicks (home) give 8.5 → home spread -8.5.
    knicks = closes.lookup(_game("New York Knicks", "San Antonio Spurs", "2024-12-25T17:00:00Z"))
    assert knicks is not None
    assert (knicks.home_spread, knicks.total) == (-8.5, 223.5)
    # Row "den,phx,...,away,2.5,232.5": the Nuggets (away) give 2.5 → the Suns at home get +2.5.
    suns = closes.lookup(_game("Phoenix Suns", "Denver Nuggets", "2024-12-26T03:00:00Z"))
    assert suns is not None
    assert (suns.home_spread, suns.total) == (2.5, 232.5)


def test_spread_sign_agrees_with_the_morning_line(closes: ExternalCloses) -> None:
    # The fixture's DraftKings home spreads that morning: NYK -9, DAL -6, GSW -4, WAS +2.5.
    payload = json.loads(CHRISTMAS_JSON.read_text())
    for event, game in zip(payload["data"], _christmas_games(), strict=True):
        dk = next(book for book in event["bookmakers"] if book["key"] == "draftkings")
        spreads = next(market for market in dk["markets"] if market["key"] == "spreads")
        morning = next(o["point"] for o in spreads["outcomes"] if o["name"] == event["home_team"])
        line = closes.lookup(game)
        assert line is not None and line.home_spread is not None
        assert (line.home_spread < 0) == (morning < 0)
        assert abs(line.home_spread - morning) <= 2.0


def test_closes_for_points_are_even_odds(closes: ExternalCloses) -> None:
    game = _game("New York Knicks", "San Antonio Spurs", "2024-12-25T17:00:00Z", "973a6ea8")
    tip = game.commence_time
    got = {close.market: close for close in closes.closes_for(game, tip)}
    assert set(got) == {Market.SPREADS, Market.TOTALS}  # 2024-25: no moneyline in the file
    spread, total = got[Market.SPREADS], got[Market.TOTALS]
    assert (spread.point, spread.prob_a) == (-8.5, 0.5)
    assert (total.point, total.prob_a) == (223.5, 0.5)
    for close in got.values():
        assert (close.game_id, close.captured_at, close.at, close.books) == ("973a6ea8", tip, tip, 0)
    assert spread.side_point(Side.AWAY) == 8.5
    assert closes.result(game) == (117, 114)


def test_closes_for_devigs_the_moneyline(closes: ExternalCloses) -> None:
    # Row "lac,ny,...,home,4,204,155,-175": home -175 → 175/275 = 7/11, away +155 → 100/255 = 20/51;
    # de-vigged home = (7/11) / (7/11 + 20/51) = 357 / 577.
    game = _game("New York Knicks", "Los Angeles Clippers", "2022-01-23T20:30:00Z")
    got = {close.market: close for close in closes.closes_for(game, game.commence_time)}
    assert set(got) == {Market.SPREADS, Market.TOTALS, Market.H2H}
    assert got[Market.H2H].point is None
    assert got[Market.H2H].prob_a == pytest.approx(357 / 577)
    assert got[Market.SPREADS].point == -4.0
    assert got[Market.TOTALS].point == 204.0
    # Row "phi,sa,...,away,1,222,-120,100": home +100 → 1/2, away -120 → 6/11; home = (1/2)/(1/2 + 6/11) = 11/23.
    spurs = _game("San Antonio Spurs", "Philadelphia 76ers", "2022-01-24T01:00:00Z")
    h2h = next(close for close in closes.closes_for(spurs, spurs.commence_time) if close.market == Market.H2H)
    assert h2h.prob_a == pytest.approx(11 / 23)
    assert h2h.side_prob(Side.AWAY) == pytest.approx(12 / 23)


def test_empty_spread_keeps_none(closes: ExternalCloses) -> None:
    # Row "den,sac,...,away,,235.5,-165,145": no spread, but a total and moneylines.
    game = _game("Sacramento Kings", "Denver Nuggets", "2022-02-25T03:00:00Z")
    line = closes.lookup(game)
    assert line is not None
    assert line.home_spread is None
    assert (line.total, line.moneyline_home, line.moneyline_away) == (235.5, 145, -165)
    assert {close.market for close in closes.closes_for(game, game.commence_time)} == {Market.TOTALS, Market.H2H}


# --- grading against the result ------------------------------------------------------------------------


def test_outcome_spreads() -> None:
    # Knicks -8.5 beat the Spurs 117-114: the favourite did not cover (row's id_spread 0).
    assert outcome_against_result(Market.SPREADS, Side.HOME, -8.5, 117, 114) == "loss"
    assert outcome_against_result(Market.SPREADS, Side.AWAY, 8.5, 117, 114) == "win"
    # Clippers +4 at the Knicks, 102-110: Knicks -4 win by 8.
    assert outcome_against_result(Market.SPREADS, Side.HOME, -4.0, 110, 102) == "win"
    assert outcome_against_result(Market.SPREADS, Side.AWAY, 4.0, 110, 102) == "loss"
    # Warriors -2 beat the Jazz 94-92 and Warriors -5 beat the Hornets 110-105: pushes (id_spread 2).
    assert outcome_against_result(Market.SPREADS, Side.HOME, -2.0, 94, 92) == "push"
    assert outcome_against_result(Market.SPREADS, Side.AWAY, 2.0, 94, 92) == "push"
    assert outcome_against_result(Market.SPREADS, Side.HOME, -5.0, 110, 105) == "push"
    # A home underdog that wins outright covers any plus number.
    assert outcome_against_result(Market.SPREADS, Side.HOME, 2.5, 110, 100) == "win"


def test_outcome_totals() -> None:
    # Spurs-Knicks 231 points against 223.5: over (id_total 1).
    assert outcome_against_result(Market.TOTALS, Side.OVER, 223.5, 117, 114) == "win"
    assert outcome_against_result(Market.TOTALS, Side.UNDER, 223.5, 117, 114) == "loss"
    # Knicks at Wizards 112-108 = 220 against 220: push (id_total 2).
    assert outcome_against_result(Market.TOTALS, Side.OVER, 220.0, 108, 112) == "push"
    assert outcome_against_result(Market.TOTALS, Side.UNDER, 220.0, 108, 112) == "push"
    # Wolves at Mavericks 105-99 = 204 against 222.5: under.
    assert outcome_against_result(Market.TOTALS, Side.UNDER, 222.5, 99, 105) == "win"


def test_outcome_moneyline() -> None:
    # Lakers won at Golden State 115-113.
    assert outcome_against_result(Market.H2H, Side.AWAY, None, 113, 115) == "win"
    assert outcome_against_result(Market.H2H, Side.HOME, None, 113, 115) == "loss"
    assert outcome_against_result(Market.H2H, Side.HOME, None, 100, 100) == "push"


def test_outcome_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        outcome_against_result(Market.TOTALS, Side.HOME, 220.0, 100, 100)
    with pytest.raises(ValueError):
        outcome_against_result(Market.SPREADS, Side.HOME, None, 100, 99)
    with pytest.raises(ValueError):
        outcome_against_result(Market.H2H, Side.HOME, -3.0, 100, 99)


# --- malformed files -----------------------------------------------------------------------------------


def test_missing_column_names_file_and_line(tmp_path: Path) -> None:
    def drop_total(lines: list[str]) -> list[str]:
        column = lines[0].split(",").index("total")
        return [",".join(f for i, f in enumerate(line.split(",")) if i != column) for line in lines]

    path = _rewrite(tmp_path, drop_total)
    with pytest.raises(ClosesFileError, match=r"closes\.csv, line 1: missing column\(s\) total"):
        ExternalCloses.load(path)


def test_non_numeric_spread_names_the_line(tmp_path: Path) -> None:
    def spoil_line_3(lines: list[str]) -> list[str]:
        fields = lines[2].split(",")
        fields[19] = "PK"
        return [*lines[:2], ",".join(fields), *lines[3:]]

    path = _rewrite(tmp_path, spoil_line_3)
    with pytest.raises(ClosesFileError, match=r"closes\.csv, line 3: spread is not a number: 'PK'") as info:
        ExternalCloses.load(path)
    assert isinstance(info.value, ValueError)


def test_other_malformed_rows(tmp_path: Path) -> None:
    short = _rewrite(tmp_path, lambda lines: [*lines[:4], lines[4].rsplit(",", 1)[0], *lines[5:]])
    with pytest.raises(ClosesFileError, match=r"line 5: 26 fields, the header has 27"):
        ExternalCloses.load(short)
    bad_price = _rewrite(tmp_path, lambda lines: [lines[0], lines[1].replace(",155,-175,", ",155,-1.5,"), *lines[2:]])
    with pytest.raises(ClosesFileError, match=r"line 2: moneyline_home is not an integer American price: '-1.5'"):
        ExternalCloses.load(bad_price)
    bad_favourite = _rewrite(tmp_path, lambda lines: [lines[0], lines[1].replace(",home,4,", ",both,4,"), *lines[2:]])
    with pytest.raises(ClosesFileError, match=r"line 2: whos_favored"):
        ExternalCloses.load(bad_favourite)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ClosesFileError, match="empty file"):
        ExternalCloses.load(empty)


def test_impossible_moneyline_drops_the_pair(tmp_path: Path) -> None:
    # Like the real file's 2013-02-02 row (moneyline_away 8): the line and score stay, the moneyline goes.
    path = _rewrite(tmp_path, lambda lines: [lines[0], lines[1].replace(",155,-175,", ",8,-175,"), *lines[2:]])
    closes = ExternalCloses.load(path)
    assert (len(closes), closes.dropped_moneylines) == (14, 1)
    game = _game("New York Knicks", "Los Angeles Clippers", "2022-01-23T20:30:00Z")
    line = closes.lookup(game)
    assert line is not None
    assert (line.moneyline_home, line.moneyline_away, line.home_spread) == (None, None, -4.0)
    assert {close.market for close in closes.closes_for(game, game.commence_time)} == {Market.SPREADS, Market.TOTALS}


def test_rows_without_scores_are_skipped_and_counted(tmp_path: Path) -> None:
    def blank_scores(lines: list[str]) -> list[str]:
        first = lines[1].split(",")
        first[6], first[7] = "", ""
        second = lines[2].split(",")
        second[7] = "NA"
        return [lines[0], ",".join(first), ",".join(second), *lines[3:]]

    closes = ExternalCloses.load(_rewrite(tmp_path, blank_scores))
    assert (len(closes), closes.skipped_rows) == (12, 2)
    assert closes.lookup(_game("New York Knicks", "Los Angeles Clippers", "2022-01-23T20:30:00Z")) is None


def test_duplicate_keys_keep_the_first(tmp_path: Path) -> None:
    def duplicate(lines: list[str]) -> list[str]:
        return [*lines, lines[1].replace(",102,110,", ",1,2,")]

    closes = ExternalCloses.load(_rewrite(tmp_path, duplicate))
    assert (len(closes), closes.duplicate_rows) == (14, 1)
    assert closes.result(_game("New York Knicks", "Los Angeles Clippers", "2022-01-23T20:30:00Z")) == (110, 102)


def test_from_lines_and_pick_em() -> None:
    pick = ExternalLine(date(2008, 1, 1), "okc", "mem", 0.0, 218.5, -110, -110, 98, 105)
    closes = ExternalCloses.from_lines([pick, pick])
    assert (len(closes), closes.duplicate_rows) == (1, 1)
    game = _game("Oklahoma City Thunder", "Memphis Grizzlies", "2008-01-02T01:00:00+00:00")
    h2h = next(close for close in closes.closes_for(game, datetime(2008, 1, 2, 1, tzinfo=UTC)) if close.market == "h2h")
    assert h2h.prob_a == pytest.approx(0.5)
