"""DISLOCATION: one book's number far from the consensus.

The gap is the book's point minus the consensus point (spreads in home terms, totals), or its
de-vigged probability minus the consensus one (moneyline). The signal points to the side on which
that book offers the better number: a home spread higher than consensus favours the home bettor, a
total higher than consensus favours the under, a lower home probability means a longer home price.

It must be one book against the market, not a split market: the books standing at least as far out
on the same side must be at most `max_outlier_share` of the consensus books (four books of ten at
-2.5 against a -3.5 median is a divided market, not a dislocation).

And it must be worth taking: a number off the market is no edge if the book charges it back in juice
(half a point is not worth eight cents). `ev` gives the expected value of that book's own price on the
side, vig included, against the no-vig consensus at this instant, which the caller computes with the one
grader (`engine.clv.entry_value`: decimal × fair probability − 1 for moneylines, the cover model at the
consensus point for spreads and totals); only hits whose EV is above `min_ev` are kept, each carrying it.
Only the side with the better number is priced: the other side of the same book has the worse number, and
on a moneyline it is never positive EV (its de-vigged probability is above the consensus, its vig adds more).
The EV narrows what fires, never what counts as the market: a far-out book not worth taking still counts
among the books "as far out" (three books at one number is a split market whatever their prices).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from engine.models import BookLine, Consensus, Market, Side

_EPS = 1e-9


#: The expected value of `book`'s own price on `side` against the no-vig consensus (per unit staked).
EntryEv = Callable[[str, Side], float]


@dataclass(frozen=True, slots=True)
class DislocationHit:
    book: str
    side: Side
    gap: float  # signed, in points (spreads/totals) or probability (moneyline), book minus consensus
    ev: float  # the book's own price on `side` against the no-vig consensus, per unit staked


def dislocation_side(market: Market, gap: float) -> Side:
    if market == Market.SPREADS:
        return Side.HOME if gap > 0 else Side.AWAY
    if market == Market.TOTALS:
        return Side.UNDER if gap > 0 else Side.OVER
    return Side.AWAY if gap > 0 else Side.HOME


def detect_dislocations(
    consensus: Consensus,
    lines: Mapping[str, BookLine],
    probs: Mapping[str, float],
    *,
    threshold: float,
    min_books: int,
    max_outlier_share: float,
    ev: EntryEv,
    min_ev: float,
    operator: Callable[[str], str] | None = None,
) -> list[DislocationHit]:
    """Books of one operator (`operator` maps a book to it) count once: among the books as far out, and
    as hits (the operator's book furthest out and worth taking, then the first by name, speaks for it).
    A hit is kept only when its EV is above `min_ev` (see the module docstring)."""
    op = operator or (lambda book: book)
    if consensus.books < min_books:
        return []
    gaps: dict[str, float] = {}
    for book, line in lines.items():
        if consensus.market == Market.H2H:
            gaps[book] = probs[book] - consensus.prob_a
        elif line.point is not None and consensus.point is not None:
            gaps[book] = line.point - consensus.point
    hits = []
    for book, gap in sorted(gaps.items()):
        if abs(gap) < threshold - _EPS:
            continue
        as_far = len({op(other) for other, g in gaps.items() if g * gap > 0 and abs(g) >= abs(gap) - _EPS})
        if as_far > max_outlier_share * consensus.books + _EPS:
            continue
        side = dislocation_side(consensus.market, gap)
        value = ev(book, side)
        if value > min_ev:
            hits.append(DislocationHit(book=book, side=side, gap=gap, ev=value))
    if operator is None or len(hits) < 2:
        return hits
    speaking: dict[tuple[str, Side], DislocationHit] = {}
    for hit in sorted(hits, key=lambda h: (-abs(h.gap), h.book)):
        speaking.setdefault((op(hit.book), hit.side), hit)
    return sorted(speaking.values(), key=lambda h: h.book)
