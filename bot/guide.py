"""The /help embed: a `access.HelpSheet` as one ephemeral embed. (Its own module, beside `bot.render`,
so the embed of what a tier may do stays next to nothing that decides it.)"""

from __future__ import annotations

import discord

from access import CommandHelp, HelpSheet, Tier

#: Discord's limit for one embed field's value.
_FIELD_MAX = 1024


def _lines(commands: tuple[CommandHelp, ...]) -> str:
    return "\n".join(f"`{c.usage}` — {c.text}" for c in commands)


def help_embed(sheet: HelpSheet) -> discord.Embed:
    tier = "Pro" if sheet.tier == Tier.PRO else "Community"
    embed = discord.Embed(title=f"Stratum commands · {tier}", description=_lines(sheet.commands))
    if sheet.pro_adds:
        embed.add_field(name="Pro", value=sheet.pro_adds[:_FIELD_MAX], inline=False)
    if sheet.moderator_commands:
        embed.add_field(
            name="Moderators (/mod, Manage Server)", value=_lines(sheet.moderator_commands)[:_FIELD_MAX], inline=False
        )
    embed.set_footer(text="Answers that depend on your tier are shown only to you.")
    return embed
