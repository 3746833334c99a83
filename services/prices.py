"""The best price a member can take now on one side of a market, and its EV against the fair price now: what
every alert (through the fan-out, which gets `price_now` from the bootstrap) and `/signal` show.

Read from what is stored — each book's line and the no-vig consensus as they stood at a moment — and valued
by the engine's one rule (`engine.price_now`, the grader's EV against the consensus instead of the close).
A game that has started has no price to take: None."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import access
from access import SignalView, Viewer
from engine.cover import cover_model_of
from engine.models import Game, Grade, Market, Side
from engine.price_now import PriceNow, best_price_now
from services.books import book_names, display_name
from services.context import ServiceContext
from services.signals import signal_detail
from storage import CLOSED

__all__ = ["price_now", "shown_price", "signal_with_price"]


async def price_now(ctx: ServiceContext, game_id: str, market: Market, side: Side, at: datetime) -> PriceNow | None:
    """The best price on `side` among the books' lines as they stood at `at`, against the consensus of then;
    book keys, not names (`shown_price` shapes it for a viewer)."""
    stored = await ctx.repos.games.get(game_id)
    if stored is None or stored.status == CLOSED or stored.game.commence_time <= at:
        return None
    lines = [line for line in await ctx.repos.quotes.as_of(game_id, at) if line.market == market]
    fair = await ctx.repos.consensus.latest_before(game_id, market, at + timedelta(microseconds=1))
    return best_price_now(lines, fair, side, cover_model_of(ctx.settings, stored.game.sport_key))


async def shown_price(ctx: ServiceContext, price: PriceNow | None, viewer: Viewer) -> PriceNow | None:
    """`price` as the viewer may see it (`access.view_price`), its book under the name members know."""
    price = access.view_price(price, viewer.tier)
    if price is None or price.book is None:
        return price
    return replace(price, book=display_name(await book_names(ctx), price.book))


async def signal_with_price(
    ctx: ServiceContext, signal_id: str, viewer: Viewer, now: datetime
) -> tuple[SignalView, Game | None, Grade | None, PriceNow | None]:
    """`/signal`: `signal_detail` (the signal as the viewer may see it — an unseeable one is an unknown id —,
    its game, its grade once visible) and the best price on its side now, as of the viewer's horizon, so a
    delayed tier sees the price of then."""
    view, game, grade = await signal_detail(ctx, signal_id, viewer, now)
    at = access.horizon(viewer.tier, now, ctx.settings.tiers)
    price = await price_now(ctx, view.game_id, view.market, view.side, at)
    return view, game, grade, await shown_price(ctx, price, viewer)
