"""The engine's scheduled jobs on apscheduler 3.x's `AsyncIOScheduler`, in the app's own event loop.

- `poll`: runs every `cadence.tick_seconds`; fetches only when the quota-aware cadence says a poll is
  due, so the interval tightens as tip-off nears and stretches to stay inside the daily credit budget.
- `close:<game>`: one date job per game at its scheduled tip; captures the closing consensus and
  grades the game's signals (re-planned when the tip moves).
- `retention`: daily delete of old quotes.

Every job has `max_instances=1`, `coalesce=True` and a misfire grace time, and every body logs and
survives its own failure: a broken feed or a locked database never stops the scheduler.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from config.settings import Settings
from engine.cadence import estimated_cost, poll_interval
from engine.clock import utc_now
from engine.core import Tick
from engine.providers.base import FeedAuthError, FeedError, FeedUnavailable, OddsSource
from engine.service import EngineService

log = logging.getLogger(__name__)

JOB_DEFAULTS = {"max_instances": 1, "coalesce": True, "misfire_grace_time": 60}


class EngineJobs:
    def __init__(
        self,
        scheduler: AsyncIOScheduler,
        service: EngineService,
        source: OddsSource,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.scheduler = scheduler
        self.service = service
        self.source = source
        self.settings = settings
        self.clock = clock
        self.next_poll_at: datetime | None = None
        self.failures = 0

    def start(self) -> None:
        cadence = self.settings.cadence
        self.scheduler.add_job(
            self.poll,
            "interval",
            seconds=cadence.tick_seconds,
            id="poll",
            next_run_time=self.clock(),
            replace_existing=True,
            **JOB_DEFAULTS,
        )
        self.scheduler.add_job(
            self.retention, "interval", hours=24, id="retention", replace_existing=True, **JOB_DEFAULTS
        )
        for game_state in self.service.engine.open_games():
            self.plan_close(game_state.game.id, game_state.scheduled_tip)

    def plan_close(self, game_id: str, tip: datetime) -> None:
        self.scheduler.add_job(
            self.close_due,
            "date",
            run_date=max(tip, self.clock()),
            id=f"close:{game_id}",
            replace_existing=True,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,  # a late close is still owed
        )

    async def poll(self) -> Tick | None:
        now = self.clock()
        if self.next_poll_at is not None and now < self.next_poll_at:
            return None
        try:
            raw = await self.source.fetch()
            tick = await self.service.process(raw)
        except FeedUnavailable as exc:
            log.warning("odds feed unavailable (circuit open): %s", exc)
            self.next_poll_at = now + timedelta(seconds=exc.retry_in or self.settings.feed.breaker_cooldown_seconds)
            return None
        except FeedAuthError as exc:
            log.error("odds feed refused the API key (%s); retrying in an hour", exc)
            self.next_poll_at = now + timedelta(hours=1)
            return None
        except FeedError as exc:
            self.failures += 1
            log.warning("odds poll failed (%d in a row): %s", self.failures, exc)
            backoff = self.settings.feed.failure_backoff_seconds * self.failures
            self.next_poll_at = now + timedelta(seconds=min(backoff, 900))
            return None
        except Exception:
            log.exception("poll job failed; the next tick tries again")
            return None
        self.failures = 0
        for game in tick.games:
            state = self.service.engine.state.games.get(game.id)
            if state is not None:
                self.plan_close(game.id, state.scheduled_tip)
        quota = raw.quota
        feed = self.settings.feed
        regions = len([r for r in feed.regions.split(",") if r.strip()]) or 1
        cost = quota.last if quota and quota.last else estimated_cost(len(feed.markets), regions)
        interval = poll_interval(
            (g.scheduled_tip for g in self.service.engine.open_games()),
            now,
            self.settings.cadence,
            cost_per_poll=cost,
            remaining=quota.remaining if quota else None,
        )
        self.next_poll_at = now + timedelta(seconds=interval)
        log.info(
            "polled %s: %d changed quotes, %d signals; next poll in %.0fs",
            raw.fetched_at.isoformat(),
            len(tick.lines),
            len(tick.signals),
            interval,
        )
        return tick

    async def close_due(self) -> Tick | None:
        try:
            return await self.service.close_due(self.clock())
        except Exception:
            log.exception("close job failed; the next poll closes the game instead")
            return None

    async def retention(self) -> int:
        try:
            return await self.service.cleanup(self.clock(), self.settings.storage.retention_days)
        except Exception:
            log.exception("retention job failed")
            return 0
