"""Charts rendered to PNG bytes: a game market's line history, and the signal-integrity audit.

The work is split in two so the parts that matter can be tested without decoding pixels:
`chart_data` is pure arithmetic (what is drawn, clipped at `until`, which labels the legend holds),
and `render_line_chart` only draws that (likewise `integrity_chart_data` / `render_integrity_chart`
for the audit). A redacted view (`book_lines=None`) never receives book
keys, so nothing downstream of `chart_data` can leak them.

A line chart stays readable however many books quote: besides the consensus it draws at most three
books, each for a reason (the best number for either side now, and the sharpest configured book), and
signals are numbered markers spread along the top by `spread_marks` so they never overlap, explained
in a key under the plot. Time runs in hours to tip, the one clock every reader shares.

Drawing uses matplotlib's object API (`Figure` + the Agg canvas), never `pyplot`: pyplot keeps
global figure state, is not thread-safe and leaks figures in a long-running bot.
"""

from __future__ import annotations

import io
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Protocol

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator
from matplotlib.transforms import blended_transform_factory

from engine.audit import UNPROVEN, ClassAudit
from engine.models import MARKET_SIDES, Bet, BookLine, Consensus, Game, Market, Side
from engine.odds import InvalidPrice, devig, implied_probability
from engine.reports import AuditReport
from services.odds import quote_rank, side_quote  # the one definition of "a better number"
from services.odds_text import row_name, signed_points

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
#: The books drawn beside the consensus, by why they are drawn: one colour each, never recycled.
ROLE_BEST_A, ROLE_BEST_B, ROLE_SHARP = "best_a", "best_b", "sharp"
ROLE_COLOURS = {ROLE_BEST_A: "#17becf", ROLE_BEST_B: "#e377c2", ROLE_SHARP: "#8c564b"}
#: At most this many signals are numbered (the latest); more would not read at 1000 px.
MAX_MARKS = 12
#: A numbered marker's diameter in points, and the least distance between two markers' centres.
MARK_SIZE_PT = 13.0
MARK_GAP_PX = 20.0


@dataclass(frozen=True, slots=True)
class ChartMark:
    """A signal to pin on the chart: when it fired, what to call it ("STEAM"), and which side it backs."""

    at: datetime
    label: str
    side: Side


@dataclass(frozen=True, slots=True)
class PlacedMark:
    """A `ChartMark` ready to draw: its number, its key text, colour, and the consensus value it sits on."""

    at: datetime
    text: str
    colour: str
    y: float | None
    number: int = 0
    key: str = ""


@dataclass(frozen=True, slots=True)
class ChartBook:
    """One book's line as drawn: why it is there (`role`) and what the legend calls it."""

    label: str
    role: str
    book: str
    series: tuple[Point, ...]


@dataclass(frozen=True, slots=True)
class ChartData:
    """Everything the renderer draws, already clipped at `until` and converted to y units.

    `books` is empty in the redacted view; `legend` lists the legend's labels in drawing order.
    `start`/`end` are None when there is no consensus history (the "no line history yet" chart).
    `reference` is the moment the x axis counts hours from (the tip); `omitted_marks` the older signals
    left unnumbered past `MAX_MARKS`.
    """

    title: str
    y_label: str
    consensus: tuple[Point, ...]
    books: tuple[ChartBook, ...]
    bets: tuple[float, ...]
    marks: tuple[PlacedMark, ...]
    start: datetime | None
    end: datetime | None
    tip: datetime | None
    legend: tuple[str, ...]
    reference: datetime | None = None
    omitted_marks: int = 0


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


def to_tip(at: datetime, tip: datetime) -> str:
    """A moment as the time left to tip: "−2 h 05 min", "−40 min", "tip", "+15 min"."""
    minutes = round((at - tip).total_seconds() / 60)
    if minutes == 0:
        return "tip"
    sign = "−" if minutes < 0 else "+"
    hours, rest = divmod(abs(minutes), 60)
    if not hours:
        return f"{sign}{rest} min"
    return f"{sign}{hours} h" + (f" {rest:02d} min" if rest else "")


def hour_tick(hours: float) -> str:
    """An x tick in hours to tip: "−6 h", "−30 min", "−5 h 48 min", "tip"."""
    minutes = round(hours * 60)
    if minutes == 0:
        return "tip"
    if minutes % 60 == 0:
        return f"{minutes // 60:+d} h".replace("-", "−")
    sign = "−" if minutes < 0 else "+"
    whole, rest = divmod(abs(minutes), 60)
    return f"{sign}{whole} h {rest:02d} min" if whole else f"{sign}{rest} min"


