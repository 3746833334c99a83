"""Pro CLV tracking: members log their bets; each is graded against the closing consensus."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import access
from access import Feature, UserError, Viewer
from engine.clv import Ungradable, close_usable, grade_bet
from engine.events import ClosedGame
from engine.models import MARKET_SIDES, Bet, BetGrade, Game, Market, Side
from engine.odds import InvalidPrice, validate_american
from services.context import ServiceContext
from services.games import find_game, matchup, parse_market
from storage import SCHEDULED

log = logging.getLogger(__name__)

SPREAD_LIMIT = 60.0
TOTAL_RANGE = (50.0, 400.0)
MAX_BOOK = 40


def parse_side(market: Market, text: str, game: Game) -> Side:
    """Accept "home"/"away"/"over"/"under" or a team name."""
    value = (text or "").strip().casefold()
    allowed = MARKET_SIDES[market]
    for side in allowed:
        if value == side.value:
            return side
    if market != Market.TOTALS:
        if value == game.home_team.casefold():
            return Side.HOME
        if value == game.away_team.casefold():
            return Side.AWAY
    names = " or ".join(game.side_label(market, side) for side in allowed)
    raise UserError(f"Side must be {names} for {market.value}.")


def parse_line(market: Market, text: str | None) -> float | None:
    if market == Market.H2H:
        if text not in (None, ""):
            raise UserError("A moneyline bet has no line; leave `line` empty.")
        return None
    try:
        value = float(str(text).strip().replace("½", ".5"))
    except (TypeError, ValueError):
        raise UserError(f"The line must be a number like -3.5 or 221.5, not “{text}”.") from None
    if not math.isfinite(value):
        raise UserError("The line must be a finite number.")
    if market == Market.SPREADS and abs(value) > SPREAD_LIMIT:
        raise UserError(f"A spread of {value:g} is not a real line.")
    if market == Market.TOTALS and not TOTAL_RANGE[0] <= value <= TOTAL_RANGE[1]:
        raise UserError(f"A total of {value:g} is not a real line.")
    return value


def parse_price(price: int) -> int:
    try:
        return validate_american(price)
    except InvalidPrice:
        raise UserError(f"The price must be American odds like -110 or +150, not {price}.") from None


async def log_bet(
    ctx: ServiceContext,
    viewer: Viewer,
    *,
    game: str,
    market: str,
    side: str,
    line: str | None,
    price: int,
    book: str | None,
    now: datetime,
) -> tuple[Bet, Game]:
    access.require(viewer, Feature.CLV_TRACKING)
    market_value = parse_market(market)
    stored = await find_game(ctx, game, now)
    if stored.status != SCHEDULED or stored.scheduled_tip <= now:
        raise UserError(f"{matchup(stored.game)} has already tipped off; bets are logged before the game.")
    book_key = (book or "").strip() or None
    if book_key is not None and len(book_key) > MAX_BOOK:
        raise UserError(f"The book name is too long (at most {MAX_BOOK} characters).")
    bet = Bet(
        id=None,
        guild_id=viewer.guild_id,
        user_id=viewer.user_id,
        game_id=stored.game.id,
        market=market_value,
        side=parse_side(market_value, side, stored.game),
        point=parse_line(market_value, line),
        price=parse_price(price),
        book=book_key,
        placed_at=now,
    )
    async with ctx.repos.db.transaction():
        bet_id = await ctx.repos.bets.insert(bet)
    return replace(bet, id=bet_id), stored.game


async def member_bets(ctx: ServiceContext, viewer: Viewer, since: datetime | None = None):
    access.require(viewer, Feature.CLV_TRACKING)
    rows = await ctx.repos.bets.for_member(viewer.guild_id, viewer.user_id, since)
    games = {}
    for bet, _ in rows:
        if bet.game_id not in games:
            stored = await ctx.repos.games.get(bet.game_id)
            games[bet.game_id] = stored.game if stored else None
    return [(bet, games[bet.game_id], grade) for bet, grade in rows]


@dataclass(frozen=True, slots=True)
class ClvRecord:
    bets: int
    graded: int
    beats: int
    pushes: int
    avg_clv_points: float | None
    avg_clv_prob: float | None
    avg_clv_ev: float | None = None  # mean CLV%: expected value of the member's price at the no-vig close

    @property
    def rate(self) -> float | None:
        return self.beats / self.graded if self.graded else None


async def clv_record(ctx: ServiceContext, viewer: Viewer) -> ClvRecord:
    rows = await member_bets(ctx, viewer)
    grades = [grade for _, _, grade in rows if grade is not None]
    points = [g.clv_points for g in grades if g.clv_points is not None]
    return ClvRecord(
        bets=len(rows),
        graded=len(grades),
        beats=sum(g.beat for g in grades),
        pushes=sum(g.push for g in grades),
        avg_clv_points=sum(points) / len(points) if points else None,
        avg_clv_prob=sum(g.clv_prob for g in grades) / len(grades) if grades else None,
        avg_clv_ev=_mean([g.clv_ev for g in grades if not math.isnan(g.clv_ev)]),
    )


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


async def grade_game(ctx: ServiceContext, game_id: str, now: datetime) -> list[BetGrade]:
    """Grade every ungraded bet of a closed game (the `game.closed` subscriber, and catch-up at start)."""
    closes = {close.market: close for close in await ctx.repos.closes.for_game(game_id)}
    stored = await ctx.repos.games.get(game_id)
    if stored is None:
        return []
    cover = ctx.engine.engine.cover_model(stored.game.sport_key)
    max_age = timedelta(seconds=ctx.settings.clv.close_max_age_seconds)
    grades = []
    async with ctx.repos.db.transaction():
        for bet in await ctx.repos.bets.ungraded_for_game(game_id):
            close = closes.get(bet.market)
            # The signals' rules: a close observed after the bet and near tip, graded by the same function.
            if close is None or close_usable(close, bet.placed_at, stored.scheduled_tip, max_age) is not None:
                continue
            try:
                grade = grade_bet(bet, close, now, cover)
            except Ungradable:
                continue
            if await ctx.repos.bets.grade(grade):
                grades.append(grade)
    return grades


def on_game_closed(ctx: ServiceContext):
    async def handler(closed: ClosedGame) -> None:
        graded = await grade_game(ctx, closed.game_id, ctx.clock())
        if graded:
            log.info("graded %d bets of %s at the close", len(graded), closed.game_id)

    return handler


async def grade_missed(ctx: ServiceContext) -> int:
    """At start: bets whose game closed while we were down."""
    games = {bet.game_id for bet in await ctx.repos.bets.ungraded_for_closed_games()}
    total = 0
    for game_id in games:
        total += len(await grade_game(ctx, game_id, ctx.clock()))
    return total
