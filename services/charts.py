"""Line-history charts for one game's market, rendered to PNG bytes.

The work is split in two so the parts that matter can be tested without decoding pixels:
`chart_data` is pure arithmetic (what is drawn, clipped at `until`, which labels the legend holds),
and `render_line_chart` only draws that. A redacted view (`book_lines=None`) never receives book
keys, so nothing downstream of `chart_data` can leak them.

Drawing uses matplotlib's object API (`Figure` + the Agg canvas), never `pyplot`: pyplot keeps
global figure state, is not thread-safe and leaks figures in a long-running bot.
"""

from __future__ import annotations

import io
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from matplotlib import dates as mdates
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.transforms import blended_transform_factory

from engine.models import Bet, BookLine, Consensus, Game, Market, Side
from engine.odds import InvalidPrice, devig, implied_probability

#: (time, value) — one step of a line, in the chart's y units.
Point = tuple[datetime, float]

WIDTH_IN, HEIGHT_IN, DPI = 10.0, 5.6, 100  # 1000 × 560 px: fits a Discord embed without scaling
EMPTY_MESSAGE = "no line history yet"
CONSENSUS_LABEL = "consensus"
BET_LABEL = "your bet"
#: A window shorter than this is widened backwards, so a lone point still gets a readable axis.
MIN_SPAN = timedelta(minutes=30)

Y_LABELS: dict[Market, str] = {
    Market.SPREADS: "home spread",
    Market.TOTALS: "total",
    Market.H2H: "home win probability (%)",
}

#: Marker colour by the label's prefix; the label carries the type so callers can add a score etc.
MARK_COLOURS: tuple[tuple[str, str], ...] = (
    ("STEAM", "#d62728"),
    ("DISLOCATION", "#9467bd"),
    ("KEY", "#1f77b4"),
)
DEFAULT_MARK_COLOUR = "#7f7f7f"
CONSENSUS_COLOUR = "#111111"
BET_COLOUR = "#2ca02c"
BOOK_COLOURS = ("#8c564b", "#e377c2", "#17becf", "#bcbd22", "#ff7f0e", "#1f77b4", "#9edae5", "#c49c94")


@dataclass(frozen=True, slots=True)
class ChartMark:
    """A signal to pin on the chart: when it fired, what to call it ("STEAM"), and which side it backs."""

    at: datetime
    label: str
    side: Side


@dataclass(frozen=True, slots=True)
class PlacedMark:
    """A `ChartMark` ready to draw: its text, colour, and the consensus value it sits on (if any)."""

    at: datetime
    text: str
    colour: str
    y: float | None


@dataclass(frozen=True, slots=True)
class ChartData:
    """Everything the renderer draws, already clipped at `until` and converted to y units.

    `books` is empty in the redacted view; `legend` lists the legend's labels in drawing order.
    `start`/`end` are None when there is no consensus history (the "no line history yet" chart).
    """

    title: str
    y_label: str
    consensus: tuple[Point, ...]
    books: tuple[tuple[str, tuple[Point, ...]], ...]
    bets: tuple[float, ...]
    marks: tuple[PlacedMark, ...]
    start: datetime | None
    end: datetime | None
    tip: datetime | None
    legend: tuple[str, ...]


def clip_series(points: Iterable[Point], until: datetime) -> list[Point]:
    """Points at or before `until`, in time order (stable for equal times).

    This is what enforces a delayed view: a Community chart passed `until = now - delay` cannot
    show a number the member is not yet allowed to see.
    """
    return sorted((p for p in points if p[0] <= until), key=lambda p: p[0])


def consensus_value(consensus: Consensus) -> float | None:
    """The consensus in chart units: home spread, total, or home de-vigged probability in %."""
    if consensus.market == Market.H2H:
        return 100.0 * consensus.prob_a
    return consensus.point


def book_value(line: BookLine) -> float | None:
    """A book's line in chart units; its moneyline is de-vigged like the consensus so both compare."""
    if line.market == Market.H2H:
        try:
            return 100.0 * devig(line.price_a, line.price_b)
        except InvalidPrice:
            return None
    return line.point


