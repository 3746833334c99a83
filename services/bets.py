"""Pro CLV tracking: members log their bets; each is graded against the closing consensus."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import access
from access import Feature, NotFound, UserError, Viewer
from config.settings import BetSettings, Settings
from engine.clv import Ungradable, close_usable, grade_bet
from engine.events import ClosedGame
from engine.models import MARKET_SIDES, Bet, BetGrade, Consensus, Game, Market, Side
from engine.odds import InvalidPrice, implied_probability, probability_to_american, validate_american
from services.context import ServiceContext
from services.games import find_game, matchup, parse_market
from storage import SCHEDULED

log = logging.getLogger(__name__)

SPREAD_LIMIT = 60.0
TOTAL_RANGE = (50.0, 400.0)
MAX_BOOK = 40


def parse_side(market: Market, text: str, game: Game) -> Side:
    """Accept "home"/"away"/"over"/"under" or a team name: a side the market has."""
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
        names = f"{game.home_team} (home) or {game.away_team} (away)"
    else:
        names = "Over or Under"
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


def parse_price(price: int, rules: BetSettings) -> int:
    """An American price a book could quote: never between -100 and +100, and within the configured bounds."""
    try:
        validate_american(price)
    except InvalidPrice:
        raise UserError(
            f"The price must be American odds like -110 or +150: {price} is impossible "
            "(a price is -100 or below, or +100 or above)."
        ) from None
    if not rules.min_price <= price <= rules.max_price:
        raise UserError(
            f"A price of {price:+d} is outside the accepted range: at least {rules.min_price:+d} "
            f"and at most {rules.max_price:+d}."
        )
    return price


def _signed(market: Market, point: float) -> str:
    return f"{point:+g}" if market == Market.SPREADS else f"{point:g}"


def _pct(prob: float) -> str:
    return f"{100 * prob:.1f}%"


def points_better(market: Market, side: Side, point: float, market_point: float) -> float:
    """How many points `point` is better for the bettor than the market's number for the same side."""
    if market == Market.SPREADS or side == Side.UNDER:
        return point - market_point  # more points for the side, a higher under
    return market_point - point  # a lower over


def check_against_market(
    game: Game, consensus: Consensus, side: Side, point: float | None, price: int, settings: Settings
) -> None:
    """The bet's number must be one the market offers now (see `[bets]` in config.toml), else UserError."""
    rules = settings.bets
    market = consensus.market
    label = game.side_label(market, side)
    fair = consensus.side_prob(side)
    what = label
    if market != Market.H2H:
        current = consensus.side_point(side)
        if point is None or current is None:
            raise UserError(f"There is no {market.value} line for {matchup(game)} right now.")
        if market == Market.SPREADS and point * current < 0:
            role, other_role = ("favourite", "underdog") if current < 0 else ("underdog", "favourite")
            other = game.side_label(market, Side.AWAY if side == Side.HOME else Side.HOME)
            raise UserError(
                f"{label} is the {role} at {_signed(market, current)} now; {_signed(market, point)} is the "
                f"{other_role}'s number. To back {other}, pick {other} as the side."
            )
        distance = abs(point - current)
        if distance > rules.max_points_from_market:
            raise UserError(
                f"The market is {label} {_signed(market, current)} now; a bet at {_signed(market, point)} is "
                f"more than {rules.max_points_from_market:g} points away."
            )
        # Each point better for the bettor is worth `prob_per_point` (the engine's approximation).
        per_point = settings.dislocation.prob_per_point.for_market(market.value)
        fair = min(0.99, max(0.01, fair + points_better(market, side, point, current) * per_point))
        what = f"{label} {_signed(market, point)} about"
    implied = implied_probability(price)
    if abs(implied - fair) > rules.max_prob_from_market:
        raise UserError(
            f"The market makes {what} {_pct(fair)} now (a fair price of {probability_to_american(fair):+d}); "
            f"{price:+d} implies {_pct(implied)}, more than {100 * rules.max_prob_from_market:g} percentage points "
            "away."
        )


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
    """Log a bet, if it is one a book could have taken now: a sane price, a side the market has and a
    number near the market (`[bets]` in config.toml), on a game that has not tipped."""
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
        price=parse_price(price, ctx.settings.bets),
        book=book_key,
        placed_at=now,
    )
    consensus = await ctx.repos.consensus.latest_before(stored.game.id, market_value, now + timedelta(microseconds=1))
    if consensus is None:
        raise UserError(
            f"There is no {market_value.value} market for {matchup(stored.game)} yet; a bet is checked against "
            "the market when it is logged."
        )
    check_against_market(stored.game, consensus, bet.side, bet.point, bet.price, ctx.settings)
    async with ctx.repos.db.transaction():
        bet_id = await ctx.repos.bets.insert(bet)
    return replace(bet, id=bet_id), stored.game


