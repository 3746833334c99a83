"""/signals and /signal: recent signals with pages and one-click presets, and one signal in full."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from access import SignalView, Viewer
from bot import render
from bot.common import answer_error, game_autocomplete, viewer_of
from engine.models import Game, SignalType
from services import signals
from services.games import find_game

if TYPE_CHECKING:
    from bot.client import StratumBot

TYPES = [app_commands.Choice(name=t.value, value=t.value) for t in SignalType]


class SignalPages(discord.ui.View):
    """Newest first, a page at a time; Pro members get the preset buttons that re-filter in one click."""

    def __init__(self, bot: StratumBot, viewer: Viewer, views: list[SignalView], games: dict[str, Game], **query):
        super().__init__(timeout=600)
        self.bot, self.viewer, self.views, self.games, self.query = bot, viewer, views, games, query
        self.page = 0
        self.title = "Recent signals"
        self.owner = viewer.user_id
        if viewer.is_pro:
            for key, label in signals.preset_names(bot.ctx).items():
                button = discord.ui.Button(label=label, style=discord.ButtonStyle.primary, custom_id=f"preset:{key}")
                button.callback = self._preset(key, label)
                self.add_item(button)
        self._refresh()

    @property
    def pages(self) -> int:
        size = self.bot.ctx.settings.discord.signals_page_size
        return max(1, -(-len(self.views) // size))

    def embed(self) -> discord.Embed:
        size = self.bot.ctx.settings.discord.signals_page_size
        chunk = self.views[self.page * size : (self.page + 1) * size]
        return render.signals_page_embed(chunk, self.games, self.page, self.pages, self.title, not self.viewer.is_pro)

    def _refresh(self) -> None:
        self.previous.disabled = self.page == 0
        self.next.disabled = self.page >= self.pages - 1

    async def on_error(self, interaction: discord.Interaction, error: Exception, item: discord.ui.Item) -> None:
        """A button never leaves a click unanswered: the same handling as a slash command's errors."""
        await answer_error(interaction, error)

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.user.id != self.owner:
            await interaction.response.send_message("Run `/signals` to get your own list.", ephemeral=True)
            return False
        return True

    @discord.ui.button(label="◀", style=discord.ButtonStyle.secondary, custom_id="signals:prev")
    async def previous(self, interaction: discord.Interaction, _: discord.ui.Button) -> None:
        self.page = max(0, self.page - 1)
        self._refresh()
        await interaction.response.edit_message(embed=self.embed(), view=self)

    @discord.ui.button(label="▶", style=discord.ButtonStyle.secondary, custom_id="signals:next")
    async def next(self, interaction: discord.Interaction, _: discord.ui.Button) -> None:
        self.page = min(self.pages - 1, self.page + 1)
        self._refresh()
        await interaction.response.edit_message(embed=self.embed(), view=self)

    def _preset(self, key: str, label: str):
        async def callback(interaction: discord.Interaction) -> None:
            ctx = self.bot.ctx
            self.views = await signals.recent_signals(ctx, self.viewer, ctx.clock(), preset=key, **self.query)
            self.games.update(await _games(ctx, self.views))
            self.page, self.title = 0, f"Recent signals · {label}"
            self._refresh()
            await interaction.response.edit_message(embed=self.embed(), view=self)

        return callback


async def _games(ctx, views: list[SignalView]) -> dict[str, Game]:
    games = {}
    for game_id in {v.game_id for v in views}:
        stored = await ctx.repos.games.get(game_id)
        if stored is not None:
            games[game_id] = stored.game
    return games


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
        query = {}
        if game:
            query["game_id"] = (await find_game(ctx, game, now)).game.id
        if type:
            query["kind"] = SignalType(type.value)
        views = await signals.recent_signals(ctx, viewer, now, preset=preset, **query)
        pages = SignalPages(self.bot, viewer, views, await _games(ctx, views), **query)
        await interaction.response.send_message(embed=pages.embed(), view=pages, ephemeral=True)

    @signals_command.autocomplete("preset")
    async def preset_autocomplete(self, interaction: discord.Interaction, current: str):
        names = signals.preset_names(self.bot.ctx)
        return [
            app_commands.Choice(name=label, value=key)
            for key, label in names.items()
            if current.casefold() in label.casefold()
        ]

    @app_commands.command(name="signal", description="One signal with its diagnostics")
    @app_commands.describe(id="The signal id (shown under each signal)")
    @app_commands.guild_only()
    async def signal(self, interaction: discord.Interaction, id: str) -> None:
        ctx, viewer = self.bot.ctx, viewer_of(interaction)
        view = await signals.one_signal(ctx, id, viewer, ctx.clock())
        games = await _games(ctx, [view])
        await interaction.response.send_message(
            embed=render.signal_embed(view, games.get(view.game_id)), ephemeral=True
        )


async def setup(bot: StratumBot) -> None:
    await bot.add_cog(Signals(bot))