def bet_value(bet: Bet) -> float | None:
    """A bet's number in chart units.

    Spreads are charted from the home side, so an away bet at +3.5 sits at -3.5. A moneyline bet
    sits at the home probability its price implies (vig included: what the member actually paid).
    """
    if bet.market == Market.H2H:
        try:
            prob = implied_probability(bet.price)
        except InvalidPrice:
            return None
        return 100.0 * (prob if bet.side == Side.HOME else 1.0 - prob)
    if bet.point is None:
        return None
    if bet.market == Market.SPREADS and bet.side == Side.AWAY:
        return -bet.point
    return bet.point


def mark_colour(label: str) -> str:
    """Colour of a signal marker, from the type at the start of its label."""
    head = label.strip().upper()
    for prefix, colour in MARK_COLOURS:
        if head.startswith(prefix):
            return colour
    return DEFAULT_MARK_COLOUR


def value_at(series: Sequence[Point], at: datetime) -> float | None:
    """The step line's value at `at`: the last point at or before it (None before the first)."""
    index = bisect_right([t for t, _ in series], at)
    return series[index - 1][1] if index else None


def chart_title(game: Game, market: Market) -> str:
    return f"{game.away_team} @ {game.home_team} — {market.value}"


def _values(pairs: Iterable[tuple[datetime, float | None]]) -> list[Point]:
    return [(t, v) for t, v in pairs if v is not None]


def _hold_to(series: list[Point], end: datetime) -> tuple[Point, ...]:
    """Extend a step line flat to `end`: a line holds its number until it moves."""
    if series and series[-1][0] < end:
        series = [*series, (end, series[-1][1])]
    return tuple(series)


def chart_data(
    game: Game,
    market: Market,
    consensus: Sequence[Consensus],
    book_lines: Sequence[BookLine] | None,
    signals: Sequence[ChartMark],
    bets: Sequence[Bet],
    *,
    until: datetime,
) -> ChartData:
    """Decide what the chart shows; pure, so tests (and other renderers) can inspect it.

    Inputs for other games or markets are ignored rather than trusted. Nothing stamped after
    `until` is used — book lines by `observed_at` (when we saw them), bets by `placed_at`.
    """
    title, y_label = chart_title(game, market), Y_LABELS[market]
    line = clip_series(
        _values((c.at, consensus_value(c)) for c in consensus if c.game_id == game.id and c.market == market),
        until,
    )
    if not line:
        return ChartData(title, y_label, (), (), (), (), None, None, None, ())

    by_book: dict[str, list[tuple[datetime, float | None]]] = {}
    for book_line in book_lines or ():
        if book_line.game_id == game.id and book_line.market == market:
            by_book.setdefault(book_line.book, []).append((book_line.observed_at, book_value(book_line)))
    book_series = {book: clip_series(_values(pairs), until) for book, pairs in sorted(by_book.items())}
    book_series = {book: series for book, series in book_series.items() if series}

    kept_marks = sorted((m for m in signals if m.at <= until), key=lambda m: m.at)
    start = min([line[0][0], *(s[0][0] for s in book_series.values()), *(m.at for m in kept_marks)])
    last = max([line[-1][0], *(s[-1][0] for s in book_series.values()), *(m.at for m in kept_marks)])
    # Lines stop moving at tip-off: holding them flat to a much later `until` would only squash the chart.
    end = until if game.commence_time >= until else max(game.commence_time, last)
    start = min(start, end - MIN_SPAN)

    bet_levels = tuple(
        value
        for bet in sorted(bets, key=lambda b: b.placed_at)
        if bet.game_id == game.id
        and bet.market == market
        and bet.placed_at <= until
        and (value := bet_value(bet)) is not None
    )
    marks = tuple(
        PlacedMark(
            at=m.at,
            text=f"{m.label} → {game.side_label(market, m.side)}",
            colour=mark_colour(m.label),
            y=value_at(line, m.at),
        )
        for m in kept_marks
    )
    legend = (CONSENSUS_LABEL, *book_series, *((BET_LABEL,) if bet_levels else ()))
    return ChartData(
        title=title,
        y_label=y_label,
        consensus=_hold_to(line, end),
        books=tuple((book, _hold_to(series, end)) for book, series in book_series.items()),
        bets=bet_levels,
        marks=marks,
        start=start,
        end=end,
        tip=game.commence_time if start <= game.commence_time <= end else None,
        legend=legend,
    )


