"""/mod: the moderators' commands, under one top-level group members never see.

Discord hides a command from members by its ``default_member_permissions``, and that applies to top-level
commands and groups only: a moderator subcommand inside a member group (/alerts, /billing) would be shown
to everyone. So every moderator command lives here, under ``/mod`` with Manage Server as its default:
``/mod alerts set|remove``, ``/mod billing link|unlink|sync|status``, ``/mod apikey create|revoke|list``.

Server admins can change who sees /mod (Server Settings → Integrations), so each handler still checks the
permission it needs at run time: Manage Server for alert routes and API keys, Manage Roles for Stripe links
(they give and take the Pro role). Thin handlers: parse, call the same services as before, render.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

import access
from access import UserError
from bot import render
from bot.choices import MINIMUM_CHOICES
from bot.common import bot_cannot_post, channel_leak, find_pro_role
from services import alerts, keys

if TYPE_CHECKING:
    from billing.service import BillingService
    from bot.client import StratumBot

PLANS = [
    app_commands.Choice(name="Builder", value="builder"),
    app_commands.Choice(name="Pro Infra", value="pro_infra"),
    app_commands.Choice(name="Enterprise", value="enterprise"),
]


def owner_of(member: discord.abc.User) -> str:
    """An API key's owner as stored: the member's Discord id."""
    return f"discord:{member.id}"


def _manages_roles(interaction: discord.Interaction) -> bool:
    perms = getattr(interaction.user, "guild_permissions", None)
    return bool(perms and (perms.manage_roles or perms.administrator))


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class Mod(commands.GroupCog, group_name="mod", group_description="Moderators: alert channels, Stripe links, API keys"):
    alerts = app_commands.Group(name="alerts", description="Route signal alerts to Pro-only channels")
    billing = app_commands.Group(name="billing", description="Link members to Stripe customers (Manage Roles)")
    apikey = app_commands.Group(name="apikey", description="REST API keys for members")

    def __init__(self, bot: StratumBot) -> None:
        self.bot = bot
        super().__init__()

    # ------------------------------------------------------------------ /mod alerts

    @alerts.command(name="set", description="Send alerts of these types to a channel")
    @app_commands.describe(
        channel="Where alerts go",
        types="STEAM, DISLOCATION, KEY_CROSS, or all",
        minimum="Which classes ping: unproven (all our audit does not refute) or tiered (S/A/B only)",
    )
    @app_commands.choices(minimum=MINIMUM_CHOICES)
    @app_commands.checks.has_permissions(manage_guild=True)
    async def alerts_set(
        self,
        interaction: discord.Interaction,
        channel: discord.TextChannel,
        types: str,
        minimum: app_commands.Choice[str] | None = None,
    ) -> None:
        """Alerts carry the Pro diagnostics (books in move order, velocity, breakdown): a channel members
        who are not Pro can read is refused, with the fix (`bot.common.channel_leak`); the sender checks
        again before every post (`bot.delivery`). `minimum` raises the channel's bar: alerts of classes
        below it are posted without the ping (a class our audit refutes never pings)."""
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
        route = await alerts.set_route(
            ctx,
            interaction.guild_id,
            channel.id,
            chosen,
            interaction.user.id,
            ctx.clock(),
            minimum.value if minimum is not None else None,
        )
        names = ", ".join(sorted(t.value for t in chosen))
        await interaction.response.send_message(
            f"{channel.mention} now receives {names} alerts, pinging the Pro role {render.ping_bar(route.min_state)}.",
            ephemeral=True,
        )

    @alerts.command(name="remove", description="Stop alerts in a channel")
    @app_commands.checks.has_permissions(manage_guild=True)
    async def alerts_remove(self, interaction: discord.Interaction, channel: discord.TextChannel) -> None:
        await alerts.remove_route(self.bot.ctx, interaction.guild_id, channel.id)
        await interaction.response.send_message(f"{channel.mention} no longer receives alerts.", ephemeral=True)

    # ------------------------------------------------------------------ /mod billing

    def _billing(self, interaction: discord.Interaction) -> BillingService:
        if not _manages_roles(interaction):
            raise UserError("You need the Manage Roles permission for this command.")
        return self.bot.billing_service()

    @billing.command(name="status", description="A member's plan, Stripe customer and what their role should be")
    @app_commands.describe(member="Whose billing to show")
    async def billing_status(self, interaction: discord.Interaction, member: discord.Member) -> None:
        billing = self._billing(interaction)
        await interaction.response.defer(thinking=True, ephemeral=True)
        info = await billing.status(interaction.guild_id, member.id)
        embed = render.billing_embed(member.display_name, info, moderator_view=True)
        await interaction.followup.send(embed=embed, ephemeral=True)

    @billing.command(name="link", description="Link a member to a Stripe customer")
    @app_commands.describe(member="The member", customer_id="Stripe customer id (cus_...)")
    async def billing_link(self, interaction: discord.Interaction, member: discord.Member, customer_id: str) -> None:
        billing = self._billing(interaction)
        await interaction.response.defer(thinking=True, ephemeral=True)
        result = await billing.link(interaction.guild_id, member.id, customer_id, interaction.user.id)
        await interaction.followup.send(
            f"Linked {member.mention} to {customer_id.strip()}. {render.sync_line(result)}", ephemeral=True
        )

    @billing.command(name="unlink", description="Remove a member's Stripe link")
    async def billing_unlink(self, interaction: discord.Interaction, member: discord.Member) -> None:
        billing = self._billing(interaction)
        await interaction.response.defer(thinking=True, ephemeral=True)
        result = await billing.unlink(interaction.guild_id, member.id, interaction.user.id)
        await interaction.followup.send(f"Unlinked {member.mention}. {render.sync_line(result)}", ephemeral=True)

    @billing.command(name="sync", description="Re-check roles against Stripe: one member or everyone")
    async def billing_sync(self, interaction: discord.Interaction, member: discord.Member | None = None) -> None:
        billing = self._billing(interaction)
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

    # ------------------------------------------------------------------ /mod apikey

    @apikey.command(name="create", description="Create an API key for a member; it is sent to them by DM")
    @app_commands.describe(member="Who the key is for", plan="Their plan")
    @app_commands.choices(plan=PLANS)
    @app_commands.checks.has_permissions(manage_guild=True)
    async def apikey_create(
        self, interaction: discord.Interaction, member: discord.Member, plan: app_commands.Choice[str]
    ) -> None:
        ctx = self.bot.ctx
        async with ctx.repos.db.transaction():  # the key and the DM that carries it (an outbox row): both or neither
            key, secret = await keys.create_key(
                ctx.repos, ctx.settings, owner=owner_of(member), plan=plan.value, now=ctx.clock()
            )
            limits = access.plan_limits(key, ctx.settings.plans)
            text = (
                f"Your Stratum API key ({limits.label}: {limits.requests_per_minute} requests/min, "
                f"{limits.webhooks} webhooks{', commercial use' if limits.commercial_use else ''}):\n`{secret}`\n"
                "It is shown once; keep it secret. Send it as `Authorization: Bearer <key>`."
            )
            await ctx.repos.outbox.enqueue_dm("apikey.created", key.id, member.id, text, ctx.clock(), sensitive=True)
        sent = await self.bot.deliver_now(f"apikey.created:{key.id}:dm:{member.id}")  # out of turn: we wait for it
        if sent is not None and sent.failed_at is not None:
            await keys.revoke(ctx.repos, key.id, ctx.clock())
            raise UserError(f"{member.mention} does not accept DMs, so the key was revoked unseen.")
        how = "the key was sent to them by DM" if sent and sent.sent_at else "the key will reach them by DM shortly"
        await interaction.response.send_message(
            f"Created {key.id} ({limits.label}) for {member.mention}; {how}.", ephemeral=True
        )

    @apikey.command(name="revoke", description="Revoke an API key by its id (strat_...)")
    @app_commands.checks.has_permissions(manage_guild=True)
    async def apikey_revoke(self, interaction: discord.Interaction, key_id: str) -> None:
        key = await keys.revoke(self.bot.ctx.repos, key_id.strip(), self.bot.ctx.clock())
        await interaction.response.send_message(f"Revoked {key.id} ({key.owner}).", ephemeral=True)

    @apikey.command(name="list", description="API keys: ids, owners, plans (never the secrets)")
    @app_commands.checks.has_permissions(manage_guild=True)
    async def apikey_list(self, interaction: discord.Interaction, member: discord.Member | None = None) -> None:
        found = await self.bot.ctx.repos.api.keys(owner_of(member) if member else None)
        lines = [
            f"`{k.id}` {k.plan} · {'active' if k.active else 'revoked'} · "
            f"{'<@' + k.owner.split(':', 1)[1] + '>' if k.owner.startswith('discord:') else k.owner}"
            for k in found
        ]
        await interaction.response.send_message(
            "\n".join(lines)[:1900] or "No API keys yet.",
            ephemeral=True,
            allowed_mentions=discord.AllowedMentions.none(),
        )


async def setup(bot: StratumBot) -> None:
    await bot.add_cog(Mod(bot))
