"""Line charts, the integrity chart and CSV exports: what is drawn (and hidden), and spreadsheet-safe CSV."""

from __future__ import annotations

import csv
import io
import struct
import zlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest

from config.settings import TierRule
from engine.audit import ClassAudit, wilson_interval
from engine.models import (
    Bet,
    BetGrade,
    BookComponent,
    BookLine,
    Consensus,
    Entry,
    Game,
    Grade,
    Market,
    ScoreBreakdown,
    Side,
    Signal,
    SignalType,
)
from engine.reports import AuditReport
from services.charts import (
    BET_LABEL,
    CONSENSUS_LABEL,
    DEFAULT_TIER_BARS,
    INTEGRITY_MAX_ROWS,
    MAX_MARKS,
    ChartMark,
    bet_value,
    build_figure,
    chart_data,
    chart_legend_labels,
    clip_series,
    hour_tick,
    integrity_chart_data,
    mark_colour,
    pick_books,
    render_integrity_chart,
    render_line_chart,
    spread_marks,
    to_tip,
)
from services.exports import BET_COLUMNS, SIGNAL_COLUMNS, bets_csv, signals_csv

T0 = datetime(2026, 1, 10, 18, 0, tzinfo=UTC)
TIP = T0 + timedelta(hours=6)
GAME = Game(id="g1", sport_key="basketball_nba", home_team="Lakers", away_team="Celtics", commence_time=TIP)
SECRET = "zz_secretbook"


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def consensus(minutes: float, point: float | None, prob_a: float = 0.5, market=Market.SPREADS) -> Consensus:
    return Consensus(
        game_id=GAME.id,
        market=market,
        at=at(minutes),
        point=point,
        prob_a=prob_a,
        books=2,
        components=(BookComponent(book="pinnacle", point=point, prob_a=prob_a, weight=1.0),),
    )


def book_line(book: str, minutes: float, point: float | None, price_a=-110, price_b=-110, market=Market.SPREADS):
    return BookLine(
        game_id=GAME.id,
        book=book,
        market=market,
        point=point,
        price_a=price_a,
        price_b=price_b,
        last_update=at(minutes),
        observed_at=at(minutes),
    )


def bet(
    side: Side = Side.AWAY,
    point: float | None = 3.5,
    price: int = -110,
    *,
    market: Market = Market.SPREADS,
    minutes: float = 30,
    book: str | None = "draftkings",
    bet_id: int | None = 7,
) -> Bet:
    return Bet(
        id=bet_id,
        guild_id=1,
        user_id=2,
        game_id=GAME.id,
        market=market,
        side=side,
        point=point,
        price=price,
        book=book,
        placed_at=at(minutes),
    )


HISTORY = [consensus(0, -3.0), consensus(20, -3.5), consensus(45, -4.0)]
BOOKS = [
    book_line("pinnacle", 0, -3.0),
    book_line("pinnacle", 15, -3.5),
    book_line(SECRET, 0, -2.5),
    book_line(SECRET, 40, -4.0),
]
UNTIL = at(60)
MARKS = [ChartMark(at=at(15), label="STEAM", side=Side.HOME)]
BETS = [bet()]


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from the IHDR chunk, after checking the signature and the chunk's CRC."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    body = data[16 : 16 + length]
    (crc,) = struct.unpack(">I", data[16 + length : 20 + length])
    assert zlib.crc32(kind + body) == crc
    width, height = struct.unpack(">II", body[:8])
    return width, height


def render(book_lines=BOOKS, *, until: datetime = UNTIL, **kwargs) -> bytes:
    return render_line_chart(GAME, Market.SPREADS, HISTORY, book_lines, MARKS, BETS, until=until, **kwargs)


# --- charts ---------------------------------------------------------------------------------


def test_chart_is_a_png_of_the_expected_size():
    assert png_size(render(footer="as of 19:00 UTC (10-minute delay)")) == (1000, 560)


def test_chart_is_deterministic():
    assert render() == render()


def test_empty_history_still_renders_a_png():
    data = chart_data(GAME, Market.SPREADS, [], BOOKS, MARKS, BETS, until=at(60))
    assert data.start is None and data.legend == ()
    image = render_line_chart(GAME, Market.TOTALS, [], None, [], [], until=at(60))
    assert png_size(image) == (1000, 560)


