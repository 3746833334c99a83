"""Signals: every detected market event, stored once under its id.

Round trip: a stored `Signal` reads back equal to the one inserted, with two JSON caveats for
`details` only — tuples come back as lists and non-string keys as strings (JSON has no tuples and
only string keys). `books` is turned back into a tuple and `breakdown` into a `ScoreBreakdown`.
"""

from __future__ import annotations

import builtins
from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Row

from engine.models import Entry, Market, ScoreBreakdown, Side, Signal, SignalType
from storage.codec import from_db, json_dumps, json_loads
from storage.db import Database

__all__ = ["SIGNAL_COLUMNS", "SignalRepository", "signal_from_row"]

#: Column list of ``signals`` (aliased ``s``), shared by the joins in storage.grades.
SIGNAL_COLUMNS = (
    "s.id, s.type, s.game_id, s.market, s.side, s.created_at, s.commence_time, s.score, s.breakdown, "
    "s.books, s.magnitude, s.velocity, s.entry_book, s.entry_point, s.entry_price, s.entry_prob, "
    "s.consensus_point, s.consensus_prob, s.details"
)

_INSERT = """
INSERT INTO signals (id, type, game_id, market, side, created_at, commence_time, score, breakdown,
                     books, magnitude, velocity, entry_book, entry_point, entry_price, entry_prob,
                     consensus_point, consensus_prob, details)
VALUES (:id, :type, :game_id, :market, :side, :created_at, :commence_time, :score, :breakdown,
        :books, :magnitude, :velocity, :entry_book, :entry_point, :entry_price, :entry_prob,
        :consensus_point, :consensus_prob, :details)
ON CONFLICT (id) DO NOTHING
"""


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _breakdown_to_json(b: ScoreBreakdown) -> str:
    return json_dumps({**b.as_dict(), "total": b.total})


def _breakdown_from_json(text: str) -> ScoreBreakdown:
    d = json_loads(text)
    return ScoreBreakdown(
        magnitude=float(d["magnitude"]),
        velocity=float(d["velocity"]),
        breadth=float(d["breadth"]),
        sharp=float(d["sharp"]),
        time_to_tip=float(d["time_to_tip"]),
        total=int(d["total"]),
    )


def signal_from_row(row: Row[Any]) -> Signal:
    """Build a `Signal` from a row holding the ``signals`` columns under their own names."""
    details = json_loads(row.details) if row.details else {}
    return Signal(
        id=row.id,
        type=SignalType(row.type),
        game_id=row.game_id,
        market=Market(row.market),
        side=Side(row.side),
        created_at=from_db(row.created_at),
        score=int(row.score),
        breakdown=_breakdown_from_json(row.breakdown),
        books=tuple(json_loads(row.books)),
        magnitude=float(row.magnitude),
        velocity=_opt_float(row.velocity),
        entry=Entry(
            book=row.entry_book,
            point=_opt_float(row.entry_point),
            price=int(row.entry_price),
            prob=float(row.entry_prob),
        ),
        consensus_point=_opt_float(row.consensus_point),
        consensus_prob=float(row.consensus_prob),
        commence_time=from_db(row.commence_time),
        details=details,
    )


def _signal_params(s: Signal) -> dict[str, object]:
    details: Mapping[str, Any] = s.details or {}
    return {
        "id": s.id,
        "type": s.type.value,
        "game_id": s.game_id,
        "market": s.market.value,
        "side": s.side.value,
        "created_at": s.created_at,
        "commence_time": s.commence_time,
        "score": s.score,
        "breakdown": _breakdown_to_json(s.breakdown),
        "books": json_dumps(list(s.books)),
        "magnitude": s.magnitude,
        "velocity": s.velocity,
        "entry_book": s.entry.book,
        "entry_point": s.entry.point,
        "entry_price": s.entry.price,
        "entry_prob": s.entry.prob,
        "consensus_point": s.consensus_point,
        "consensus_prob": s.consensus_prob,
        "details": json_dumps(dict(details)),
    }


