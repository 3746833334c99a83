"""Billing's view of Discord: who holds the Pro role, giving and taking it. (Billing's DMs and mod-log posts
are outbox rows, sent by the one worker through `bot.delivery`.)"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord

if TYPE_CHECKING:
    from bot.client import StratumBot

log = logging.getLogger(__name__)


class DiscordRoles:
    def __init__(self, bot: StratumBot) -> None:
        self.bot = bot

    def _member(self, guild_id: int, user_id: int) -> tuple[discord.Guild | None, discord.Member | None]:
        guild = self.bot.get_guild(guild_id)
        return guild, guild.get_member(user_id) if guild else None

    def _pro_role(self, guild: discord.Guild) -> discord.Role | None:
        return self.bot.delivery.pro_role(guild)

    def has_pro(self, guild_id: int, user_id: int) -> bool | None:
        guild, member = self._member(guild_id, user_id)
        if guild is None or member is None:
            return None
        role = self._pro_role(guild)
        return role is not None and role in member.roles

    def pro_members(self, guild_id: int) -> list[int]:
        guild = self.bot.get_guild(guild_id)
        role = self._pro_role(guild) if guild else None
        return [m.id for m in role.members] if role else []

    async def set_pro(self, guild_id: int, user_id: int, pro: bool, reason: str) -> None:
        guild, member = self._member(guild_id, user_id)
        if guild is None or member is None:
            return
        role = self._pro_role(guild)
        if role is None:
            raise RuntimeError(f"guild {guild_id} has no Pro role ({self.bot.ctx.settings.discord.pro_role})")
        text = f"Stripe: {reason}"[:500]
        if pro:
            await member.add_roles(role, reason=text)
        else:
            await member.remove_roles(role, reason=text)
