"""Closes: the closing consensus of each (game, market), fixed once at tip-off."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Row

from engine.models import Close, Market
from storage.codec import from_db
from storage.db import Database

__all__ = ["CloseRepository"]

_INSERT = """
INSERT INTO closes (game_id, market, captured_at, at, point, prob_a, books, source)
VALUES (:game_id, :market, :captured_at, :at, :point, :prob_a, :books, :source)
ON CONFLICT (game_id, market) DO NOTHING
"""

_COLUMNS = "game_id, market, captured_at, at, point, prob_a, books, source"


def _row_to_close(row: Row[Any]) -> Close:
    point = row.point
    return Close(
        game_id=row.game_id,
        market=Market(row.market),
        captured_at=from_db(row.captured_at),
        at=from_db(row.at),
        point=None if point is None else float(point),
        prob_a=float(row.prob_a),
        books=int(row.books),
        source=row.source,
    )


class CloseRepository:
    """The ``closes`` table; writes belong inside ``db.transaction()``."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def insert(self, close: Close) -> bool:
        """Store a close; the first one captured is final, so a later one is ignored (returns False).

        Grades are computed against the close, so letting it change would silently regrade history.
        """
        params = {
            "game_id": close.game_id,
            "market": close.market.value,
            "captured_at": close.captured_at,
            "at": close.at,
            "point": close.point,
            "prob_a": close.prob_a,
            "books": close.books,
            "source": close.source,
        }
        result = await self._db.execute(_INSERT, params)
        return result.rowcount > 0

    async def get(self, game_id: str, market: Market) -> Close | None:
        row = await self._db.fetch_one(
            f"SELECT {_COLUMNS} FROM closes WHERE game_id = :game_id AND market = :market",  # noqa: S608
            {"game_id": game_id, "market": Market(market).value},
        )
        return None if row is None else _row_to_close(row)

    async def for_game(self, game_id: str) -> list[Close]:
        """A game's closes, one per market captured, ordered by market."""
        rows = await self._db.fetch_all(
            f"SELECT {_COLUMNS} FROM closes WHERE game_id = :game_id ORDER BY market",  # noqa: S608
            {"game_id": game_id},
        )
        return [_row_to_close(row) for row in rows]

    async def all(self) -> list[Close]:
        """Every close, for the audit (a season is a few thousand rows)."""
        rows = await self._db.fetch_all(f"SELECT {_COLUMNS} FROM closes ORDER BY game_id, market")  # noqa: S608
        return [_row_to_close(row) for row in rows]

    async def save_result(self, game_id: str, home_score: int, away_score: int, source: str) -> None:
        await self._db.execute(
            "INSERT INTO game_results (game_id, home_score, away_score, source) "
            "VALUES (:game_id, :home_score, :away_score, :source) ON CONFLICT (game_id) DO NOTHING",
            {"game_id": game_id, "home_score": home_score, "away_score": away_score, "source": source},
        )

    async def results(self) -> dict[str, tuple[int, int]]:
        """Final scores (home, away) per game, where a closes file brought them."""
        rows = await self._db.fetch_all("SELECT game_id, home_score, away_score FROM game_results")
        return {row.game_id: (int(row.home_score), int(row.away_score)) for row in rows}
