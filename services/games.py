"""Finding games by what a member types: an id, or part of "Away @ Home"."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from access import NotFound, UserError
from engine.models import Close, Game, Market
from services.context import ServiceContext
from storage import StoredGame

MAX_QUERY = 100


def parse_market(text: str) -> Market:
    try:
        return Market(text)
    except ValueError:
        raise UserError("Market must be spreads, totals or h2h.") from None


def matchup(game: Game) -> str:
    return f"{game.away_team} @ {game.home_team}"


async def _candidates(ctx: ServiceContext, now: datetime) -> list[StoredGame]:
    """Every stored game, nearest tip first (a slate is small; the demo database holds a few games)."""
    games = await ctx.repos.games.list(limit=1000)
    return sorted(games, key=lambda g: abs((g.game.commence_time - now).total_seconds()))


async def suggest_games(ctx: ServiceContext, text: str, now: datetime, limit: int = 25) -> list[StoredGame]:
    needle = text.strip().casefold()
    games = await _candidates(ctx, now)
    if needle:
        games = [g for g in games if needle in matchup(g.game).casefold() or needle == g.game.id]
    return games[:limit]


async def find_game(ctx: ServiceContext, query: str, now: datetime) -> StoredGame:
    text = (query or "").strip()
    if not text or len(text) > MAX_QUERY:
        raise UserError("Name a game: pick one from the list, or type part of the team names.")
    stored = await ctx.repos.games.get(text)
    if stored is not None:
        return stored
    matches = await suggest_games(ctx, text, now, limit=5)
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise NotFound(f"No game matches “{text}”. Pick one from the autocomplete list.")
    names = ", ".join(matchup(g.game) for g in matches)
    raise UserError(f"“{text}” matches several games ({names}). Pick one from the list.")


def label(stored: StoredGame) -> str:
    """Autocomplete label: matchup and tip time (Discord caps names at 100 characters)."""
    tip = stored.game.commence_time.strftime("%b %d %H:%MZ")
    return f"{matchup(stored.game)} · {tip}"[:100]


MAX_ID = 200


async def game_by_id(ctx: ServiceContext, game_id: str) -> StoredGame:
    """A game by its exact id (the REST API's lookup), or NotFound."""
    text = game_id or ""
    stored = await ctx.repos.games.get(text) if 0 < len(text) <= MAX_ID else None
    if stored is None:
        raise NotFound(f"No game with id “{text[:MAX_ID]}”.")
    return stored


async def game_with_closes(ctx: ServiceContext, game_id: str) -> tuple[StoredGame, list[Close]]:
    stored = await game_by_id(ctx, game_id)
    return stored, await ctx.repos.closes.for_game(stored.game.id)


async def list_games(
    ctx: ServiceContext,
    *,
    day: date | None = None,
    status: str | None = None,
    limit: int = 50,
    after_id: str | None = None,
) -> list[StoredGame]:
    """Games by tip-off (commence_time, id), oldest first, optionally one UTC day and one status."""
    since = until = None
    if day is not None:
        since = datetime(day.year, day.month, day.day, tzinfo=UTC)
        until = since + timedelta(days=1)
    return await ctx.repos.games.list(since=since, until=until, status=status, limit=limit, after_id=after_id)
