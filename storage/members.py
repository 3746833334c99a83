"""Members' settings: watchlists, alert routes per channel, DM preferences."""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from engine.alert_state import DEFAULT_MINIMUM
from engine.models import SignalType
from storage.codec import from_db, json_dumps, json_loads, to_db
from storage.db import Database

__all__ = ["AlertRoute", "DmPrefs", "MemberRepository"]


@dataclass(frozen=True, slots=True)
class AlertRoute:
    guild_id: int
    channel_id: int
    types: frozenset[SignalType]
    created_by: int
    created_at: datetime
    #: The route's bar (`engine.alert_state.MINIMUMS`): classes below it post without the ping.
    min_state: str = DEFAULT_MINIMUM


@dataclass(frozen=True, slots=True)
class DmPrefs:
    """A member's watchlist DM preferences: on/off, which signal types (None: every type), the lowest score,
    and the lowest alert state of a signal's class (`engine.alert_state.MINIMUMS`)."""

    enabled: bool = False
    types: frozenset[SignalType] | None = None
    min_score: int = 0
    min_state: str = DEFAULT_MINIMUM

    def accepts(self, kind: SignalType, score: int) -> bool:
        return self.enabled and (self.types is None or kind in self.types) and score >= self.min_score


class MemberRepository:
    """The ``watchlist``, ``alert_routes`` and ``member_prefs`` tables; writes belong in a transaction."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # watchlist ------------------------------------------------------------------
    async def watch(self, guild_id: int, user_id: int, game_id: str, at: datetime) -> bool:
        async with self._db.conn.execute(
            "INSERT INTO watchlist (guild_id, user_id, game_id, added_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (guild_id, user_id, game_id) DO NOTHING",
            (str(guild_id), str(user_id), game_id, to_db(at)),
        ) as cur:
            return cur.rowcount > 0

    async def unwatch(self, guild_id: int, user_id: int, game_id: str) -> bool:
        async with self._db.conn.execute(
            "DELETE FROM watchlist WHERE guild_id = ? AND user_id = ? AND game_id = ?",
            (str(guild_id), str(user_id), game_id),
        ) as cur:
            return cur.rowcount > 0

    async def watchlist(self, guild_id: int, user_id: int) -> builtins.list[str]:
        """Game ids, oldest first."""
        async with self._db.conn.execute(
            "SELECT game_id FROM watchlist WHERE guild_id = ? AND user_id = ? ORDER BY added_at, game_id",
            (str(guild_id), str(user_id)),
        ) as cur:
            return [row[0] for row in await cur.fetchall()]

    async def watchers(self, game_id: str) -> builtins.list[tuple[int, int]]:
        """(guild id, user id) of everyone watching a game."""
        async with self._db.conn.execute(
            "SELECT guild_id, user_id FROM watchlist WHERE game_id = ? ORDER BY guild_id, user_id", (game_id,)
        ) as cur:
            return [(int(row[0]), int(row[1])) for row in await cur.fetchall()]

    # alert routes ---------------------------------------------------------------
    async def set_route(
        self,
        guild_id: int,
        channel_id: int,
        types: Iterable[SignalType],
        by: int,
        at: datetime,
        min_state: str = DEFAULT_MINIMUM,
    ) -> None:
        await self._db.conn.execute(
            "INSERT INTO alert_routes (guild_id, channel_id, types, created_by, created_at, min_state) "
            "VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (guild_id, channel_id) DO UPDATE SET types = excluded.types, "
            "created_by = excluded.created_by, created_at = excluded.created_at, min_state = excluded.min_state",
            (
                str(guild_id),
                str(channel_id),
                json_dumps(sorted(t.value for t in types)),
                str(by),
                to_db(at),
                min_state,
            ),
        )

    async def remove_route(self, guild_id: int, channel_id: int) -> bool:
        async with self._db.conn.execute(
            "DELETE FROM alert_routes WHERE guild_id = ? AND channel_id = ?", (str(guild_id), str(channel_id))
        ) as cur:
            return cur.rowcount > 0

    async def routes(self, guild_id: int | None = None) -> builtins.list[AlertRoute]:
        sql = "SELECT guild_id, channel_id, types, created_by, created_at, min_state FROM alert_routes"
        params: tuple[str, ...] = ()
        if guild_id is not None:
            sql += " WHERE guild_id = ?"
            params = (str(guild_id),)
        async with self._db.conn.execute(sql + " ORDER BY guild_id, channel_id", params) as cur:
            return [
                AlertRoute(
                    guild_id=int(row[0]),
                    channel_id=int(row[1]),
                    types=frozenset(SignalType(t) for t in json_loads(row[2])),
                    created_by=int(row[3]),
                    created_at=from_db(row[4]),
                    min_state=row[5],
                )
                for row in await cur.fetchall()
            ]

    # preferences ----------------------------------------------------------------
    async def set_dm_alerts(self, guild_id: int, user_id: int, enabled: bool) -> None:
        await self._db.conn.execute(
            "INSERT INTO member_prefs (guild_id, user_id, dm_alerts) VALUES (?, ?, ?) "
            "ON CONFLICT (guild_id, user_id) DO UPDATE SET dm_alerts = excluded.dm_alerts",
            (str(guild_id), str(user_id), int(enabled)),
        )

    async def dm_alerts(self, guild_id: int, user_id: int) -> bool:
        return (await self.dm_prefs(guild_id, user_id)).enabled

    async def set_dm_filters(
        self, guild_id: int, user_id: int, types: Iterable[SignalType] | None, min_score: int
    ) -> None:
        """Which watchlist DMs the member wants: `types` None for every type; scores below `min_score` are dropped."""
        chosen = None if types is None else json_dumps(sorted(t.value for t in types))
        await self._db.conn.execute(
            "INSERT INTO member_prefs (guild_id, user_id, dm_types, dm_min_score) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (guild_id, user_id) DO UPDATE SET dm_types = excluded.dm_types, "
            "dm_min_score = excluded.dm_min_score",
            (str(guild_id), str(user_id), chosen, int(min_score)),
        )

    async def set_dm_min_state(self, guild_id: int, user_id: int, min_state: str) -> None:
        """The lowest alert state of a signal's class that still gets the member a watchlist DM."""
        await self._db.conn.execute(
            "INSERT INTO member_prefs (guild_id, user_id, dm_min_state) VALUES (?, ?, ?) "
            "ON CONFLICT (guild_id, user_id) DO UPDATE SET dm_min_state = excluded.dm_min_state",
            (str(guild_id), str(user_id), min_state),
        )

    async def dm_prefs(self, guild_id: int, user_id: int) -> DmPrefs:
        async with self._db.conn.execute(
            "SELECT dm_alerts, dm_types, dm_min_score, dm_min_state FROM member_prefs "
            "WHERE guild_id = ? AND user_id = ?",
            (str(guild_id), str(user_id)),
        ) as cur:
            row = await cur.fetchone()
        if row is None:
            return DmPrefs()
        types = None if row[1] is None else frozenset(SignalType(t) for t in json_loads(row[1]))
        return DmPrefs(
            enabled=bool(row[0]), types=types, min_score=int(row[2] or 0), min_state=row[3] or DEFAULT_MINIMUM
        )
