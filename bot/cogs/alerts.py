"""/alerts: moderators route signal alerts to channels; Pro members opt in to watchlist DMs."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from access import UserError
from bot import render
from bot.common import bot_cannot_post, channel_leak, find_pro_role, viewer_of
from services import alerts

if TYPE_CHECKING:
    from bot.client import StratumBot


@app_commands.guild_only()
class Alerts(commands.GroupCog, group_name="alerts", group_description="Signal alerts"):
    def __init__(self, bot: StratumBot) -> None:
        self.bot = bot
        super().__init__()

    @app_commands.command(name="set", description="Send alerts of these types to a channel (moderators)")
    @app_commands.describe(channel="Where alerts go", types="STEAM, DISLOCATION, KEY_CROSS, or all")
    @app_commands.checks.has_permissions(manage_guild=True)
    async def set(self, interaction: discord.Interaction, channel: discord.TextChannel, types: str) -> None:
        """Alerts carry the Pro diagnostics (books in move order, velocity, breakdown): a channel members
        who are not Pro can read is refused, with the fix (`bot.common.channel_leak`); the sender checks
        again before every post (`bot.delivery`)."""
        chosen = alerts.parse_types(types)
        ctx = self.bot.ctx
        guild = interaction.guild or self.bot.get_guild(interaction.guild_id or 0)
        live = guild.get_channel(channel.id) if guild is not None else None
        if not isinstance(live, discord.TextChannel):
            raise UserError("Pick a text channel of this server for alerts.")
        leak = channel_leak(live, find_pro_role(guild, ctx.settings.discord.pro_role), self.bot.user.id)
        if leak is None:
            leak = bot_cannot_post(live)
        if leak is not None:
            raise UserError(leak)
        await alerts.set_route(ctx, interaction.guild_id, channel.id, chosen, interaction.user.id, ctx.clock())
        names = ", ".join(sorted(t.value for t in chosen))
        await interaction.response.send_message(
            f"{channel.mention} now receives {names} alerts, pinging the Pro role.", ephemeral=True
        )

    @app_commands.command(name="remove", description="Stop alerts in a channel (moderators)")
    @app_commands.checks.has_permissions(manage_guild=True)
    async def remove(self, interaction: discord.Interaction, channel: discord.TextChannel) -> None:
        await alerts.remove_route(self.bot.ctx, interaction.guild_id, channel.id)
        await interaction.response.send_message(f"{channel.mention} no longer receives alerts.", ephemeral=True)

    @app_commands.command(name="list", description="Which channels receive which alerts")
    async def list(self, interaction: discord.Interaction) -> None:
        routes = await alerts.routes(self.bot.ctx, interaction.guild_id)
        await interaction.response.send_message(embed=render.routes_embed(routes), ephemeral=True)

    @app_commands.command(name="dm", description="DMs for signals on your watchlist games (Pro)")
    @app_commands.describe(
        enabled="on or off",
        types="Only these types: STEAM, DISLOCATION, KEY_CROSS (several), or all",
        min_score="Only signals scoring at least this (0-100; 0 for all)",
    )
    @app_commands.choices(
        enabled=[app_commands.Choice(name="on", value="on"), app_commands.Choice(name="off", value="off")]
    )
    async def dm(
        self,
        interaction: discord.Interaction,
        enabled: app_commands.Choice[str],
        types: str | None = None,
        min_score: app_commands.Range[int, 0, 100] | None = None,
    ) -> None:
        """Watchlist DMs on or off; `types` and `min_score` filter them (kept until changed; "all" and 0 lift
        them). The filters apply to the DM rows a signal writes (`delivery.fanout`)."""
        on = enabled.value == "on"
        prefs = await alerts.set_dm_alerts(self.bot.ctx, viewer_of(interaction), on, types=types, min_score=min_score)
        if not on:
            text = "Watchlist DMs are off."
        else:
            kinds = ", ".join(sorted(t.value for t in prefs.types)) if prefs.types is not None else "all"
            floor = f", score {prefs.min_score}+" if prefs.min_score else ""
            text = f"You will get a DM for signals on your watchlist games ({kinds}{floor})."
        await interaction.response.send_message(text, ephemeral=True)


async def setup(bot: StratumBot) -> None:
    await bot.add_cog(Alerts(bot))
