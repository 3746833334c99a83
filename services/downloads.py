"""Files members ask for: CSV exports (Pro), line charts (everyone, Community delayed and without
per-book lines) and the public signal-integrity chart. The rendering itself is pure
(`services.exports`, `services.charts`); this module decides what goes in, through the tier rules."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import access
from access import Feature, UserError, Viewer
from engine.reports import AuditReport
from services import signals as signal_service
from services.bets import member_bets
from services.books import book_names
from services.charts import ChartMark, integrity_chart_data, render_integrity_chart, render_line_chart, to_tip
from services.context import ServiceContext
from services.exports import bets_csv, signals_csv
from services.games import find_game, parse_market


def check_days(ctx: ServiceContext, days: int) -> int:
    limit = ctx.settings.discord.export_max_days
    if not 1 <= days <= limit:
        raise UserError(f"Choose between 1 and {limit} days.")
    return days


async def export_signals(ctx: ServiceContext, viewer: Viewer, days: int, now: datetime) -> tuple[str, bytes]:
    """The viewer's signals of the last `days` days as CSV, each with its grade once graded at or before
    the viewer's horizon (a grade is data like any other: `access.visible_grade`)."""
    access.require(viewer, Feature.EXPORT)
    since = now - timedelta(days=check_days(ctx, days))
    horizon = access.horizon(viewer.tier, now, ctx.settings.tiers)
    signals = await ctx.repos.signals.list(since=since, until=horizon + timedelta(microseconds=1), limit=100_000)
    rows = [(s, access.visible_grade(await ctx.repos.grades.get(s.id), horizon)) for s in reversed(signals)]
    return f"stratum-signals-{now:%Y%m%d}-{days}d.csv", signals_csv(rows).encode()


async def export_bets(ctx: ServiceContext, viewer: Viewer, days: int, now: datetime) -> tuple[str, bytes]:
    access.require(viewer, Feature.EXPORT)
    rows = await member_bets(ctx, viewer, since=now - timedelta(days=check_days(ctx, days)), now=now)
    return f"stratum-bets-{now:%Y%m%d}-{days}d.csv", bets_csv(reversed(rows)).encode()


def sharpest_first(ctx: ServiceContext) -> list[str]:
    """The configured sharp books, the heaviest consensus weight first: the chart draws the first present."""
    consensus = ctx.settings.consensus
    return sorted(consensus.sharp_books, key=lambda book: -consensus.weight(book))


async def line_chart(ctx: ServiceContext, viewer: Viewer, game: str, market: str, now: datetime) -> tuple[str, bytes]:
    market_value = parse_market(market)
    stored = await find_game(ctx, game, now)
    until = access.horizon(viewer.tier, now, ctx.settings.tiers)
    consensus = [c for c in await ctx.repos.consensus.history(stored.game.id, market_value) if c.at <= until]
    book_lines = None
    names: dict[str, str] = {}
    if access.allows(viewer.tier, Feature.BOOK_LINES):
        book_lines = [
            ln for ln in await ctx.repos.quotes.history(stored.game.id, market_value) if ln.observed_at <= until
        ]
        names = await book_names(ctx)
    signals = await ctx.repos.signals.list(
        game_id=stored.game.id, market=market_value, until=until + timedelta(microseconds=1), limit=200
    )
    marks = [ChartMark(at=s.created_at, label=s.type.value, side=s.side) for s in signals]
    bets = []
    if access.allows(viewer.tier, Feature.CLV_TRACKING) and viewer.user_id is not None:
        bets = [
            b
            for b in await ctx.repos.bets.for_member_game(viewer.guild_id, viewer.user_id, stored.game.id)
            if b.market == market_value
        ]
    minutes = int(ctx.settings.tiers.community_delay_seconds // 60)
    # An image cannot show a Discord timestamp: the time is given to tip, with the zone named beside it.
    footer = f"as of {to_tip(until, stored.game.commence_time)} to tip ({until:%Y-%m-%d %H:%M} UTC)" + (
        "" if viewer.is_pro else f" · Community: {minutes}-minute delay, no per-book lines"
    )
    png = await asyncio.to_thread(
        render_line_chart,
        stored.game,
        market_value,
        consensus,
        book_lines,
        marks,
        bets,
        until=until,
        footer=footer,
        names=names,
        sharp=sharpest_first(ctx),
    )
    return f"{stored.game.id}-{market_value.value}.png", png


INTEGRITY_FILENAME = "integrity.png"


async def integrity_report(ctx: ServiceContext) -> tuple[AuditReport, str, bytes]:
    """The audit (public: no viewer, no delay) with its chart: (report, "integrity.png", PNG).

    One call for `/integrity`, so the audit (bootstrap included) is built once for the embed and the chart.
    """
    report = await signal_service.audit(ctx)
    data = integrity_chart_data(report, tiers=ctx.settings.clv.tiers)
    png = await asyncio.to_thread(render_integrity_chart, data)
    return report, INTEGRITY_FILENAME, png


async def integrity_chart(ctx: ServiceContext) -> tuple[str, bytes]:
    """Just the integrity chart: ("integrity.png", PNG)."""
    _, name, png = await integrity_report(ctx)
    return name, png
