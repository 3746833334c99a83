"""Quotes: every distinct book line we observed, and each (game, book, market)'s latest one.

"Latest" means the newest ``observed_at``, ties broken by insertion order (``id``). Both `latest` and
the retention delete are written as "no newer row exists for the same key", which is one index seek
per row on ``quotes_latest (game_id, book, market, observed_at, id)`` and runs unchanged on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Row

from engine.models import BookLine, Market
from storage.codec import from_db
from storage.db import Database

__all__ = ["QuoteRepository"]

_INSERT = """
INSERT INTO quotes (game_id, book, market, point, price_a, price_b, last_update, observed_at, withdrawn)
VALUES (:game_id, :book, :market, :point, :price_a, :price_b, :last_update, :observed_at, :withdrawn)
"""

# A row is the latest of its key when no row of the same key is newer by (observed_at, id).
_NO_NEWER_ROW = """
NOT EXISTS (
    SELECT 1 FROM quotes n
    WHERE n.game_id = q.game_id AND n.book = q.book AND n.market = q.market
      AND (n.observed_at, n.id) > (q.observed_at, q.id)
)
"""

_LATEST_FOR_GAME = f"""
SELECT q.game_id, q.book, q.market, q.point, q.price_a, q.price_b, q.last_update, q.observed_at
FROM quotes q
WHERE q.game_id = :game_id AND NOT q.withdrawn AND {_NO_NEWER_ROW}
ORDER BY q.market, q.book
"""  # noqa: S608 - composed of constants only

_LATEST_OPEN = f"""
SELECT q.game_id, q.book, q.market, q.point, q.price_a, q.price_b, q.last_update, q.observed_at
FROM quotes q JOIN games g ON g.id = q.game_id
WHERE g.status = 'scheduled' AND NOT q.withdrawn AND {_NO_NEWER_ROW}
ORDER BY q.game_id, q.market, q.book
"""  # noqa: S608 - composed of constants only

# The newest row per key observed at or before a moment (what a delayed viewer may see).
_AS_OF = """
SELECT q.game_id, q.book, q.market, q.point, q.price_a, q.price_b, q.last_update, q.observed_at
FROM quotes q
WHERE q.game_id = :game_id AND q.observed_at <= :at AND NOT q.withdrawn
  AND NOT EXISTS (
    SELECT 1 FROM quotes n
    WHERE n.game_id = q.game_id AND n.book = q.book AND n.market = q.market AND n.observed_at <= :at
      AND (n.observed_at, n.id) > (q.observed_at, q.id)
  )
ORDER BY q.market, q.book
"""

_DELETE_OLD = """
DELETE FROM quotes
WHERE observed_at < :cutoff
  AND EXISTS (
    SELECT 1 FROM quotes n
    WHERE n.game_id = quotes.game_id AND n.book = quotes.book AND n.market = quotes.market
      AND (n.observed_at, n.id) > (quotes.observed_at, quotes.id)
  )
"""


def _row_to_line(row: Row[Any]) -> BookLine:
    point = row.point
    return BookLine(
        game_id=row.game_id,
        book=row.book,
        market=Market(row.market),
        point=None if point is None else float(point),
        price_a=int(row.price_a),
        price_b=int(row.price_b),
        last_update=from_db(row.last_update),
        observed_at=from_db(row.observed_at),
    )


class QuoteRepository:
    """The ``quotes`` table; writes belong inside ``db.transaction()``."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def insert_many(self, lines: Iterable[BookLine], *, withdrawn: bool = False) -> int:
        """Append lines in one executemany (the replay writes thousands per second); returns the count.

        With `withdrawn=True` each line (the book's last line, `observed_at` set to when it went) records
        that the book stopped offering the market: `latest` then leaves that key out until it quotes again.
        Rows are built here, on the event loop, so a lazy iterable is never consumed from a driver's
        worker thread.
        """
        rows = [
            {
                "game_id": line.game_id,
                "book": line.book,
                "market": line.market.value,
                "point": line.point,
                "price_a": line.price_a,
                "price_b": line.price_b,
                "last_update": line.last_update,
                "observed_at": line.observed_at,
                "withdrawn": withdrawn,
            }
            for line in lines
        ]
        if rows:
            await self._db.execute_many(_INSERT, rows)
        return len(rows)

    async def latest(self, game_ids: Iterable[str] | None = None) -> list[BookLine]:
        """Each (game, book, market)'s newest line: the engine's "last quote" after a restart.

        `game_ids=None` means every game still scheduled (closed games are not restored).
        Ordered by game, market, book.
        """
        if game_ids is None:
            return [_row_to_line(row) for row in await self._db.fetch_all(_LATEST_OPEN)]
        if isinstance(game_ids, str):  # a lone id is an easy mistake; don't split it into letters
            game_ids = (game_ids,)
        lines: list[BookLine] = []
        # One indexed query per game keeps the SQL static (no IN-list built at run time).
        for game_id in sorted(set(game_ids)):
            lines.extend(_row_to_line(row) for row in await self._db.fetch_all(_LATEST_FOR_GAME, {"game_id": game_id}))
        return lines

    async def history(
        self, game_id: str, market: Market | None = None, since: datetime | None = None
    ) -> list[BookLine]:
        """A game's quoted lines oldest first, optionally one market and `observed_at >= since`."""
        return [line for line, withdrawn in await self.timeline(game_id, market, since) if not withdrawn]

    async def timeline(
        self, game_id: str, market: Market | None = None, since: datetime | None = None
    ) -> list[tuple[BookLine, bool]]:
        """Like `history`, withdrawals included: (line, withdrawn) oldest first."""
        where = ["game_id = :game_id"]
        params: dict[str, object] = {"game_id": game_id}
        if market is not None:
            where.append("market = :market")
            params["market"] = Market(market).value
        if since is not None:
            where.append("observed_at >= :since")
            params["since"] = since
        # Only fixed fragments are joined into the text; every value is a bound parameter.
        sql = (
            "SELECT game_id, book, market, point, price_a, price_b, last_update, observed_at, withdrawn "  # noqa: S608
            f"FROM quotes WHERE {' AND '.join(where)} ORDER BY observed_at, id"
        )
        return [(_row_to_line(row), bool(row.withdrawn)) for row in await self._db.fetch_all(sql, params)]

    async def all_timelines(self) -> list[tuple[BookLine, bool]]:
        """Every stored quote, withdrawals included, by game, market and time (the audit's null sampler
        reads the whole replay once rather than one query per draw)."""
        rows = await self._db.fetch_all(
            "SELECT game_id, book, market, point, price_a, price_b, last_update, observed_at, withdrawn "
            "FROM quotes ORDER BY game_id, market, observed_at, id"
        )
        return [(_row_to_line(row), bool(row.withdrawn)) for row in rows]

    async def as_of(self, game_id: str, at: datetime) -> list[BookLine]:
        """Each book's line of a game as it stood at `at` (books that had withdrawn by then are left out)."""
        return [_row_to_line(row) for row in await self._db.fetch_all(_AS_OF, {"game_id": game_id, "at": at})]

    async def count(self) -> int:
        return int(await self._db.scalar("SELECT COUNT(*) FROM quotes") or 0)

    async def delete_older_than(self, cutoff: datetime) -> int:
        """Retention: delete lines observed before `cutoff`; returns how many went.

        A line that is still the latest of its (game, book, market) is kept however old it is,
        because the engine restores each book's "last quote" from it.
        """
        result = await self._db.execute(_DELETE_OLD, {"cutoff": cutoff})
        return result.rowcount
