"""The one wiring point: settings, database, event bus, engine service, HTTP client and scheduler are
built here and passed in; nothing is global. `run_bot.py` → `app.cli` → `build_app`."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from api.runtime import ApiRuntime
from app.web import WebServer
from config.settings import Settings
from engine.events import EventBus
from engine.jobs import EngineJobs
from engine.providers.closes import ExternalCloses
from engine.providers.odds_api import OddsApiClient
from engine.providers.tape import TapeRecorder
from engine.service import EngineService
from storage import Repositories

log = logging.getLogger(__name__)

BUNDLED_TAPE = Path(__file__).resolve().parent.parent / "engine" / "data" / "wnba_demo_tape.jsonl.gz"


@dataclass(slots=True)
class WebStack:
    """The embedded web server and what it serves (the REST API and webhooks; the bot adds Stripe's)."""

    server: WebServer
    api: ApiRuntime

    async def stop(self) -> None:
        await self.api.stop()
        await self.server.stop()


async def start_web(
    app: App,
    *,
    clock=None,
    notify_owner=None,
    notify_operators=None,
    extra_routes: Callable[[WebServer], None] | None = None,
) -> WebStack:
    """Build the web server with the REST API (and `extra_routes`), start it and the webhook workers."""
    server = WebServer(app.settings.web)
    runtime = ApiRuntime(
        app.settings,
        app.repos,
        notify_owner=notify_owner,
        notify_operators=notify_operators,
        **({"clock": clock} if clock is not None else {}),
    )
    runtime.install(server, app.bus)
    if extra_routes is not None:
        extra_routes(server)
    await server.start()
    await runtime.start()
    return WebStack(server=server, api=runtime)


@dataclass(slots=True)
class App:
    settings: Settings
    repos: Repositories
    bus: EventBus
    service: EngineService
    http: httpx.AsyncClient | None = None
    scheduler: AsyncIOScheduler | None = None
    jobs: EngineJobs | None = None
    recorder: TapeRecorder | None = field(default=None)

    async def close(self) -> None:
        """Stop jobs first, then the HTTP client, then the database: nothing writes after it closes."""
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        if self.http is not None:
            await self.http.aclose()
        if self.recorder is not None:
            self.recorder.close()
        await self.repos.close()


async def build_app(
    settings: Settings, *, db_path: str | Path, source: str, closes: ExternalCloses | None = None
) -> App:
    repos = await Repositories.open(db_path)
    bus = EventBus()
    service = await EngineService.restore(settings, repos, bus, source=source, closes=closes)
    return App(settings=settings, repos=repos, bus=bus, service=service)


def start_live_polling(app: App) -> None:
    """Attach The Odds API source and the engine's jobs to a running event loop."""
    settings = app.settings
    api_key = settings.feed.api_key
    if api_key is None:
        raise RuntimeError("live polling needs STRATUM_FEED__API_KEY")
    app.http = httpx.AsyncClient(timeout=settings.feed.timeout_seconds)
    if settings.feed.record_tape:
        app.recorder = TapeRecorder(settings.feed.record_tape)
    source = OddsApiClient(app.http, settings.feed, api_key.get_secret_value(), recorder=app.recorder)
    app.scheduler = AsyncIOScheduler(timezone="UTC")
    app.jobs = EngineJobs(app.scheduler, app.service, source, settings)
    app.jobs.start()
    app.scheduler.start()
    log.info("live polling %s every %ss tick", settings.feed.sport, settings.cadence.tick_seconds)
