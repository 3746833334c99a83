"""Grades: each signal measured against the close (CLV), and the per-class records built from them."""

from __future__ import annotations

import builtins
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Row

from engine.models import Grade, Market, Signal, SignalType
from storage.codec import from_db
from storage.db import Database
from storage.signals import SIGNAL_COLUMNS, signal_from_row

__all__ = ["ClassRecord", "GradeRepository"]

_GRADE_COLUMNS = (
    "g.signal_id, g.graded_at, g.close_point, g.close_prob, g.clv_points, g.clv_prob, g.beat, g.push, "
    "g.consensus_clv_points, g.consensus_clv_prob, g.clv_ev"
)

_INSERT = """
INSERT INTO grades (signal_id, graded_at, close_point, close_prob, clv_points, clv_prob, beat, push,
                    consensus_clv_points, consensus_clv_prob, clv_ev)
VALUES (:signal_id, :graded_at, :close_point, :close_prob, :clv_points, :clv_prob, :beat, :push,
        :consensus_clv_points, :consensus_clv_prob, :clv_ev)
ON CONFLICT (signal_id) DO NOTHING
"""

# `beat` and `push` are booleans on PostgreSQL (no SUM of them there): counted with CASE on both backends.
_CLASS_RECORDS = """
SELECT s.type, s.market, COUNT(*) AS graded,
       SUM(CASE WHEN g.beat THEN 1 ELSE 0 END) AS beats, SUM(CASE WHEN g.push THEN 1 ELSE 0 END) AS pushes
FROM grades g JOIN signals s ON s.id = g.signal_id
WHERE g.clv_ev IS NOT NULL
GROUP BY s.type, s.market
ORDER BY s.type, s.market
"""


@dataclass(frozen=True, slots=True)
class ClassRecord:
    """How one signal class (type × market) has done against the close."""

    type: SignalType
    market: Market
    graded: int
    beats: int
    pushes: int


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _grade_from_row(row: Row[Any]) -> Grade:
    return Grade(
        signal_id=row.signal_id,
        graded_at=from_db(row.graded_at),
        close_point=_opt_float(row.close_point),
        close_prob=float(row.close_prob),
        clv_points=_opt_float(row.clv_points),
        clv_prob=float(row.clv_prob),
        beat=bool(row.beat),
        push=bool(row.push),
        consensus_clv_points=_opt_float(row.consensus_clv_points),
        consensus_clv_prob=float(row.consensus_clv_prob),
        clv_ev=float(row.clv_ev) if row.clv_ev is not None else float("nan"),
    )


