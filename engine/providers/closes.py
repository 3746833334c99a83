"""External closing lines and final scores from the Kaggle "nba_2008-2025" lines+scores CSV.

The Odds API snapshots we replay are morning lines (one per day, ~11:55 UTC) with no close and no
score. This module joins each game to the CSV's single pre-game line per game, which behaves like a
late, consensus-style close (see the data folder's SOURCE.md), so signals can be graded for CLV and
against the final result. It is pure parsing plus one loader: nothing here touches the engine.

The CSV carries points only (spread and total; moneylines up to 2022-23), not the prices at those
points, so spread and total closes are taken at even odds (`prob_a = 0.5`) and a moneyline close is
the multiplicative de-vig of the two moneylines. Join key: (the game's date on the US Eastern
calendar, home code, away code), because the CSV's `date` is the local game date, and a 7:30 pm ET
tip is already the next day in UTC.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Literal
from zoneinfo import ZoneInfo

from engine.models import Close, Game, Market, Side, is_side_a
from engine.odds import InvalidPrice, devig, validate_american

__all__ = [
    "CLOSE_SOURCE_LABEL",
    "TEAM_CODES",
    "ClosesFileError",
    "ExternalCloses",
    "ExternalLine",
    "Outcome",
    "outcome_against_result",
]

CLOSE_SOURCE_LABEL = "approximate consensus close (Kaggle nba_2008-2025, one line per game, points only)"

#: The CSV's `date` is the US Eastern calendar date; `commence_time` is UTC.
EASTERN = ZoneInfo("America/New_York")

#: The Odds API's full team names → the CSV's codes (ESPN style, current franchises), per SOURCE.md.
TEAM_CODES: Mapping[str, str] = MappingProxyType(
    {
        "Atlanta Hawks": "atl",
        "Boston Celtics": "bos",
        "Brooklyn Nets": "bkn",
        "Charlotte Hornets": "cha",
        "Chicago Bulls": "chi",
        "Cleveland Cavaliers": "cle",
        "Dallas Mavericks": "dal",
        "Denver Nuggets": "den",
        "Detroit Pistons": "det",
        "Golden State Warriors": "gs",
        "Houston Rockets": "hou",
        "Indiana Pacers": "ind",
        "Los Angeles Clippers": "lac",
        "Los Angeles Lakers": "lal",
        "Memphis Grizzlies": "mem",
        "Miami Heat": "mia",
        "Milwaukee Bucks": "mil",
        "Minnesota Timberwolves": "min",
        "New Orleans Pelicans": "no",
        "New York Knicks": "ny",
        "Oklahoma City Thunder": "okc",
        "Orlando Magic": "orl",
        "Philadelphia 76ers": "phi",
        "Phoenix Suns": "phx",
        "Portland Trail Blazers": "por",
        "Sacramento Kings": "sac",
        "San Antonio Spurs": "sa",
        "Toronto Raptors": "tor",
        "Utah Jazz": "utah",
        "Washington Wizards": "wsh",
    }
)

#: Columns the loader reads; any others (season, quarters, second half, result ids) are ignored.
REQUIRED_COLUMNS: tuple[str, ...] = (
    "date",
    "away",
    "home",
    "score_away",
    "score_home",
    "whos_favored",
    "spread",
    "total",
    "moneyline_away",
    "moneyline_home",
)

Outcome = Literal["win", "loss", "push"]

_Key = tuple[date, str, str]


class ClosesFileError(ValueError):
    """The closes CSV cannot be trusted: a missing column or a malformed value (message names file and line)."""


@dataclass(frozen=True, slots=True)
class ExternalLine:
    """One game's row: the consensus line as the home team sees it, and the final score."""

    date: date  # game date, US Eastern calendar
    home: str  # team code, e.g. "bos"
    away: str
    home_spread: float | None  # home-perspective spread (negative = home favoured)
    total: float | None
    moneyline_home: int | None  # American; None where the CSV has none (2023-24 onwards)
    moneyline_away: int | None
    home_score: int
    away_score: int

    @property
    def key(self) -> _Key:
        return (self.date, self.home, self.away)


class _RowError(ValueError):
    """A malformed value in one row; re-raised by the loader as `ClosesFileError` with file and line."""


class _SkipRow(Exception):
    """A row without a usable final score: skipped and counted, since it cannot grade anything."""


def _parse_float(column: str, text: str) -> float | None:
    text = text.strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise _RowError(f"{column} is not a number: {text!r}") from None
    if not math.isfinite(value):
        raise _RowError(f"{column} is not a finite number: {text!r}")
    return value


