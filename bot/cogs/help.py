"""/help: the commands of the viewer's tier (and /mod for moderators). What a tier has is decided by
`access.help_sheet`; this cog only asks who is looking and renders the answer, ephemeral."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

import access
from bot.common import is_moderator, viewer_of
from bot.guide import help_embed

if TYPE_CHECKING:
    from bot.client import StratumBot


class Help(commands.Cog):
    def __init__(self, bot: StratumBot) -> None:
        self.bot = bot

    @app_commands.command(name="help", description="The commands you have, and what Pro adds")
    @app_commands.guild_only()
    async def help(self, interaction: discord.Interaction) -> None:
        viewer = viewer_of(interaction)
        sheet = access.help_sheet(viewer.tier, self.bot.ctx.settings.tiers, moderator=is_moderator(interaction))
        await interaction.response.send_message(embed=help_embed(sheet), ephemeral=True)


async def setup(bot: StratumBot) -> None:
    await bot.add_cog(Help(bot))
