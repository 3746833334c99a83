"""Games, each book's lines (raw odds: licence permitting) and the de-vigged consensus."""

from __future__ import annotations

from api.http import (
    LIMIT,
    Call,
    ChoiceParam,
    CursorParam,
    DateParam,
    EnumParam,
    Operation,
    PathParam,
    cursor_time,
    page,
)
from api.schemas import Close, ConsensusPage, Game, GameDetail, GameOdds, GamePage, Line, LinePage
from api.schemas import Consensus as ConsensusModel
from engine.models import Market
from services import games as game_service
from services import odds as odds_service
from storage import CLOSED, SCHEDULED

GAME_ID = PathParam("game_id", "A game id.")
MARKET = EnumParam("market", "Only this market.", kind=Market)

RAW_ODDS = (
    "Per-book raw odds are the odds provider's data. They are served only where this operator's licence "
    "allows redistributing them (`[api] redistribute_raw_odds`); otherwise the answer is 403 "
    "`raw_odds_not_licensed`. Derived data — the consensus, signals with their entry, closes and CLV — is "
    "always served."
)


async def list_games(call: Call) -> GamePage:
    p = call.params
    cursor = p["cursor"]
    rows = await game_service.list_games(
        call.ctx, day=p["date"], status=p["status"], limit=p["limit"] + 1, after_id=cursor[0] if cursor else None
    )
    return page(GamePage, rows, p["limit"], "games", lambda g: [g.game.id], Game.build)


async def get_game(call: Call) -> GameDetail:
    stored, closes = await game_service.game_with_closes(call.ctx, call.path("game_id"), call.audience)
    return GameDetail(**Game.fields_of(stored), closes=[Close.build(c) for c in closes])


async def game_odds(call: Call) -> GameOdds:
    stored, lines = await odds_service.book_lines(call.ctx, call.audience, call.path("game_id"))
    return GameOdds(
        game_id=stored.game.id,
        status=stored.status,
        as_of=max((line.observed_at for line in lines), default=None),
        lines=[Line.build(line) for line in lines],
    )


async def odds_history(call: Call) -> LinePage:
    p = call.params
    c = p["cursor"]
    after = (cursor_time(c[0]), c[1], c[2]) if c else None
    lines = await odds_service.line_history(
        call.ctx, call.audience, call.path("game_id"), market=p["market"], after=after, limit=p["limit"] + 1
    )
    key = lambda ln: [ln.observed_at.isoformat(), ln.market.value, ln.book]  # noqa: E731
    return page(LinePage, lines, p["limit"], "lines", key, Line.build)


async def consensus_history(call: Call) -> ConsensusPage:
    p = call.params
    c = p["cursor"]
    after = (cursor_time(c[0]), c[1]) if c else None
    rows = await odds_service.consensus_history(
        call.ctx, call.path("game_id"), market=p["market"], after=after, limit=p["limit"] + 1
    )
    return page(
        ConsensusPage, rows, p["limit"], "consensus", lambda x: [x.at.isoformat(), x.market.value], ConsensusModel.build
    )


ROUTES = (
    Operation(
        "GET",
        "/games",
        list_games,
        "listGames",
        "Games by tip-off, oldest first",
        GamePage,
        "games",
        params=(
            DateParam("date", "UTC day of tip-off, YYYY-MM-DD."),
            ChoiceParam("status", "Only games in this state.", choices=(SCHEDULED, CLOSED)),
            LIMIT,
            CursorParam("cursor", "Opaque cursor from the previous page's `next_cursor`.", kind="games", size=1),
        ),
        errors=(400,),
        cached=True,
    ),
    Operation(
        "GET",
        "/games/{game_id}",
        get_game,
        "getGame",
        "One game, with its closing lines once captured",
        GameDetail,
        "games",
        params=(GAME_ID,),
        errors=(400, 404),
        cached=True,
    ),
    Operation(
        "GET",
        "/games/{game_id}/odds",
        game_odds,
        "getGameOdds",
        "Each book's current line (a closed game: its last lines)",
        GameOdds,
        "games",
        params=(GAME_ID,),
        errors=(400, 403, 404),
        description=RAW_ODDS,
        cached=True,
    ),
    Operation(
        "GET",
        "/games/{game_id}/odds/history",
        odds_history,
        "getGameOddsHistory",
        "Every line the books quoted, oldest first",
        LinePage,
        "games",
        params=(
            GAME_ID,
            MARKET,
            LIMIT,
            CursorParam("cursor", "Opaque cursor from the previous page's `next_cursor`.", kind="lines", size=3),
        ),
        errors=(400, 403, 404),
        description=RAW_ODDS,
        cached=True,
    ),
    Operation(
        "GET",
        "/games/{game_id}/consensus",
        consensus_history,
        "getGameConsensus",
        "The de-vigged consensus over time, oldest first",
        ConsensusPage,
        "games",
        params=(
            GAME_ID,
            MARKET,
            LIMIT,
            CursorParam("cursor", "Opaque cursor from the previous page's `next_cursor`.", kind="consensus", size=2),
        ),
        errors=(400, 404),
        description="Derived data (de-vigged over the books): always served.",
        cached=True,
    ),
)