def _parse_moneyline(column: str, text: str) -> int | None:
    """An American price; `InvalidPrice` for a number no book can quote (the caller drops the pair)."""
    value = _parse_float(column, text)
    if value is None:
        return None
    if not value.is_integer():
        raise _RowError(f"{column} is not an integer American price: {text!r}")
    return validate_american(int(value))


def _parse_moneylines(row: Mapping[str, str]) -> tuple[int | None, int | None, bool]:
    """(home, away, dropped): an impossible price drops both sides, since the pair is only used together.

    The real file has one such value (2013-02-02 chi at atl, `moneyline_away` 8), a typo that should
    cost that game its moneyline close, not fail the 23,000-game load.
    """
    try:
        home = _parse_moneyline("moneyline_home", row["moneyline_home"])
        away = _parse_moneyline("moneyline_away", row["moneyline_away"])
    except InvalidPrice:
        return None, None, True
    return home, away, False


def _parse_score(column: str, text: str) -> int:
    text = text.strip()
    if not text.isdigit():  # empty, "NA", "-1", "101.5": no usable result
        raise _SkipRow(column)
    return int(text)


def _parse_code(column: str, text: str) -> str:
    code = text.strip().lower()
    if not code:
        raise _RowError(f"{column} is empty")
    return code


def _parse_row(row: Mapping[str, str]) -> tuple[ExternalLine, bool]:
    """One CSV record → (`ExternalLine`, moneyline dropped?); `_RowError` if malformed, `_SkipRow` if no score."""
    date_text = row["date"].strip()
    try:
        game_date = date.fromisoformat(date_text)
    except ValueError:
        raise _RowError(f"date is not YYYY-MM-DD: {date_text!r}") from None
    home = _parse_code("home", row["home"])
    away = _parse_code("away", row["away"])

    spread = _parse_float("spread", row["spread"])
    home_spread: float | None = None
    if spread is not None:
        if spread < 0:
            raise _RowError(f"spread must be unsigned (the favourite's points), got {spread}")
        favoured = row["whos_favored"].strip().lower()
        if favoured == "home":
            home_spread = -spread
        elif favoured == "away":
            home_spread = spread
        else:
            raise _RowError(f"whos_favored must be 'home' or 'away' when a spread is given, got {favoured!r}")
        home_spread += 0.0  # a pick'em is 0.0, never -0.0

    total = _parse_float("total", row["total"])
    if total is not None and total <= 0:
        raise _RowError(f"total must be positive, got {total}")
    moneyline_home, moneyline_away, dropped = _parse_moneylines(row)

    # Scores last: a row with a malformed line is an error even if its score is also missing.
    home_score = _parse_score("score_home", row["score_home"])
    away_score = _parse_score("score_away", row["score_away"])
    line = ExternalLine(
        date=game_date,
        home=home,
        away=away,
        home_spread=home_spread,
        total=total,
        moneyline_home=moneyline_home,
        moneyline_away=moneyline_away,
        home_score=home_score,
        away_score=away_score,
    )
    return line, dropped


