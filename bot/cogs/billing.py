"""/upgrade and /billing: Stripe subscriptions for members, linking and syncing for moderators."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from access import UserError
from bot import render
from bot.common import viewer_of

if TYPE_CHECKING:
    from billing.service import BillingService
    from bot.client import StratumBot


def _manages_roles(interaction: discord.Interaction) -> bool:
    perms = getattr(interaction.user, "guild_permissions", None)
    return bool(perms and (perms.manage_roles or perms.administrator))


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
class Billing(commands.GroupCog, group_name="billing", group_description="Your plan, and Stripe links (moderators)"):
    def __init__(self, bot: StratumBot) -> None:
        self.bot = bot
        super().__init__()

    def _moderator(self, interaction: discord.Interaction) -> BillingService:
        if not _manages_roles(interaction):
            raise UserError("You need the Manage Roles permission for this command.")
        return self.bot.billing_service()

    @app_commands.command(name="status", description="Your plan (or a member's, for moderators)")
    @app_commands.describe(member="Moderators: whose billing to show")
    async def status(self, interaction: discord.Interaction, member: discord.Member | None = None) -> None:
        target = member or interaction.user
        billing = self._moderator(interaction) if target.id != interaction.user.id else self.bot.billing_service()
        await interaction.response.defer(thinking=True, ephemeral=True)
        info = await billing.status(interaction.guild_id, target.id)
        portal = None
        if target.id == interaction.user.id and info.link is not None:
            portal = await billing.portal_link(interaction.guild_id, target.id)
        embed = render.billing_embed(target.display_name, info, moderator_view=member is not None)
        view = render.link_view("Manage subscription", portal) if portal else discord.utils.MISSING
        await interaction.followup.send(embed=embed, view=view, ephemeral=True)

    @app_commands.command(name="link", description="Link a member to a Stripe customer (moderators)")
    @app_commands.describe(member="The member", customer_id="Stripe customer id (cus_...)")
    async def link(self, interaction: discord.Interaction, member: discord.Member, customer_id: str) -> None:
        billing = self._moderator(interaction)
        await interaction.response.defer(thinking=True, ephemeral=True)
        result = await billing.link(interaction.guild_id, member.id, customer_id, interaction.user.id)
        await interaction.followup.send(
            f"Linked {member.mention} to {customer_id.strip()}. {render.sync_line(result)}", ephemeral=True
        )

    @app_commands.command(name="unlink", description="Remove a member's Stripe link (moderators)")
    async def unlink(self, interaction: discord.Interaction, member: discord.Member) -> None:
        billing = self._moderator(interaction)
        await interaction.response.defer(thinking=True, ephemeral=True)
        result = await billing.unlink(interaction.guild_id, member.id, interaction.user.id)
        await interaction.followup.send(f"Unlinked {member.mention}. {render.sync_line(result)}", ephemeral=True)

    @app_commands.command(name="sync", description="Re-check roles against Stripe: one member or everyone")
    async def sync(self, interaction: discord.Interaction, member: discord.Member | None = None) -> None:
        billing = self._moderator(interaction)
        await interaction.response.defer(thinking=True, ephemeral=True)
        if member is not None:
            result = await billing.sync_member(interaction.guild_id, member.id)
            await billing.mod_log(
                interaction.guild_id, f"{interaction.user.mention} synced {member.mention}: {render.sync_line(result)}"
            )
            await interaction.followup.send(render.sync_line(result), ephemeral=True)
            return
        results = await billing.reconcile(interaction.guild_id, by=interaction.user.id)
        changed = sum(1 for r in results if r.change)
        await interaction.followup.send(f"Checked {len(results)} linked members; {changed} changed.", ephemeral=True)


async def setup(bot: StratumBot) -> None:
    await bot.add_cog(Upgrade(bot))
    await bot.add_cog(Billing(bot))
