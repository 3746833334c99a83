"""Members' logged bets and their grades against the close."""

from __future__ import annotations

import builtins
from datetime import datetime

from engine.models import Bet, BetGrade, Market, Side
from storage.codec import from_db, to_db
from storage.db import Database

__all__ = ["BetRepository"]

_BET_COLUMNS = "b.id, b.guild_id, b.user_id, b.game_id, b.market, b.side, b.point, b.price, b.book, b.placed_at"
_GRADE_COLUMNS = (
    "g.bet_id, g.graded_at, g.close_point, g.close_prob, g.clv_points, g.clv_prob, g.beat, g.push, g.clv_ev"
)


def _bet(row) -> Bet:
    return Bet(
        id=int(row[0]),
        guild_id=int(row[1]),
        user_id=int(row[2]),
        game_id=row[3],
        market=Market(row[4]),
        side=Side(row[5]),
        point=None if row[6] is None else float(row[6]),
        price=int(row[7]),
        book=row[8],
        placed_at=from_db(row[9]),
    )


def _grade(row, offset: int) -> BetGrade | None:
    if row[offset] is None:
        return None
    return BetGrade(
        bet_id=int(row[offset]),
        graded_at=from_db(row[offset + 1]),
        close_point=None if row[offset + 2] is None else float(row[offset + 2]),
        close_prob=float(row[offset + 3]),
        clv_points=None if row[offset + 4] is None else float(row[offset + 4]),
        clv_prob=float(row[offset + 5]),
        beat=bool(row[offset + 6]),
        push=bool(row[offset + 7]),
        clv_ev=float("nan") if row[offset + 8] is None else float(row[offset + 8]),
    )


class BetRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def insert(self, bet: Bet) -> int:
        async with self._db.conn.execute(
            "INSERT INTO bets (guild_id, user_id, game_id, market, side, point, price, book, placed_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                str(bet.guild_id),
                str(bet.user_id),
                bet.game_id,
                bet.market.value,
                bet.side.value,
                bet.point,
                bet.price,
                bet.book,
                to_db(bet.placed_at),
            ),
        ) as cur:
            return int(cur.lastrowid)

    async def for_member(
        self, guild_id: int, user_id: int, since: datetime | None = None
    ) -> builtins.list[tuple[Bet, BetGrade | None]]:
        """A member's bets, newest first, with their grade when the game has closed."""
        params: list[object] = [str(guild_id), str(user_id)]
        where = "b.guild_id = ? AND b.user_id = ?"
        if since is not None:
            where += " AND b.placed_at >= ?"
            params.append(to_db(since))
        async with self._db.conn.execute(
            f"SELECT {_BET_COLUMNS}, {_GRADE_COLUMNS} FROM bets b LEFT JOIN bet_grades g ON g.bet_id = b.id "  # noqa: S608
            f"WHERE {where} ORDER BY b.placed_at DESC, b.id DESC",
            params,
        ) as cur:
            return [(_bet(row), _grade(row, 10)) for row in await cur.fetchall()]

    async def get(self, bet_id: int) -> tuple[Bet, BetGrade | None] | None:
        """One bet by id with its grade, whoever logged it (callers check the owner)."""
        async with self._db.conn.execute(
            f"SELECT {_BET_COLUMNS}, {_GRADE_COLUMNS} FROM bets b LEFT JOIN bet_grades g ON g.bet_id = b.id "  # noqa: S608
            "WHERE b.id = ?",
            (bet_id,),
        ) as cur:
            row = await cur.fetchone()
        return None if row is None else (_bet(row), _grade(row, 10))

    async def open_for_member(self, guild_id: int, user_id: int, now: datetime, limit: int = 25) -> builtins.list[Bet]:
        """A member's bets that can still be deleted: ungraded, on a game still scheduled to tip after `now`."""
        async with self._db.conn.execute(
            f"SELECT {_BET_COLUMNS} FROM bets b JOIN games gm ON gm.id = b.game_id "  # noqa: S608
            "LEFT JOIN bet_grades g ON g.bet_id = b.id "
            "WHERE b.guild_id = ? AND b.user_id = ? AND g.bet_id IS NULL AND gm.status = 'scheduled' "
            "AND gm.scheduled_tip > ? ORDER BY b.placed_at DESC, b.id DESC LIMIT ?",
            (str(guild_id), str(user_id), to_db(now), limit),
        ) as cur:
            return [_bet(row) for row in await cur.fetchall()]

    async def delete(self, bet_id: int, guild_id: int, user_id: int) -> bool:
        """Delete a member's own bet; a bet with a grade is part of the record and is never deleted."""
        async with self._db.conn.execute(
            "DELETE FROM bets WHERE id = ? AND guild_id = ? AND user_id = ? "
            "AND NOT EXISTS (SELECT 1 FROM bet_grades g WHERE g.bet_id = bets.id)",
            (bet_id, str(guild_id), str(user_id)),
        ) as cur:
            return cur.rowcount > 0

    async def for_member_game(self, guild_id: int, user_id: int, game_id: str) -> builtins.list[Bet]:
        async with self._db.conn.execute(
            f"SELECT {_BET_COLUMNS} FROM bets b WHERE b.guild_id = ? AND b.user_id = ? AND b.game_id = ? "  # noqa: S608
            "ORDER BY b.placed_at",
            (str(guild_id), str(user_id), game_id),
        ) as cur:
            return [_bet(row) for row in await cur.fetchall()]

    async def ungraded_for_game(self, game_id: str) -> builtins.list[Bet]:
        async with self._db.conn.execute(
            f"SELECT {_BET_COLUMNS} FROM bets b LEFT JOIN bet_grades g ON g.bet_id = b.id "  # noqa: S608
            "WHERE b.game_id = ? AND g.bet_id IS NULL ORDER BY b.id",
            (game_id,),
        ) as cur:
            return [_bet(row) for row in await cur.fetchall()]

    async def ungraded_for_closed_games(self) -> builtins.list[Bet]:
        """Bets whose game has closed but that have no grade (a restart between close and grading)."""
        async with self._db.conn.execute(
            f"SELECT {_BET_COLUMNS} FROM bets b JOIN games gm ON gm.id = b.game_id "  # noqa: S608
            "LEFT JOIN bet_grades g ON g.bet_id = b.id WHERE gm.status = 'closed' AND g.bet_id IS NULL ORDER BY b.id"
        ) as cur:
            return [_bet(row) for row in await cur.fetchall()]

    async def grade(self, grade: BetGrade) -> bool:
        async with self._db.conn.execute(
            "INSERT INTO bet_grades (bet_id, graded_at, close_point, close_prob, clv_points, clv_prob, beat, push, "
            "clv_ev) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (bet_id) DO NOTHING",
            (
                grade.bet_id,
                to_db(grade.graded_at),
                grade.close_point,
                grade.close_prob,
                grade.clv_points,
                grade.clv_prob,
                int(grade.beat),
                int(grade.push),
                grade.clv_ev,
            ),
        ) as cur:
            return cur.rowcount > 0
