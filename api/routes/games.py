"""Games, each book's lines (raw odds: licence permitting) and the de-vigged consensus."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from pydantic import Field

from api.deps import Caller
from api.params import CURSOR, Day, NoQuery, PageQuery, cursor, page, parse_instant
from api.route import PREFIX, ApiRoute, cached, responses
from api.schemas import Close, Consensus, ConsensusPage, Game, GameDetail, GameOdds, GamePage, Line, LinePage
from engine.models import Market
from services import games as game_service
from services import odds as odds_service

router = APIRouter(prefix=PREFIX, route_class=ApiRoute, tags=["games"])

RAW_ODDS = (
    "Per-book raw odds are the odds provider's data. They are served only where this operator's licence "
    "allows redistributing them (`[api] redistribute_raw_odds`); otherwise the answer is 403 "
    "`raw_odds_not_licensed`. Derived data — the consensus, signals with their entry, closes and CLV — is "
    "always served."
)
GameId = Annotated[str, Path(description="A game id.", examples=["80bb6c471358f70e96b4571c4470ac0a"])]
MarketFilter = Annotated[Market | None, Field(description="Only this market.", examples=["spreads"])]


GameCursor = cursor("games", str, example=["80bb6c471358f70e96b4571c4470ac0a"])
LineCursor = cursor("lines", parse_instant, str, str, example=["2026-08-05T23:00:48+00:00", "spreads", "draftkings"])
ConsensusCursor = cursor("consensus", parse_instant, str, example=["2026-08-05T23:00:48+00:00", "spreads"])


class GameQuery(PageQuery):
    date: Day | None = Field(None, description="UTC day of tip-off, YYYY-MM-DD.", examples=["2026-08-05"])
    status: Literal["scheduled", "closed"] | None = Field(
        None, description="Only games in this state.", examples=["scheduled"]
    )
    cursor: GameCursor | None = Field(None, description=CURSOR)


class LineQuery(PageQuery):
    market: MarketFilter = None
    cursor: LineCursor | None = Field(None, description=CURSOR)


class ConsensusQuery(PageQuery):
    market: MarketFilter = None
    cursor: ConsensusCursor | None = Field(None, description=CURSOR)


@router.get(
    "/games",
    response_model=GamePage,
    operation_id="listGames",
    summary="Games by tip-off, oldest first",
    responses=responses(400),
)
@cached
async def list_games(query: Annotated[GameQuery, Query()], call: Caller) -> GamePage:
    after = query.cursor[0] if query.cursor else None
    rows = await game_service.list_games(
        call.ctx, day=query.date, status=query.status, limit=query.limit + 1, after_id=after
    )
    shown, more = page(rows, query.limit, "games", lambda g: [g.game.id])
    return GamePage(data=[Game.model_validate(g) for g in shown], next_cursor=more)


@router.get(
    "/games/{game_id}",
    response_model=GameDetail,
    operation_id="getGame",
    summary="One game, with its closing lines once captured",
    responses=responses(400, 404),
)
@cached
async def get_game(game_id: GameId, query: Annotated[NoQuery, Query()], call: Caller) -> GameDetail:
    stored, closes = await game_service.game_with_closes(call.ctx, game_id, call.audience)
    return GameDetail(**dict(Game.model_validate(stored)), closes=[Close.model_validate(c) for c in closes])


@router.get(
    "/games/{game_id}/odds",
    response_model=GameOdds,
    operation_id="getGameOdds",
    summary="Each book's current line (a closed game: its last lines)",
    description=RAW_ODDS,
    responses=responses(400, 403, 404),
)
@cached
async def game_odds(game_id: GameId, query: Annotated[NoQuery, Query()], call: Caller) -> GameOdds:
    stored, lines = await odds_service.book_lines(call.ctx, call.audience, game_id)
    return GameOdds(
        game_id=stored.game.id,
        status=stored.status,
        as_of=max((line.observed_at for line in lines), default=None),
        lines=[Line.model_validate(line) for line in lines],
    )


@router.get(
    "/games/{game_id}/odds/history",
    response_model=LinePage,
    operation_id="getGameOddsHistory",
    summary="Every line the books quoted, oldest first",
    description=RAW_ODDS,
    responses=responses(400, 403, 404),
)
@cached
async def odds_history(game_id: GameId, query: Annotated[LineQuery, Query()], call: Caller) -> LinePage:
    lines = await odds_service.line_history(
        call.ctx, call.audience, game_id, market=query.market, after=query.cursor, limit=query.limit + 1
    )
    shown, more = page(lines, query.limit, "lines", lambda ln: [ln.observed_at.isoformat(), ln.market.value, ln.book])
    return LinePage(data=[Line.model_validate(line) for line in shown], next_cursor=more)


@router.get(
    "/games/{game_id}/consensus",
    response_model=ConsensusPage,
    operation_id="getGameConsensus",
    summary="The de-vigged consensus over time, oldest first",
    description="Derived data (de-vigged over the books): always served.",
    responses=responses(400, 404),
)
@cached
async def consensus_history(game_id: GameId, query: Annotated[ConsensusQuery, Query()], call: Caller) -> ConsensusPage:
    rows = await odds_service.consensus_history(
        call.ctx, game_id, market=query.market, after=query.cursor, limit=query.limit + 1
    )
    shown, more = page(rows, query.limit, "consensus", lambda c: [c.at.isoformat(), c.market.value])
    return ConsensusPage(data=[Consensus.model_validate(c) for c in shown], next_cursor=more)
