"""Games: what the feed has announced, when they tip, and whether we are still watching them."""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Row

from engine.models import Game
from storage.codec import from_db
from storage.db import Database

__all__ = ["CLOSED", "SCHEDULED", "GameRepository", "StoredGame"]

#: Pre-game: the engine still polls, detects and will capture a close.
SCHEDULED = "scheduled"
#: The close was captured; nothing more happens to the game's markets.
CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class StoredGame:
    """A game as stored.

    `scheduled_tip` is the tip-off the close is captured at. It starts as the first commence time
    seen and only moves through `GameRepository.set_scheduled_tip`, so a provider that rewrites
    `commence_time` mid-game cannot push the close capture past tip-off.
    """

    game: Game
    scheduled_tip: datetime
    status: str


# One statement: `last_seen` only moves forward even with two writers (READ COMMITTED on PostgreSQL), because the
# comparison with the stored value happens in the row lock the upsert takes, not in a read beforehand.
_UPSERT = """
INSERT INTO games (id, sport_key, home_team, away_team, commence_time, scheduled_tip, status,
                   first_seen, last_seen)
VALUES (:id, :sport_key, :home_team, :away_team, :commence, :commence, 'scheduled', :seen, :seen)
ON CONFLICT (id) DO UPDATE SET
    sport_key = excluded.sport_key,
    home_team = excluded.home_team,
    away_team = excluded.away_team,
    commence_time = excluded.commence_time,
    last_seen = CASE WHEN excluded.last_seen > games.last_seen
                     THEN excluded.last_seen ELSE games.last_seen END
"""

_COLUMNS = "id, sport_key, home_team, away_team, commence_time, scheduled_tip, status"


def _row_to_game(row: Row[Any]) -> StoredGame:
    return StoredGame(
        game=Game(
            id=row.id,
            sport_key=row.sport_key,
            home_team=row.home_team,
            away_team=row.away_team,
            commence_time=from_db(row.commence_time),
        ),
        scheduled_tip=from_db(row.scheduled_tip),
        status=row.status,
    )


class GameRepository:
    """Reads and writes of the ``games`` table; writes belong inside ``db.transaction()``."""

    def __init__(self, db: Database) -> None:
        self._db = db

    @staticmethod
    def _upsert_params(game: Game, seen_at: datetime) -> dict[str, object]:
        return {
            "id": game.id,
            "sport_key": game.sport_key,
            "home_team": game.home_team,
            "away_team": game.away_team,
            "commence": game.commence_time,
            "seen": seen_at,
        }

    async def upsert(self, game: Game, seen_at: datetime) -> None:
        """Insert a new game, or refresh teams, commence time and `last_seen` of a known one.

        Status and `scheduled_tip` of a known game are left alone; `last_seen` never moves back.
        """
        await self._db.execute(_UPSERT, self._upsert_params(game, seen_at))

    async def upsert_many(self, games: Iterable[Game], seen_at: datetime) -> None:
        """`upsert` for a whole snapshot in one executemany."""
        rows = [self._upsert_params(game, seen_at) for game in games]
        if rows:
            await self._db.execute_many(_UPSERT, rows)

    async def touch_many(self, game_ids: Iterable[str], seen_at: datetime) -> None:
        """Record that these games were in a snapshot: `last_seen` dates the close after a restart."""
        rows = [{"id": game_id, "seen": seen_at} for game_id in game_ids]
        if rows:
            await self._db.execute_many("UPDATE games SET last_seen = :seen WHERE id = :id AND last_seen < :seen", rows)

    async def last_seen(self, game_id: str) -> datetime | None:
        value = await self._db.scalar("SELECT last_seen FROM games WHERE id = :id", {"id": game_id})
        return None if value is None else from_db(value)

    async def set_scheduled_tip(self, game_id: str, tip: datetime) -> bool:
        """Move the tip-off the close is captured at; False if the game is unknown."""
        result = await self._db.execute(
            "UPDATE games SET scheduled_tip = :tip WHERE id = :id", {"tip": tip, "id": game_id}
        )
        return result.rowcount > 0

    async def mark_closed(self, game_id: str) -> bool:
        """Stop watching a game (its close is captured); False if the game is unknown."""
        result = await self._db.execute("UPDATE games SET status = 'closed' WHERE id = :id", {"id": game_id})
        return result.rowcount > 0

    async def get(self, game_id: str) -> StoredGame | None:
        row = await self._db.fetch_one(f"SELECT {_COLUMNS} FROM games WHERE id = :id", {"id": game_id})  # noqa: S608
        return None if row is None else _row_to_game(row)

    async def list_open(self) -> builtins.list[StoredGame]:
        """Games still scheduled, soonest tip first: what the engine watches after a restart."""
        rows = await self._db.fetch_all(
            f"SELECT {_COLUMNS} FROM games WHERE status = 'scheduled' ORDER BY scheduled_tip, id"  # noqa: S608
        )
        return [_row_to_game(row) for row in rows]

    async def list(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        status: str | None = None,
        limit: int = 100,
        after_id: str | None = None,
    ) -> builtins.list[StoredGame]:
        """Games by (commence_time, id), `since` <= commence_time < `until`.

        `after_id` is the cursor: the id of the last game of the previous page. Paging is keyset on
        (commence_time, id), so rows inserted meanwhile never cause duplicates or skips. An unknown
        `after_id` yields an empty page.
        """
        where = ["1 = 1"]
        params: dict[str, object] = {"limit": limit}
        if since is not None:
            where.append("commence_time >= :since")
            params["since"] = since
        if until is not None:
            where.append("commence_time < :until")
            params["until"] = until
        if status is not None:
            where.append("status = :status")
            params["status"] = status
        if after_id is not None:
            where.append("(commence_time, id) > (SELECT g.commence_time, g.id FROM games g WHERE g.id = :after_id)")
            params["after_id"] = after_id
        # Only the fixed fragments above are joined into the text; every value is a bound parameter.
        sql = (
            f"SELECT {_COLUMNS} FROM games WHERE {' AND '.join(where)} "  # noqa: S608
            "ORDER BY commence_time, id LIMIT :limit"
        )
        return [_row_to_game(row) for row in await self._db.fetch_all(sql, params)]
