"""The Discord bot: the surface over the services, on the app's event loop.

It builds nothing long-lived: the app's wiring point (`app.bootstrap.build_bot`) hands it the service
context, the event bus, the one scheduler (on which the digest and billing jobs run), the one outbox worker
(with this bot's Discord sender registered) and the billing service. `setup_hook` (before the gateway
connects) loads the cogs, subscribes bet grading to closed games, grades what was missed, starts the feed
(live polling or the bundled replay) and syncs the slash commands. A server that adds the bot is owed its
set-up steps (`on_guild_join`, through the outbox). `close` stops the feed.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import discord
from discord.ext import commands

from access import UserError
from bot.common import on_app_command_error
from bot.delivery import DiscordDelivery
from bot.views import DYNAMIC_ITEMS, answer_stray_click
from engine.events import GAME_CLOSED
from services import alerts, bets, onboarding
from services.context import ServiceContext

if TYPE_CHECKING:
    from billing.service import BillingService
    from storage.outbox import OutboxItem

log = logging.getLogger(__name__)

COGS = (
    "bot.cogs.market",
    "bot.cogs.signals",
    "bot.cogs.watch",
    "bot.cogs.alerts",
    "bot.cogs.bets",
    "bot.cogs.export",
    "bot.cogs.billing",
    "bot.cogs.mod",
    "bot.cogs.help",
)


def intents() -> discord.Intents:
    """Members (privileged) to read roles for tiers; no message content needed."""
    chosen = discord.Intents.default()
    chosen.members = True
    return chosen


#: The Developer Portal's switch (Bot → Privileged Gateway Intents) for each privileged intent.
PRIVILEGED_SWITCHES = {
    "members": "Server Members Intent",
    "presences": "Presence Intent",
    "message_content": "Message Content Intent",
}
GATEWAY_AUTHENTICATION_FAILED = 4004


def refusal(exc: BaseException) -> str | None:
    """One line saying what to fix when Discord will not let the bot in (a wrong token, a privileged intent
    switched off in the Developer Portal); None for any other failure. Never holds the token."""
    if isinstance(exc, discord.LoginFailure) or (
        isinstance(exc, discord.ConnectionClosed) and exc.code == GATEWAY_AUTHENTICATION_FAILED
    ):
        return (
            "Discord refused the bot token (STRATUM_DISCORD__TOKEN): copy it again from the Developer Portal "
            "(your application → Bot → Reset Token) into STRATUM_DISCORD__TOKEN"
        )
    if isinstance(exc, discord.PrivilegedIntentsRequired):
        asked = intents()
        switches = " and ".join(name for flag, name in PRIVILEGED_SWITCHES.items() if getattr(asked, flag))
        return (
            f"Discord refused the bot's privileged intents: turn on {switches} in the Developer Portal "
            "(your application → Bot → Privileged Gateway Intents), then start the bot again"
        )
    return None


class StratumBot(commands.Bot):
    def __init__(
        self,
        ctx: ServiceContext,
        *,
        bus: Any,
        scheduler: Any,
        outbox: Any,
        billing: BillingService | None = None,
        start_feed=None,
    ) -> None:
        super().__init__(command_prefix=commands.when_mentioned, intents=intents(), help_command=None)
        self.ctx = ctx
        self.bus = bus
        self.scheduler = scheduler  # the app's one scheduler (the digest and billing jobs run on it)
        self.outbox = outbox  # the app's one delivery worker
        self.delivery = DiscordDelivery(self)  # this bot's sender; the wiring point registers it
        self.billing = billing
        self._start_feed = start_feed  # attaches live polling or the demo replay to the loop
        self._feed_task: asyncio.Task | None = None
        self.tree.on_error = on_app_command_error
        self._first_ready = True

    async def setup_hook(self) -> None:
        # Persistent components: a button's custom_id carries its state, so it answers after a restart.
        self.add_dynamic_items(*DYNAMIC_ITEMS)
        self.add_listener(answer_stray_click, "on_interaction")
        for cog in COGS:
            await self.load_extension(cog)
        self.bus.subscribe(GAME_CLOSED, bets.on_game_closed(self.ctx))
        await bets.grade_missed(self.ctx)
        if self._start_feed is not None:
            self._feed_task = asyncio.create_task(self._start_feed())
        await self.sync_commands()

    def billing_service(self) -> BillingService:
        if self.billing is None:
            raise UserError("Billing is not set up on this server yet (no Stripe key configured).")
        return self.billing

    async def on_ready(self) -> None:
        if not self._first_ready or self.billing is None:
            return
        self._first_ready = False
        try:
            await self.billing.process_pending()
            await self.reconcile_all()
        except Exception:
            log.exception("billing catch-up at start failed; the scheduled jobs retry")

    async def on_member_join(self, member: discord.Member) -> None:
        if self.billing is None:
            return
        try:
            await self.billing.sync_member(member.guild.id, member.id)
        except Exception:
            log.exception("could not sync the role of %s on join", member.id)

    async def reconcile_all(self) -> None:
        if self.billing is None:
            return
        for guild in self.guilds:
            try:
                await self.billing.reconcile(guild.id)
            except Exception:
                log.exception("reconcile of %s failed; retried next run", guild.id)

    async def sync_commands(self) -> None:
        guild_id = self.ctx.settings.discord.guild_id
        if guild_id:
            guild = discord.Object(id=guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
        else:
            synced = await self.tree.sync()
        log.info("synced %d application commands", len(synced))

    async def deliver_outbox(self) -> tuple[int, int]:
        """One round of the Discord queue now (tests; the worker does this on its own): (sent, failed)."""
        if not self.is_ready():
            return (0, 0)
        done = await self.outbox.deliver_due(None, self.ctx.clock(), kinds=self.delivery.kinds)
        return done.sent, done.failed

    async def deliver_now(self, key: str) -> OutboxItem | None:
        """Send one outbox row out of turn (a DM a moderator waits for) and return it afterwards."""
        return await self.outbox.deliver_key(key)

    async def queue_digests(self) -> int:
        try:
            return await alerts.queue_digests(self.ctx, self.ctx.clock())
        except Exception:
            log.exception("digest job failed")
            return 0

    async def on_guild_join(self, guild: discord.Guild) -> None:
        """A server added the bot: owe it the set-up steps (an outbox row, once per server; the worker posts
        them to its system channel, or DMs the owner)."""
        log.info("joined guild %s (%s)", guild.name, guild.id)
        try:
            await onboarding.queue_welcome(self.ctx, guild.id, self.ctx.clock())
        except Exception:
            log.exception("could not queue the set-up steps for %s", guild.id)

    async def close(self) -> None:
        if self._feed_task is not None:
            self._feed_task.cancel()
            await asyncio.gather(self._feed_task, return_exceptions=True)
        await super().close()