def _no_such_bet(text: object) -> NotFound:
    shown = str(text).strip()[:20]
    return NotFound(f"You have no bet #{shown.lstrip('#')}. `/bet list` shows yours.")


def parse_bet_id(text: str | int) -> int:
    value = str(text).strip().lstrip("#")
    if not value.isdigit() or len(value) > 18:
        raise _no_such_bet(text)
    return int(value)


async def deletable_bets(ctx: ServiceContext, viewer: Viewer, now: datetime) -> list[tuple[Bet, Game]]:
    """The member's bets `/bet delete` accepts (ungraded, game not tipped), newest first; none for Community."""
    if not access.allows(viewer.tier, Feature.CLV_TRACKING):
        return []
    rows = []
    for bet in await ctx.repos.bets.open_for_member(viewer.guild_id, viewer.user_id, now):
        stored = await ctx.repos.games.get(bet.game_id)
        if stored is not None:
            rows.append((bet, stored.game))
    return rows


async def delete_bet(ctx: ServiceContext, viewer: Viewer, bet_id: str | int, now: datetime) -> tuple[Bet, Game]:
    """Delete one of the member's own bets before its game tips (the close is fixed at tip-off).

    Another member's bet and an unknown id get the same answer, so ids reveal nothing. A graded bet is
    part of the record and stays."""
    access.require(viewer, Feature.CLV_TRACKING)
    number = parse_bet_id(bet_id)
    found = await ctx.repos.bets.get(number)
    if found is None or found[0].guild_id != viewer.guild_id or found[0].user_id != viewer.user_id:
        raise _no_such_bet(number)
    bet, grade = found
    if grade is not None:
        raise UserError(f"Bet #{number} has been graded against the close; graded bets stay on your record.")
    stored = await ctx.repos.games.get(bet.game_id)
    if stored is None:
        raise _no_such_bet(number)
    if stored.status != SCHEDULED or stored.scheduled_tip <= now:
        raise UserError(
            f"{matchup(stored.game)} has tipped off; bet #{number} is graded against the close and cannot be deleted."
        )
    async with ctx.repos.db.transaction():
        deleted = await ctx.repos.bets.delete(number, viewer.guild_id, viewer.user_id)
    if not deleted:
        raise UserError(f"Bet #{number} has been graded against the close; graded bets stay on your record.")
    return bet, stored.game


async def member_bets(
    ctx: ServiceContext, viewer: Viewer, since: datetime | None = None, now: datetime | None = None
) -> list[tuple[Bet, Game | None, BetGrade | None]]:
    """The member's bets, newest first, each with its game and its grade once graded at or before the
    viewer's horizon as of `now` (default: the context's clock), like every grade (`access.visible_grade`)."""
    access.require(viewer, Feature.CLV_TRACKING)
    horizon = access.horizon(viewer.tier, ctx.clock() if now is None else now, ctx.settings.tiers)
    rows = await ctx.repos.bets.for_member(viewer.guild_id, viewer.user_id, since)
    games = {}
    for bet, _ in rows:
        if bet.game_id not in games:
            stored = await ctx.repos.games.get(bet.game_id)
            games[bet.game_id] = stored.game if stored else None
    return [(bet, games[bet.game_id], access.visible_grade(grade, horizon)) for bet, grade in rows]


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
