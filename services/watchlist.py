"""Watchlists: Community may follow a few games, Pro many; games that have started stop counting."""

from __future__ import annotations

from datetime import datetime

import access
from access import UserError, Viewer
from services.context import ServiceContext
from services.games import find_game, matchup
from storage import SCHEDULED, StoredGame


async def watched_games(ctx: ServiceContext, viewer: Viewer) -> list[StoredGame]:
    ids = await ctx.repos.members.watchlist(viewer.guild_id, viewer.user_id)
    games = [await ctx.repos.games.get(game_id) for game_id in ids]
    return [g for g in games if g is not None]


def _active(games: list[StoredGame], now: datetime) -> list[StoredGame]:
    return [g for g in games if g.status == SCHEDULED and g.scheduled_tip > now]


async def add(ctx: ServiceContext, viewer: Viewer, query: str, now: datetime) -> StoredGame:
    stored = await find_game(ctx, query, now)
    if stored.status != SCHEDULED or stored.scheduled_tip <= now:
        raise UserError(f"{matchup(stored.game)} has already tipped off; watch an upcoming game instead.")
    current = await watched_games(ctx, viewer)
    if stored.game.id in {g.game.id for g in current}:
        raise UserError(f"{matchup(stored.game)} is already on your watchlist.")
    limit = access.watchlist_limit(viewer.tier, ctx.settings.tiers)
    if len(_active(current, now)) >= limit:
        hint = f" {access.UPGRADE_HINT}" if not viewer.is_pro else ""
        raise UserError(
            f"Your watchlist is full ({limit} upcoming games). Remove one with `/watch remove` first.{hint}"
        )
    async with ctx.repos.db.transaction():
        await ctx.repos.members.watch(viewer.guild_id, viewer.user_id, stored.game.id, now)
    return stored


async def remove(ctx: ServiceContext, viewer: Viewer, query: str, now: datetime) -> StoredGame:
    stored = await find_game(ctx, query, now)
    async with ctx.repos.db.transaction():
        removed = await ctx.repos.members.unwatch(viewer.guild_id, viewer.user_id, stored.game.id)
    if not removed:
        raise UserError(f"{matchup(stored.game)} is not on your watchlist.")
    return stored


async def listing(ctx: ServiceContext, viewer: Viewer, now: datetime) -> tuple[list[StoredGame], int]:
    """The member's games (upcoming first) and their limit."""
    games = await watched_games(ctx, viewer)
    games.sort(key=lambda g: (g.status != SCHEDULED or g.scheduled_tip <= now, g.scheduled_tip))
    return games, access.watchlist_limit(viewer.tier, ctx.settings.tiers)