def test_redacted_chart_names_no_book():
    full = chart_legend_labels(GAME, Market.SPREADS, HISTORY, BOOKS, MARKS, BETS, until=at(60))
    redacted = chart_legend_labels(GAME, Market.SPREADS, HISTORY, None, MARKS, BETS, until=at(60))
    assert full == [CONSENSUS_LABEL, "best Lakers · pinnacle", f"best Celtics · {SECRET}", BET_LABEL]
    assert redacted == [CONSENSUS_LABEL, BET_LABEL]
    assert chart_data(GAME, Market.SPREADS, HISTORY, None, MARKS, BETS, until=at(60)).books == ()
    assert render(None) != render(BOOKS)


def test_clip_series_keeps_points_up_to_until_in_time_order():
    points = [(at(30), 3.0), (at(0), 1.0), (at(10), 2.0), (at(10.5), 9.0)]
    assert clip_series(points, at(10)) == [(at(0), 1.0), (at(10), 2.0)]
    assert clip_series(points, at(-1)) == []


def test_until_hides_everything_later():
    late_mark = ChartMark(at=at(50), label="KEY_CROSS", side=Side.AWAY)
    late_bet = bet(point=9.5, minutes=50)
    data = chart_data(GAME, Market.SPREADS, HISTORY, BOOKS, [*MARKS, late_mark], [*BETS, late_bet], until=at(30))
    assert [v for _, v in data.consensus] == [-3.0, -3.5, -3.5]  # last number held flat to `until`
    assert data.end == at(30) and max(t for t, _ in data.consensus) == at(30)
    books = {b.book: b.series for b in data.books}
    assert [v for _, v in books[SECRET]] == [-2.5, -2.5]  # the -4.0 seen at minute 40 is not shown
    assert data.books[0].label == f"best Lakers · {SECRET}"  # as of `until`, -2.5 is the best Lakers number
    assert [m.text for m in data.marks] == ["STEAM → Lakers"]
    assert data.bets == (-3.5,)


def test_lines_stop_at_tip_off_when_until_is_later():
    data = chart_data(GAME, Market.SPREADS, HISTORY, None, [], [], until=TIP + timedelta(days=2))
    assert data.end == TIP and data.tip == TIP


def test_chart_units_per_market():
    assert bet_value(bet(Side.AWAY, 3.5)) == -3.5  # spreads are charted from the home side
    assert bet_value(bet(Side.HOME, -3.5)) == -3.5
    assert bet_value(bet(Side.UNDER, 221.5, market=Market.TOTALS)) == 221.5
    assert bet_value(bet(Side.AWAY, None, 100, market=Market.H2H)) == pytest.approx(50.0)
    h2h = chart_data(
        GAME,
        Market.H2H,
        [consensus(0, None, 0.6, Market.H2H)],
        [book_line("pinnacle", 0, None, -150, 130, Market.H2H)],
        [],
        [],
        until=at(10),
    )
    assert h2h.consensus[0][1] == pytest.approx(60.0)
    assert 55.0 < h2h.books[0].series[0][1] < 60.0
    assert h2h.y_label == "home win probability (%)"
    assert h2h.title == "Celtics @ Lakers — h2h"


def test_other_games_and_markets_are_ignored():
    other = Consensus(game_id="g2", market=Market.SPREADS, at=at(5), point=10.0, prob_a=0.5, books=1)
    totals = consensus(6, 220.0, market=Market.TOTALS)
    data = chart_data(GAME, Market.SPREADS, [*HISTORY, other, totals], None, [], [], until=at(60))
    assert 10.0 not in [v for _, v in data.consensus] and 220.0 not in [v for _, v in data.consensus]


def test_mark_colour_follows_the_label_type():
    assert mark_colour("STEAM") != mark_colour("DISLOCATION") != mark_colour("KEY_CROSS")
    assert mark_colour("steam 72") == mark_colour("STEAM")


def test_long_history_renders():
    history = [consensus(i, -3.0 - (i % 7) * 0.5) for i in range(1000)]
    books = [book_line(f"book{b}", i, -3.0 - ((i + b) % 5) * 0.5) for b in range(4) for i in range(0, 1000, 4)]
    image = render_line_chart(GAME, Market.SPREADS, history, books, MARKS, BETS, until=at(1000))
    assert png_size(image) == (1000, 560)


