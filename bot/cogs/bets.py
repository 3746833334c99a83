"""/bet log|list|delete and /clv: Pro CLV tracking of a member's own bets."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot import render
from bot.common import MARKET_CHOICES, game_autocomplete, viewer_of
from engine.models import Bet, Game
from services import bets
from services.games import matchup

if TYPE_CHECKING:
    from bot.client import StratumBot


def _described(bet: Bet, game: Game) -> str:
    number = render.number(bet.market, bet.point, bet.price)
    return f"#{bet.id} {matchup(game)} · {game.side_label(bet.market, bet.side)} {number}"


async def open_bet_autocomplete(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
    """The member's own bets that can still be deleted."""
    bot: StratumBot = interaction.client  # type: ignore[assignment]
    rows = await bets.deletable_bets(bot.ctx, viewer_of(interaction), bot.ctx.clock())
    needle = current.strip().lstrip("#").casefold()
    return [
        app_commands.Choice(name=_described(bet, game)[:100], value=str(bet.id))
        for bet, game in rows
        if needle in _described(bet, game).casefold()
    ][:25]


@app_commands.guild_only()
class Bets(commands.GroupCog, group_name="bet", group_description="Track your bets against the close (Pro)"):
    def __init__(self, bot: StratumBot) -> None:
        self.bot = bot
        super().__init__()

    @app_commands.command(name="log", description="Log a bet to grade it against the closing line")
    @app_commands.describe(
        game="The game (start typing a team)",
        market="Spread, total or moneyline",
        side="home, away (or the team name), over, under",
        line="Your number, e.g. -3.5 or 221.5 (leave empty for moneyline)",
        price="American odds, e.g. -110 or 150",
        book="Where you bet (optional)",
    )
    @app_commands.autocomplete(game=game_autocomplete)
    @app_commands.choices(market=MARKET_CHOICES)
    async def log(
        self,
        interaction: discord.Interaction,
        game: str,
        market: app_commands.Choice[str],
        side: str,
        price: int,
        line: str | None = None,
        book: str | None = None,
    ) -> None:
        ctx = self.bot.ctx
        bet, played = await bets.log_bet(
            ctx,
            viewer_of(interaction),
            game=game,
            market=market.value,
            side=side,
            line=line,
            price=price,
            book=book,
            now=ctx.clock(),
        )
        number = render.number(bet.market, bet.point, bet.price)
        await interaction.response.send_message(
            f"Logged bet #{bet.id}: {matchup(played)} · {played.side_label(bet.market, bet.side)} {number}. "
            "It is graded against the closing line at tip-off.",
            ephemeral=True,
        )

    @app_commands.command(name="delete", description="Delete one of your bets before its game tips off")
    @app_commands.describe(bet="The bet (pick one of your open bets, or type its number)")
    @app_commands.autocomplete(bet=open_bet_autocomplete)
    async def delete(self, interaction: discord.Interaction, bet: str) -> None:
        ctx = self.bot.ctx
        deleted, game = await bets.delete_bet(ctx, viewer_of(interaction), bet, ctx.clock())
        await interaction.response.send_message(f"Deleted bet {_described(deleted, game)}.", ephemeral=True)

    @app_commands.command(name="list", description="Your logged bets and their CLV")
    async def list(self, interaction: discord.Interaction) -> None:
        rows = await bets.member_bets(self.bot.ctx, viewer_of(interaction))
        await interaction.response.send_message(embed=render.bets_embed(rows), ephemeral=True)


class Clv(commands.Cog):
    def __init__(self, bot: StratumBot) -> None:
        self.bot = bot

    @app_commands.command(name="clv", description="Your record against the closing line (Pro)")
    @app_commands.guild_only()
    async def clv(self, interaction: discord.Interaction) -> None:
        record = await bets.clv_record(self.bot.ctx, viewer_of(interaction))
        await interaction.response.send_message(embed=render.clv_embed(record), ephemeral=True)


async def setup(bot: StratumBot) -> None:
    await bot.add_cog(Bets(bot))
    await bot.add_cog(Clv(bot))