class GradeRepository:
    """The ``grades`` table; writes belong inside ``db.transaction()``."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def insert(self, grade: Grade) -> bool:
        """Store a grade; False if the signal was already graded (a signal is graded once).

        The signal must be stored first (foreign key). A NaN `clv_ev` is stored as NULL, as SQLite always
        did (PostgreSQL would keep the NaN): either way the grade reads as one without a verdict.
        """
        ev = grade.clv_ev
        params = {
            "signal_id": grade.signal_id,
            "graded_at": grade.graded_at,
            "close_point": grade.close_point,
            "close_prob": grade.close_prob,
            "clv_points": grade.clv_points,
            "clv_prob": grade.clv_prob,
            "beat": bool(grade.beat),
            "push": bool(grade.push),
            "consensus_clv_points": grade.consensus_clv_points,
            "consensus_clv_prob": grade.consensus_clv_prob,
            "clv_ev": None if ev is None or math.isnan(ev) else ev,
        }
        result = await self._db.execute(_INSERT, params)
        return result.rowcount > 0

    async def version(self) -> tuple[object, ...]:
        """Changes whenever a grade, an ungraded verdict, a result or a class's alert state is written: the
        audit's cache key."""
        row = await self._db.fetch_one(
            "SELECT (SELECT COUNT(*) FROM grades), (SELECT MAX(graded_at) FROM grades), "
            "(SELECT COUNT(*) FROM ungraded_signals), (SELECT COUNT(*) FROM game_results), "
            "(SELECT COUNT(*) FROM class_states)"
        )
        return tuple(row) if row else ()

    async def mark_ungraded(self, signal_id: str, decided_at: datetime, reason: str) -> bool:
        """Record that a signal could not be graded (no usable close); a signal is decided once."""
        result = await self._db.execute(
            "INSERT INTO ungraded_signals (signal_id, decided_at, reason) VALUES (:signal_id, :decided_at, :reason) "
            "ON CONFLICT (signal_id) DO NOTHING",
            {"signal_id": signal_id, "decided_at": decided_at, "reason": reason},
        )
        return result.rowcount > 0

    async def ungraded(self) -> builtins.list[tuple[Signal, str]]:
        """Every signal decided ungradable, with the reason."""
        rows = await self._db.fetch_all(
            f"SELECT {SIGNAL_COLUMNS}, u.reason FROM ungraded_signals u "  # noqa: S608 - constant column list
            "JOIN signals s ON s.id = u.signal_id ORDER BY s.created_at, s.id"
        )
        return [(signal_from_row(row), row.reason) for row in rows]

    async def legacy_ids(self) -> builtins.list[str]:
        """Signals graded before grades carried `clv_ev` (the old, vig-free rule): regraded at start."""
        rows = await self._db.fetch_all("SELECT signal_id FROM grades WHERE clv_ev IS NULL ORDER BY signal_id")
        return [row.signal_id for row in rows]

    async def delete(self, signal_ids: builtins.list[str]) -> None:
        await self._db.execute_many(
            "DELETE FROM grades WHERE signal_id = :signal_id", [{"signal_id": i} for i in signal_ids]
        )

    async def get(self, signal_id: str) -> Grade | None:
        row = await self._db.fetch_one(
            f"SELECT {_GRADE_COLUMNS} FROM grades g WHERE g.signal_id = :signal_id",  # noqa: S608 - constant columns
            {"signal_id": signal_id},
        )
        return None if row is None else _grade_from_row(row)

    async def class_records(self) -> builtins.list[ClassRecord]:
        """Graded / beats / pushes per (type, market), counted in SQL; classes with no grade are absent."""
        return [
            ClassRecord(
                type=SignalType(row.type),
                market=Market(row.market),
                graded=int(row.graded),
                beats=int(row.beats or 0),
                pushes=int(row.pushes or 0),
            )
            for row in await self._db.fetch_all(_CLASS_RECORDS)
        ]

    async def graded_signals(self) -> builtins.list[tuple[Signal, Grade]]:
        """Every graded signal with its grade, oldest signal first (per-preset records filter these)."""
        return await self._pairs(
            f"SELECT {SIGNAL_COLUMNS}, {_GRADE_COLUMNS} "  # noqa: S608 - constant column lists
            "FROM grades g JOIN signals s ON s.id = g.signal_id WHERE g.clv_ev IS NOT NULL ORDER BY s.created_at, s.id",
            {},
        )

    async def list(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
        before: tuple[datetime, str] | None = None,
    ) -> builtins.list[tuple[Signal, Grade]]:
        """Graded signals, most recently graded first, `since <= graded_at <= until`.

        `before` is the keyset cursor (graded_at, signal_id) of the last row of the previous page.
        """
        where = ["g.clv_ev IS NOT NULL"]
        params: dict[str, object] = {"limit": limit}
        if since is not None:
            where.append("g.graded_at >= :since")
            params["since"] = since
        if until is not None:
            where.append("g.graded_at <= :until")
            params["until"] = until
        if before is not None:
            where.append("(g.graded_at, g.signal_id) < (:before_at, :before_id)")
            params["before_at"], params["before_id"] = before
        # Only fixed fragments are joined into the text; every value is a bound parameter.
        sql = (
            f"SELECT {SIGNAL_COLUMNS}, {_GRADE_COLUMNS} "  # noqa: S608
            f"FROM grades g JOIN signals s ON s.id = g.signal_id WHERE {' AND '.join(where)} "
            "ORDER BY g.graded_at DESC, g.signal_id DESC LIMIT :limit"
        )
        return await self._pairs(sql, params)

    async def _pairs(self, sql: str, params: dict[str, object]) -> builtins.list[tuple[Signal, Grade]]:
        return [(signal_from_row(row), _grade_from_row(row)) for row in await self._db.fetch_all(sql, params)]