def pick_books(
    market: Market, latest: Sequence[BookLine], sharp: Sequence[str] = ()
) -> list[tuple[str, tuple[str, ...]]]:
    """The books worth a line, each with why: the best current number for side A and for side B (the
    cheapest and dearest book, whichever side one is on) and the first configured sharp book present.
    A book with two reasons is drawn once. Ties go to the alphabetically first key, so the pick is stable."""
    if not latest:
        return []
    roles: dict[str, list[str]] = {}
    ordered = sorted(latest, key=lambda ln: ln.book)
    for role, side in zip((ROLE_BEST_A, ROLE_BEST_B), MARKET_SIDES[market], strict=True):
        best = max(
            ordered,
            key=lambda ln: quote_rank(market, side, side_quote(market, ln.point, ln.price_a, ln.price_b, side)),
        )
        roles.setdefault(best.book, []).append(role)
    present = {ln.book for ln in latest}
    for book in sharp:
        if book in present:
            roles.setdefault(book, []).append(ROLE_SHARP)
            break
    return [(book, tuple(why)) for book, why in roles.items()]


def _short_side(game: Game, market: Market, side: Side) -> str:
    """ "Over", or the team's last word ("Mercury"): what fits a legend or key entry."""
    name = game.side_label(market, side)
    return name if market == Market.TOTALS else (name.split() or [name])[-1]


def _role_label(role: str, game: Game, market: Market) -> str:
    if role == ROLE_SHARP:
        return "sharp"
    return f"best {_short_side(game, market, MARKET_SIDES[market][0 if role == ROLE_BEST_A else 1])}"


def chart_data(
    game: Game,
    market: Market,
    consensus: Sequence[Consensus],
    book_lines: Sequence[BookLine] | None,
    signals: Sequence[ChartMark],
    bets: Sequence[Bet],
    *,
    until: datetime,
    names: Mapping[str, str] | None = None,
    sharp: Sequence[str] = (),
) -> ChartData:
    """Decide what the chart shows; pure, so tests (and other renderers) can inspect it.

    Inputs for other games or markets are ignored rather than trusted. Nothing stamped after
    `until` is used — book lines by `observed_at` (when we saw them), bets by `placed_at`.
    `names` maps book keys to display names for the legend; `sharp` lists sharp books, sharpest first.
    """
    title, y_label = chart_title(game, market), Y_LABELS[market]
    line = clip_series(
        _values((c.at, consensus_value(c)) for c in consensus if c.game_id == game.id and c.market == market),
        until,
    )
    if not line:
        return ChartData(title, y_label, (), (), (), (), None, None, None, ())

    mine = sorted(
        (ln for ln in book_lines or () if ln.game_id == game.id and ln.market == market and ln.observed_at <= until),
        key=lambda ln: ln.observed_at,
    )
    latest = {ln.book: ln for ln in mine}  # each book's line as of `until`
    books: list[ChartBook] = []
    for book, roles in pick_books(market, list(latest.values()), sharp):
        series = clip_series(_values((ln.observed_at, book_value(ln)) for ln in mine if ln.book == book), until)
        if series:
            label = " / ".join(_role_label(role, game, market) for role in roles)
            shown = (names or {}).get(book) or book
            books.append(ChartBook(f"{label} · {shown}", roles[0], book, tuple(series)))

    every_mark = sorted((m for m in signals if m.at <= until), key=lambda m: m.at)
    kept_marks = every_mark[-MAX_MARKS:]
    start = min([line[0][0], *(b.series[0][0] for b in books), *(m.at for m in kept_marks)])
    last = max([line[-1][0], *(b.series[-1][0] for b in books), *(m.at for m in kept_marks)])
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
            number=number,
            key=f"{number} {m.label} {to_tip(m.at, game.commence_time)} → {_short_side(game, market, m.side)}",
        )
        for number, m in enumerate(kept_marks, start=1)
    )
    legend = (CONSENSUS_LABEL, *(b.label for b in books), *((BET_LABEL,) if bet_levels else ()))
    return ChartData(
        title=title,
        y_label=y_label,
        consensus=_hold_to(line, end),
        books=tuple(replace(b, series=_hold_to(list(b.series), end)) for b in books),
        bets=bet_levels,
        marks=marks,
        start=start,
        end=end,
        tip=game.commence_time if start <= game.commence_time <= end else None,
        legend=legend,
        reference=game.commence_time,
        omitted_marks=len(every_mark) - len(kept_marks),
    )


