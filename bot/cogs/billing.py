"""/upgrade and /billing status: a member's own Stripe subscription. (Linking and syncing members is
`/mod billing`, in `bot.cogs.mod`.)"""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot import render
from bot.common import viewer_of

if TYPE_CHECKING:
    from bot.client import StratumBot


class Upgrade(commands.Cog):
    def __init__(self, bot: StratumBot) -> None:
        self.bot = bot

    @app_commands.command(name="upgrade", description="Get Pro: a private Stripe Checkout link")
    @app_commands.guild_only()
    async def upgrade(self, interaction: discord.Interaction) -> None:
        billing = self.bot.billing_service()
        await interaction.response.defer(thinking=True, ephemeral=True)
        url = await billing.upgrade_link(viewer_of(interaction))
        await interaction.followup.send(
            "Here is your private checkout link (it opens Stripe):",
            view=render.link_view("Upgrade to Pro", url),
            ephemeral=True,
        )


@app_commands.guild_only()
class Billing(commands.GroupCog, group_name="billing", group_description="Your plan and subscription"):
    def __init__(self, bot: StratumBot) -> None:
        self.bot = bot
        super().__init__()

    @app_commands.command(name="status", description="Your plan, renewal date and a link to manage it")
    async def status(self, interaction: discord.Interaction) -> None:
        """The member's own plan. (A moderator's view of someone else's is `/mod billing status`.)"""
        billing = self.bot.billing_service()
        user = interaction.user
        await interaction.response.defer(thinking=True, ephemeral=True)
        info = await billing.status(interaction.guild_id, user.id)
        portal = await billing.portal_link(interaction.guild_id, user.id) if info.link is not None else None
        embed = render.billing_embed(user.display_name, info, moderator_view=False)
        view = render.link_view("Manage subscription", portal) if portal else discord.utils.MISSING
        await interaction.followup.send(embed=embed, view=view, ephemeral=True)


async def setup(bot: StratumBot) -> None:
    await bot.add_cog(Upgrade(bot))
    await bot.add_cog(Billing(bot))
