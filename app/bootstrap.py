"""The one wiring point: every long-lived object is built here, once, and passed in; nothing is global.

`build_app` builds what every mode shares — settings (passed in), the database, the event bus, the engine
service, the one `AsyncIOScheduler`, the webhook HTTP client and `WebhookService`, the delivery fan-out
(hooked into the engine's commit) and the one outbox worker. `build_bot` adds the Discord bot, its sender
(registered with the worker), billing (`StripeGateway`, `BillingService`) and their jobs; `build_web` the
web server over the one ASGI app (`app.asgi`); `start_live_polling` the odds feed's own
HTTP client and the engine's jobs. `start` / `App.close` start and stop them in order.

`run_bot.py` → `app.cli` → here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import httpx
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from api.install import install_api
from api.portal import install_portal
from api.serialize import API_VERSION, grade_json, move_json, signal_json
from app.asgi import finish, root_app
from app.web import WebServer
from config.settings import Settings, StorageSettings
from delivery.fanout import Fanout
from delivery.policy import RetryPolicy
from delivery.webhooks import WebhookService, webhook_session
from delivery.worker import DeliveryWorker
from engine.clock import utc_now
from engine.events import EventBus
from engine.jobs import JOB_DEFAULTS, EngineJobs
from engine.providers.closes import ExternalCloses
from engine.providers.odds_api import OddsApiClient
from engine.providers.replay import DemoClock, TimeShift
from engine.providers.tape import TapeRecorder, read_tape
from engine.service import EngineService
from services import prices
from services.context import DemoInfo, ServiceContext
from storage import DatabaseTarget, PoolSettings, Repositories

if TYPE_CHECKING:
    from billing.service import BillingService
    from bot.client import StratumBot

log = logging.getLogger(__name__)

BUNDLED_TAPE = Path(__file__).resolve().parent.parent / "engine" / "data" / "wnba_demo_tape.jsonl.gz"
#: The `cursors` row that fixes the demo's time shift: the shifted time of the tape's first snapshot.
DEMO_ORIGIN = "demo:origin"


@dataclass(slots=True)
class App:
    settings: Settings
    repos: Repositories
    bus: EventBus
    service: EngineService
    clock: Callable[[], datetime]
    scheduler: AsyncIOScheduler
    outbox: DeliveryWorker
    webhooks: WebhookService
    webhook_http: aiohttp.ClientSession
    fanout: Fanout
    ctx: ServiceContext
    http: httpx.AsyncClient | None = None  # the odds feed's client (live mode)
    jobs: EngineJobs | None = None
    recorder: TapeRecorder | None = field(default=None)
    web: WebServer | None = None
    api: Any = None  # the API's own state (`api.state.ApiState`, made by `api.install.install_api`)
    bot: StratumBot | None = None
    billing: BillingService | None = None
    _started: bool = False

    @property
    def server(self) -> WebServer | None:
        return self.web

    async def start(self) -> None:
        """Start the web server (if built), the outbox worker and the scheduler, in that order."""
        if self.web is not None and self.web.port is None:
            await self.web.start()
        self.outbox.start()
        if not self.scheduler.running:
            self.scheduler.start()
        self._started = True

    async def close(self) -> None:
        """Stop jobs first, then the worker, the web server and the HTTP clients, then the database."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        await self.outbox.stop()
        if self.billing is not None:
            await self.billing.idle()
        if self.web is not None:
            await self.web.stop()
        if self.http is not None:
            await self.http.aclose()
        await self.webhook_http.close()
        if self.recorder is not None:
            self.recorder.close()
        await self.repos.close()


def pool_settings(storage: StorageSettings) -> PoolSettings:
    """`[storage]`'s connection pool sizes and timeouts, as the database layer takes them."""
    return PoolSettings(
        pool_size=storage.pool_size,
        max_overflow=storage.max_overflow,
        pool_timeout_seconds=storage.pool_timeout_seconds,
        connect_timeout_seconds=storage.connect_timeout_seconds,
        statement_timeout_ms=storage.statement_timeout_ms,
        busy_timeout_ms=storage.busy_timeout_ms,
    )


