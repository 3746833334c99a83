"""A book's move, measured from its own previous quote.

Spreads and totals move in points (a price-only change is not a line move); moneylines move in
de-vigged probability. The direction says which side the move favours: +1 side A (home/over),
-1 side B (away/under). A home spread going from -3 to -4 is money on the home team (+1); a total
going up is money on the over (+1).
"""

from __future__ import annotations

from engine.models import BookLine, Market
from engine.state import Move

_EPS = 1e-9


def move_between(previous: BookLine, previous_prob: float, current: BookLine, current_prob: float) -> Move | None:
    market = current.market
    if market == Market.H2H:
        before, after = previous_prob, current_prob
        delta = after - before
        direction = 1 if delta > 0 else -1
    else:
        if previous.point is None or current.point is None:
            return None
        before, after = previous.point, current.point
        delta = after - before
        direction = (1 if delta > 0 else -1) if market == Market.TOTALS else (1 if delta < 0 else -1)
    if abs(delta) <= _EPS:
        return None
    return Move(
        book=current.book,
        direction=direction,
        size=abs(delta),
        at=current.last_update,
        observed_at=current.observed_at,
        before=before,
        after=after,
    )
