"""/odds, /chart, /heat, /integrity: looking at the market."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot import render
from bot.common import MARKET_CHOICES, game_autocomplete, viewer_of
from services import downloads, odds, signals

if TYPE_CHECKING:
    from bot.client import StratumBot


class Market(commands.Cog):
    def __init__(self, bot: StratumBot) -> None:
        self.bot = bot

    @app_commands.command(name="odds", description="Consensus and every book's line for a game")
    @app_commands.describe(game="The game (start typing a team)")
    @app_commands.autocomplete(game=game_autocomplete)
    @app_commands.guild_only()
    async def odds(self, interaction: discord.Interaction, game: str) -> None:
        board = await odds.odds_board(self.bot.ctx, game, viewer_of(interaction), self.bot.ctx.clock())
        await interaction.response.send_message(embed=render.odds_embed(board, self.bot.ctx.demo), ephemeral=True)

    @app_commands.command(name="chart", description="A chart of a line's movement, with signals and your bets")
    @app_commands.describe(game="The game (start typing a team)", market="Which market")
    @app_commands.autocomplete(game=game_autocomplete)
    @app_commands.choices(market=MARKET_CHOICES)
    @app_commands.guild_only()
    async def chart(self, interaction: discord.Interaction, game: str, market: app_commands.Choice[str]) -> None:
        await interaction.response.defer(thinking=True, ephemeral=True)
        name, png = await downloads.line_chart(
            self.bot.ctx, viewer_of(interaction), game, market.value, self.bot.ctx.clock()
        )
        await interaction.followup.send(file=discord.File(io.BytesIO(png), filename=name))

    @app_commands.command(name="heat", description="Today's games ranked by signal heat")
    @app_commands.guild_only()
    async def heat(self, interaction: discord.Interaction) -> None:
        ranked = await signals.heat_board(self.bot.ctx, viewer_of(interaction), self.bot.ctx.clock())
        await interaction.response.send_message(embed=render.heat_embed(ranked, self.bot.ctx.demo), ephemeral=True)

    @app_commands.command(name="integrity", description="The public CLV audit of every signal class")
    async def integrity(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer()
        report, name, png = await downloads.integrity_report(self.bot.ctx)
        await interaction.followup.send(
            embed=render.integrity_embed(report, image=name), file=discord.File(io.BytesIO(png), filename=name)
        )


async def setup(bot: StratumBot) -> None:
    await bot.add_cog(Market(bot))
