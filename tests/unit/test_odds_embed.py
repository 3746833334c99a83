"""The /odds embed's market fields, rendered from a real `MarketBoard`: both sides, the best starred,
the fair price of both sides, and Discord's limits kept however many books quote."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.render import FIELD_VALUE_MAX, market_field, odds_embed
from engine.models import BookLine, Consensus, Game, Market
from services.odds import MarketBoard, NamedLine, OddsBoard, best_quotes, distribution

AT = datetime(2026, 8, 5, 18, 0, tzinfo=UTC)
GAME = Game("g", "basketball_wnba", "Washington Mystics", "Dallas Wings", datetime(2026, 8, 5, 23, 30, tzinfo=UTC))


def _line(book: str, market: Market, point: float | None, a: int, b: int) -> BookLine:
    return BookLine(GAME.id, book, market, point, a, b, AT, AT)


def _board(market: Market, lines: list[BookLine], *, named: bool) -> MarketBoard:
    consensus = Consensus(GAME.id, market, AT, lines[0].point, 0.52, len(lines))
    return MarketBoard(
        market=market,
        consensus=consensus,
        lines=tuple(NamedLine(f"Book {ln.book}", ln) for ln in lines) if named else (),
        distribution=distribution(lines),
        best=best_quotes(market, lines),
    )


def test_spreads_show_both_sides_the_best_starred_and_fair_for_both():
    lines = [_line("a", Market.SPREADS, 2.5, -110, -110), _line("b", Market.SPREADS, 3.0, -115, -105)]
    rows = market_field(GAME, _board(Market.SPREADS, lines, named=True)).split("\n")
    assert rows[0] == "**Fair** Mystics +2.5 (−108) · Wings −2.5 (+108) · 2 books"
    assert rows[1] == "`Book a` Mystics +2.5 (−110) · Wings −2.5 (−110)★"
    assert rows[2] == "`Book b` Mystics +3 (−115)★ · Wings −3 (−105)"


def test_totals_and_moneyline_read_like_a_ticket():
    totals = [_line("a", Market.TOTALS, 183.5, -110, -110)]
    assert market_field(GAME, _board(Market.TOTALS, totals, named=False)).split("\n")[1] == (
        "1 book: Over 183.5 (−110)★ · Under 183.5 (−110)★"
    )
    h2h = [_line("a", Market.H2H, None, 150, -180), _line("b", Market.H2H, None, 140, -170)]
    field = market_field(GAME, _board(Market.H2H, h2h, named=False))
    assert "1 book: Mystics +150★ · Wings −180" in field and "1 book: Mystics +140 · Wings −170★" in field


def test_many_books_stay_inside_discords_limits():
    lines = [_line(f"{i:02d}-a-long-book-name", Market.SPREADS, 2.5 + i / 2, -110, -110) for i in range(60)]
    boards = (_board(Market.SPREADS, lines, named=True),)
    field = market_field(GAME, boards[0])
    assert len(field) <= FIELD_VALUE_MAX and field.endswith("more")
    rows = field.split("\n")
    assert rows[-1] == f"… {60 - (len(rows) - 2)} more"
    embed = odds_embed(OddsBoard(GAME, "scheduled", AT, False, boards * 3, 0))
    assert len(embed) <= 6000 and all(len(f.value) <= FIELD_VALUE_MAX for f in embed.fields)
    assert "UTC" not in (embed.description or "") and embed.footer.text is None
