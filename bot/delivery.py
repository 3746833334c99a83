"""The Discord sender of the one outbox (`delivery.worker` calls it): channel alerts that ping the Pro role
(and only it), watchlist DMs to members who are still Pro, the Community digest of redacted signals, and
plain-text posts and DMs (mod-log, operators, billing, API keys, anomalies).

Thin on purpose: it maps a row to one discord.py call and Discord's answers to the worker's two kinds of
failure — 403/404 permanent (`DeliveryFailed`), 429/5xx/network temporary (`DeliveryRetry`, with
``retry_after``). Every message carries the row's id as its nonce (with ``enforce_nonce``), so Discord
itself drops a repeat sent within minutes, and a repeat is recognisable by it."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord

import access
from access import Tier
from bot import render
from bot.common import channel_leak, find_pro_role
from services import alerts
from services.alerts import DeliveryFailed, DeliveryRetry

if TYPE_CHECKING:
    from storage.outbox import OutboxItem

if TYPE_CHECKING:
    from datetime import datetime

    from bot.client import StratumBot
    from engine.models import Signal

log = logging.getLogger(__name__)


KINDS = frozenset({"alert", "watch_dm", "digest", "message", "dm"})


def nonce(item: OutboxItem) -> str:
    """Discord nonces are at most 25 characters: the tail of the row's stable message id."""
    return item.msg_id.removeprefix("msg_")[-25:]


