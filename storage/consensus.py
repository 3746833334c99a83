"""Consensus history: the weighted de-vigged market of each (game, market) over time.

Rows are immutable facts keyed by (game_id, market, at); inserting the same instant twice keeps the
first (a replay re-run or a retried batch must not fail or duplicate).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Row

from engine.models import BookComponent, Consensus, Market
from storage.codec import from_db, json_dumps, json_loads
from storage.db import Database

__all__ = ["ConsensusRepository", "components_from_json", "components_to_json"]

_INSERT = """
INSERT INTO consensus (game_id, market, at, point, prob_a, books, components)
VALUES (:game_id, :market, :at, :point, :prob_a, :books, :components)
ON CONFLICT (game_id, market, at) DO NOTHING
"""

_LATEST = """
SELECT game_id, market, at, point, prob_a, books, components FROM consensus
WHERE game_id = :game_id AND market = :market
ORDER BY at DESC LIMIT 1
"""

_LATEST_BEFORE = """
SELECT game_id, market, at, point, prob_a, books, components FROM consensus
WHERE game_id = :game_id AND market = :market AND at < :before
ORDER BY at DESC LIMIT 1
"""

_HISTORY_ALL = """
SELECT game_id, market, at, point, prob_a, books, components FROM consensus
WHERE game_id = :game_id
ORDER BY at, market
"""

_HISTORY_MARKET = """
SELECT game_id, market, at, point, prob_a, books, components FROM consensus
WHERE game_id = :game_id AND market = :market
ORDER BY at
"""

_RECENT = """
SELECT game_id, market, at, point, prob_a, books, components FROM consensus
WHERE game_id = :game_id AND market = :market
ORDER BY at DESC LIMIT :limit
"""

# The newest point strictly off `value` (the tolerance is the key-number detector's).
_LAST_POINT_OFF = """
SELECT point FROM consensus
WHERE game_id = :game_id AND market = :market AND point IS NOT NULL AND abs(point - :value) > :tolerance
ORDER BY at DESC LIMIT 1
"""

# Newest per (game, market) among scheduled games: no newer row of the same key exists
# (one primary-key seek per row; portable, unlike SQLite's bare-column MAX()).
_LATEST_OPEN = """
SELECT c.game_id, c.market, c.at, c.point, c.prob_a, c.books, c.components
FROM consensus c JOIN games g ON g.id = c.game_id
WHERE g.status = 'scheduled'
  AND NOT EXISTS (
    SELECT 1 FROM consensus n
    WHERE n.game_id = c.game_id AND n.market = c.market AND n.at > c.at
  )
ORDER BY c.game_id, c.market
"""


def components_to_json(components: Iterable[BookComponent]) -> str:
    return json_dumps([{"book": c.book, "point": c.point, "prob_a": c.prob_a, "weight": c.weight} for c in components])


def components_from_json(text: str | None) -> tuple[BookComponent, ...]:
    if not text:
        return ()
    return tuple(
        BookComponent(
            book=item["book"],
            point=None if item["point"] is None else float(item["point"]),
            prob_a=float(item["prob_a"]),
            weight=float(item["weight"]),
        )
        for item in json_loads(text)
    )


def _row_to_consensus(row: Row[Any]) -> Consensus:
    point = row.point
    return Consensus(
        game_id=row.game_id,
        market=Market(row.market),
        at=from_db(row.at),
        point=None if point is None else float(point),
        prob_a=float(row.prob_a),
        books=int(row.books),
        components=components_from_json(row.components),
    )


class ConsensusRepository:
    """The ``consensus`` table; writes belong inside ``db.transaction()``."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def insert_many(self, items: Iterable[Consensus]) -> None:
        """Insert in one executemany; an already stored (game, market, at) is left as it was."""
        rows = [
            {
                "game_id": c.game_id,
                "market": c.market.value,
                "at": c.at,
                "point": c.point,
                "prob_a": c.prob_a,
                "books": c.books,
                "components": components_to_json(c.components),
            }
            for c in items
        ]
        if rows:
            await self._db.execute_many(_INSERT, rows)

    async def _one(self, sql: str, params: dict[str, object]) -> Consensus | None:
        row = await self._db.fetch_one(sql, params)
        return None if row is None else _row_to_consensus(row)

    async def latest(self, game_id: str, market: Market) -> Consensus | None:
        return await self._one(_LATEST, {"game_id": game_id, "market": Market(market).value})

    async def latest_before(self, game_id: str, market: Market, before: datetime) -> Consensus | None:
        """The newest consensus strictly before `before`: the close is the last one before tip-off."""
        return await self._one(_LATEST_BEFORE, {"game_id": game_id, "market": Market(market).value, "before": before})

    async def history(self, game_id: str, market: Market | None = None) -> list[Consensus]:
        """A game's consensus oldest first (then by market), optionally one market."""
        if market is None:
            rows = await self._db.fetch_all(_HISTORY_ALL, {"game_id": game_id})
        else:
            rows = await self._db.fetch_all(_HISTORY_MARKET, {"game_id": game_id, "market": Market(market).value})
        return [_row_to_consensus(row) for row in rows]

    async def recent(self, game_id: str, market: Market, limit: int) -> list[Consensus]:
        """The newest `limit` consensus rows of one market, oldest first (the engine's history)."""
        rows = await self._db.fetch_all(_RECENT, {"game_id": game_id, "market": Market(market).value, "limit": limit})
        return [_row_to_consensus(row) for row in reversed(rows)]

    async def last_point_off(self, game_id: str, market: Market, value: float, tolerance: float) -> float | None:
        """The newest consensus point more than `tolerance` away from `value`: which side of a key number
        the market was last on while its newest point sits on the key."""
        params = {"game_id": game_id, "market": Market(market).value, "value": value, "tolerance": tolerance}
        point = await self._db.scalar(_LAST_POINT_OFF, params)
        return None if point is None else float(point)

    async def latest_for_open_games(self) -> list[Consensus]:
        """Each scheduled game's newest consensus per market (restores the engine after a restart)."""
        return [_row_to_consensus(row) for row in await self._db.fetch_all(_LATEST_OPEN)]
