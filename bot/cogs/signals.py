"""/signals and /signal: recent signals with pages and one-click presets, and one signal in full.

The list's buttons are persistent and owned by whoever ran `/signals`: `bot.views` builds the pages and
answers every click, before or after a restart."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot import render
from bot.choices import MAX_CHOICES, signal_choices
from bot.common import game_autocomplete, viewer_of
from bot.views import SignalsState, signals_page
from engine.models import SignalType
from services import prices, signals
from services.games import find_game

if TYPE_CHECKING:
    from bot.client import StratumBot

TYPES = [app_commands.Choice(name=t.value, value=t.value) for t in SignalType]


class Signals(commands.Cog):
    def __init__(self, bot: StratumBot) -> None:
        self.bot = bot

    @app_commands.command(name="signals", description="Recent signals, newest first")
    @app_commands.describe(game="Only this game", type="Only this signal type", preset="A quality preset (Pro)")
    @app_commands.autocomplete(game=game_autocomplete)
    @app_commands.choices(type=TYPES)
    @app_commands.guild_only()
    async def signals_command(
        self,
        interaction: discord.Interaction,
        game: str | None = None,
        type: app_commands.Choice[str] | None = None,
        preset: str | None = None,
    ) -> None:
        ctx, viewer = self.bot.ctx, viewer_of(interaction)
        now = ctx.clock()
        query: dict = {}
        if game:
            query["game_id"] = (await find_game(ctx, game, now)).game.id
        if type:
            query["kind"] = SignalType(type.value)
        state = SignalsState(viewer.user_id, preset=preset or None, **query)
        embed, view = await signals_page(self.bot, viewer, state)
        await interaction.response.send_message(embed=embed, view=view, ephemeral=True)

    @signals_command.autocomplete("preset")
    async def preset_autocomplete(self, interaction: discord.Interaction, current: str):
        """Presets are Pro: a Community member is offered none (`signals.offered_presets`)."""
        names = signals.offered_presets(self.bot.ctx, viewer_of(interaction))
        return [
            app_commands.Choice(name=label, value=key)
            for key, label in names.items()
            if current.casefold() in label.casefold()
        ][:MAX_CHOICES]

    @app_commands.command(name="signal", description="One signal with its diagnostics")
    @app_commands.describe(id="The signal id (shown under each signal)")
    @app_commands.guild_only()
    async def signal(self, interaction: discord.Interaction, id: str) -> None:
        ctx, viewer = self.bot.ctx, viewer_of(interaction)
        view, game, grade, price = await prices.signal_with_price(ctx, id, viewer, ctx.clock())
        embed = render.signal_embed(view, game, ctx.demo, grade, price=price, with_price=True)
        await interaction.response.send_message(embed=embed, ephemeral=True)

    @signal.autocomplete("id")
    async def signal_autocomplete(self, interaction: discord.Interaction, current: str):
        """Recent signals this member may see (the `/signals` rule: Community only past the delay, no
        book names), matched by id prefix or by text."""
        ctx = self.bot.ctx
        now = ctx.clock()
        rows = await signals.suggest_signals(ctx, viewer_of(interaction), now, current)
        return signal_choices(rows, current, now)


async def setup(bot: StratumBot) -> None:
    await bot.add_cog(Signals(bot))
