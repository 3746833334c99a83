"""The scheduled jobs against real HTTP on loopback: polls of a fake Odds API serving the real bundled
tape, the quota-aware cadence, feed faults that never crash the job, and the close job at tip-off on a
real AsyncIOScheduler."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from app.bootstrap import BUNDLED_TAPE
from app.cli import run_live
from engine.cadence import poll_interval
from engine.events import EventBus
from engine.jobs import EngineJobs
from engine.providers.base import RawSnapshot
from engine.providers.odds_api import OddsApiClient
from engine.providers.tape import read_tape
from engine.service import EngineService
from storage import CLOSED, Repositories
from tests.engine_builders import BOOKS, Clock, api_event, settings
from tests.fake_odds_api import FakeOddsApi, Scripted

TAPE = list(read_tape(BUNDLED_TAPE))


@pytest.fixture
async def rig(db_url):
    api = await FakeOddsApi(TAPE[:60]).start()
    config = settings()
    config.feed.base_url = api.base_url
    config.feed.max_retries = 1
    config.feed.backoff_seconds = 0
    repos = await Repositories.open(db_url)
    service = await EngineService.restore(config, repos, EventBus(), source="oddsapi:test")
    clock = Clock(TAPE[0].fetched_at)
    http = httpx.AsyncClient()
    client = OddsApiClient(http, config.feed, "test-key", clock=clock)
    scheduler = AsyncIOScheduler(timezone=UTC)
    jobs = EngineJobs(scheduler, service, client, config, clock=clock)
    yield api, jobs, clock, repos, config
    await http.aclose()
    await repos.close()
    await api.stop()


async def test_polls_store_the_feed_and_follow_the_cadence(rig):
    api, jobs, clock, repos, config = rig
    for raw in TAPE[:60]:
        clock.now = raw.fetched_at
        jobs.next_poll_at = None  # the test sets the pace; the cadence is checked below
        tick = await jobs.poll()
        assert tick is not None and not tick.skipped
    assert api.requests[0] == {
        "apiKey": "test-key",
        "regions": "us",
        "markets": "h2h,spreads,totals",
        "oddsFormat": "american",
        "dateFormat": "iso",
    }
    assert await repos.quotes.count() > 0
    state = await repos.feed_state.get("oddsapi:test")
    assert state.cursor == TAPE[59].fetched_at
    assert state.quota.remaining == 20_000 - 60 * 3 and state.quota.last == 3
    tips = [g.scheduled_tip for g in jobs.service.engine.open_games()]
    expected = poll_interval(tips, clock.now, config.cadence, cost_per_poll=3, remaining=state.quota.remaining)
    assert jobs.next_poll_at == clock.now + timedelta(seconds=expected)
    # Not due yet: the next tick of the scheduler does nothing.
    assert await jobs.poll() is None
    assert len(api.requests) == 60


@pytest.mark.parametrize(
    ("script", "wait_at_least"),
    [
        ([Scripted(500, "boom"), Scripted(502, "bad gateway")], 60),
        ([Scripted(200, "<html>not json</html>")], 60),
        ([Scripted(401, '{"message": "bad key"}')], 3600),
        (
            [
                Scripted(429, "slow down", {"Retry-After": "1"}),
                Scripted(429, "slow down", {"Retry-After": "1"}),
            ],
            60,
        ),
    ],
)
async def test_feed_faults_never_crash_the_job(rig, script, wait_at_least, caplog):
    api, jobs, clock, repos, _ = rig
    api.script.extend(script)
    assert await jobs.poll() is None
    assert jobs.next_poll_at >= clock.now + timedelta(seconds=wait_at_least)
    assert await repos.quotes.count() == 0
    assert "test-key" not in caplog.text
    # The feed recovers: the next due poll goes through.
    clock.now = jobs.next_poll_at
    tick = await jobs.poll()
    assert tick is not None and tick.lines


async def test_jobs_are_scheduled_with_safe_options_and_close_at_tip(db_url):
    config = settings()
    repos = await Repositories.open(db_url)
    service = await EngineService.restore(config, repos, EventBus(), source="live")
    now = datetime.now(UTC)
    tip = now.replace(microsecond=0) + timedelta(seconds=2)  # the feed speaks whole seconds
    await service.process(RawSnapshot(fetched_at=now, data=[api_event("g-live", tip, dict.fromkeys(BOOKS, -3.0))]))

    scheduler = AsyncIOScheduler(timezone=UTC)

    class NoFeed:
        async def fetch(self):
            raise AssertionError("not polled in this test")

    jobs = EngineJobs(scheduler, service, NoFeed(), config)
    jobs.next_poll_at = now + timedelta(hours=1)
    jobs.start()
    scheduler.start()
    try:
        poll = scheduler.get_job("poll")
        assert poll.max_instances == 1 and poll.coalesce is True and poll.misfire_grace_time == 60
        close = scheduler.get_job("close:g-live")
        assert close is not None and close.next_run_time == tip
        for _ in range(100):
            stored = await repos.games.get("g-live")
            if stored.status == CLOSED:
                break
            await asyncio.sleep(0.05)
        assert stored.status == CLOSED
        [close_row] = await repos.closes.for_game("g-live")
        assert close_row.point == -3.0 and close_row.books == len(BOOKS)
    finally:
        scheduler.shutdown(wait=False)
        await repos.close()


async def test_live_mode_polls_the_feed_and_stops_cleanly(db_url, monkeypatch):
    """`run_bot.py` with an odds key: real scheduler, real HTTP to a loopback Odds API, a real database."""
    tip = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)
    payload = [api_event("g-upcoming", tip, dict.fromkeys(BOOKS, -4.5))]
    api = await FakeOddsApi([RawSnapshot(fetched_at=datetime.now(UTC), data=payload)] * 3).start()
    monkeypatch.setenv("STRATUM_FEED__API_KEY", "live-key")
    config = settings()
    config.feed.base_url = api.base_url
    config.cadence.tick_seconds = 0.05
    db = db_url
    stop = asyncio.Event()
    task = asyncio.create_task(run_live(config, db, stop))
    try:
        for _ in range(200):
            if api.requests:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)
    finally:
        stop.set()
        assert await asyncio.wait_for(task, 10) == 0
        await api.stop()
    assert len(api.requests) == 1  # tip within 3 h: the cadence waits 5 minutes before polling again
    repos = await Repositories.open(db)
    try:
        assert (await repos.games.get("g-upcoming")).status == "scheduled"
        assert len(await repos.quotes.latest(["g-upcoming"])) == len(BOOKS)
    finally:
        await repos.close()
