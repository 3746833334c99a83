"""/alerts: which channels get alerts, and Pro members' watchlist DMs. (Routing alerts to channels is
`/mod alerts set|remove`, in `bot.cogs.mod`: moderator commands must sit under a top-level group Discord
hides from members.)"""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot import render
from bot.choices import MINIMUM_CHOICES
from bot.common import viewer_of
from services import alerts

if TYPE_CHECKING:
    from bot.client import StratumBot


@app_commands.guild_only()
class Alerts(commands.GroupCog, group_name="alerts", group_description="Signal alerts"):
    def __init__(self, bot: StratumBot) -> None:
        self.bot = bot
        super().__init__()

    @app_commands.command(name="list", description="Which channels receive which alerts")
    async def list(self, interaction: discord.Interaction) -> None:
        routes = await alerts.routes(self.bot.ctx, interaction.guild_id)
        await interaction.response.send_message(embed=render.routes_embed(routes), ephemeral=True)

    @app_commands.command(name="dm", description="DMs for signals on your watchlist games (Pro)")
    @app_commands.describe(
        enabled="on or off",
        types="Only these types: STEAM, DISLOCATION, KEY_CROSS (several), or all",
        min_score="Only signals scoring at least this (0-100; 0 for all)",
        minimum="Which classes DM you: unproven (all our audit does not refute) or tiered (S/A/B only)",
    )
    @app_commands.choices(
        enabled=[app_commands.Choice(name="on", value="on"), app_commands.Choice(name="off", value="off")],
        minimum=MINIMUM_CHOICES,
    )
    async def dm(
        self,
        interaction: discord.Interaction,
        enabled: app_commands.Choice[str],
        types: str | None = None,
        min_score: app_commands.Range[int, 0, 100] | None = None,
        minimum: app_commands.Choice[str] | None = None,
    ) -> None:
        """Watchlist DMs on or off; `types`, `min_score` and `minimum` (the class's alert state) filter them
        (kept until changed; "all", 0 and unproven lift them). The filters apply to the DM rows a signal
        writes (`delivery.fanout`); a class our audit refutes never DMs."""
        on = enabled.value == "on"
        prefs = await alerts.set_dm_alerts(
            self.bot.ctx,
            viewer_of(interaction),
            on,
            types=types,
            min_score=min_score,
            minimum=minimum.value if minimum is not None else None,
        )
        if not on:
            text = "Watchlist DMs are off."
        else:
            kinds = ", ".join(sorted(t.value for t in prefs.types)) if prefs.types is not None else "all"
            floor = f", score {prefs.min_score}+" if prefs.min_score else ""
            text = (
                f"You will get a DM for signals on your watchlist games ({kinds}{floor}), "
                f"{render.ping_bar(prefs.min_state)}."
            )
        await interaction.response.send_message(text, ephemeral=True)


async def setup(bot: StratumBot) -> None:
    await bot.add_cog(Alerts(bot))