async def build_app(
    settings: Settings,
    *,
    db_path: str | Path | DatabaseTarget,
    source: str,
    closes: ExternalCloses | None = None,
    clock: Callable[[], datetime] = utc_now,
    demo: DemoInfo | None = None,
) -> App:
    repos = await Repositories.open(db_path, pool=pool_settings(settings.storage))
    bus = EventBus()
    service = await EngineService.restore(settings, repos, bus, source=source, closes=closes)
    config = settings.delivery
    policy = RetryPolicy(
        base=config.retry_base_seconds,
        cap=config.retry_cap_seconds,
        max_age=timedelta(hours=config.give_up_hours),
        max_attempts=config.webhook_max_attempts,
    )
    worker = DeliveryWorker(
        repos, clock=clock, policy=policy, concurrency=config.concurrency, poll_seconds=config.poll_seconds
    )
    # aiohttp, not httpx, for webhooks: measured side by side (1,000 POSTs to loopback receivers in another
    # process, concurrency 16) it sends ~9,700/s against httpx's ~530/s, and fan-out is its hot path.
    # Its connector resolves each name once and connects only to addresses the URL policy allows.
    webhook_http = webhook_session(
        allow_loopback=settings.web.allow_loopback_webhooks, limit=max(100, config.concurrency * 4)
    )
    fanout_box: list[Fanout] = []

    async def endpoint_disabled(key, message: str) -> None:
        await fanout_box[0].endpoint_disabled(key, message)

    webhooks = WebhookService(
        repos,
        settings,
        webhook_http,
        clock=clock,
        allow_loopback_http=settings.web.allow_loopback_webhooks,
        notify=endpoint_disabled,
        timeout=config.webhook_timeout_seconds,
        api_version=API_VERSION,
        worker=worker,
        policy=policy,
    )
    ctx = ServiceContext(settings, repos, service, clock, demo=demo)
    from bot.delivery import move_embeds  # the alert the fan-out writes into each row (delivery/ imports no bot)

    fanout = Fanout(
        repos,
        settings,
        clock=clock,
        webhooks=webhooks,
        signal_json=signal_json,
        grade_json=grade_json,
        move_json=move_json,
        price_now=partial(prices.price_now, ctx),
        render_move=partial(move_embeds, ctx),
    )
    fanout_box.append(fanout)
    service.commit_hooks.append(fanout.on_commit)
    await fanout.catch_up_legacy()
    return App(
        settings=settings,
        repos=repos,
        bus=bus,
        service=service,
        clock=clock,
        scheduler=AsyncIOScheduler(timezone="UTC"),
        outbox=worker,
        webhooks=webhooks,
        webhook_http=webhook_http,
        fanout=fanout,
        ctx=ctx,
    )


@dataclass(frozen=True, slots=True)
class DemoPlan:
    """How the Discord demo replays `tape` into a database: shifted by one offset, on its own clock."""

    tape: Path
    source: str  # the feed_state row of the demo (apart from the offline replay's `replay:<tape>`)
    shift: TimeShift
    info: DemoInfo
    clock: DemoClock
    resume_after: datetime | None  # the stored cursor: the snapshots up to it are in the database already


async def prepare_demo(
    db_path: str | Path | DatabaseTarget,
    *,
    tape: Path = BUNDLED_TAPE,
    wall: Callable[[], datetime] = utc_now,
    pool: PoolSettings | None = None,
) -> DemoPlan:
    """The demo's time shift, fixed once per database: a new database puts the tape's first snapshot at
    now (stored as `DEMO_ORIGIN`); a database that has one keeps its offset and resumes from its cursor,
    the demo's time carrying on where it stopped (`DemoClock`). `--fresh` deletes the database: anew."""
    first = next(iter(read_tape(tape)), None)
    if first is None:
        raise RuntimeError(f"the demo tape {tape} holds no snapshot")
    source = f"demo:{tape.name}"
    repos = await Repositories.open(db_path, pool=pool)
    try:
        now = wall()
        origin = await repos.cursors.get(DEMO_ORIGIN)
        feed = await repos.feed_state.get(source)
        cursor = feed.cursor if feed is not None else None
        if origin is None:
            origin = now.replace(microsecond=0)
            async with repos.db.transaction():
                await repos.cursors.set(DEMO_ORIGIN, origin, now)
            if await repos.feed_state.get(f"replay:{tape.name}") is not None:
                log.warning("%s also holds the offline (unshifted) replay of %s; --fresh starts clean", db_path, tape)
    finally:
        await repos.close()
    offset = origin - first.fetched_at
    if cursor is not None:
        log.warning("demo: resuming the replay at %s (its time had stood still while stopped)", cursor)
    return DemoPlan(
        tape=tape,
        source=source,
        shift=TimeShift(offset),
        info=DemoInfo(original_date=first.fetched_at.date(), offset=offset),
        clock=DemoClock(wall, lead=(cursor or origin) - now),
        resume_after=cursor,
    )