class DiscordDelivery:
    kinds = KINDS

    def __init__(self, bot: StratumBot, policy=None) -> None:
        self.bot = bot
        self.policy = policy  # the outbox's retry policy with Discord's limits (set by the app)

    def ready(self) -> bool:
        return self.bot.is_ready()

    def tier_of(self, guild_id: int, user_id: int) -> Tier | None:
        guild = self.bot.get_guild(guild_id)
        member = guild.get_member(user_id) if guild else None
        if member is None:
            return None
        roles = [(role.id, role.name) for role in member.roles]
        return access.tier_for_roles(roles, self.bot.ctx.settings.discord)

    def pro_role(self, guild: discord.Guild) -> discord.Role | None:
        return find_pro_role(guild, self.bot.ctx.settings.discord.pro_role)

    async def _embeds(self, signals: list[Signal], tier: Tier) -> list[discord.Embed]:
        ctx = self.bot.ctx
        embeds = []
        for signal in signals:
            stored = await ctx.repos.games.get(signal.game_id)
            view = access.view_signal(signal, tier)
            embeds.append(render.signal_embed(view, stored.game if stored else None))
        return embeds

    async def _signals(self, item: OutboxItem) -> list[Signal]:
        repos = self.bot.ctx.repos
        return [s for s in [await repos.signals.get(i) for i in item.payload.get("signal_ids", [])] if s]

    async def send(self, item: OutboxItem, now: datetime | None = None) -> int | None:
        try:
            if item.kind == "message":
                await self._text(item)
            elif item.kind == "dm":
                await self._text_dm(item)
            else:
                signals = await self._signals(item)
                if not signals:
                    return None
                if item.kind == "alert":
                    await self._channel_alert(item, signals)
                elif item.kind == "watch_dm":
                    await self._dm(item, signals)
                elif item.kind == "digest":
                    await self._digest(item, signals)
                else:
                    raise DeliveryFailed(f"unknown outbox kind {item.kind!r}")
        except discord.RateLimited as exc:
            raise DeliveryRetry("rate limited", exc.retry_after, 429) from exc
        except (discord.Forbidden, discord.NotFound) as exc:
            raise DeliveryFailed(f"{type(exc).__name__}: {exc.text or exc}", exc.status) from exc
        except discord.HTTPException as exc:
            raise DeliveryRetry(f"Discord error {exc.status}: {exc.text}", None, exc.status) from exc
        except (OSError, TimeoutError) as exc:
            raise DeliveryRetry(f"network: {exc}") from exc
        return None

    async def deliver(self, item: OutboxItem, signals: list[Signal] | None = None) -> None:
        await self.send(item)

    async def gave_up(self, item: OutboxItem, reason: str, now: datetime, *, target_gone: bool) -> None:
        log.warning("Discord delivery %s given up: %s", item.key, reason)

    async def _channel(self, channel_id: int) -> discord.abc.Messageable:
        channel = self.bot.get_channel(channel_id)
        if channel is None:
            channel = await self.bot.fetch_channel(channel_id)
        return channel  # type: ignore[return-value]

    async def _user(self, user_id: int) -> discord.User:
        return self.bot.get_user(user_id) or await self.bot.fetch_user(user_id)

    async def _text(self, item: OutboxItem) -> None:
        channel = await self._channel(int(item.payload["channel_id"]))
        await channel.send(
            item.payload["text"][:2000], allowed_mentions=discord.AllowedMentions.none(), nonce=nonce(item)
        )

    async def _text_dm(self, item: OutboxItem) -> None:
        user = await self._user(int(item.payload["user_id"]))
        await user.send(item.payload["text"][:2000], allowed_mentions=discord.AllowedMentions.none(), nonce=nonce(item))

    async def _channel_alert(self, item: OutboxItem, signals: list[Signal]) -> None:
        channel = await self._channel(int(item.payload["target_id"]))
        guild = getattr(channel, "guild", None) or self.bot.get_guild(int(item.payload.get("guild_id") or 0))
        role = self.pro_role(guild) if guild else None
        await self._still_pro_only(item, channel, role)
        content = role.mention if role else None
        mentions = discord.AllowedMentions(everyone=False, users=False, roles=[role] if role else False)
        await channel.send(
            content=content,
            embeds=await self._embeds(signals, Tier.PRO),
            allowed_mentions=mentions,
            nonce=nonce(item),
        )

    async def _still_pro_only(
        self, item: OutboxItem, channel: discord.abc.Messageable, role: discord.Role | None
    ) -> None:
        """The send-time re-check of `/alerts set`: a routed channel that members who are not Pro can read
        now gets no Pro alert. The row is given up (a held alert would post stale once fixed) and the
        moderators are told once per channel per day, through the outbox."""
        if not isinstance(channel, discord.abc.GuildChannel):
            raise DeliveryFailed("the alert channel is not a server channel; no Pro alert posted")
        leak = channel_leak(channel, role, self.bot.user.id if self.bot.user else 0)
        if leak is None:
            return
        reason = leak.replace(", then run /alerts set again.", ".")
        system = channel.guild.system_channel
        now = self.bot.ctx.clock()
        await alerts.report_public_channel(
            self.bot.ctx, channel.id, channel.name, reason, now, system.id if system is not None else None
        )
        raise DeliveryFailed(f"not Pro-only any more, Pro alert not posted: {reason}")

    async def _dm(self, item: OutboxItem, signals: list[Signal]) -> None:
        guild_id, user_id = int(item.payload.get("guild_id") or 0), int(item.payload["target_id"])
        if self.tier_of(guild_id, user_id) != Tier.PRO:
            raise DeliveryFailed("the member is not Pro (any more); no DM")
        user = await self._user(user_id)
        await user.send(
            embeds=await self._embeds(signals, Tier.PRO),
            allowed_mentions=discord.AllowedMentions.none(),
            nonce=nonce(item),
        )

    async def _digest(self, item: OutboxItem, signals: list[Signal]) -> None:
        channel = await self._channel(int(item.payload["target_id"]))
        minutes = int(self.bot.ctx.settings.tiers.community_delay_seconds // 60)
        await channel.send(
            content=f"Latest signals (Community view, {minutes} minutes delayed):",
            embeds=(await self._embeds(signals, Tier.COMMUNITY))[:10],
            allowed_mentions=discord.AllowedMentions.none(),
            nonce=nonce(item),
        )
