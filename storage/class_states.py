"""Alert states: every change of a class's alert state or tier, with the sample it rested on."""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Row

from engine.alert_state import ClassState, state_before
from storage.codec import from_db
from storage.db import Database

__all__ = ["ClassStateRepository"]

_COLUMNS = "class, since, state, tier, graded, beats, null_rate, lift, lift_low, lift_high, reason"


def _opt(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


def _state(row: Row[Any]) -> ClassState:
    return ClassState(
        name=row[0],  # `class` is a Python keyword: read by position
        since=from_db(row.since),
        state=row.state,
        tier=row.tier,
        graded=int(row.graded),
        beats=int(row.beats),
        null_rate=_opt(row.null_rate),
        lift=_opt(row.lift),
        lift_low=_opt(row.lift_low),
        lift_high=_opt(row.lift_high),
        reason=row.reason,
    )


class ClassStateRepository:
    """The ``class_states`` table: written in the transaction of the grades that made each change."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def record(self, change: ClassState) -> bool:
        """Store one change; False if the class already has a change at that instant (a repeat)."""
        if change.since is None:
            raise ValueError("a stored change has the instant it was made")
        result = await self._db.execute(
            f"INSERT INTO class_states ({_COLUMNS}) VALUES (:name, :since, :state, :tier, :graded, :beats, "  # noqa: S608 - constant
            ":null_rate, :lift, :lift_low, :lift_high, :reason) ON CONFLICT (class, since) DO NOTHING",
            {
                "name": change.name,
                "since": change.since,
                "state": change.state,
                "tier": change.tier,
                "graded": change.graded,
                "beats": change.beats,
                "null_rate": change.null_rate,
                "lift": change.lift,
                "lift_low": change.lift_low,
                "lift_high": change.lift_high,
                "reason": change.reason,
            },
        )
        return result.rowcount > 0

    async def history(self, name: str | None = None) -> builtins.list[ClassState]:
        """Every change, oldest first (of one class, or of all)."""
        sql = f"SELECT {_COLUMNS} FROM class_states"  # noqa: S608 - constant column list
        params: dict[str, str] = {}
        if name is not None:
            sql += " WHERE class = :name"
            params["name"] = name
        return [_state(row) for row in await self._db.fetch_all(sql + " ORDER BY since, class", params)]

    async def before(self, at: datetime) -> dict[str, ClassState]:
        """Each class's state at instant `at`: its last change strictly before it (absent: none yet)."""
        rows = await self._db.fetch_all(
            f"SELECT {_COLUMNS} FROM class_states WHERE since < :at ORDER BY since, class",  # noqa: S608 - constant
            {"at": at},
        )
        return state_before([_state(row) for row in rows], at)

    async def current(self) -> dict[str, ClassState]:
        """Each class's latest change."""
        latest: dict[str, ClassState] = {}
        for change in await self.history():
            latest[change.name] = change
        return latest
