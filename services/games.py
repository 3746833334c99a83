"""Finding games by what a member types: an id, or part of "Away @ Home"; and naming them in a picker
with where they stand now ("tips in 3 h", "live · tipped 20 min ago", "final")."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from enum import IntEnum

import access
from access import NotFound, UserError
from engine.models import Close, Game, Market
from services.context import ServiceContext
from services.when import span
from storage import StoredGame

MAX_QUERY = 100
#: Discord's cap on an autocomplete choice's name.
CHOICE_NAME_MAX = 100
#: We hold no scores, so a game counts as over this long after its tip: an NBA or WNBA game takes
#: about 2 to 2.5 hours, overtime included, so past 3 hours "final" is safe to show.
GAME_LENGTH = timedelta(hours=3)


class Phase(IntEnum):
    """Where a game stands; the order is the picker's: what can still be bet first, finished games last."""

    UPCOMING = 0
    LIVE = 1
    FINAL = 2


def phase(game: Game, now: datetime) -> Phase:
    if now < game.commence_time:
        return Phase.UPCOMING
    return Phase.LIVE if now - game.commence_time < GAME_LENGTH else Phase.FINAL


def tip_text(game: Game, now: datetime) -> str:
    """ "tips in 45 min", "tips in 3 h 20 min", "tips now", "live · tipped 20 min ago", "live", "final"."""
    match phase(game, now):
        case Phase.UPCOMING:
            left = game.commence_time - now
            return "tips now" if left < timedelta(minutes=1) else f"tips in {span(left)}"
        case Phase.LIVE:
            played = now - game.commence_time
            return "live" if played < timedelta(minutes=1) else f"live · tipped {span(played)} ago"
        case _:
            return "final"


def parse_market(text: str) -> Market:
    try:
        return Market(text)
    except ValueError:
        raise UserError("Market must be spreads, totals or h2h.") from None


def matchup(game: Game) -> str:
    return f"{game.away_team} @ {game.home_team}"


async def _candidates(ctx: ServiceContext, now: datetime) -> list[StoredGame]:
    """Every stored game: upcoming ones soonest first, then live ones, then finished ones, each group
    nearest tip first (a slate is small; the demo database holds a few games)."""
    games = await ctx.repos.games.list(limit=1000)
    return sorted(games, key=lambda g: (phase(g.game, now), abs((g.game.commence_time - now).total_seconds())))


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


def fit(head: str, tail: str, limit: int = CHOICE_NAME_MAX) -> str:
    """ "head · tail" in at most `limit` characters, shortening the head so the tail (the time) survives."""
    room = limit - len(tail) - 3
    if len(head) > room:
        head = head[: max(room - 1, 0)].rstrip() + "…"
    return f"{head} · {tail}"[:limit]


def label(stored: StoredGame, now: datetime) -> str:
    """Autocomplete label: the matchup and where the game stands relative to `now` (the caller's clock,
    which the demo shifts), never a UTC time the member would have to convert."""
    return fit(matchup(stored.game), tip_text(stored.game, now))


MAX_ID = 200


async def game_by_id(ctx: ServiceContext, game_id: str) -> StoredGame:
    """A game by its exact id (the REST API's lookup), or NotFound."""
    text = game_id or ""
    stored = await ctx.repos.games.get(text) if 0 < len(text) <= MAX_ID else None
    if stored is None:
        raise NotFound(f"No game with id “{text[:MAX_ID]}”.")
    return stored


async def game_with_closes(
    ctx: ServiceContext, game_id: str, audience: access.ApiAudience
) -> tuple[StoredGame, list[Close]]:
    """A game by its exact id with its closes captured at or before the audience's horizon
    (`access.visible_closes`)."""
    stored = await game_by_id(ctx, game_id)
    closes = await ctx.repos.closes.for_game(stored.game.id)
    return stored, access.visible_closes(closes, access.api_horizon(audience, ctx.clock()))


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