def eastern_date(moment: datetime) -> date:
    """The US Eastern calendar date of an aware instant (the CSV's notion of a game's date)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"commence_time must be timezone-aware, got {moment!r}")
    return moment.astimezone(EASTERN).date()


class ExternalCloses:
    """The CSV's games keyed by (Eastern date, home code, away code), for closes and results.

    `skipped_rows` counts rows dropped for a missing or non-numeric score; `duplicate_rows` counts
    rows whose key was already seen (the first is kept); `dropped_moneylines` counts rows kept without
    their moneylines because one was an impossible American price.
    """

    label: str = CLOSE_SOURCE_LABEL

    def __init__(
        self,
        lines: Mapping[_Key, ExternalLine],
        *,
        skipped_rows: int = 0,
        duplicate_rows: int = 0,
        dropped_moneylines: int = 0,
    ) -> None:
        self._lines: dict[_Key, ExternalLine] = dict(lines)
        self.label = CLOSE_SOURCE_LABEL
        self.skipped_rows = skipped_rows
        self.duplicate_rows = duplicate_rows
        self.dropped_moneylines = dropped_moneylines

    @classmethod
    def from_lines(
        cls, lines: Iterable[ExternalLine], *, skipped_rows: int = 0, dropped_moneylines: int = 0
    ) -> ExternalCloses:
        """Index already-parsed lines; the first line of a key wins and later ones are counted."""
        index: dict[_Key, ExternalLine] = {}
        duplicates = 0
        for line in lines:
            if line.key in index:
                duplicates += 1
                continue
            index[line.key] = line
        return cls(index, skipped_rows=skipped_rows, duplicate_rows=duplicates, dropped_moneylines=dropped_moneylines)

    @classmethod
    def load(cls, path: str | Path) -> ExternalCloses:
        """Read the CSV; any malformed record fails the whole load, naming the file and line.

        Failing loudly is deliberate: a half-read close file would silently grade some signals and
        not others. Only rows without a usable score are skipped (they cannot grade anything), and an
        impossible moneyline drops that row's moneyline pair.
        """
        path = Path(path)
        lines: list[ExternalLine] = []
        skipped = 0
        dropped_moneylines = 0
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            try:
                header = next(reader)
            except StopIteration:
                raise ClosesFileError(f"{path}: empty file (no header line)") from None
            except csv.Error as exc:
                raise ClosesFileError(f"{path}, line {reader.line_num}: {exc}") from None
            names = [name.strip() for name in header]
            missing = [column for column in REQUIRED_COLUMNS if column not in names]
            if missing:
                raise ClosesFileError(f"{path}, line {reader.line_num}: missing column(s) {', '.join(missing)}")
            index = {column: names.index(column) for column in REQUIRED_COLUMNS}
            while True:
                try:
                    record = next(reader)
                except StopIteration:
                    break
                except csv.Error as exc:
                    raise ClosesFileError(f"{path}, line {reader.line_num}: {exc}") from None
                if not record or all(not field.strip() for field in record):
                    continue  # blank line
                if len(record) != len(names):
                    raise ClosesFileError(
                        f"{path}, line {reader.line_num}: {len(record)} fields, the header has {len(names)}"
                    )
                row = {column: record[i] for column, i in index.items()}
                try:
                    line, dropped = _parse_row(row)
                except _SkipRow:
                    skipped += 1
                except _RowError as exc:
                    raise ClosesFileError(f"{path}, line {reader.line_num}: {exc}") from None
                else:
                    lines.append(line)
                    dropped_moneylines += dropped
        return cls.from_lines(lines, skipped_rows=skipped, dropped_moneylines=dropped_moneylines)

    def __len__(self) -> int:
        return len(self._lines)

    def lookup(self, game: Game) -> ExternalLine | None:
        """The game's row, or None when a team name is not an NBA team we know or there is no row."""
        home = TEAM_CODES.get(game.home_team)
        away = TEAM_CODES.get(game.away_team)
        if home is None or away is None:
            return None
        return self._lines.get((eastern_date(game.commence_time), home, away))

    def closes_for(self, game: Game, captured_at: datetime) -> list[Close]:
        """The game's closes, one per market the row carries; [] when the game does not join.

        Spreads and totals are at even odds (prob_a 0.5) because the file has points, not prices.
        `at` and `captured_at` are both `captured_at` (the caller passes the tip-off); `books` is 0
        because this is one consensus line from an unknown number of books.
        """
        line = self.lookup(game)
        if line is None:
            return []
        closes: list[Close] = []
        if line.home_spread is not None:
            closes.append(self._close(game, Market.SPREADS, captured_at, line.home_spread, 0.5))
        if line.total is not None:
            closes.append(self._close(game, Market.TOTALS, captured_at, line.total, 0.5))
        if line.moneyline_home is not None and line.moneyline_away is not None:
            prob_home = devig(line.moneyline_home, line.moneyline_away)
            closes.append(self._close(game, Market.H2H, captured_at, None, prob_home))
        return closes

    @staticmethod
    def _close(game: Game, market: Market, captured_at: datetime, point: float | None, prob_a: float) -> Close:
        return Close(
            game_id=game.id,
            market=market,
            captured_at=captured_at,
            at=captured_at,
            point=point,
            prob_a=prob_a,
            books=0,
        )

    def result(self, game: Game) -> tuple[int, int] | None:
        """(home_score, away_score) of the game, final including overtime; None if it does not join."""
        line = self.lookup(game)
        if line is None:
            return None
        return (line.home_score, line.away_score)


def outcome_against_result(
    market: Market, side: Side, point: float | None, home_score: int, away_score: int
) -> Outcome:
    """Grade one side's bet against the final score.

    `point` is the side's own spread for spreads (away +3.5), the total for totals (the over wins when
    the score total is above it), and None for moneylines (the side's team must win; NBA games do not
    end tied, but a tied score is graded as a push, as books refund a two-way moneyline).
    """
    side_a = is_side_a(market, side)  # raises for a side of another market
    if market == Market.H2H:
        if point is not None:
            raise ValueError(f"a moneyline has no point, got {point}")
        margin: float = home_score - away_score if side_a else away_score - home_score
    elif point is None:
        raise ValueError(f"{market.value} needs a point")
    elif market == Market.SPREADS:
        own, other = (home_score, away_score) if side_a else (away_score, home_score)
        margin = own + point - other
    else:
        over_margin = home_score + away_score - point
        margin = over_margin if side_a else -over_margin
    if margin > 0:
        return "win"
    if margin < 0:
        return "loss"
    return "push"
