"""What a dashboard page gathers in one call: the answers of several services for one viewer, through the
same tier rules (`access.py`) the bot's commands go through. A page's route calls one function here and
renders what it returns; nothing here formats text."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import access
from access import SignalView, Viewer
from engine.models import Close, Grade
from services import signals as signal_service
from services.context import ServiceContext
from services.games import game_by_id
from services.odds import MARKET_ORDER, OddsBoard, odds_board
from storage import StoredGame


async def board(ctx: ServiceContext, viewer: Viewer, now: datetime) -> list[OddsBoard]:
    """Today's games as `/heat` ranks them (hottest first, then soonest tip), each with its `/odds` board:
    consensus and every book's line of the three markets, as of what the viewer may see."""
    ranked = await signal_service.heat_board(ctx, viewer, now)
    return [await odds_board(ctx, stored.game.id, viewer, now) for stored, _ in ranked]


@dataclass(frozen=True, slots=True)
class GradedSignal:
    """A signal of the game as the viewer sees it, with its grade against the close once graded."""

    view: SignalView
    grade: Grade | None


@dataclass(frozen=True, slots=True)
class GamePage:
    stored: StoredGame
    board: OddsBoard
    signals: tuple[GradedSignal, ...]  # newest first, only those the viewer may see
    closes: tuple[Close, ...]  # per market (spreads, totals, h2h order), once the game closed

    @property
    def graded(self) -> int:
        return sum(1 for s in self.signals if s.grade is not None)


async def game_page(ctx: ServiceContext, viewer: Viewer, game_id: str, now: datetime) -> GamePage:
    """One game by its exact id (NotFound otherwise): its odds board, its signals with their grades, and
    its closes. Everything stops at the viewer's horizon: a Community member sees no signal younger than
    the delay (`recent_signals`), and no close or grade fixed after the horizon either
    (`access.visible_grade`, `access.visible_closes`)."""
    stored = await game_by_id(ctx, game_id)
    horizon = access.horizon(viewer.tier, now, ctx.settings.tiers)
    views = await signal_service.recent_signals(ctx, viewer, now, game_id=stored.game.id)
    graded = [GradedSignal(v, access.visible_grade(await ctx.repos.grades.get(v.id), horizon)) for v in views]
    order = {market: index for index, market in enumerate(MARKET_ORDER)}
    closes = sorted(
        access.visible_closes(await ctx.repos.closes.for_game(stored.game.id), horizon),
        key=lambda c: order.get(c.market, len(order)),
    )
    return GamePage(
        stored=stored,
        board=await odds_board(ctx, stored.game.id, viewer, now),
        signals=tuple(graded),
        closes=tuple(closes),
    )
