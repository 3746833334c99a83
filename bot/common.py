"""What every cog shares: who is asking (their tier, from their roles), game autocomplete, and the one
error handler that turns a `UserError` into an ephemeral reply and anything else into an apology."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands

import access
from access import UserError, Viewer
from services.games import label, suggest_games

if TYPE_CHECKING:
    from bot.client import StratumBot

log = logging.getLogger(__name__)

MARKET_CHOICES = [
    app_commands.Choice(name="Spread", value="spreads"),
    app_commands.Choice(name="Total", value="totals"),
    app_commands.Choice(name="Moneyline", value="h2h"),
]

APOLOGY = "Sorry — something went wrong on our side. It has been logged; please try again in a moment."


def viewer_of(interaction: discord.Interaction) -> Viewer:
    bot: StratumBot = interaction.client  # type: ignore[assignment]
    user = interaction.user
    roles = [(role.id, role.name) for role in getattr(user, "roles", [])]
    tier = access.tier_for_roles(roles, bot.ctx.settings.discord)
    return Viewer(tier=tier, user_id=user.id, guild_id=interaction.guild_id or 0)


async def game_autocomplete(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
    bot: StratumBot = interaction.client  # type: ignore[assignment]
    games = await suggest_games(bot.ctx, current, bot.ctx.clock())
    return [app_commands.Choice(name=label(g), value=g.game.id) for g in games]


async def reply(interaction: discord.Interaction, content: str | None = None, **kwargs) -> None:
    """Answer once, whether or not the interaction was deferred."""
    if interaction.response.is_done():
        await interaction.followup.send(content, **kwargs)
    else:
        await interaction.response.send_message(content, **kwargs)


async def on_app_command_error(interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
    await answer_error(interaction, getattr(error, "original", error))


async def answer_error(interaction: discord.Interaction, error: BaseException) -> None:
    """A `UserError` is the member's to fix: say it, privately. Anything unexpected is logged with its
    traceback and the member gets a short apology, never a stack trace."""
    if isinstance(error, UserError):
        message = str(error)
    elif isinstance(error, app_commands.MissingPermissions):
        message = "You need the Manage Server permission for this command."
    elif isinstance(error, app_commands.NoPrivateMessage):
        message = "This command works in a server, not in DMs."
    elif isinstance(error, app_commands.TransformerError | app_commands.CheckFailure):
        message = str(error)
    else:
        name = getattr(interaction.command, "qualified_name", None) or (interaction.data or {}).get("custom_id", "?")
        log.error("interaction %s failed", name, exc_info=error)
        message = APOLOGY
    try:
        await reply(interaction, message, ephemeral=True)
    except discord.HTTPException:
        log.exception("could not send the error reply")
