"""Alerts: Pro channel pings and watchlist DMs on `signal.created`, and the Community digest.

Every owed delivery is written to the outbox before it is attempted (`fan_out`, `queue_digests`) and
marked when done (`deliver_due`), so a restart or a Discord outage delays alerts but loses none, and
the outbox's dedupe keys mean none is queued — or sent — twice. A cursor remembers the newest signal
fanned out, so signals committed just before a crash are fanned out at the next start.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Protocol

import access
from access import Feature, Tier, UserError, Viewer
from engine.models import Signal, SignalType
from services.context import ServiceContext
from storage import AlertRoute, OutboxItem

log = logging.getLogger(__name__)

FANOUT_CURSOR = "alerts:fanout"
DIGEST_CURSOR = "alerts:digest"
#: A signal older than this when first seen (a replayed tape, a long outage) is not alerted.
MAX_ALERT_AGE = timedelta(hours=1)
MAX_DIGEST = 10  # embeds per Discord message
MAX_BACKOFF = timedelta(hours=1)


class DeliveryRetry(Exception):
    """Temporary: try again later (rate limit, Discord 5xx, network)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class DeliveryFailed(Exception):
    """Permanent: the channel is gone, the bot lacks permission, the member closed their DMs."""


class Delivery(Protocol):
    async def deliver(self, item: OutboxItem, signals: list[Signal]) -> None: ...


class MemberTiers(Protocol):
    def tier_of(self, guild_id: int, user_id: int) -> Tier | None: ...


def parse_types(text: str | Iterable[str]) -> frozenset[SignalType]:
    """ "STEAM, KEY_CROSS" or "all" → the signal types; a clear error for anything else."""
    parts = text.replace(",", " ").split() if isinstance(text, str) else list(text)
    if not parts:
        raise UserError("Name at least one alert type: STEAM, DISLOCATION, KEY_CROSS (or all).")
    if len(parts) == 1 and parts[0].casefold() == "all":
        return frozenset(SignalType)
    types = set()
    for part in parts:
        try:
            types.add(SignalType(part.strip().upper()))
        except ValueError:
            raise UserError(f"Unknown alert type “{part}”: use STEAM, DISLOCATION, KEY_CROSS or all.") from None
    return frozenset(types)


async def set_route(
    ctx: ServiceContext, guild_id: int, channel_id: int, types: frozenset[SignalType], by: int, now: datetime
) -> None:
    async with ctx.repos.db.transaction():
        await ctx.repos.members.set_route(guild_id, channel_id, types, by, now)


async def remove_route(ctx: ServiceContext, guild_id: int, channel_id: int) -> None:
    async with ctx.repos.db.transaction():
        removed = await ctx.repos.members.remove_route(guild_id, channel_id)
    if not removed:
        raise UserError("That channel has no alert route.")


async def routes(ctx: ServiceContext, guild_id: int) -> list[AlertRoute]:
    return await ctx.repos.members.routes(guild_id)


async def set_dm_alerts(ctx: ServiceContext, viewer: Viewer, enabled: bool) -> None:
    access.require(viewer, Feature.ALERTS)
    async with ctx.repos.db.transaction():
        await ctx.repos.members.set_dm_alerts(viewer.guild_id, viewer.user_id, enabled)


async def fan_out(ctx: ServiceContext, signal: Signal, now: datetime) -> int:
    """Queue the alerts a signal owes (idempotent); returns how many were new."""
    queued = 0
    async with ctx.repos.db.transaction():
        if now - signal.created_at <= MAX_ALERT_AGE:
            for route in await ctx.repos.members.routes():
                if signal.type in route.types:
                    queued += await ctx.repos.outbox.enqueue(
                        f"alert:{signal.id}:channel:{route.channel_id}",
                        "channel",
                        route.guild_id,
                        route.channel_id,
                        {"signal_ids": [signal.id]},
                        now,
                    )
            for guild_id, user_id in await ctx.repos.members.watchers(signal.game_id):
                if await ctx.repos.members.dm_alerts(guild_id, user_id):
                    queued += await ctx.repos.outbox.enqueue(
                        f"alert:{signal.id}:dm:{guild_id}:{user_id}",
                        "dm",
                        guild_id,
                        user_id,
                        {"signal_ids": [signal.id]},
                        now,
                    )
        cursor = await ctx.repos.cursors.get(FANOUT_CURSOR)
        if cursor is None or signal.created_at > cursor:
            await ctx.repos.cursors.set(FANOUT_CURSOR, signal.created_at, now)
    return queued


