"""Members' logged bets and their grades against the close."""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Row

from engine.models import Bet, BetGrade, Market, Side
from storage.codec import from_db
from storage.db import Database

__all__ = ["BetRepository"]

_BET_COLUMNS = "b.id, b.guild_id, b.user_id, b.game_id, b.market, b.side, b.point, b.price, b.book, b.placed_at"
_GRADE_COLUMNS = (
    "g.bet_id, g.graded_at, g.close_point, g.close_prob, g.clv_points, g.clv_prob, g.beat, g.push, g.clv_ev"
)


def _bet(row: Row[Any]) -> Bet:
    return Bet(
        id=int(row.id),
        guild_id=int(row.guild_id),
        user_id=int(row.user_id),
        game_id=row.game_id,
        market=Market(row.market),
        side=Side(row.side),
        point=None if row.point is None else float(row.point),
        price=int(row.price),
        book=row.book,
        placed_at=from_db(row.placed_at),
    )


def _grade(row: Row[Any]) -> BetGrade | None:
    if row.bet_id is None:
        return None
    return BetGrade(
        bet_id=int(row.bet_id),
        graded_at=from_db(row.graded_at),
        close_point=None if row.close_point is None else float(row.close_point),
        close_prob=float(row.close_prob),
        clv_points=None if row.clv_points is None else float(row.clv_points),
        clv_prob=float(row.clv_prob),
        beat=bool(row.beat),
        push=bool(row.push),
        clv_ev=float("nan") if row.clv_ev is None else float(row.clv_ev),
    )


class BetRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def insert(self, bet: Bet) -> int:
        value = await self._db.scalar(
            "INSERT INTO bets (guild_id, user_id, game_id, market, side, point, price, book, placed_at) "
            "VALUES (:guild_id, :user_id, :game_id, :market, :side, :point, :price, :book, :placed_at) RETURNING id",
            {
                "guild_id": str(bet.guild_id),
                "user_id": str(bet.user_id),
                "game_id": bet.game_id,
                "market": bet.market.value,
                "side": bet.side.value,
                "point": bet.point,
                "price": bet.price,
                "book": bet.book,
                "placed_at": bet.placed_at,
            },
        )
        return int(value)

    async def for_member(
        self, guild_id: int, user_id: int, since: datetime | None = None
    ) -> builtins.list[tuple[Bet, BetGrade | None]]:
        """A member's bets, newest first, with their grade when the game has closed."""
        params: dict[str, object] = {"guild_id": str(guild_id), "user_id": str(user_id)}
        where = "b.guild_id = :guild_id AND b.user_id = :user_id"
        if since is not None:
            where += " AND b.placed_at >= :since"
            params["since"] = since
        rows = await self._db.fetch_all(
            f"SELECT {_BET_COLUMNS}, {_GRADE_COLUMNS} FROM bets b LEFT JOIN bet_grades g ON g.bet_id = b.id "  # noqa: S608
            f"WHERE {where} ORDER BY b.placed_at DESC, b.id DESC",
            params,
        )
        return [(_bet(row), _grade(row)) for row in rows]

    async def get(self, bet_id: int) -> tuple[Bet, BetGrade | None] | None:
        """One bet by id with its grade, whoever logged it (callers check the owner)."""
        row = await self._db.fetch_one(
            f"SELECT {_BET_COLUMNS}, {_GRADE_COLUMNS} FROM bets b LEFT JOIN bet_grades g ON g.bet_id = b.id "  # noqa: S608
            "WHERE b.id = :bet_id",
            {"bet_id": bet_id},
        )
        return None if row is None else (_bet(row), _grade(row))

    async def open_for_member(self, guild_id: int, user_id: int, now: datetime, limit: int = 25) -> builtins.list[Bet]:
        """A member's bets that can still be deleted: ungraded, on a game still scheduled to tip after `now`."""
        rows = await self._db.fetch_all(
            f"SELECT {_BET_COLUMNS} FROM bets b JOIN games gm ON gm.id = b.game_id "  # noqa: S608
            "LEFT JOIN bet_grades g ON g.bet_id = b.id "
            "WHERE b.guild_id = :guild_id AND b.user_id = :user_id AND g.bet_id IS NULL "
            "AND gm.status = 'scheduled' AND gm.scheduled_tip > :now "
            "ORDER BY b.placed_at DESC, b.id DESC LIMIT :limit",
            {"guild_id": str(guild_id), "user_id": str(user_id), "now": now, "limit": limit},
        )
        return [_bet(row) for row in rows]

    async def delete(self, bet_id: int, guild_id: int, user_id: int) -> bool:
        """Delete a member's own bet; a bet with a grade is part of the record and is never deleted."""
        result = await self._db.execute(
            "DELETE FROM bets WHERE id = :bet_id AND guild_id = :guild_id AND user_id = :user_id "
            "AND NOT EXISTS (SELECT 1 FROM bet_grades g WHERE g.bet_id = bets.id)",
            {"bet_id": bet_id, "guild_id": str(guild_id), "user_id": str(user_id)},
        )
        return result.rowcount > 0

    async def for_member_game(self, guild_id: int, user_id: int, game_id: str) -> builtins.list[Bet]:
        rows = await self._db.fetch_all(
            f"SELECT {_BET_COLUMNS} FROM bets b "  # noqa: S608
            "WHERE b.guild_id = :guild_id AND b.user_id = :user_id AND b.game_id = :game_id ORDER BY b.placed_at, b.id",
            {"guild_id": str(guild_id), "user_id": str(user_id), "game_id": game_id},
        )
        return [_bet(row) for row in rows]

    async def ungraded_for_game(self, game_id: str) -> builtins.list[Bet]:
        rows = await self._db.fetch_all(
            f"SELECT {_BET_COLUMNS} FROM bets b LEFT JOIN bet_grades g ON g.bet_id = b.id "  # noqa: S608
            "WHERE b.game_id = :game_id AND g.bet_id IS NULL ORDER BY b.id",
            {"game_id": game_id},
        )
        return [_bet(row) for row in rows]

    async def ungraded_for_closed_games(self) -> builtins.list[Bet]:
        """Bets whose game has closed but that have no grade (a restart between close and grading)."""
        rows = await self._db.fetch_all(
            f"SELECT {_BET_COLUMNS} FROM bets b JOIN games gm ON gm.id = b.game_id "  # noqa: S608
            "LEFT JOIN bet_grades g ON g.bet_id = b.id WHERE gm.status = 'closed' AND g.bet_id IS NULL ORDER BY b.id"
        )
        return [_bet(row) for row in rows]

    async def grade(self, grade: BetGrade) -> bool:
        result = await self._db.execute(
            "INSERT INTO bet_grades (bet_id, graded_at, close_point, close_prob, clv_points, clv_prob, beat, push, "
            "clv_ev) VALUES (:bet_id, :graded_at, :close_point, :close_prob, :clv_points, :clv_prob, :beat, :push, "
            ":clv_ev) ON CONFLICT (bet_id) DO NOTHING",
            {
                "bet_id": grade.bet_id,
                "graded_at": grade.graded_at,
                "close_point": grade.close_point,
                "close_prob": grade.close_prob,
                "clv_points": grade.clv_points,
                "clv_prob": grade.clv_prob,
                "beat": bool(grade.beat),
                "push": bool(grade.push),
                "clv_ev": grade.clv_ev,
            },
        )
        return result.rowcount > 0
