"""Alert states: every change of a class's alert state or tier, with the sample it rested on."""

from __future__ import annotations

import builtins
from datetime import datetime

from engine.alert_state import ClassState, state_before
from storage.codec import from_db, to_db
from storage.db import Database

__all__ = ["ClassStateRepository"]

_COLUMNS = "class, since, state, tier, graded, beats, null_rate, lift, lift_low, lift_high, reason"


def _opt(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


def _state(row) -> ClassState:
    return ClassState(
        name=row[0],
        since=from_db(row[1]),
        state=row[2],
        tier=row[3],
        graded=int(row[4]),
        beats=int(row[5]),
        null_rate=_opt(row[6]),
        lift=_opt(row[7]),
        lift_low=_opt(row[8]),
        lift_high=_opt(row[9]),
        reason=row[10],
    )


class ClassStateRepository:
    """The ``class_states`` table: written in the transaction of the grades that made each change."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def record(self, change: ClassState) -> bool:
        """Store one change; False if the class already has a change at that instant (a repeat)."""
        if change.since is None:
            raise ValueError("a stored change has the instant it was made")
        async with self._db.conn.execute(
            f"INSERT INTO class_states ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "  # noqa: S608 - constant
            "ON CONFLICT (class, since) DO NOTHING",
            (
                change.name,
                to_db(change.since),
                change.state,
                change.tier,
                change.graded,
                change.beats,
                change.null_rate,
                change.lift,
                change.lift_low,
                change.lift_high,
                change.reason,
            ),
        ) as cur:
            return cur.rowcount > 0

    async def history(self, name: str | None = None) -> builtins.list[ClassState]:
        """Every change, oldest first (of one class, or of all)."""
        sql = f"SELECT {_COLUMNS} FROM class_states"  # noqa: S608 - constant column list
        params: tuple[str, ...] = ()
        if name is not None:
            sql += " WHERE class = ?"
            params = (name,)
        async with self._db.conn.execute(sql + " ORDER BY since, class", params) as cur:
            return [_state(row) for row in await cur.fetchall()]

    async def before(self, at: datetime) -> dict[str, ClassState]:
        """Each class's state at instant `at`: its last change strictly before it (absent: none yet)."""
        async with self._db.conn.execute(
            f"SELECT {_COLUMNS} FROM class_states WHERE since < ? ORDER BY since, class",  # noqa: S608 - constant
            (to_db(at),),
        ) as cur:
            return state_before([_state(row) for row in await cur.fetchall()], at)

    async def current(self) -> dict[str, ClassState]:
        """Each class's latest change."""
        latest: dict[str, ClassState] = {}
        for change in await self.history():
            latest[change.name] = change
        return latest
