"""/watch add|remove|list: a member's games."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot import render
from bot.common import game_autocomplete, viewer_of
from services import watchlist
from services.games import matchup

if TYPE_CHECKING:
    from bot.client import StratumBot


@app_commands.guild_only()
class Watch(commands.GroupCog, group_name="watch", group_description="Your watchlist of games"):
    def __init__(self, bot: StratumBot) -> None:
        self.bot = bot
        super().__init__()

    @app_commands.command(name="add", description="Watch a game")
    @app_commands.describe(game="The game (start typing a team)")
    @app_commands.autocomplete(game=game_autocomplete)
    async def add(self, interaction: discord.Interaction, game: str) -> None:
        stored = await watchlist.add(self.bot.ctx, viewer_of(interaction), game, self.bot.ctx.clock())
        await interaction.response.send_message(f"Watching {matchup(stored.game)}.", ephemeral=True)

    @app_commands.command(name="remove", description="Stop watching a game")
    @app_commands.describe(game="The game (start typing a team)")
    @app_commands.autocomplete(game=game_autocomplete)
    async def remove(self, interaction: discord.Interaction, game: str) -> None:
        stored = await watchlist.remove(self.bot.ctx, viewer_of(interaction), game, self.bot.ctx.clock())
        await interaction.response.send_message(f"Removed {matchup(stored.game)}.", ephemeral=True)

    @app_commands.command(name="list", description="Your watched games")
    async def list(self, interaction: discord.Interaction) -> None:
        games, limit = await watchlist.listing(self.bot.ctx, viewer_of(interaction), self.bot.ctx.clock())
        await interaction.response.send_message(embed=render.watchlist_embed(games, limit), ephemeral=True)


async def setup(bot: StratumBot) -> None:
    await bot.add_cog(Watch(bot))
