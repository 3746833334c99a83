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


def find_pro_role(guild: discord.Guild, wanted: str) -> discord.Role | None:
    """The guild's Pro role, by id or (case-insensitive) name as configured (`settings.discord.pro_role`)."""
    wanted = (wanted or "").strip()
    if not wanted:
        return None
    return discord.utils.find(lambda r: str(r.id) == wanted or r.name.casefold() == wanted.casefold(), guild.roles)


def _is_staff(permissions: discord.Permissions) -> bool:
    return permissions.administrator or permissions.manage_guild


def is_moderator(interaction: discord.Interaction) -> bool:
    """Manage Server or Administrator: who sees /mod by default (and its commands in /help)."""
    perms = getattr(interaction.user, "guild_permissions", None)
    return perms is not None and _is_staff(perms)


def _is_bot_role(role: discord.Role, bot_id: int) -> bool:
    return role.tags is not None and role.tags.bot_id == bot_id


def channel_leak(channel: discord.abc.GuildChannel, pro_role: discord.Role | None, bot_id: int) -> str | None:
    """Why members who are not Pro can read `channel`, with the fix; None when only Pro members,
    moderators (Manage Server or Administrator) and this bot can.

    discord.py resolves the overwrites: `permissions_for(role)` is what a member holding only @everyone and
    that role may do in the channel. Checking every role on its own is enough — a member's roles combine
    their allows, so if no single non-Pro role lets its holders view the channel, no mix of them does.
    Without a known Pro role only @everyone can be checked."""
    guild = channel.guild
    where = f"#{channel.name}"
    pro = f"@{pro_role.name}" if pro_role is not None else "your Pro role"
    if channel.permissions_for(guild.default_role).view_channel:
        return (
            f"{where} is visible to @everyone: deny View Channel for @everyone and allow it for {pro} "
            "in the channel's permissions, then run /mod alerts set again."
        )
    if pro_role is None:
        return None
    for role in guild.roles:
        if role.is_default() or role == pro_role or _is_staff(role.permissions) or _is_bot_role(role, bot_id):
            continue
        if channel.permissions_for(role).view_channel:
            return (
                f"{where} is visible to @{role.name}, who are not all Pro: remove View Channel for "
                f"@{role.name} in the channel's permissions (keep it for {pro}), then run /mod alerts set again."
            )
    for target, overwrite in channel.overwrites.items():
        if isinstance(target, discord.Role) or not overwrite.view_channel:
            continue
        member = target if isinstance(target, discord.Member) else guild.get_member(target.id)
        if member is not None and (
            member.id == bot_id or pro_role in member.roles or _is_staff(member.guild_permissions)
        ):
            continue
        who = member.display_name if member is not None else str(target.id)
        return (
            f"{where} is visible to the member {who}, who is not Pro: remove their own View Channel "
            f"permission in the channel's permissions (keep it for {pro}), then run /mod alerts set again."
        )
    return None


def bot_cannot_post(channel: discord.abc.GuildChannel) -> str | None:
    """Why this bot could not post an alert (with its embeds) in `channel`; None when it can."""
    me = channel.guild.me
    allowed = channel.permissions_for(me)
    if allowed.view_channel and allowed.send_messages and allowed.embed_links:
        return None
    mine = discord.utils.find(lambda r: _is_bot_role(r, me.id), channel.guild.roles)
    name = f"@{mine.name}" if mine is not None else me.display_name
    return (
        f"The bot cannot post in #{channel.name}: allow View Channel, Send Messages and Embed Links for "
        f"{name} in the channel's permissions, then run /mod alerts set again."
    )


async def game_autocomplete(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
    """Games matching what was typed, named with where they stand on the bot's clock (the demo's shifted
    one included): upcoming first, finished ones last and marked "final"."""
    bot: StratumBot = interaction.client  # type: ignore[assignment]
    now = bot.ctx.clock()
    games = await suggest_games(bot.ctx, current, now)
    return [app_commands.Choice(name=label(g, now), value=g.game.id) for g in games]


async def reply(interaction: discord.Interaction, content: str | None = None, **kwargs) -> None:
    """Answer once, whether or not the interaction was deferred."""
    if interaction.response.is_done():
        await interaction.followup.send(content, **kwargs)
    else:
        await interaction.response.send_message(content, **kwargs)


def _given(interaction: discord.Interaction, param: app_commands.Parameter) -> object:
    """The raw value the member sent for `param` (by its Discord-side name), or None."""
    namespace = interaction.namespace
    return getattr(namespace, param.display_name, getattr(namespace, param.name, None))


def bad_value_message(interaction: discord.Interaction, error: app_commands.TransformerError) -> str:
    """Our own words for a value discord.py could not convert (a forged choice, a channel of the wrong
    kind): the option and, for a choice, the valid choices — never "Failed to convert … to Choice"."""
    params = list(getattr(interaction.command, "parameters", None) or [])
    shown = str(error.value)[:50]
    sent = [p for p in params if _given(interaction, p) == error.value]
    for param in sent:
        if param.choices and error.value not in {c.value for c in param.choices}:
            valid = ", ".join(c.name for c in param.choices)
            return f"“{shown}” is not a valid choice for “{param.display_name}”. Choose one of: {valid}."
    kind = error.type.name.replace("_", " ")
    if sent:
        return f"“{shown}” is not a valid {kind} for “{sent[0].display_name}”: pick one from the list Discord offers."
    return f"“{shown}” is not a valid {kind} for this command: pick one from the list Discord offers."


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
    elif isinstance(error, app_commands.TransformerError):
        message = bad_value_message(interaction, error)
    elif isinstance(error, app_commands.CheckFailure):
        message = str(error)
    else:
        name = getattr(interaction.command, "qualified_name", None) or (interaction.data or {}).get("custom_id", "?")
        log.error("interaction %s failed", name, exc_info=error)
        message = APOLOGY
    try:
        await reply(interaction, message, ephemeral=True)
    except discord.HTTPException:
        log.exception("could not send the error reply")
