"""Alerts: routes of Pro channel alerts, watchlist DM opt-ins, and the Community digest's outbox rows.

The rows a signal owes (channel alerts, watchlist DMs, webhooks) are written with the signal itself, in
the engine's commit (`delivery.fanout`); the one worker (`delivery.worker`) sends them. This module keeps
what members and moderators change, and `queue_digests`: one digest row per Community channel of the
signals that became visible to Community, written in the transaction that moves the digest cursor.

`DeliveryRetry` and `DeliveryFailed` are what the Discord sender raises; the worker reads them by their
``temporary`` / ``permanent`` marks (this layer may not import `delivery`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Protocol

import access
from access import Feature, Tier, UserError, Viewer
from engine import alert_state
from engine.models import SignalType
from services.context import ServiceContext
from storage import AlertRoute
from storage.members import DmPrefs

log = logging.getLogger(__name__)

DIGEST_CURSOR = "alerts:digest"
#: A signal older than this when first seen (a replayed tape, a long outage) is not alerted.
MAX_ALERT_AGE = timedelta(hours=1)
MAX_DIGEST = 10  # embeds per Discord message


class DeliveryRetry(Exception):
    """Temporary: try again later (rate limit, Discord 5xx, network)."""

    temporary = True

    def __init__(self, message: str, retry_after: float | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.status = status


class DeliveryFailed(Exception):
    """Permanent: the channel is gone, the bot lacks permission, the member closed their DMs."""

    permanent = True
    target_gone = False

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


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


def parse_minimum(text: str | None) -> str | None:
    """A bar for what pings: "unproven" (every class the audit does not refute) or "tiered" (S/A/B only);
    None when not given; a clear error for anything else."""
    if text is None:
        return None
    try:
        return alert_state.parse_minimum(text)
    except ValueError:
        raise UserError(
            f"Unknown minimum “{text}”: use unproven (every class our audit does not refute) or tiered (S/A/B)."
        ) from None


async def set_route(
    ctx: ServiceContext,
    guild_id: int,
    channel_id: int,
    types: frozenset[SignalType],
    by: int,
    now: datetime,
    minimum: str | None = None,
) -> AlertRoute:
    """Route alerts of `types` to a channel; `minimum` is its bar for pinging (not given: the route's
    stored bar, "unproven" for a new route). Returns the route as stored."""
    chosen = parse_minimum(minimum)
    async with ctx.repos.db.transaction():
        members = ctx.repos.members
        if chosen is None:
            current = next((r for r in await members.routes(guild_id) if r.channel_id == channel_id), None)
            chosen = current.min_state if current is not None else alert_state.DEFAULT_MINIMUM
        await members.set_route(guild_id, channel_id, types, by, now, chosen)
        return next(r for r in await members.routes(guild_id) if r.channel_id == channel_id)


PUBLIC_CHANNEL_EVENT = "alerts.channel_public"


def public_channel_notice(channel_name: str, reason: str) -> str:
    """What the moderators are told when a routed channel stopped being Pro-only."""
    return (
        f"Pro alerts for #{channel_name} were not posted: {reason} "
        "Alerts to that channel are given up (not held) until it is Pro-only again; the route is kept."
    )


async def report_public_channel(
    ctx: ServiceContext, channel_id: int, channel_name: str, reason: str, now: datetime, fallback_channel_id: int | None
) -> bool:
    """Owe the moderators one post (the mod-log, else `fallback_channel_id`, the guild's system channel)
    saying a routed channel became visible to members who are not Pro: once per channel per day (the
    outbox key is the channel and the day). False when there is nowhere to post or it was already told."""
    target = ctx.settings.stripe.mod_log_channel or fallback_channel_id
    if not target:
        log.warning("alert channel %s (#%s) is public; no mod-log channel to say so", channel_id, channel_name)
        return False
    subject = f"{channel_id}:{now.date().isoformat()}"
    text = public_channel_notice(channel_name, reason)
    async with ctx.repos.db.transaction():
        return await ctx.repos.outbox.enqueue_post(PUBLIC_CHANNEL_EVENT, subject, int(target), text, now)


async def remove_route(ctx: ServiceContext, guild_id: int, channel_id: int) -> None:
    async with ctx.repos.db.transaction():
        removed = await ctx.repos.members.remove_route(guild_id, channel_id)
    if not removed:
        raise UserError("That channel has no alert route.")


async def routes(ctx: ServiceContext, guild_id: int) -> list[AlertRoute]:
    return await ctx.repos.members.routes(guild_id)


async def set_dm_alerts(
    ctx: ServiceContext,
    viewer: Viewer,
    enabled: bool,
    *,
    types: str | Iterable[str] | None = None,
    min_score: int | None = None,
    minimum: str | None = None,
) -> DmPrefs:
    """Watchlist DMs on or off, optionally filtered: `types` ("STEAM, KEY_CROSS", or "all" for every type),
    `min_score` (0-100; 0 for every score) and `minimum` (the lowest alert state of the signal's class:
    "unproven" or "tiered"; a refuted class never DMs). A filter not given keeps its stored value. Returns
    the result."""
    access.require(viewer, Feature.ALERTS)
    if min_score is not None and not 0 <= min_score <= 100:
        raise UserError("The minimum score is between 0 and 100.")
    chosen = parse_types(types) if types is not None else None
    bar = parse_minimum(minimum)
    async with ctx.repos.db.transaction():
        members = ctx.repos.members
        await members.set_dm_alerts(viewer.guild_id, viewer.user_id, enabled)
        if bar is not None:
            await members.set_dm_min_state(viewer.guild_id, viewer.user_id, bar)
        if chosen is not None or min_score is not None:
            current = await members.dm_prefs(viewer.guild_id, viewer.user_id)
            kinds = current.types if chosen is None else (None if chosen == frozenset(SignalType) else chosen)
            floor = current.min_score if min_score is None else min_score
            await members.set_dm_filters(viewer.guild_id, viewer.user_id, kinds, floor)
        return await members.dm_prefs(viewer.guild_id, viewer.user_id)


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
        for start in range(0, len(ids), MAX_DIGEST):  # one Discord message per row: sent whole or not at all
            for channel_id in channels:
                queued += await ctx.repos.outbox.enqueue(
                    f"community.digest:{horizon.isoformat()}#{start // MAX_DIGEST}:channel:{channel_id}",
                    "digest",
                    f"channel:{channel_id}",
                    {"signal_ids": ids[start : start + MAX_DIGEST], "guild_id": 0, "target_id": channel_id},
                    now,
                )
        await ctx.repos.cursors.set(DIGEST_CURSOR, horizon, now)
    return queued
