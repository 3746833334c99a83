"""CSV exports of signals and bets, for members who audit the numbers in a spreadsheet.

Columns are fixed and ordered (a member's formulas keep working from one export to the next),
times are ISO-8601 UTC, and numbers are written plain ("-3.5", "-110") so spreadsheets read them
as numbers. Text cells are guarded against formula injection: a book key or team name such as
"=HYPERLINK(...)" would otherwise run as a formula when the file is opened. The guard applies to
text only; a negative point is data, not a formula, and quoting it would turn it into text.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from engine.models import Bet, BetGrade, Game, Grade, Signal

SIGNAL_COLUMNS: tuple[str, ...] = (
    "id",
    "created_at",
    "type",
    "game_id",
    "market",
    "side",
    "score",
    "magnitude",
    "velocity",
    "books",
    "entry_book",
    "entry_point",
    "entry_price",
    "entry_prob",
    "consensus_point",
    "consensus_prob",
    "commence_time",
    "graded",
    "clv_points",
    "clv_prob",
    "beat_close",
    "ev_at_fire",  # last, so the columns before it keep their places in members' spreadsheets
)

BET_COLUMNS: tuple[str, ...] = (
    "id",
    "placed_at",
    "game_id",
    "matchup",
    "market",
    "side",
    "point",
    "price",
    "book",
    "graded",
    "close_point",
    "close_prob",
    "clv_points",
    "clv_prob",
    "beat_close",
)

#: Characters that make a spreadsheet treat a cell as a formula (OWASP "CSV injection").
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
#: Enough for probabilities and per-minute velocities; points and prices are exact well within it.
DECIMALS = 6


def text(value: str | None) -> str:
    """A text cell, defused: a leading formula trigger gets a single quote in front.

    Carriage returns become newlines: with `lineterminator="\n"` the csv module only quotes fields
    holding "\n", so a bare "\r" would go out unquoted and split the row for most readers.
    """
    if value is None:
        return ""
    if value.startswith(FORMULA_TRIGGERS):
        value = "'" + value
    return value.replace("\r\n", "\n").replace("\r", "\n")


def number(value: float | None) -> str:
    """A plain number: no exponent, no trailing zeros, no "-0" ("-3.5", "0.52381", "0")."""
    if value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    shown = f"{round(value, DECIMALS):.{DECIMALS}f}".rstrip("0").rstrip(".")
    return "0" if shown in ("-0", "") else shown


def timestamp(value: datetime) -> str:
    """ISO-8601 in UTC with a Z, to the second; naive datetimes are a bug upstream, not guessed at."""
    if value.tzinfo is None:
        raise ValueError(f"naive datetime in export: {value!r}")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def yes_no(flag: bool) -> str:
    return "yes" if flag else "no"


def beat_close(beat: bool | None, push: bool | None) -> str:
    """ "yes"/"no"/"push", blank when not graded yet."""
    if beat is None:
        return ""
    if push:
        return "push"
    return yes_no(beat)


def _write(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def _signal_row(signal: Signal, grade: Grade | None) -> list[str]:
    entry = signal.entry
    return [
        text(signal.id),
        timestamp(signal.created_at),
        text(signal.type.value),
        text(signal.game_id),
        text(signal.market.value),
        text(signal.side.value),
        number(signal.score),
        number(signal.magnitude),
        number(signal.velocity),
        text("|".join(signal.books)),
        text(entry.book),
        number(entry.point),
        number(entry.price),
        number(entry.prob),
        number(signal.consensus_point),
        number(signal.consensus_prob),
        timestamp(signal.commence_time),
        yes_no(grade is not None),
        number(grade.clv_points if grade else None),
        number(grade.clv_prob if grade else None),
        beat_close(grade.beat if grade else None, grade.push if grade else None),
        number(signal.ev_at_fire),
    ]


def signals_csv(rows: Iterable[tuple[Signal, Grade | None]]) -> str:
    """Signals with their grade (None while the game has not closed), one row each, in the given order."""
    return _write(SIGNAL_COLUMNS, (_signal_row(signal, grade) for signal, grade in rows))


def _bet_row(bet: Bet, game: Game | None, grade: BetGrade | None) -> list[str]:
    return [
        number(bet.id),
        timestamp(bet.placed_at),
        text(bet.game_id),
        text(f"{game.away_team} @ {game.home_team}" if game else None),
        text(bet.market.value),
        text(bet.side.value),
        number(bet.point),
        number(bet.price),
        text(bet.book),
        yes_no(grade is not None),
        number(grade.close_point if grade else None),
        number(grade.close_prob if grade else None),
        number(grade.clv_points if grade else None),
        number(grade.clv_prob if grade else None),
        beat_close(grade.beat if grade else None, grade.push if grade else None),
    ]


def bets_csv(rows: Iterable[tuple[Bet, Game | None, BetGrade | None]]) -> str:
    """A member's bets with the game (None if unknown) and the grade (None until graded), in the given order."""
    return _write(BET_COLUMNS, (_bet_row(bet, game, grade) for bet, game, grade in rows))
