"""Members' settings: watchlists, alert routes per channel, DM preferences."""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from engine.alert_state import DEFAULT_MINIMUM
from engine.models import SignalType
from storage.codec import from_db, json_dumps, json_loads
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
        result = await self._db.execute(
            "INSERT INTO watchlist (guild_id, user_id, game_id, added_at) VALUES (:guild_id, :user_id, :game_id, :at) "
            "ON CONFLICT (guild_id, user_id, game_id) DO NOTHING",
            {"guild_id": str(guild_id), "user_id": str(user_id), "game_id": game_id, "at": at},
        )
        return result.rowcount > 0

    async def unwatch(self, guild_id: int, user_id: int, game_id: str) -> bool:
        result = await self._db.execute(
            "DELETE FROM watchlist WHERE guild_id = :guild_id AND user_id = :user_id AND game_id = :game_id",
            {"guild_id": str(guild_id), "user_id": str(user_id), "game_id": game_id},
        )
        return result.rowcount > 0

    async def watchlist(self, guild_id: int, user_id: int) -> builtins.list[str]:
        """Game ids, oldest first."""
        rows = await self._db.fetch_all(
            "SELECT game_id FROM watchlist WHERE guild_id = :guild_id AND user_id = :user_id "
            "ORDER BY added_at, game_id",
            {"guild_id": str(guild_id), "user_id": str(user_id)},
        )
        return [row.game_id for row in rows]

    async def watchers(self, game_id: str) -> builtins.list[tuple[int, int]]:
        """(guild id, user id) of everyone watching a game."""
        rows = await self._db.fetch_all(
            "SELECT guild_id, user_id FROM watchlist WHERE game_id = :game_id ORDER BY guild_id, user_id",
            {"game_id": game_id},
        )
        return [(int(row.guild_id), int(row.user_id)) for row in rows]

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
        await self._db.execute(
            "INSERT INTO alert_routes (guild_id, channel_id, types, created_by, created_at, min_state) "
            "VALUES (:guild_id, :channel_id, :types, :by, :at, :min_state) "
            "ON CONFLICT (guild_id, channel_id) DO UPDATE SET types = excluded.types, "
            "created_by = excluded.created_by, created_at = excluded.created_at, min_state = excluded.min_state",
            {
                "guild_id": str(guild_id),
                "channel_id": str(channel_id),
                "types": json_dumps(sorted(t.value for t in types)),
                "by": str(by),
                "at": at,
                "min_state": min_state,
            },
        )

    async def remove_route(self, guild_id: int, channel_id: int) -> bool:
        result = await self._db.execute(
            "DELETE FROM alert_routes WHERE guild_id = :guild_id AND channel_id = :channel_id",
            {"guild_id": str(guild_id), "channel_id": str(channel_id)},
        )
        return result.rowcount > 0

    async def routes(self, guild_id: int | None = None) -> builtins.list[AlertRoute]:
        sql = "SELECT guild_id, channel_id, types, created_by, created_at, min_state FROM alert_routes"
        params: dict[str, str] = {}
        if guild_id is not None:
            sql += " WHERE guild_id = :guild_id"
            params["guild_id"] = str(guild_id)
        # Ids are TEXT: ordered as text (as before), the same on both backends for digit strings of one length.
        rows = await self._db.fetch_all(sql + " ORDER BY guild_id, channel_id", params)
        return [
            AlertRoute(
                guild_id=int(row.guild_id),
                channel_id=int(row.channel_id),
                types=frozenset(SignalType(t) for t in json_loads(row.types)),
                created_by=int(row.created_by),
                created_at=from_db(row.created_at),
                min_state=row.min_state,
            )
            for row in rows
        ]

    # preferences ----------------------------------------------------------------
    async def set_dm_alerts(self, guild_id: int, user_id: int, enabled: bool) -> None:
        await self._db.execute(
            "INSERT INTO member_prefs (guild_id, user_id, dm_alerts) VALUES (:guild_id, :user_id, :enabled) "
            "ON CONFLICT (guild_id, user_id) DO UPDATE SET dm_alerts = excluded.dm_alerts",
            {"guild_id": str(guild_id), "user_id": str(user_id), "enabled": bool(enabled)},
        )

    async def dm_alerts(self, guild_id: int, user_id: int) -> bool:
        return (await self.dm_prefs(guild_id, user_id)).enabled

    async def set_dm_filters(
        self, guild_id: int, user_id: int, types: Iterable[SignalType] | None, min_score: int
    ) -> None:
        """Which watchlist DMs the member wants: `types` None for every type; scores below `min_score` are dropped."""
        chosen = None if types is None else json_dumps(sorted(t.value for t in types))
        await self._db.execute(
            "INSERT INTO member_prefs (guild_id, user_id, dm_types, dm_min_score) "
            "VALUES (:guild_id, :user_id, :types, :min_score) "
            "ON CONFLICT (guild_id, user_id) DO UPDATE SET dm_types = excluded.dm_types, "
            "dm_min_score = excluded.dm_min_score",
            {"guild_id": str(guild_id), "user_id": str(user_id), "types": chosen, "min_score": int(min_score)},
        )

    async def set_dm_min_state(self, guild_id: int, user_id: int, min_state: str) -> None:
        """The lowest alert state of a signal's class that still gets the member a watchlist DM."""
        await self._db.execute(
            "INSERT INTO member_prefs (guild_id, user_id, dm_min_state) VALUES (:guild_id, :user_id, :min_state) "
            "ON CONFLICT (guild_id, user_id) DO UPDATE SET dm_min_state = excluded.dm_min_state",
            {"guild_id": str(guild_id), "user_id": str(user_id), "min_state": min_state},
        )

    async def dm_prefs(self, guild_id: int, user_id: int) -> DmPrefs:
        row = await self._db.fetch_one(
            "SELECT dm_alerts, dm_types, dm_min_score, dm_min_state FROM member_prefs "
            "WHERE guild_id = :guild_id AND user_id = :user_id",
            {"guild_id": str(guild_id), "user_id": str(user_id)},
        )
        if row is None:
            return DmPrefs()
        types = None if row.dm_types is None else frozenset(SignalType(t) for t in json_loads(row.dm_types))
        return DmPrefs(
            enabled=bool(row.dm_alerts),
            types=types,
            min_score=int(row.dm_min_score or 0),
            min_state=row.dm_min_state or DEFAULT_MINIMUM,
        )