def spread_marks(positions: Sequence[float], gap: float, lo: float = 0.0, hi: float = 1.0) -> list[float]:
    """Where to put markers wanted at `positions` (ascending) along [lo, hi] so that no two centres are
    closer than `gap`, each as near its wish as that allows: pushed right past its left neighbour, then
    pulled back left from `hi` if the row ran over. Needs `len(positions) * gap <= hi - lo`."""
    placed: list[float] = []
    for wish in positions:
        placed.append(max(min(max(wish, lo), hi), placed[-1] + gap) if placed else min(max(wish, lo), hi))
    for index in range(len(placed) - 1, -1, -1):
        ceiling = hi if index == len(placed) - 1 else placed[index + 1] - gap
        placed[index] = min(placed[index], ceiling)
    return placed


def chart_legend_labels(
    game: Game,
    market: Market,
    consensus: Sequence[Consensus],
    book_lines: Sequence[BookLine] | None,
    signals: Sequence[ChartMark],
    bets: Sequence[Bet],
    *,
    until: datetime,
    names: Mapping[str, str] | None = None,
    sharp: Sequence[str] = (),
) -> list[str]:
    """The legend `render_line_chart` would draw for these inputs (book names only in the full view)."""
    data = chart_data(game, market, consensus, book_lines, signals, bets, until=until, names=names, sharp=sharp)
    return list(data.legend)


def _hours(times: Sequence[datetime], reference: datetime) -> list[float]:
    return [(t - reference).total_seconds() / 3600.0 for t in times]


#: Where the numbered markers' strip sits, in axes fractions above the plot.
MARK_STRIP_Y = 1.045
#: The plot's frame in figure fractions: room on the right for the legend, below for the key.
PLOT_FRAME = {"left": 0.08, "right": 0.80, "top": 0.85, "bottom": 0.27}


