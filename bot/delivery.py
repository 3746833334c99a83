"""Delivering outbox items through Discord: channel alerts that ping the Pro role (and only it), DMs to
members who are still Pro, and the Community digest of redacted signals."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord

import access
from access import Tier
from bot import render
from services.alerts import DeliveryFailed, DeliveryRetry
from storage import OutboxItem

if TYPE_CHECKING:
    from bot.client import StratumBot
    from engine.models import Signal

log = logging.getLogger(__name__)


class DiscordDelivery:
    def __init__(self, bot: StratumBot) -> None:
        self.bot = bot

    def tier_of(self, guild_id: int, user_id: int) -> Tier | None:
        guild = self.bot.get_guild(guild_id)
        member = guild.get_member(user_id) if guild else None
        if member is None:
            return None
        roles = [(role.id, role.name) for role in member.roles]
        return access.tier_for_roles(roles, self.bot.ctx.settings.discord)

    def pro_role(self, guild: discord.Guild) -> discord.Role | None:
        wanted = self.bot.ctx.settings.discord.pro_role
        return discord.utils.find(lambda r: str(r.id) == wanted or r.name.casefold() == wanted.casefold(), guild.roles)

    async def _embeds(self, signals: list[Signal], tier: Tier) -> list[discord.Embed]:
        ctx = self.bot.ctx
        embeds = []
        for signal in signals:
            stored = await ctx.repos.games.get(signal.game_id)
            view = access.view_signal(signal, tier)
            embeds.append(render.signal_embed(view, stored.game if stored else None))
        return embeds

    async def deliver(self, item: OutboxItem, signals: list[Signal]) -> None:
        if not signals:
            return
        try:
            if item.kind == "channel":
                await self._channel_alert(item, signals)
            elif item.kind == "dm":
                await self._dm(item, signals)
            elif item.kind == "digest":
                await self._digest(item, signals)
            else:
                raise DeliveryFailed(f"unknown outbox kind {item.kind!r}")
        except discord.RateLimited as exc:
            raise DeliveryRetry("rate limited", exc.retry_after) from exc
        except (discord.Forbidden, discord.NotFound) as exc:
            raise DeliveryFailed(f"{type(exc).__name__}: {exc.text or exc}") from exc
        except discord.HTTPException as exc:
            raise DeliveryRetry(f"Discord error {exc.status}: {exc.text}") from exc
        except (OSError, TimeoutError) as exc:
            raise DeliveryRetry(f"network: {exc}") from exc

    async def _channel(self, channel_id: int) -> discord.abc.Messageable:
        channel = self.bot.get_channel(channel_id)
        if channel is None:
            channel = await self.bot.fetch_channel(channel_id)
        return channel  # type: ignore[return-value]

    async def _channel_alert(self, item: OutboxItem, signals: list[Signal]) -> None:
        channel = await self._channel(item.target_id)
        guild = getattr(channel, "guild", None) or self.bot.get_guild(item.guild_id)
        role = self.pro_role(guild) if guild else None
        content = role.mention if role else None
        mentions = discord.AllowedMentions(everyone=False, users=False, roles=[role] if role else False)
        await channel.send(content=content, embeds=await self._embeds(signals, Tier.PRO), allowed_mentions=mentions)

    async def _dm(self, item: OutboxItem, signals: list[Signal]) -> None:
        if self.tier_of(item.guild_id, item.target_id) != Tier.PRO:
            raise DeliveryFailed("the member is not Pro (any more); no DM")
        user = self.bot.get_user(item.target_id) or await self.bot.fetch_user(item.target_id)
        await user.send(embeds=await self._embeds(signals, Tier.PRO), allowed_mentions=discord.AllowedMentions.none())

    async def _digest(self, item: OutboxItem, signals: list[Signal]) -> None:
        channel = await self._channel(item.target_id)
        minutes = int(self.bot.ctx.settings.tiers.community_delay_seconds // 60)
        await channel.send(
            content=f"Latest signals (Community view, {minutes} minutes delayed):",
            embeds=(await self._embeds(signals, Tier.COMMUNITY))[:10],
            allowed_mentions=discord.AllowedMentions.none(),
        )
