"""/apikey create|revoke|list: moderators issue REST API keys to members (the key is DMed, shown once)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

import access
from access import UserError
from services import keys

if TYPE_CHECKING:
    from bot.client import StratumBot

PLANS = [
    app_commands.Choice(name="Builder", value="builder"),
    app_commands.Choice(name="Pro Infra", value="pro_infra"),
    app_commands.Choice(name="Enterprise", value="enterprise"),
]


def owner_of(member: discord.abc.User) -> str:
    return f"discord:{member.id}"


@app_commands.guild_only()
class ApiKeys(commands.GroupCog, group_name="apikey", group_description="REST API keys (moderators)"):
    def __init__(self, bot: StratumBot) -> None:
        self.bot = bot
        super().__init__()

    @app_commands.command(name="create", description="Create an API key for a member; it is sent to them by DM")
    @app_commands.describe(member="Who the key is for", plan="Their plan")
    @app_commands.choices(plan=PLANS)
    @app_commands.checks.has_permissions(manage_guild=True)
    async def create(self, interaction: discord.Interaction, member: discord.Member, plan: app_commands.Choice[str]):
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

    @app_commands.command(name="revoke", description="Revoke an API key by its id (strat_...)")
    @app_commands.checks.has_permissions(manage_guild=True)
    async def revoke(self, interaction: discord.Interaction, key_id: str) -> None:
        key = await keys.revoke(self.bot.ctx.repos, key_id.strip(), self.bot.ctx.clock())
        await interaction.response.send_message(f"Revoked {key.id} ({key.owner}).", ephemeral=True)

    @app_commands.command(name="list", description="API keys: ids, owners, plans (never the secrets)")
    @app_commands.checks.has_permissions(manage_guild=True)
    async def list(self, interaction: discord.Interaction, member: discord.Member | None = None) -> None:
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
    await bot.add_cog(ApiKeys(bot))