def build_web(app: App) -> WebServer:
    """The web server over the one ASGI app (`app.asgi`): `/healthz`, the REST API with the webhooks and its
    portal (`/docs`), Stripe's endpoint when billing is set up, the dashboard when `web.dashboard` is on.
    Built once, after the bot (billing), before it starts."""
    if app.web is not None:
        return app.web
    root, lifespan = root_app()
    app.api = install_api(root, lifespan, app.ctx, webhooks=app.webhooks, on_anomaly=app.fanout.anomaly)
    install_portal(root)
    stripe = app.settings.stripe
    if app.billing is not None and stripe.webhook_secret is not None:
        from billing.webhook import WEBHOOK_PATH, stripe_webhook

        handler = stripe_webhook(
            app.billing, stripe.webhook_secret.get_secret_value(), stripe.webhook_tolerance_seconds
        )
        root.add_api_route(WEBHOOK_PATH, handler, methods=["POST"], include_in_schema=False)
    pages = app.settings.web.dashboard
    if pages:
        from web.app import install_web

        install_web(root, lifespan, app.ctx, app.bus, billing=app.billing)
    app.web = WebServer(app.settings.web, finish(root, pages=pages), drain=lifespan.drain)
    return app.web


async def start_web(app: App) -> WebServer:
    """Build the web server (if not yet) and start it with the delivery worker."""
    server = build_web(app)
    await app.start()
    return server


def build_bot(app: App, *, start_feed=None) -> StratumBot:
    """The Discord bot on the app's scheduler and outbox; billing and its jobs when a Stripe key is set."""
    from billing.gateway import StripeGateway
    from billing.service import BillingService
    from bot.client import StratumBot
    from bot.roles import DiscordRoles

    settings = app.settings
    bot = StratumBot(app.ctx, bus=app.bus, scheduler=app.scheduler, outbox=app.outbox, start_feed=start_feed)
    bot.delivery.policy = RetryPolicy(
        base=settings.delivery.retry_base_seconds,
        cap=settings.delivery.retry_cap_seconds,
        max_age=timedelta(hours=settings.delivery.give_up_hours),
        max_attempts=settings.delivery.discord_max_attempts,
    )
    app.outbox.register(bot.delivery)
    if settings.stripe.secret_key is not None:
        app.billing = BillingService(app.ctx, StripeGateway(settings.stripe), DiscordRoles(bot))
        bot.billing = app.billing
        app.scheduler.add_job(
            bot.reconcile_all,
            "interval",
            minutes=settings.stripe.reconcile_minutes,
            id="reconcile",
            replace_existing=True,
            **JOB_DEFAULTS,
        )
        app.scheduler.add_job(
            app.billing.process_pending,
            "interval",
            minutes=1,
            id="stripe-events",
            replace_existing=True,
            **JOB_DEFAULTS,
        )
    app.scheduler.add_job(
        bot.queue_digests,
        "interval",
        seconds=settings.discord.digest_interval_seconds,
        id="digest",
        replace_existing=True,
        **JOB_DEFAULTS,
    )
    app.bot = bot
    return bot


def start_live_polling(app: App) -> None:
    """Attach The Odds API source (its own HTTP client) and the engine's jobs to the app's scheduler."""
    settings = app.settings
    api_key = settings.feed.api_key
    if api_key is None:
        raise RuntimeError("live polling needs STRATUM_FEED__API_KEY")
    app.http = httpx.AsyncClient(timeout=settings.feed.timeout_seconds)
    if settings.feed.record_tape:
        app.recorder = TapeRecorder(settings.feed.record_tape)
    source = OddsApiClient(app.http, settings.feed, api_key.get_secret_value(), recorder=app.recorder)
    app.jobs = EngineJobs(app.scheduler, app.service, source, settings)
    app.jobs.start()
    if not app.scheduler.running:
        app.scheduler.start()
    log.info("live polling %s every %ss tick", settings.feed.sport, settings.cadence.tick_seconds)
