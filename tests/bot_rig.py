"""The real bot on the loopback fake Discord over a copy of the template database, for the bot's tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from app.bootstrap import App, build_app, build_bot
from bot.client import StratumBot
from engine.models import BookLine, Consensus, Market
from tests.backends import copy_database
from tests.engine_builders import Clock, settings
from tests.fake_discord import FakeDiscord, running_bot


@dataclass
class BotRig:
    fake: FakeDiscord
    bot: StratumBot
    app: App
    clock: Clock


@asynccontextmanager
async def bot_on_fake(template: tuple[str, datetime], tmp_path: Path, monkeypatch) -> AsyncIterator[BotRig]:
    """The bot of the default guild, its Community digest to #general, on the template's moment."""
    source, now = template
    db = copy_database(source, tmp_path)
    config = settings()
    config.discord.guild_id = FakeDiscord.DEFAULT_GUILD_ID
    fake = FakeDiscord()
    config.discord.community_channels = [fake.channels["general"]]
    clock = Clock(now)
    app = await build_app(config, db_path=db, source="test", clock=clock)
    bot = build_bot(app)
    bot.app = app  # for the tests' own fan-out (what the engine's commit does)
    try:
        async with fake.serve(monkeypatch), running_bot(fake, bot):
            yield BotRig(fake, bot, app, clock)
    finally:
        await app.close()
    assert fake.unhandled == []


async def final(record):
    """The member-visible answer: the callback, or the followup after a deferral."""
    first = await record.response()
    if first.type == 5:
        return (await record.wait_followups(1))[-1]
    return first


#: A half-point number per market (no push), so a price's EV at a 50/50 fair price is 0.5 × decimal − 1.
HALF_POINT = {Market.SPREADS: -4.5, Market.TOTALS: 180.5, Market.H2H: None}


async def price_market(
    repos,
    game_id: str,
    market: Market,
    at: datetime,
    price_a: int,
    price_b: int,
    *,
    best: tuple[str, int] | None = None,
) -> None:
    """The game's market as it stands at `at`, for a test that needs the best price now to be a known number:
    every book quoting it at `HALF_POINT` (`price_a` / `price_b`), `best` = (book, side A price) one book
    apart, and the consensus at that number, 50/50. +110 is then worth +5.0%, −130 −11.5%."""
    point = HALF_POINT[market]
    books = sorted({line.book for line in await repos.quotes.as_of(game_id, at) if line.market == market})
    lines = [
        BookLine(game_id, book, market, point, best[1] if best and book == best[0] else price_a, price_b, at, at)
        for book in books
    ]
    async with repos.db.transaction():
        await repos.quotes.insert_many(lines)
        await repos.consensus.insert_many([Consensus(game_id, market, at, point, 0.5, len(books))])
    fair = await repos.consensus.latest_before(game_id, market, at + timedelta(microseconds=1))
    if (fair.at, fair.point, fair.prob_a) != (at, point, 0.5):  # an instant of the tape keeps its own consensus
        raise AssertionError(f"{at} already has a consensus for {market}: price the market at another instant")
