"""Closes: the closing consensus of each (game, market), fixed once at tip-off."""

from __future__ import annotations

import aiosqlite

from engine.models import Close, Market
from storage.codec import from_db, to_db
from storage.db import Database

__all__ = ["CloseRepository"]

_INSERT = """
INSERT INTO closes (game_id, market, captured_at, at, point, prob_a, books, source)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (game_id, market) DO NOTHING
"""


def _row_to_close(row: aiosqlite.Row) -> Close:
    point = row["point"]
    return Close(
        game_id=row["game_id"],
        market=Market(row["market"]),
        captured_at=from_db(row["captured_at"]),
        at=from_db(row["at"]),
        point=None if point is None else float(point),
        prob_a=float(row["prob_a"]),
        books=int(row["books"]),
        source=row["source"],
    )


class CloseRepository:
    """The ``closes`` table; writes belong inside ``db.transaction()``."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def insert(self, close: Close) -> bool:
        """Store a close; the first one captured is final, so a later one is ignored (returns False).

        Grades are computed against the close, so letting it change would silently regrade history.
        """
        params = (
            close.game_id,
            close.market.value,
            to_db(close.captured_at),
            to_db(close.at),
            close.point,
            close.prob_a,
            close.books,
            close.source,
        )
        async with self._db.conn.execute(_INSERT, params) as cur:
            return cur.rowcount > 0

    async def get(self, game_id: str, market: Market) -> Close | None:
        async with self._db.conn.execute(
            "SELECT game_id, market, captured_at, at, point, prob_a, books, source FROM closes "
            "WHERE game_id = ? AND market = ?",
            (game_id, Market(market).value),
        ) as cur:
            row = await cur.fetchone()
        return None if row is None else _row_to_close(row)

    async def for_game(self, game_id: str) -> list[Close]:
        """A game's closes, one per market captured, ordered by market."""
        async with self._db.conn.execute(
            "SELECT game_id, market, captured_at, at, point, prob_a, books, source FROM closes "
            "WHERE game_id = ? ORDER BY market",
            (game_id,),
        ) as cur:
            return [_row_to_close(row) for row in await cur.fetchall()]

    async def all(self) -> list[Close]:
        """Every close, for the audit (a season is a few thousand rows)."""
        async with self._db.conn.execute(
            "SELECT game_id, market, captured_at, at, point, prob_a, books, source FROM closes ORDER BY game_id, market"
        ) as cur:
            return [_row_to_close(row) for row in await cur.fetchall()]

    async def save_result(self, game_id: str, home_score: int, away_score: int, source: str) -> None:
        await self._db.conn.execute(
            "INSERT INTO game_results (game_id, home_score, away_score, source) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (game_id) DO NOTHING",
            (game_id, home_score, away_score, source),
        )

    async def results(self) -> dict[str, tuple[int, int]]:
        """Final scores (home, away) per game, where a closes file brought them."""
        async with self._db.conn.execute("SELECT game_id, home_score, away_score FROM game_results") as cur:
            return {row[0]: (int(row[1]), int(row[2])) for row in await cur.fetchall()}