def _crowded():
    """Twelve books quoting, and twenty signals, a dozen of them inside one minute."""
    books = [
        book_line(name, minutes, -3.0 - ((minutes // 10 + index) % 4) * 0.5, -110 - index, -110 + index)
        for index, name in enumerate(f"book{i:02d}" for i in range(11))
        for minutes in range(0, 60, 10)
    ] + [book_line("pinnacle", m, -3.5, -105, -105) for m in range(0, 60, 10)]
    kinds = ("STEAM", "DISLOCATION", "KEY_CROSS")
    marks = [ChartMark(at=at(30 + i / 20), label=kinds[i % 3], side=Side.HOME) for i in range(12)]
    marks += [ChartMark(at=at(2 + i), label="STEAM", side=Side.AWAY) for i in range(8)]
    return books, marks


def test_a_crowded_chart_draws_at_most_three_books_and_names_them():
    books, marks = _crowded()
    names = {"pinnacle": "Pinnacle", "book03": "Book Three"}
    data = chart_data(
        GAME, Market.SPREADS, HISTORY, books, marks, [], until=at(60), names=names, sharp=["circasports", "pinnacle"]
    )
    assert 1 <= len(data.books) <= 3
    assert sum(b.label.startswith("sharp") or " / sharp" in b.label for b in data.books) == 1
    assert any(b.label.endswith("· Pinnacle") for b in data.books)  # the display name, not the key
    assert data.legend[0] == CONSENSUS_LABEL and len(data.legend) == len(data.books) + 1
    figure = build_figure(data)
    drawn = [line for ax in figure.axes for line in ax.get_lines() if line.get_gid() == "book-line"]
    assert len(drawn) == len(data.books) <= 3


def test_pick_books_best_for_each_side_and_the_sharpest_present():
    latest = [
        book_line("a", 0, -3.0, -120, 100),
        book_line("b", 0, -3.5, -110, -110),
        book_line("c", 0, -3.0, -110, -110),
    ]
    # Lakers: -3.0 beats -3.5, then -110 beats -120 → c. Celtics: +3.5 → b. pinnacle is absent: skipped.
    assert pick_books(Market.SPREADS, latest, ["pinnacle", "a"]) == [
        ("c", ("best_a",)),
        ("b", ("best_b",)),
        ("a", ("sharp",)),
    ]
    assert pick_books(Market.SPREADS, latest[:1], ["a"]) == [("a", ("best_a", "best_b", "sharp"))]


def test_signal_markers_are_numbered_with_a_key_and_never_overlap():
    books, marks = _crowded()
    data = chart_data(GAME, Market.SPREADS, HISTORY, books, marks, [], until=at(60))
    assert [m.number for m in data.marks] == list(range(1, MAX_MARKS + 1))
    assert data.omitted_marks == len(marks) - MAX_MARKS
    assert data.marks[0].key == f"1 {data.marks[0].text.split(' →')[0]} {to_tip(data.marks[0].at, TIP)} → Lakers"
    figure = build_figure(data)
    figure.canvas.draw()  # lays the circles out around their numbers
    renderer = figure.canvas.get_renderer()
    boxes = [
        t.get_bbox_patch().get_window_extent(renderer)
        for t in figure.findobj()
        if getattr(t, "get_gid", None) and t.get_gid() == "signal-mark"
    ]
    assert len(boxes) == MAX_MARKS and all(box.width > 8 and box.height > 8 for box in boxes)
    for index, box in enumerate(boxes):
        for other in boxes[index + 1 :]:
            assert not box.overlaps(other), (box, other)
    keys = [t.get_text() for t in figure.texts if t.get_gid() == "signal-key"]
    assert keys[:MAX_MARKS] == [m.key for m in data.marks] and "older" in keys[-1]


def test_spread_marks_keeps_its_gap_and_its_bounds():
    assert spread_marks([0.1, 0.5], 0.05) == [0.1, 0.5]
    placed = spread_marks([0.99] * 5 + [1.0], 0.03)
    assert all(b - a >= 0.03 - 1e-12 for a, b in pairwise(placed)) and placed[-1] <= 1.0
    assert spread_marks([], 0.1) == []


def test_time_reads_as_hours_to_tip():
    assert to_tip(TIP - timedelta(hours=2, minutes=5), TIP) == "−2 h 05 min"
    assert to_tip(TIP - timedelta(minutes=40), TIP) == "−40 min" and to_tip(TIP, TIP) == "tip"
    assert [hour_tick(v) for v in (-6, -0.5, 0, 1)] == ["−6 h", "−30 min", "tip", "+1 h"]
    figure = build_figure(chart_data(GAME, Market.SPREADS, HISTORY, BOOKS, MARKS, BETS, until=at(60)))
    figure.canvas.draw()
    axis = figure.axes[0].xaxis
    assert axis.get_label_text() == "hours to tip"
    assert all("UTC" not in t.get_text() and ":" not in t.get_text() for t in axis.get_ticklabels())
    assert any(t.get_text().endswith(" h") for t in axis.get_ticklabels())


# --- the integrity chart --------------------------------------------------------------------


def audit_row(
    name: str,
    kind: str = "class",
    graded: int = 34,
    beats: int = 22,
    *,
    null_rate: float | None = 0.61,
    lift_interval: tuple[float, float] | None = (-0.08, 0.152),
    tier: str = "unproven",
    ungraded: int = 0,
) -> ClassAudit:
    rate = beats / graded if graded else None
    lift = None if rate is None or null_rate is None else rate - null_rate
    low, high = lift_interval if graded and lift_interval else (None, None)
    return ClassAudit(
        name=name,
        kind=kind,
        graded=graded,
        beats=beats,
        pushes=0,
        ungraded=ungraded,
        interval=wilson_interval(beats, graded),
        null_graded=graded * 10,
        null_rate=null_rate if graded else None,
        lift=lift,
        lift_low=low,
        lift_high=high,
        opposite_rate=0.4 if graded else None,
        mean_clv=0.01 if graded else None,
        mean_clv_points=None,
        record=None,
        tier=tier,
        reason="" if tier != "unproven" else "lift interval crosses zero (-8.0 pts)",
    )


AUDIT = AuditReport(
    classes=(
        audit_row("STEAM:spreads"),
        audit_row("KEY_CROSS:spreads", graded=0, beats=0, ungraded=4),
        audit_row("DISLOCATION:h2h", graded=640, beats=390, null_rate=0.5, lift_interval=(0.05, 0.15), tier="S"),
        audit_row("STEAM:totals", graded=10, beats=4, null_rate=None, lift_interval=None),
        audit_row("preset:high_confidence", "preset", graded=50, beats=30, null_rate=0.55),
        audit_row("preset:low_noise", "preset", graded=0, beats=0),
        audit_row("score:55-69", "score", graded=40, beats=20, null_rate=0.5),
    ),
    signals_by_type={"STEAM": 44, "DISLOCATION": 640, "KEY_CROSS": 4},
    close_source="closing consensus (last pre-tip snapshot)",
)


def test_integrity_chart_draws_graded_classes_and_presets():
    data = integrity_chart_data(AUDIT)
    assert [row.name for row in data.rows] == [
        "STEAM:spreads",
        "DISLOCATION:h2h",
        "STEAM:totals",
        "preset:high_confidence",
    ]  # graded > 0 only, classes then presets, score buckets left out
    steam = data.rows[0]
    assert steam.label == "STEAM:spreads · unproven" and steam.kind == "class" and steam.graded == 34
    assert steam.rate == pytest.approx(22 / 34)
    assert (steam.low, steam.high) == pytest.approx(wilson_interval(22, 34))
    assert steam.low < steam.rate < steam.high
    assert steam.null_rate == 0.61 and steam.lift == pytest.approx(22 / 34 - 0.61)
    assert (steam.lift_low, steam.lift_high) == (-0.08, 0.152)
    assert steam.lift_text == "lift +3.7 pts (−8.0…+15.2)"
    dislocation = data.rows[1]
    assert dislocation.label == "DISLOCATION:h2h · S" and dislocation.lift_text == "lift +10.9 pts (+5.0…+15.0)"
    assert data.rows[2].null_rate is None and data.rows[2].lift_text == "no null"
    assert data.rows[3].label == "preset high_confidence · unproven"
    assert data.tier_bars == DEFAULT_TIER_BARS == (("B", 0.52), ("A", 0.54), ("S", 0.58))
    low, high = data.x_range
    assert 0 <= low < 0.5 < 0.58 < high <= 1  # the 50% line and every tier bar are on the axis
    assert all(low <= row.low and row.high <= high for row in data.rows)
    assert "closing consensus" in data.footer and data.omitted == 0
    assert data.legend[:2] == ("beat rate (Wilson 95%)", "matched null")


def test_integrity_chart_options_scores_tiers_and_row_cap():
    with_scores = integrity_chart_data(AUDIT, include_scores=True)
    assert [row.name for row in with_scores.rows][-1] == "score:55-69"
    rules = [TierRule(name="S", min_rate=0.6, min_graded=500), TierRule(name="B", min_rate=0.51, min_graded=30)]
    assert integrity_chart_data(AUDIT, tiers=rules).tier_bars == (("B", 0.51), ("S", 0.6))
    many = AuditReport(
        classes=tuple(audit_row(f"C{i}:spreads") for i in range(INTEGRITY_MAX_ROWS + 5)),
        signals_by_type={"STEAM": 1},
    )
    capped = integrity_chart_data(many)
    assert len(capped.rows) == INTEGRITY_MAX_ROWS and capped.omitted == 5 and "5 more rows" in capped.footer


def test_integrity_chart_is_a_png_of_the_expected_size():
    image = render_integrity_chart(integrity_chart_data(AUDIT))
    assert image.startswith(b"\x89PNG\r\n\x1a\n") and png_size(image) == (1000, 560)
    assert image == render_integrity_chart(integrity_chart_data(AUDIT))  # deterministic
    many = AuditReport(
        classes=tuple(audit_row(f"C{i}:spreads", graded=30 + i, beats=15 + i) for i in range(30)),
        signals_by_type={"STEAM": 1},
    )
    assert png_size(render_integrity_chart(integrity_chart_data(many))) == (1000, 560)


def test_empty_audit_renders_the_no_graded_signals_image():
    for report in (
        AuditReport(classes=(), signals_by_type={}),
        AuditReport(classes=(audit_row("STEAM:spreads", graded=0, beats=0, ungraded=3),), signals_by_type={}),
    ):
        data = integrity_chart_data(report)
        assert data.rows == () and data.legend == ()
        assert png_size(render_integrity_chart(data)) == (1000, 560)


# --- CSV exports ----------------------------------------------------------------------------


def make_signal(*, books=("pinnacle", '=HYPERLINK("http://x")'), entry_book="-draftkings") -> Signal:
    return Signal(
        id="sig-1",
        type=SignalType.STEAM,
        game_id=GAME.id,
        market=Market.SPREADS,
        side=Side.AWAY,
        created_at=datetime(2026, 1, 10, 18, 20, 5, 123456, tzinfo=UTC),
        score=72,
        breakdown=ScoreBreakdown(0.5, 0.5, 0.5, 0.5, 0.5, 72),
        books=books,
        magnitude=0.5,
        velocity=0.25,
        entry=Entry(book=entry_book, point=3.5, price=-110, prob=0.52381),
        consensus_point=3.0,
        consensus_prob=0.5,
        commence_time=TIP,
    )


def rows_of(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_signals_csv_exact_header_and_rows():
    grade = Grade(
        signal_id="sig-1",
        graded_at=TIP,
        close_point=4.0,
        close_prob=0.5,
        clv_points=-0.5,
        clv_prob=-0.02381,
        beat=False,
        push=False,
        consensus_clv_points=-1.0,
        consensus_clv_prob=0.0,
        clv_ev=0.03,
    )
    out = signals_csv([(make_signal(), grade), (make_signal(books=("fanduel",), entry_book="fanduel"), None)])
    lines = out.split("\n")
    assert lines[0] == (
        "id,created_at,type,game_id,market,side,score,magnitude,velocity,books,entry_book,entry_point,"
        "entry_price,entry_prob,consensus_point,consensus_prob,commence_time,graded,clv_points,clv_prob,"
        "beat_close,ev_at_fire"
    )
    assert lines[0].split(",") == list(SIGNAL_COLUMNS)
    assert lines[2] == (
        "sig-1,2026-01-10T18:20:05Z,STEAM,g1,spreads,away,72,0.5,0.25,fanduel,fanduel,3.5,-110,0.52381,"
        "3,0.5,2026-01-11T00:00:00Z,no,,,,"
    )
    assert out.endswith("\n") and "\r" not in out
    rows = rows_of(out)
    assert rows[1] == [
        "sig-1",
        "2026-01-10T18:20:05Z",
        "STEAM",
        "g1",
        "spreads",
        "away",
        "72",
        "0.5",
        "0.25",
        'pinnacle|=HYPERLINK("http://x")',  # the guard looks at the cell's start only
        "'-draftkings",
        "3.5",
        "-110",
        "0.52381",
        "3",
        "0.5",
        "2026-01-11T00:00:00Z",
        "yes",
        "-0.5",
        "-0.02381",
        "no",
        "",  # a STEAM does not price its entry at fire time
    ]


def test_a_dislocation_exports_the_ev_it_fired_on_in_the_last_column():
    signal = replace(make_signal(), type=SignalType.DISLOCATION, details={"gap": 1.5, "expected_value": 0.012345})
    row = rows_of(signals_csv([(signal, None)]))[1]
    assert SIGNAL_COLUMNS[-1] == "ev_at_fire" and row[-1] == "0.012345"


def test_formula_injection_is_defused_in_text_but_numbers_stay_plain():
    signal = make_signal(books=('=HYPERLINK("http://evil","x")', "pinnacle"), entry_book="@cmd")
    row = rows_of(signals_csv([(signal, None)]))[1]
    record = dict(zip(SIGNAL_COLUMNS, row, strict=True))
    assert record["books"] == '\'=HYPERLINK("http://evil","x")|pinnacle'
    assert record["entry_book"] == "'@cmd"
    assert record["entry_price"] == "-110"  # a number, not a formula: left alone
    for cell, shown in (("+x", "'+x"), ("-x", "'-x"), ("\tx", "'\tx"), ("\rx", "'\nx"), ("a\r\nb", "a\nb")):
        # a bare CR would go out unquoted under lineterminator="\n": it is written as a quoted newline
        assert rows_of(signals_csv([(make_signal(entry_book=cell), None)]))[1][10] == shown


def test_beat_close_reports_push():
    grade = Grade("sig-1", TIP, 3.5, 0.52381, 0.0, 0.0, False, True, 0.5, 0.0, 0.0)
    record = dict(zip(SIGNAL_COLUMNS, rows_of(signals_csv([(make_signal(), grade)]))[1], strict=True))
    assert (record["graded"], record["clv_points"], record["beat_close"]) == ("yes", "0", "push")


def test_bets_csv_exact_rows():
    graded = BetGrade(
        bet_id=7,
        graded_at=TIP,
        close_point=-4.0,
        close_prob=0.5,
        clv_points=0.5,
        clv_prob=-0.02381,
        beat=True,
        push=False,
        clv_ev=0.02,
    )
    home = bet(Side.HOME, -3.5, -110, book='=HYPERLINK("x")')
    moneyline = bet(Side.AWAY, None, 145, market=Market.H2H, book=None, bet_id=None, minutes=45)
    out = bets_csv([(home, GAME, graded), (moneyline, None, None)])
    assert out.split("\n")[0] == (
        "id,placed_at,game_id,matchup,market,side,point,price,book,graded,close_point,close_prob,"
        "clv_points,clv_prob,beat_close"
    )
    rows = rows_of(out)
    assert rows[0] == list(BET_COLUMNS)
    assert rows[1] == [
        "7",
        "2026-01-10T18:30:00Z",
        "g1",
        "Celtics @ Lakers",
        "spreads",
        "home",
        "-3.5",
        "-110",
        '\'=HYPERLINK("x")',
        "yes",
        "-4",
        "0.5",
        "0.5",
        "-0.02381",
        "yes",
    ]
    assert rows[2] == ["", "2026-01-10T18:45:00Z", "g1", "", "h2h", "away", "", "145", "", "no", "", "", "", "", ""]
    assert len(rows) == 3


def test_empty_exports_hold_only_the_header():
    assert signals_csv([]) == ",".join(SIGNAL_COLUMNS) + "\n"
    assert bets_csv([]) == ",".join(BET_COLUMNS) + "\n"


def test_naive_datetimes_are_refused():
    naive = Bet(7, 1, 2, "g1", Market.TOTALS, Side.OVER, 220.5, -110, None, datetime(2026, 1, 10))  # noqa: DTZ001
    with pytest.raises(ValueError, match="naive"):
        bets_csv([(naive, None, None)])
