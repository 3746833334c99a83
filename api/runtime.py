"""The REST API and the webhooks wired onto a running app: routes on the embedded web server, engine
events fanned out to subscribers' webhooks, usage anomalies sent to the key's own webhooks, its owner and
the operators, and the delivery workers. Used by the bot and by the headless `--serve` mode alike."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import httpx

from api.serialize import grade_json, iso, signal_json
from api.server import ApiContext, build_api
from api.webhooks import WebhookService
from app.web import WebServer
from domain.api import ApiKey
from engine.clock import utc_now
from engine.events import CLV_GRADED, SIGNAL_CREATED, EventBus, GradedSignal
from engine.models import Signal
from storage import Repositories

log = logging.getLogger(__name__)

SIGNALS_CURSOR = "webhooks:signals"
GRADES_CURSOR = "webhooks:grades"
#: On start, events committed this recently but not yet fanned out (a crash in between) are sent.
CATCH_UP = timedelta(days=1)

Notify = Callable[[str, str], Awaitable[None]]  # (owner, text)
NotifyOperators = Callable[[str], Awaitable[None]]


class ApiRuntime:
    def __init__(
        self,
        settings,
        repos: Repositories,
        *,
        clock: Callable[[], datetime] = utc_now,
        notify_owner: Notify | None = None,
        notify_operators: NotifyOperators | None = None,
    ) -> None:
        self.repos = repos
        self.clock = clock
        self.notify_owner = notify_owner
        self.notify_operators = notify_operators
        self.http = httpx.AsyncClient(trust_env=False, follow_redirects=False)
        self.webhooks = WebhookService(
            repos,
            settings,
            self.http,
            clock=clock,
            allow_loopback_http=settings.web.allow_loopback_webhooks,
            notify=self._endpoint_disabled,
        )
        self.ctx = ApiContext.create(settings, repos, clock=clock, webhooks=self.webhooks, on_anomaly=self._anomaly)
        self._stop = asyncio.Event()
        self._worker: asyncio.Task | None = None
        self._notices: set[asyncio.Task] = set()

    def install(self, web: WebServer, bus: EventBus) -> None:
        build_api(web, self.ctx)
        bus.subscribe(SIGNAL_CREATED, self.on_signal)
        bus.subscribe(CLV_GRADED, self.on_grade)

    async def start(self) -> None:
        await self.catch_up()
        self._worker = asyncio.create_task(self.webhooks.run(self._stop))

    async def stop(self) -> None:
        self._stop.set()
        if self._worker is not None:
            await asyncio.gather(self._worker, return_exceptions=True)
        if self._notices:
            await asyncio.gather(*self._notices, return_exceptions=True)
        await self.http.aclose()

    # ------------------------------------------------------------------ engine events → webhooks

    async def on_signal(self, signal: Signal) -> None:
        now = self.clock()
        await self.webhooks.publish("signal.created", signal_json(signal), now)
        await self._advance(SIGNALS_CURSOR, signal.created_at, now)

    async def on_grade(self, item: GradedSignal) -> None:
        now = self.clock()
        data = {"signal": signal_json(item.signal), "grade": grade_json(item.grade)}
        await self.webhooks.publish("clv.graded", data, now)
        await self._advance(GRADES_CURSOR, item.grade.graded_at, now)

    async def _advance(self, name: str, at: datetime, now: datetime) -> None:
        async with self.repos.db.transaction():
            current = await self.repos.cursors.get(name)
            if current is None or at > current:
                await self.repos.cursors.set(name, at, now)

    async def catch_up(self) -> int:
        """Fan out what was committed after the last event fanned out (the process died in between)."""
        now = self.clock()
        sent = 0
        since = await self.repos.cursors.get(SIGNALS_CURSOR)
        if since is not None:
            for signal in await self.repos.signals.since(max(since, now - CATCH_UP)):
                if signal.created_at > since:
                    await self.on_signal(signal)
                    sent += 1
        since = await self.repos.cursors.get(GRADES_CURSOR)
        if since is not None:
            for signal, grade in reversed(await self.repos.grades.list(since=max(since, now - CATCH_UP), limit=10_000)):
                if grade.graded_at > since:
                    await self.on_grade(GradedSignal(signal=signal, grade=grade))
                    sent += 1
        return sent

    # ------------------------------------------------------------------ anomalies and notices

    async def _anomaly(self, key: ApiKey, kind: str, detail: str) -> None:
        """Recorded already; now tell the key's webhooks, its owner and the operators (queued, so the
        API response that triggered it is not held up)."""
        now = self.clock()
        data = {"key_id": key.id, "kind": kind, "detail": detail, "at": iso(now)}
        await self.webhooks.publish("usage.anomaly", data, now, key_id=key.id)
        self._notice(key.owner, f"Stratum API usage on {key.id}: {kind} — {detail}")
        if self.notify_operators is not None:
            self._later(self.notify_operators(f"API anomaly on {key.id} ({key.owner}, {key.plan}): {kind} — {detail}"))

    async def _endpoint_disabled(self, key: ApiKey, reason: str) -> None:
        self._notice(key.owner, f"A webhook endpoint of your Stratum API key {key.id} was disabled: {reason}")

    def _notice(self, owner: str, text: str) -> None:
        if self.notify_owner is None:
            log.info("notice for %s: %s", owner, text)
            return
        self._later(self.notify_owner(owner, text))

    def _later(self, awaitable: Awaitable[None]) -> None:
        async def guarded() -> None:
            try:
                await awaitable
            except Exception:
                log.warning("could not deliver a notice", exc_info=True)

        task = asyncio.create_task(guarded())
        self._notices.add(task)
        task.add_done_callback(self._notices.discard)