class SignalRepository:
    """The ``signals`` table; writes belong inside ``db.transaction()``."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def insert(self, signal: Signal) -> bool:
        """Store a signal; False (and nothing changed) if its id is already stored.

        The boolean lets the caller publish only new signals, so a retried batch never alerts twice.
        """
        result = await self._db.execute(_INSERT, _signal_params(signal))
        return result.rowcount > 0

    async def get(self, signal_id: str) -> Signal | None:
        row = await self._db.fetch_one(
            f"SELECT {SIGNAL_COLUMNS} FROM signals s WHERE s.id = :id",  # noqa: S608 - constant column list
            {"id": signal_id},
        )
        return None if row is None else signal_from_row(row)

    async def since(self, at: datetime) -> builtins.list[Signal]:
        """Signals created at or after `at`, oldest first (the engine rebuilds its cooldowns from them)."""
        return await self._fetch(
            f"SELECT {SIGNAL_COLUMNS} FROM signals s "  # noqa: S608 - constant column list
            "WHERE s.created_at >= :at ORDER BY s.created_at, s.id",
            {"at": at},
        )

    async def ungraded_for_game(self, game_id: str) -> builtins.list[Signal]:
        """A game's signals that have no grade yet, oldest first (what CLV grading still owes)."""
        return await self._fetch(
            f"SELECT {SIGNAL_COLUMNS} FROM signals s "  # noqa: S608 - constant column list
            "LEFT JOIN grades g ON g.signal_id = s.id "
            "WHERE s.game_id = :game_id AND g.signal_id IS NULL ORDER BY s.created_at, s.id",
            {"game_id": game_id},
        )

    async def count_by_type(self) -> dict[SignalType, int]:
        """Signals per type; every type is present (0 when none)."""
        counts = dict.fromkeys(SignalType, 0)
        for row in await self._db.fetch_all("SELECT type, COUNT(*) AS n FROM signals GROUP BY type"):
            counts[SignalType(row.type)] = int(row.n)
        return counts

    async def list(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        game_id: str | None = None,
        types: Collection[SignalType] | None = None,
        market: Market | None = None,
        min_score: int | None = None,
        limit: int = 100,
        before: tuple[datetime, str] | None = None,
    ) -> builtins.list[Signal]:
        """Signals newest first, `since` <= created_at < `until`, with optional filters.

        `types`: None or empty means every type (as in the presets' ``types = []``).
        `before` is the keyset cursor: the (created_at, id) of the last signal of the previous page;
        the next page holds the signals strictly older in (created_at, id) order, so pages never
        overlap or skip even when many signals share a timestamp.
        """
        where = ["1 = 1"]
        params: dict[str, object] = {"limit": limit}
        if since is not None:
            where.append("s.created_at >= :since")
            params["since"] = since
        if until is not None:
            where.append("s.created_at < :until")
            params["until"] = until
        if game_id is not None:
            where.append("s.game_id = :game_id")
            params["game_id"] = game_id
        if types:
            wanted = sorted({SignalType(t).value for t in types})
            names = [f"type_{i}" for i in range(len(wanted))]
            where.append(f"s.type IN ({', '.join(':' + name for name in names)})")
            params.update(zip(names, wanted, strict=True))
        if market is not None:
            where.append("s.market = :market")
            params["market"] = Market(market).value
        if min_score is not None:
            where.append("s.score >= :min_score")
            params["min_score"] = min_score
        if before is not None:
            where.append("(s.created_at, s.id) < (:before_at, :before_id)")
            params["before_at"], params["before_id"] = before
        # Only fixed fragments and parameter names of our own are joined into the text; values are bound.
        sql = (
            f"SELECT {SIGNAL_COLUMNS} FROM signals s WHERE {' AND '.join(where)} "  # noqa: S608
            "ORDER BY s.created_at DESC, s.id DESC LIMIT :limit"
        )
        return await self._fetch(sql, params)

    async def _fetch(self, sql: str, params: dict[str, object]) -> builtins.list[Signal]:
        return [signal_from_row(row) for row in await self._db.fetch_all(sql, params)]
