"""The Discord bot: one process with the engine, the alert outbox and the digest in its event loop.

`setup_hook` (before the gateway connects) loads the cogs, subscribes the alert fan-out and bet
grading to the engine's events, catches up on anything owed from before a restart, starts the
scheduler (odds polling, or the bundled replay in demo mode; outbox delivery; Community digest) and
syncs the slash commands. `close` stops all of it before the database closes.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC

import discord
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from discord.ext import commands

from access import UserError
from app.bootstrap import App, WebStack, start_web
from app.web import WebServer
from billing.gateway import StripeGateway
from billing.service import BillingService
from billing.webhook import WEBHOOK_PATH, stripe_webhook
from bot.common import on_app_command_error
from bot.delivery import DiscordDelivery
from bot.roles import DiscordRoles
from engine.events import GAME_CLOSED, SIGNAL_CREATED
from engine.jobs import JOB_DEFAULTS
from services import alerts, bets
from services.context import ServiceContext

log = logging.getLogger(__name__)

COGS = (
    "bot.cogs.market",
    "bot.cogs.signals",
    "bot.cogs.watch",
    "bot.cogs.alerts",
    "bot.cogs.bets",
    "bot.cogs.export",
    "bot.cogs.billing",
    "bot.cogs.apikeys",
)
OUTBOX_SECONDS = 5


def intents() -> discord.Intents:
    """Members (privileged) to read roles for tiers; no message content needed."""
    chosen = discord.Intents.default()
    chosen.members = True
    return chosen


class StratumBot(commands.Bot):
    def __init__(self, app: App, ctx: ServiceContext, *, start_feed=None) -> None:
        super().__init__(command_prefix=commands.when_mentioned, intents=intents(), help_command=None)
        self.app = app
        self.ctx = ctx
        self.delivery = DiscordDelivery(self)
        self.scheduler = AsyncIOScheduler(timezone=UTC)
        self._start_feed = start_feed  # attaches live polling or the demo replay to the loop
        self._feed_task: asyncio.Task | None = None
        self.tree.on_error = on_app_command_error
        self.billing: BillingService | None = None
        self.web: WebStack | None = None
        self._first_ready = True

    async def setup_hook(self) -> None:
        for cog in COGS:
            await self.load_extension(cog)
        bus = self.app.bus
        bus.subscribe(SIGNAL_CREATED, self._on_signal)
        bus.subscribe(GAME_CLOSED, bets.on_game_closed(self.ctx))
        now = self.ctx.clock()
        await alerts.catch_up(self.ctx, now)
        await bets.grade_missed(self.ctx)
        self.scheduler.add_job(
            self.deliver_outbox, "interval", seconds=OUTBOX_SECONDS, id="outbox", replace_existing=True, **JOB_DEFAULTS
        )
        self.scheduler.add_job(
            self.queue_digests,
            "interval",
            seconds=self.ctx.settings.discord.digest_interval_seconds,
            id="digest",
            replace_existing=True,
            **JOB_DEFAULTS,
        )
        await self._start_billing_and_web()
        self.scheduler.start()
        if self._start_feed is not None:
            self._feed_task = asyncio.create_task(self._start_feed(self.app))
        await self.sync_commands()

    async def _start_billing_and_web(self) -> None:
        settings = self.ctx.settings
        if settings.stripe.secret_key is not None:
            self.billing = BillingService(self.ctx, StripeGateway(settings.stripe), DiscordRoles(self))
            self.scheduler.add_job(
                self.reconcile_all,
                "interval",
                minutes=settings.stripe.reconcile_minutes,
                id="reconcile",
                replace_existing=True,
                **JOB_DEFAULTS,
            )
            self.scheduler.add_job(
                self.billing.process_pending,
                "interval",
                minutes=1,
                id="stripe-events",
                replace_existing=True,
                **JOB_DEFAULTS,
            )
        if settings.web.enabled:

            def stripe_route(server: WebServer) -> None:
                if self.billing is not None and settings.stripe.webhook_secret is not None:
                    secret = settings.stripe.webhook_secret.get_secret_value()
                    handler = stripe_webhook(self.billing, secret, settings.stripe.webhook_tolerance_seconds)
                    server.add_route("POST", WEBHOOK_PATH, handler)

            self.web = await start_web(
                self.app,
                clock=self.ctx.clock,
                notify_owner=self.notify_owner,
                notify_operators=self.notify_operators,
                extra_routes=stripe_route,
            )

    async def notify_owner(self, owner: str, text: str) -> None:
        """A key owner's notice: by DM when the owner is a Discord member (directly, or through Stripe)."""
        user_id = None
        if owner.startswith("discord:"):
            user_id = int(owner.split(":", 1)[1])
        elif owner.startswith("stripe:"):
            link = await self.ctx.repos.billing.link_of_customer(owner.split(":", 1)[1])
            user_id = link.user_id if link else None
        if user_id is None:
            log.info("notice for %s: %s", owner, text)
            return
        user = self.get_user(user_id) or await self.fetch_user(user_id)
        await user.send(text, allowed_mentions=discord.AllowedMentions.none())

    async def notify_operators(self, text: str) -> None:
        channel_id = self.ctx.settings.discord.operators_channel
        channel = self.get_channel(channel_id) if channel_id else None
        if channel is None:
            log.warning("operators: %s", text)
            return
        await channel.send(text[:1900], allowed_mentions=discord.AllowedMentions.none())

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

    async def _on_signal(self, signal) -> None:
        await alerts.fan_out(self.ctx, signal, self.ctx.clock())

    async def deliver_outbox(self) -> tuple[int, int]:
        if not self.is_ready():
            return (0, 0)
        try:
            return await alerts.deliver_due(self.ctx, self.delivery, self.ctx.clock())
        except Exception:
            log.exception("outbox delivery failed; retrying on the next tick")
            return (0, 0)

    async def queue_digests(self) -> int:
        try:
            return await alerts.queue_digests(self.ctx, self.ctx.clock())
        except Exception:
            log.exception("digest job failed")
            return 0

    async def on_guild_join(self, guild: discord.Guild) -> None:
        log.info("joined guild %s (%s)", guild.name, guild.id)

    async def close(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        if self.billing is not None:
            await self.billing.idle()
        if self.web is not None:
            await self.web.stop()
        if self._feed_task is not None:
            self._feed_task.cancel()
            await asyncio.gather(self._feed_task, return_exceptions=True)
        await super().close()
