"""/export signals|bets [days]: a CSV file for Pro members."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.common import viewer_of
from services import downloads

if TYPE_CHECKING:
    from bot.client import StratumBot


class Export(commands.Cog):
    def __init__(self, bot: StratumBot) -> None:
        self.bot = bot

    @app_commands.command(name="export", description="Download signals or your bets as CSV (Pro)")
    @app_commands.describe(what="signals or bets", days="How many days back (default 7)")
    @app_commands.choices(
        what=[app_commands.Choice(name="signals", value="signals"), app_commands.Choice(name="bets", value="bets")]
    )
    @app_commands.guild_only()
    async def export(self, interaction: discord.Interaction, what: app_commands.Choice[str], days: int = 7) -> None:
        ctx, viewer = self.bot.ctx, viewer_of(interaction)
        await interaction.response.defer(thinking=True, ephemeral=True)
        if what.value == "signals":
            name, data = await downloads.export_signals(ctx, viewer, days, ctx.clock())
        else:
            name, data = await downloads.export_bets(ctx, viewer, days, ctx.clock())
        await interaction.followup.send(file=discord.File(io.BytesIO(data), filename=name), ephemeral=True)


async def setup(bot: StratumBot) -> None:
    await bot.add_cog(Export(bot))