async def catch_up(ctx: ServiceContext, now: datetime) -> int:
    """At start: fan out the signals committed after the last one fanned out (a crash in between)."""
    cursor = await ctx.repos.cursors.get(FANOUT_CURSOR)
    since = max(cursor or now - MAX_ALERT_AGE, now - MAX_ALERT_AGE)
    return sum([await fan_out(ctx, signal, now) for signal in await ctx.repos.signals.since(since)])


async def queue_digests(ctx: ServiceContext, now: datetime) -> int:
    """Queue one digest per Community channel of the signals that became visible to Community since the
    last digest (never one younger than the Community delay)."""
    channels = ctx.settings.discord.community_channels
    horizon = access.horizon(Tier.COMMUNITY, now, ctx.settings.tiers)
    async with ctx.repos.db.transaction():
        cursor = await ctx.repos.cursors.get(DIGEST_CURSOR)
        since = max(cursor or horizon - MAX_ALERT_AGE, horizon - MAX_ALERT_AGE)
        if not channels or horizon <= since:
            await ctx.repos.cursors.set(DIGEST_CURSOR, max(horizon, since), now)
            return 0
        signals = [
            s
            for s in await ctx.repos.signals.list(since=since, until=horizon + timedelta(microseconds=1), limit=200)
            if s.created_at > since
        ]
        queued = 0
        ids = [s.id for s in reversed(signals)]  # oldest first
        for start in range(0, len(ids), MAX_DIGEST):  # one Discord message per item: sent whole or not at all
            for channel_id in channels:
                queued += await ctx.repos.outbox.enqueue(
                    f"digest:{channel_id}:{horizon.isoformat()}:{start // MAX_DIGEST}",
                    "digest",
                    0,
                    channel_id,
                    {"signal_ids": ids[start : start + MAX_DIGEST]},
                    now,
                )
        await ctx.repos.cursors.set(DIGEST_CURSOR, horizon, now)
    return queued


async def deliver_due(ctx: ServiceContext, delivery: Delivery, now: datetime) -> tuple[int, int]:
    """Attempt every due delivery once; returns (sent, failed for good)."""
    sent = failed = 0
    config = ctx.settings.discord
    for item in await ctx.repos.outbox.due(now):
        signals = [s for s in [await ctx.repos.signals.get(i) for i in item.payload.get("signal_ids", [])] if s]
        try:
            await delivery.deliver(item, signals)
        except DeliveryRetry as exc:
            if item.attempts + 1 >= config.alert_max_attempts:
                failed += 1
                log.error("giving up on %s after %d attempts: %s", item.dedupe_key, item.attempts + 1, exc)
                async with ctx.repos.db.transaction():
                    await ctx.repos.outbox.give_up(item.id, str(exc), now)
                continue
            backoff = timedelta(seconds=config.alert_retry_seconds * (2**item.attempts))
            wait = max(timedelta(seconds=exc.retry_after or 0), min(backoff, MAX_BACKOFF))
            log.warning("delivery %s will be retried in %s: %s", item.dedupe_key, wait, exc)
            async with ctx.repos.db.transaction():
                await ctx.repos.outbox.retry_later(item.id, str(exc), now + wait)
        except DeliveryFailed as exc:
            failed += 1
            log.error("delivery %s failed for good: %s", item.dedupe_key, exc)
            async with ctx.repos.db.transaction():
                await ctx.repos.outbox.give_up(item.id, str(exc), now)
        else:
            sent += 1
            async with ctx.repos.db.transaction():
                await ctx.repos.outbox.mark_sent(item.id, now)
    return sent, failed