def chart_legend_labels(
    game: Game,
    market: Market,
    consensus: Sequence[Consensus],
    book_lines: Sequence[BookLine] | None,
    signals: Sequence[ChartMark],
    bets: Sequence[Bet],
    *,
    until: datetime,
) -> list[str]:
    """The legend `render_line_chart` would draw for these inputs (book keys only in the full view)."""
    return list(chart_data(game, market, consensus, book_lines, signals, bets, until=until).legend)


def _num(times: Sequence[datetime]) -> list[float]:
    return [float(mdates.date2num(t)) for t in times]


def draw_chart(data: ChartData, *, footer: str = "") -> bytes:
    """Draw prepared `ChartData` to PNG bytes; decides nothing."""
    figure = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI)
    FigureCanvasAgg(figure)
    figure.subplots_adjust(left=0.08, right=0.84, top=0.9, bottom=0.15)  # the legend sits right of the plot
    ax = figure.add_subplot()
    ax.set_title(data.title, fontsize=13)
    if footer:
        figure.text(0.01, 0.015, footer, fontsize=8, color="#555555", ha="left", va="bottom")

    if data.start is None or data.end is None:
        ax.text(0.5, 0.5, EMPTY_MESSAGE, ha="center", va="center", fontsize=14, color="#555555")
        ax.set_xticks([])
        ax.set_yticks([])
        return _png(figure)

    handles: list[Line2D] = []
    times, values = zip(*data.consensus, strict=True)
    (consensus_line,) = ax.step(_num(times), values, where="post", color=CONSENSUS_COLOUR, linewidth=2.6, zorder=3)
    handles.append(consensus_line)
    for index, (_book, series) in enumerate(data.books):
        book_times, book_values = zip(*series, strict=True)
        (book_line,) = ax.step(
            _num(book_times),
            book_values,
            where="post",
            color=BOOK_COLOURS[index % len(BOOK_COLOURS)],
            linewidth=0.9,
            alpha=0.75,
            zorder=2,
        )
        handles.append(book_line)

    x0, x1 = _num([data.start, data.end])
    bet_handle: Line2D | None = None
    for level in data.bets:
        (bet_handle,) = ax.plot([x0, x1], [level, level], linestyle="--", color=BET_COLOUR, linewidth=1.4)
        ax.annotate(
            BET_LABEL,
            (x1, level),
            xytext=(-4, 3),
            textcoords="offset points",
            ha="right",
            fontsize=8,
            color=BET_COLOUR,
        )
    if bet_handle is not None:
        handles.append(bet_handle)

    top = blended_transform_factory(ax.transData, ax.transAxes)
    for mark in data.marks:
        (x,) = _num([mark.at])
        ax.axvline(x, color=mark.colour, linestyle=":", linewidth=1.1, zorder=1)
        if mark.y is not None:
            ax.plot([x], [mark.y], marker="o", markersize=6, color=mark.colour, zorder=4)
        ax.text(x, 0.98, mark.text, transform=top, rotation=90, ha="right", va="top", fontsize=7, color=mark.colour)
    if data.tip is not None:
        (x,) = _num([data.tip])
        ax.axvline(x, color="#999999", linestyle="--", linewidth=1.0, zorder=1)
        ax.text(x, 0.02, "tip-off", transform=top, rotation=90, ha="right", va="bottom", fontsize=7)

    ax.set_xlim(x0, x1)
    ax.margins(y=0.12)  # headroom for the legend and the signal labels along the top
    locator = mdates.AutoDateLocator(tz=UTC)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=UTC))
    ax.set_xlabel("time (UTC)")
    ax.set_ylabel(data.y_label)
    ax.grid(True, alpha=0.25)
    # Outside the plot, so it never hides a line or a signal label (and loc="best" would be slow).
    ax.legend(handles, list(data.legend), loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    return _png(figure)


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def render_line_chart(
    game: Game,
    market: Market,
    consensus: Sequence[Consensus],
    book_lines: Sequence[BookLine] | None,
    signals: Sequence[ChartMark],
    bets: Sequence[Bet],
    *,
    until: datetime,
    footer: str = "",
) -> bytes:
    """PNG (1000 × 560) of the market's line history up to `until`.

    Pass `book_lines=None` for the redacted view (no per-book lines, no book names). Pure: the
    clock never enters, so the same inputs give the same bytes — `until` is the caller's "now".
    """
    data = chart_data(game, market, consensus, book_lines, signals, bets, until=until)
    return draw_chart(data, footer=footer)