def build_figure(data: ChartData, *, footer: str = "") -> Figure:
    """Draw prepared `ChartData` on a new figure; decides nothing. Numbered markers carry the gid
    "signal-mark" and book lines "book-line", so tests can find what was drawn."""
    figure = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI)
    FigureCanvasAgg(figure)
    figure.subplots_adjust(**PLOT_FRAME)
    ax = figure.add_subplot()
    figure.suptitle(data.title, fontsize=13, y=0.975)
    if footer:
        figure.text(0.01, 0.015, footer, fontsize=8, color="#555555", ha="left", va="bottom")

    if data.start is None or data.end is None or data.reference is None:
        ax.text(0.5, 0.5, EMPTY_MESSAGE, ha="center", va="center", fontsize=14, color="#555555")
        ax.set_xticks([])
        ax.set_yticks([])
        return figure
    ref = data.reference

    handles: list[Line2D] = []
    times, values = zip(*data.consensus, strict=True)
    (consensus_line,) = ax.step(
        _hours(times, ref), values, where="post", color=CONSENSUS_COLOUR, linewidth=2.6, zorder=3
    )
    handles.append(consensus_line)
    for book in data.books:
        book_times, book_values = zip(*book.series, strict=True)
        (book_line,) = ax.step(
            _hours(book_times, ref),
            book_values,
            where="post",
            color=ROLE_COLOURS[book.role],
            linewidth=1.3,
            alpha=0.85,
            zorder=2,
            gid="book-line",
        )
        handles.append(book_line)

    x0, x1 = _hours([data.start, data.end], ref)
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

    if data.tip is not None:
        ax.axvline(0.0, color="#999999", linestyle="--", linewidth=1.0, zorder=1)
    _draw_marks(figure, ax, data, x0, x1)

    ax.set_xlim(x0, x1)
    ax.margins(y=0.12)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=8, steps=[1, 2, 3, 5, 6, 10]))
    ax.xaxis.set_major_formatter(lambda value, _pos: hour_tick(value))
    ax.set_xlabel("hours to tip", fontsize=9)
    ax.set_ylabel(data.y_label)
    ax.grid(True, alpha=0.25)
    # Outside the plot, so it never hides a line or a marker (and loc="best" would be slow).
    ax.legend(handles, list(data.legend), loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    return figure


def _draw_marks(figure: Figure, ax, data: ChartData, x0: float, x1: float) -> None:
    """Numbered circles in a strip above the plot, spread so none overlaps, each tied by a leader to its
    moment; a dotted line there and a dot on the consensus; the key (number, type, time, side) below."""
    if not data.marks:
        return
    ref = data.reference
    span = x1 - x0
    wishes = [((t - x0) / span) for t in _hours([m.at for m in data.marks], ref)]  # type: ignore[arg-type]
    width_px = WIDTH_IN * DPI * (PLOT_FRAME["right"] - PLOT_FRAME["left"])
    slots = spread_marks(wishes, MARK_GAP_PX / width_px)
    strip = blended_transform_factory(ax.transAxes, ax.transAxes)
    for mark, wish, slot in zip(data.marks, wishes, slots, strict=True):
        x = x0 + wish * span
        ax.axvline(x, color=mark.colour, linestyle=":", linewidth=1.0, zorder=1)
        if mark.y is not None:
            ax.plot([x], [mark.y], marker="o", markersize=5, color=mark.colour, zorder=4)
        ax.plot(
            [wish, slot], [1.0, MARK_STRIP_Y - 0.02], transform=strip, color=mark.colour, linewidth=0.8, clip_on=False
        )
        ax.text(
            slot,
            MARK_STRIP_Y,
            str(mark.number),
            transform=strip,
            ha="center",
            va="center",
            fontsize=7,
            fontweight="bold",
            color="white",
            gid="signal-mark",
            bbox={"boxstyle": "circle,pad=0.25", "facecolor": mark.colour, "edgecolor": "none"},
            clip_on=False,
        )
    columns = 3
    rows = -(-len(data.marks) // columns)
    entries = [m.key for m in data.marks]
    if data.omitted_marks:
        entries.append(f"+{data.omitted_marks} older signal{'s' if data.omitted_marks != 1 else ''} not numbered")
    for index, entry in enumerate(entries):
        column, row = divmod(index, max(rows, 1))
        colour = data.marks[index].colour if index < len(data.marks) else "#555555"
        figure.text(
            PLOT_FRAME["left"] + column * 0.25,
            0.155 - row * 0.027,
            entry,
            fontsize=7.5,
            color=colour,
            ha="left",
            va="top",
            gid="signal-key",
        )


def draw_chart(data: ChartData, *, footer: str = "") -> bytes:
    """Draw prepared `ChartData` to PNG bytes; decides nothing."""
    return _png(build_figure(data, footer=footer))


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
    names: Mapping[str, str] | None = None,
    sharp: Sequence[str] = (),
) -> bytes:
    """PNG (1000 × 560) of the market's line history up to `until`.

    Pass `book_lines=None` for the redacted view (no per-book lines, no book names). Pure: the
    clock never enters, so the same inputs give the same bytes — `until` is the caller's "now".
    """
    data = chart_data(game, market, consensus, book_lines, signals, bets, until=until, names=names, sharp=sharp)
    return draw_chart(data, footer=footer)


# --- the signal-integrity chart -----------------------------------------------------------------

INTEGRITY_TITLE = "Signal integrity: beat rate vs the no-vig close, beside a matched null"
INTEGRITY_EMPTY = "no graded signals yet"
#: Which audit rows are drawn, in this order; score buckets only on request.
INTEGRITY_KINDS = ("class", "preset")
#: More rows than this no longer read at 560 px; score rows go first, then the tail.
INTEGRITY_MAX_ROWS = 24
#: The tier bars drawn when the caller passes none (the default `[clv] tiers`).
DEFAULT_TIER_BARS: tuple[tuple[str, float], ...] = (("B", 0.52), ("A", 0.54), ("S", 0.58))
RATE_LABEL = "beat rate (Wilson 95%)"
NULL_LABEL = "matched null"
EVEN_LABEL = "even (50%)"
TIER_BAR_LABEL = "tier bars"
RATE_COLOUR = "#1f77b4"
NULL_COLOUR = "#ff7f0e"
TIER_COLOURS = {"S": "#b8860b", "A": "#2ca02c", "B": "#1f77b4", UNPROVEN: "#7f7f7f"}


class _TierRule(Protocol):
    name: str
    min_rate: float


@dataclass(frozen=True, slots=True)
class IntegrityRow:
    """One drawn row: a class (or preset / score bucket) with a graded sample."""

    name: str
    kind: str
    label: str  # "STEAM:spreads · unproven"
    tier: str
    graded: int
    rate: float
    low: float  # Wilson 95%
    high: float
    null_rate: float | None
    lift: float | None
    lift_low: float | None
    lift_high: float | None

    @property
    def lift_text(self) -> str:
        """The lift column: "lift +3.7 pts (−8.0…+15.2)", or "no null" when there is none."""
        if self.lift is None:
            return "no null"
        text = f"lift {signed_points(self.lift)} pts"
        if self.lift_low is not None and self.lift_high is not None:
            text += f" ({signed_points(self.lift_low)}…{signed_points(self.lift_high)})"
        return text


@dataclass(frozen=True, slots=True)
class IntegrityChartData:
    """What `render_integrity_chart` draws. `rows` top to bottom; empty = the "no graded signals yet" image."""

    title: str
    rows: tuple[IntegrityRow, ...]
    tier_bars: tuple[tuple[str, float], ...]  # (tier, rate it must beat), ascending
    x_range: tuple[float, float]
    footer: str
    omitted: int  # graded rows left out for space
    legend: tuple[str, ...]


def _tier_bars(report: AuditReport, tiers: Sequence[_TierRule] | None) -> tuple[tuple[str, float], ...]:
    if tiers:
        return tuple(sorted(((t.name, float(t.min_rate)) for t in tiers), key=lambda bar: bar[1]))
    configured = report.method.get("tiers") if isinstance(report.method, dict) else None
    if isinstance(configured, list):
        bars = [
            (str(t["name"]), float(t["min_rate"]))
            for t in configured
            if isinstance(t, dict) and "name" in t and isinstance(t.get("min_rate"), int | float)
        ]
        if bars:
            return tuple(sorted(bars, key=lambda bar: bar[1]))
    return DEFAULT_TIER_BARS


def _integrity_row(row: ClassAudit) -> IntegrityRow:
    low, high = row.interval
    return IntegrityRow(
        name=row.name,
        kind=row.kind,
        label=f"{row_name(row.name)} · {row.tier}",
        tier=row.tier,
        graded=row.graded,
        rate=row.beats / row.graded,
        low=low,
        high=high,
        null_rate=row.null_rate,
        lift=row.lift,
        lift_low=row.lift_low,
        lift_high=row.lift_high,
    )


def integrity_chart_data(
    report: AuditReport,
    *,
    tiers: Sequence[_TierRule] | None = None,
    include_scores: bool = False,
    max_rows: int = INTEGRITY_MAX_ROWS,
) -> IntegrityChartData:
    """Decide what the integrity chart shows; pure.

    Rows with graded > 0 of kind class then preset (then score, if asked), in the report's order
    within a kind; past `max_rows`, score rows are dropped first, then the last rows. Tier bars come
    from `tiers` (the configured rules), else `report.method["tiers"]`, else the defaults.
    """
    kinds = (*INTEGRITY_KINDS, "score") if include_scores else INTEGRITY_KINDS
    graded = [row for kind in kinds for row in report.rows(kind) if row.graded > 0]
    kept = graded[:max_rows]
    rows = tuple(_integrity_row(row) for row in kept)
    bars = _tier_bars(report, tiers)
    values = [0.5, *(rate for _, rate in bars)]
    for row in rows:
        values += [row.low, row.high, *((row.null_rate,) if row.null_rate is not None else ())]
    lo, hi = min(values), max(values)
    pad = max(0.02, 0.05 * (hi - lo))
    # A little room past 0% and 100% so a marker at either end is not cut in half by the frame.
    x_range = (max(-pad, lo - pad), min(1.0 + pad, hi + pad))
    legend = (RATE_LABEL, NULL_LABEL, EVEN_LABEL, TIER_BAR_LABEL) if rows else ()
    footer = (
        f"close: {report.close_source} · entry at a price a member could take, vig included · "
        "lift = beat rate − null rate (game-clustered bootstrap 95%)"
    )
    if len(graded) > len(kept):
        footer += f" · {len(graded) - len(kept)} more rows in /v1/clv/summary"
    return IntegrityChartData(
        title=INTEGRITY_TITLE,
        rows=rows,
        tier_bars=bars,
        x_range=x_range,
        footer=footer,
        omitted=len(graded) - len(kept),
        legend=legend,
    )


def render_integrity_chart(data: IntegrityChartData) -> bytes:
    """Draw prepared `IntegrityChartData` to a PNG (1000 × 560): one dot-and-whisker row per class."""
    figure = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI)
    FigureCanvasAgg(figure)
    figure.suptitle(data.title, fontsize=12, y=0.975)
    figure.text(0.01, 0.015, data.footer, fontsize=7, color="#555555", ha="left", va="bottom")
    if not data.rows:
        ax = figure.add_subplot()
        ax.text(0.5, 0.5, INTEGRITY_EMPTY, ha="center", va="center", fontsize=14, color="#555555")
        ax.set_xticks([])
        ax.set_yticks([])
        return _png(figure)

    # Row names on the left, each row's lift in a column on the right, the legend above the plot.
    figure.subplots_adjust(left=0.25, right=0.71, top=0.86, bottom=0.14)
    ax = figure.add_subplot()
    count = len(data.rows)
    font = 9 if count <= 14 else 8 if count <= 20 else 7
    ys = list(range(count - 1, -1, -1))  # the first row on top
    x0, x1 = data.x_range

    for _, rate in data.tier_bars:
        ax.axvline(rate, color="#2ca02c", linestyle=":", linewidth=1.0, alpha=0.35, zorder=1)
    top = blended_transform_factory(ax.transData, ax.transAxes)
    rates = [rate for _, rate in data.tier_bars]
    # Name the bars above the plot only where the names do not run into each other (the legend has them too).
    spaced = all(b - a >= 0.04 * (x1 - x0) for a, b in pairwise(rates))
    for name, rate in data.tier_bars if spaced else ():
        if x0 <= rate <= x1:
            ax.text(rate, 1.005, name, transform=top, ha="center", va="bottom", fontsize=7, color="#2ca02c", alpha=0.8)
    ax.axvline(0.5, color="#444444", linestyle="-", linewidth=1.0, alpha=0.7, zorder=1)

    for y, row in zip(ys, data.rows, strict=True):
        if y % 2 == 0:
            ax.axhspan(y - 0.5, y + 0.5, color="#f2f2f2", zorder=0)
        ax.plot([row.low, row.high], [y, y], color=RATE_COLOUR, linewidth=2.0, solid_capstyle="butt", zorder=3)
        ax.plot([row.low, row.low], [y - 0.18, y + 0.18], color=RATE_COLOUR, linewidth=1.2, zorder=3)
        ax.plot([row.high, row.high], [y - 0.18, y + 0.18], color=RATE_COLOUR, linewidth=1.2, zorder=3)
        ax.plot([row.rate], [y], marker="o", markersize=7, color=RATE_COLOUR, zorder=4)
        if row.null_rate is not None:
            ax.plot(
                [row.null_rate],
                [y],
                marker="D",
                markersize=6,
                markerfacecolor="white",
                markeredgecolor=NULL_COLOUR,
                markeredgewidth=1.6,
                linestyle="none",
                zorder=5,
            )
    right = blended_transform_factory(ax.transAxes, ax.transData)
    for y, row in zip(ys, data.rows, strict=True):
        ax.text(
            1.02,
            y,
            f"{row.graded} graded · {row.lift_text}",
            transform=right,
            ha="left",
            va="center",
            fontsize=font,
            color="#333333",
        )

    ax.set_yticks(ys, [row.label for row in data.rows], fontsize=font)
    for tick, row in zip(ax.get_yticklabels(), data.rows, strict=True):
        tick.set_color(TIER_COLOURS.get(row.tier, "#111111"))
    ax.set_ylim(-0.6, count - 0.4)
    ax.set_xlim(x0, x1)
    ax.xaxis.set_major_formatter(lambda value, _pos: f"{100 * value:.0f}%" if -1e-9 <= value <= 1 + 1e-9 else "")
    ax.set_xlabel("share of signals that beat the no-vig close", fontsize=9)
    ax.grid(True, axis="x", alpha=0.2)

    handles = [
        Line2D([], [], color=RATE_COLOUR, marker="o", markersize=7, linewidth=2.0),
        Line2D([], [], color=NULL_COLOUR, marker="D", markersize=6, markerfacecolor="white", linestyle="none"),
        Line2D([], [], color="#444444", linewidth=1.0),
        Line2D([], [], color="#2ca02c", linestyle=":", linewidth=1.0, alpha=0.6),
    ]
    labels = [
        RATE_LABEL,
        NULL_LABEL,
        EVEN_LABEL,
        TIER_BAR_LABEL + " (" + " / ".join(f"{n} {100 * r:.0f}%" for n, r in data.tier_bars) + ")",
    ]
    # Above the plot (outside the axes), so it never covers a row.
    ax.legend(
        handles,
        labels,
        loc="lower left",
        bbox_to_anchor=(0.0, 1.04),
        ncol=4,
        fontsize=8,
        frameon=False,
        borderaxespad=0.0,
    )
    return _png(figure)
