"""Autocomplete choices built from what a service returned for the viewer: names a bettor reads at a
glance ("STEAM · Under 183.5 · Wings @ Mystics · 12 min ago"), within Discord's limits.

Pure functions: the views come in already shaped for the viewer's tier, so a redacted view has no book
to name and none is named."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from discord import app_commands

from access import SignalView
from bot.render import number, short_matchup
from engine.models import Game, Market
from services.games import CHOICE_NAME_MAX, fit
from services.when import ago

#: Discord's cap on the choices of one autocomplete answer.
MAX_CHOICES = 25
#: The bars of `/mod alerts set … minimum:` and `/alerts dm minimum:` (`engine.alert_state.MINIMUMS`).
MINIMUM_CHOICES = [
    app_commands.Choice(name="unproven: every class our audit does not refute", value="unproven"),
    app_commands.Choice(name="tiered: only classes holding a tier (S/A/B)", value="tiered"),
]


def _entry_number(view: SignalView) -> str:
    """The number a bettor looks for: the point of a spread or total, the price of a moneyline."""
    if view.market == Market.H2H:
        return "" if view.entry_price is None else number(view.market, None, view.entry_price)
    return "" if view.entry_point is None else number(view.market, view.entry_point)


def signal_choice_name(view: SignalView, game: Game | None, now: datetime) -> str:
    """Type, side and number (a Pro view adds the entry's book), the game, and the signal's age."""
    side = game.side_label(view.market, view.side) if game else view.side.value
    what = f"{side} {_entry_number(view)}".strip()
    if view.entry_book:
        what += f" at {view.entry_book}"
    where = short_matchup(game) if game else view.game_id
    return fit(" · ".join([view.type.value, what, where]), ago(view.created_at, now), CHOICE_NAME_MAX)


def signal_choices(
    rows: Iterable[tuple[SignalView, Game | None]], typed: str, now: datetime
) -> list[app_commands.Choice[str]]:
    """The rows whose id starts with what was typed, or whose name contains it; value = the signal id."""
    needle = typed.strip().casefold()
    choices = []
    for view, game in rows:
        name = signal_choice_name(view, game, now)
        if not needle or view.id.casefold().startswith(needle) or needle in name.casefold():
            choices.append(app_commands.Choice(name=name, value=view.id))
    return choices[:MAX_CHOICES]
