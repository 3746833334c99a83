"""What the dashboard's templates print, shaped from what the services returned: plain rows of text, so a
template loops and marks, and never looks inside a model to decide anything. The wording is the bot's
(`services.odds_text`): a line reads the same in Discord and on the web."""

from __future__ import annotations

from dataclasses import dataclass

from access import SignalView
from engine.audit import UNPROVEN, ClassAudit
from engine.models import Close, Game, Grade
from engine.reports import forward_text, state_label
from services.odds import MarketBoard
from services.odds_text import (
    MARKET_NAMES,
    clv_text,
    entry_text,
    ev_at_fire_text,
    fair_sides,
    row_name,
    sides,
    signed_points,
    verdict,
)

HEAT = ("·", "🔥", "🔥🔥", "🔥🔥🔥")


@dataclass(frozen=True, slots=True)
class Cell:
    text: str
    best: bool = False


@dataclass(frozen=True, slots=True)
class LineRow:
    label: str  # a book's display name (Pro) or "3 books" (Community)
    side_a: Cell
    side_b: Cell


@dataclass(frozen=True, slots=True)
class MarketView:
    market: str
    name: str
    fair: tuple[str, str] | None  # no-vig consensus, side A first; None before any line
    books: int
    rows: tuple[LineRow, ...]


def market_view(game: Game, board: MarketBoard) -> MarketView:
    """One market of the board: the fair price of both sides, then each book's line under its name when
    the service named them (Pro), else each number with how many books hang it (Community)."""
    market, consensus = board.market, board.consensus
    if board.lines:
        source = [(named.name, named.line.point, named.line.price_a, named.line.price_b) for named in board.lines]
    else:
        source = [
            (f"{c.books} book{'s' if c.books != 1 else ''}", c.point, c.price_a, c.price_b) for c in board.distribution
        ]
    rows = []
    for label, point, price_a, price_b in source:
        (text_a, best_a), (text_b, best_b) = sides(game, market, point, price_a, price_b, board.best)
        rows.append(LineRow(label, Cell(text_a, best_a), Cell(text_b, best_b)))
    return MarketView(
        market=market.value,
        name=MARKET_NAMES[market],
        fair=fair_sides(game, market, consensus) if consensus is not None else None,
        books=consensus.books if consensus is not None else 0,
        rows=tuple(rows),
    )


def close_text(game: Game, close: Close) -> str:
    """ "Liberty −7.5 (−101) · Storm +7.5 (+101)": the close at its number, at no-vig prices."""
    return " · ".join(fair_sides(game, close.market, close))


@dataclass(frozen=True, slots=True)
class SignalRow:
    id: str
    title: str  # "STEAM · Spread → Atlanta Dream"
    entry: str  # "−3.5 (−108)", or "" without an entry
    score: str  # "72/100" (Pro) or the band (Community)
    at: object  # datetime: the template writes it as <time>
    verdict: str  # "beat the close", "missed the close", "push", "awaiting the close"
    verdict_class: str  # "beat", "missed", "push", "open"
    clv: str  # "CLV +6.97%" once graded


def signal_row(view: SignalView, game: Game, grade: Grade | None) -> SignalRow:
    side = game.side_label(view.market, view.side)
    if grade is None:
        said, kind, clv = "awaiting the close", "open", ""
    else:
        said, kind = verdict(grade)
        clv = clv_text(grade, view.market)
    return SignalRow(
        id=view.id,
        title=f"{view.type.value} · {MARKET_NAMES[view.market]} → {side}",
        entry=" · ".join(filter(None, (entry_text(view), ev_at_fire_text(view)))),
        score=f"{view.score}/100" if view.score is not None else view.score_band,
        at=view.created_at,
        verdict=said,
        verdict_class=kind,
        clv=clv,
    )


def _rate(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


@dataclass(frozen=True, slots=True)
class AuditRow:
    name: str
    kind: str
    graded: str
    beat: str
    interval: str
    null: str
    lift: str
    opposite: str
    tier: str
    reason: str
    proven: bool
    #: Class rows: the alert state with when it was reached and why, and the record since then ("" otherwise).
    state: str = ""
    state_class: str = ""
    since_then: str = ""


def audit_row(row: ClassAudit) -> AuditRow:
    """One row of the integrity table: what `/integrity`'s field says, one column each."""
    graded = str(row.graded) + (f" (+{row.ungraded} waiting)" if row.ungraded else "")
    if row.graded:
        low, high = row.interval
        interval = f"{100 * low:.1f}–{100 * high:.1f}%"
    else:
        interval = "—"
    lift = "—"
    if row.lift is not None:
        lift = f"{signed_points(row.lift)} pts"
        if row.lift_low is not None and row.lift_high is not None:
            lift += f" ({signed_points(row.lift_low)}…{signed_points(row.lift_high)})"
    return AuditRow(
        name=row_name(row.name),
        kind=row.kind,
        graded=graded,
        beat=_rate(row.rate),
        interval=interval,
        null=_rate(row.null_rate),
        lift=lift,
        opposite=_rate(row.opposite_rate),
        tier=row.tier,
        reason=row.reason,
        proven=row.tier != UNPROVEN,
        state=state_label(row) or "",
        state_class=row.alert_state or "",
        since_then=forward_text(row.forward) if row.forward is not None else "",
    )
