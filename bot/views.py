"""The `/signals` list's buttons: persistent, stateless on the bot's side, and owned by one member.

Every button is a `SignalsButton` (a discord.py `DynamicItem`) whose `custom_id` carries all the state a
click needs, so nothing is kept in memory and nothing times out: a click on a message sent before a restart
is answered like any other. The format (at most Discord's 100 characters)::

    signals:<action>:<owner id>:<page>:<preset key>:<signal type>:<game id>

`action` is `prev` or `next` (show `page`, the page the button leads to) or `preset` (page 0 of the list
re-filtered by `preset key`); an empty field is "no filter". A click re-reads the list for the clicking
member's tier *now* (a lapsed Pro member clicking a preset gets the Pro-upgrade answer).

Every click that reaches us is answered: the owner's by an edit of the message, anyone else's by an
ephemeral explanation, and a custom_id of ours we cannot read (an older version's `signals:next` or
`preset:low_noise`, a forged or garbled one) by an ephemeral "run /signals again". `client.setup_hook`
registers `DYNAMIC_ITEMS` and `answer_stray_click`; the latter answers the clicks of ours that discord.py
does not hand to a `DynamicItem` (one whose custom_id is not on the clicked message).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import discord

from access import SignalView, Viewer
from bot import render
from bot.common import answer_error, viewer_of
from engine.models import Game, SignalType
from services import signals

if TYPE_CHECKING:
    from bot.client import StratumBot

log = logging.getLogger(__name__)

#: Every custom_id this module answers for: ours now, and the ones an earlier version put on messages.
OURS = re.compile(r"(?s)(?:signals|preset):.*")
#: The one custom_id format a click acts on.
CUSTOM_ID = re.compile(
    r"signals:(?P<action>prev|next|preset):(?P<owner>[0-9]{1,20}):(?P<page>[0-9]{1,3})"
    r":(?P<preset>[A-Za-z0-9_-]{0,40}):(?P<kind>[A-Z_]{0,20}):(?P<game>[A-Za-z0-9_-]{0,64})"
)
MAX_CUSTOM_ID = 100
NOT_YOURS = "These buttons belong to the member who ran `/signals`; run `/signals` to get your own list."
STALE = "This button is out of date, so it cannot be answered. Run `/signals` for a fresh list."
TITLE = "Recent signals"


@dataclass(frozen=True, slots=True)
class SignalsState:
    """What one `/signals` message shows: whose it is, which page, and its filters."""

    owner: int
    page: int = 0
    preset: str | None = None
    kind: SignalType | None = None
    game_id: str | None = None

    def custom_id(self, action: str) -> str | None:
        """The custom_id of a button that shows this state; None when the state does not fit in one."""
        text = ":".join(
            ("signals", action, str(self.owner), str(self.page), self.preset or "", self.kind or "", self.game_id or "")
        )
        return text if len(text) <= MAX_CUSTOM_ID and CUSTOM_ID.fullmatch(text) else None

    @classmethod
    def parse(cls, custom_id: str) -> SignalsState | None:
        """The state a clicked button leads to; None for anything that is not exactly our format."""
        found = CUSTOM_ID.fullmatch(custom_id)
        if found is None or (found["action"] == "preset" and not found["preset"]):
            return None
        try:
            kind = SignalType(found["kind"]) if found["kind"] else None
        except ValueError:
            return None
        page = 0 if found["action"] == "preset" else int(found["page"])
        return cls(int(found["owner"]), page, found["preset"] or None, kind, found["game"] or None)

    @property
    def query(self) -> dict[str, Any]:
        return {"game_id": self.game_id, "kind": self.kind, "preset": self.preset}


class SignalsButton(discord.ui.DynamicItem[discord.ui.Button], template=OURS):
    """A button of a `/signals` message; its custom_id is all it knows."""

    def __init__(
        self,
        custom_id: str,
        *,
        label: str | None = None,
        style: discord.ButtonStyle = discord.ButtonStyle.secondary,
        disabled: bool = False,
    ) -> None:
        super().__init__(discord.ui.Button(label=label, style=style, custom_id=custom_id, disabled=disabled))

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Item, match: re.Match[str], /):
        # Never raises (discord.py would log and drop the click): the callback sorts good ids from bad.
        return cls(match.string)

    async def callback(self, interaction: discord.Interaction) -> None:
        await answer_click(interaction, self.custom_id)


DYNAMIC_ITEMS = (SignalsButton,)


def _button(state: SignalsState, action: str, label: str, style: discord.ButtonStyle, disabled: bool) -> SignalsButton:
    custom_id = state.custom_id(action)
    if custom_id is None:  # a filter too long for a custom_id: shown, but it cannot be clicked
        log.warning("a /signals %s button does not fit in a custom_id: %r", action, state)
        return SignalsButton(f"signals:off:{action}:{label}"[:MAX_CUSTOM_ID], label=label, style=style, disabled=True)
    return SignalsButton(custom_id, label=label, style=style, disabled=disabled)


async def _games(ctx, views: list[SignalView]) -> dict[str, Game]:
    games = {}
    for game_id in {v.game_id for v in views}:
        stored = await ctx.repos.games.get(game_id)
        if stored is not None:
            games[game_id] = stored.game
    return games


async def signals_page(bot: StratumBot, viewer: Viewer, state: SignalsState) -> tuple[discord.Embed, discord.ui.View]:
    """One page of the viewer's list, newest first, with its buttons (the presets for Pro members).

    Raises what `recent_signals` raises: a Pro preset for a Community member, an unknown preset."""
    ctx = bot.ctx
    views = await signals.recent_signals(ctx, viewer, ctx.clock(), **state.query)
    size = ctx.settings.discord.signals_page_size
    pages = max(1, -(-len(views) // size))
    state = replace(state, owner=viewer.user_id, page=min(max(state.page, 0), pages - 1))
    chunk = views[state.page * size : (state.page + 1) * size]
    names = signals.preset_names(ctx)
    title = f"{TITLE} · {names.get(state.preset, state.preset)}" if state.preset else TITLE
    embed = render.signals_page_embed(
        chunk, await _games(ctx, chunk), state.page, pages, title, not viewer.is_pro, ctx.demo
    )

    view = discord.ui.View(timeout=None)
    secondary, primary = discord.ButtonStyle.secondary, discord.ButtonStyle.primary
    view.add_item(_button(replace(state, page=max(0, state.page - 1)), "prev", "◀", secondary, state.page == 0))
    view.add_item(
        _button(replace(state, page=min(pages - 1, state.page + 1)), "next", "▶", secondary, state.page >= pages - 1)
    )
    if viewer.is_pro:
        for key, label in names.items():
            view.add_item(_button(replace(state, page=0, preset=key), "preset", label, primary, False))
    return embed, view


async def answer_click(interaction: discord.Interaction, custom_id: str) -> None:
    """Answer one click on a `/signals` button, whatever it carries; never leaves it unanswered."""
    try:
        state = SignalsState.parse(custom_id)
        if state is None:
            await interaction.response.send_message(STALE, ephemeral=True)
        elif interaction.user.id != state.owner:
            await interaction.response.send_message(NOT_YOURS, ephemeral=True)
        else:
            embed, view = await signals_page(interaction.client, viewer_of(interaction), state)  # type: ignore[arg-type]
            await interaction.response.edit_message(embed=embed, view=view)
    except Exception as error:  # a UserError is said privately; anything else is logged and apologised for
        await answer_error(interaction, error)


def _on_message(interaction: discord.Interaction, custom_id: str) -> bool:
    """Whether the clicked component is on the message (then discord.py hands it to `SignalsButton`)."""
    component_type = (interaction.data or {}).get("component_type")
    pending = list(interaction.message.components) if interaction.message is not None else []
    while pending:
        component = pending.pop()
        pending.extend(getattr(component, "children", None) or [])
        if getattr(component, "custom_id", None) == custom_id and component.type.value == component_type:
            return True
    return False


async def answer_stray_click(interaction: discord.Interaction) -> None:
    """`on_interaction`: a click with one of our custom_ids that is not on its message (forged, or the message
    changed under it) is dispatched to no item by discord.py; answer it here rather than leave it silent."""
    if interaction.type is not discord.InteractionType.component:
        return
    custom_id = str((interaction.data or {}).get("custom_id", ""))
    if OURS.fullmatch(custom_id) and not _on_message(interaction, custom_id):
        await answer_click(interaction, custom_id)
