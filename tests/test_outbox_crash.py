"""Kill -9 tests of the one outbox, with real processes: `run_bot.py` with a Discord token (pointed at the
loopback fake Discord) and loopback webhook receivers on 127.0.0.1.

1. The process holds 1,000 owed deliveries (webhooks and Discord messages mixed), is SIGKILLed mid-delivery
   and restarted: every delivery arrives, and a repeat carries the same id (webhook-id, Discord nonce).
2. The process is SIGKILLed right after a snapshot's transaction committed, before anything was published or
   sent: after the restart every signal's webhook arrives.

Both finish in seconds; `PRAGMA integrity_check` is ok afterwards.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import sys
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp import web

from app.bootstrap import build_app
from services.keys import create_key
from tests.engine_builders import settings
from tests.fake_discord import FakeDiscord

ROOT = Path(__file__).resolve().parent.parent
WEBHOOK_ROWS = 600
DISCORD_ROWS = 400
ENDPOINTS = 10

#: Runs run_bot.py with discord.py pointed at the fake Discord; optionally kills itself right after the first
#: snapshot commit that wrote signals (before `_publish` and before any send).
LAUNCHER = """
import os, runpy, signal, sys
import discord, yarl
discord.http.Route.BASE = os.environ["FAKE_DISCORD_API"]
discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(os.environ["FAKE_DISCORD_GATEWAY"])
if os.environ.get("CRASH_AFTER_SIGNAL_COMMIT"):
    from engine.service import EngineService
    original = EngineService._commit
    async def commit_then_die(self, tick, **kw):
        await original(self, tick, **kw)
        if tick.signals:
            os.kill(os.getpid(), signal.SIGKILL)
    EngineService._commit = commit_then_die
sys.argv = ["run_bot.py", *sys.argv[1:]]
runpy.run_path(os.path.join(os.environ["STRATUM_ROOT"], "run_bot.py"), run_name="__main__")
"""


class Receivers:
    """Webhook receivers on 127.0.0.1 (one server, one path per endpoint), a little slow so a kill lands mid-way."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, bytes]] = []  # (path, webhook-id, body)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        await asyncio.sleep(0.002)
        self.seen.append((request.path, request.headers["webhook-id"], body))
        return web.Response(status=204)

    async def start(self) -> int:
        app = web.Application()
        app.router.add_post("/{name}", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0).start()
        return self.runner.addresses[0][1]


def _env(fake: FakeDiscord, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRATUM_")}
    env.update(
        {
            "STRATUM_ROOT": str(ROOT),
            "FAKE_DISCORD_API": fake.api_base,
            "FAKE_DISCORD_GATEWAY": fake.gateway_url,
            "STRATUM_DISCORD__TOKEN": "fake-token",
            "STRATUM_DISCORD__GUILD_ID": str(fake.guild_id),
            "STRATUM_WEB__PORT": "0",
            "STRATUM_WEB__ALLOW_LOOPBACK_WEBHOOKS": "true",
            "PYTHONPATH": str(ROOT),
        }
    )
    env.update(extra or {})
    return env


async def _launch(db: Path, env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        LAUNCHER,
        "--db",
        str(db),
        cwd=str(ROOT),
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )


async def _until(predicate, within: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 20)
        except TimeoutError:
            process.kill()
            await process.wait()


def _integrity(db: Path) -> tuple[str, int]:
    with sqlite3.connect(db) as conn:
        check = conn.execute("PRAGMA integrity_check").fetchone()[0]
        pending = conn.execute("SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL AND failed_at IS NULL").fetchone()[0]
    return check, pending


def _discord_marks(fake: FakeDiscord) -> dict[str, set[str]]:
    """Marker in the text → the nonces it arrived with."""
    marks: dict[str, set[str]] = defaultdict(set)
    for messages in list(fake.channel_messages.values()):
        for message in messages:
            content = message.get("content") or ""
            if content.startswith("owed #"):
                marks[content].add(str(message.get("nonce")))
    return marks


@pytest.fixture
async def fake(monkeypatch):
    discord = FakeDiscord()
    await discord.start()
    try:
        yield discord
    finally:
        await discord.stop()


async def test_a_kill_mid_delivery_loses_nothing_and_repeats_carry_the_same_id(tmp_path, fake):
    receivers = Receivers()
    port = await receivers.start()
    db = tmp_path / "stratum.db"
    config = settings()
    config.web.allow_loopback_webhooks = True
    app = await build_app(config, db_path=db, source="setup")
    now = datetime.now(UTC)
    key, _ = await create_key(app.repos, config, owner="acme", plan="enterprise", now=now, webhooks_override=50)
    for n in range(ENDPOINTS):
        await app.webhooks.create(key, f"http://127.0.0.1:{port}/e{n}", ["usage.anomaly"], now)
    for n in range(WEBHOOK_ROWS // ENDPOINTS):
        await app.webhooks.publish("usage.anomaly", {"n": n}, now, key_id=key.id)
    channels = list(fake.channels.values())
    async with app.repos.db.transaction():
        for n in range(DISCORD_ROWS):
            await app.repos.outbox.enqueue_post("test.owed", str(n), channels[n % len(channels)], f"owed #{n}", now)
    assert await app.repos.outbox.count_pending() == WEBHOOK_ROWS + DISCORD_ROWS
    await app.close()

    def arrived() -> int:
        return len({i for _, i, _ in receivers.seen}) + len(_discord_marks(fake))

    process = await _launch(db, _env(fake))
    try:
        await _until(lambda: arrived() >= 250, 30, "the first deliveries")
        process.send_signal(signal.SIGKILL)  # mid-delivery
        await process.wait()
        assert arrived() < WEBHOOK_ROWS + DISCORD_ROWS, "everything went out before the kill; the test proves nothing"
        process = await _launch(db, _env(fake))
        await _until(lambda: arrived() >= WEBHOOK_ROWS + DISCORD_ROWS, 40, "every owed delivery after the restart")
    finally:
        await _stop(process)
        await receivers.runner.cleanup()

    bodies: dict[str, set[bytes]] = defaultdict(set)
    for _, msg_id, body in receivers.seen:
        bodies[msg_id].add(body)
    assert len(bodies) == WEBHOOK_ROWS
    assert all(len(b) == 1 for b in bodies.values())  # a repeat is the same message under the same webhook-id
    marks = _discord_marks(fake)
    assert len(marks) == DISCORD_ROWS
    assert all(len(nonces) == 1 for nonces in marks.values())  # a repeat carries the same nonce
    check, pending = _integrity(db)
    assert check == "ok" and pending == 0


async def test_a_kill_between_a_polls_commit_and_its_fan_out_loses_nothing(tmp_path, fake):
    receivers = Receivers()
    port = await receivers.start()
    db = tmp_path / "stratum.db"
    config = settings()
    config.web.allow_loopback_webhooks = True
    app = await build_app(config, db_path=db, source="setup")
    now = datetime.now(UTC)
    key, _ = await create_key(app.repos, config, owner="acme", plan="pro_infra", now=now)
    for n in range(2):
        await app.webhooks.create(key, f"http://127.0.0.1:{port}/s{n}", ["signal.created"], now)
    await app.close()

    process = await _launch(db, _env(fake, {"CRASH_AFTER_SIGNAL_COMMIT": "1"}))
    await asyncio.wait_for(process.wait(), 40)
    assert process.returncode == -signal.SIGKILL
    with sqlite3.connect(db) as conn:
        committed = {row[0] for row in conn.execute("SELECT id FROM signals")}
        owed = conn.execute("SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL").fetchone()[0]
    assert committed and owed == 2 * len(committed)  # the rows committed with their signals
    assert receivers.seen == []  # killed before anything was sent

    process = await _launch(db, _env(fake))
    try:

        def done() -> bool:
            with sqlite3.connect(db) as conn:
                total = conn.execute("SELECT COUNT(*) FROM signals").fetchone()[0]
                feed_done = conn.execute("SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL").fetchone()[0] == 0
            return feed_done and len({i for _, i, _ in receivers.seen}) == 2 * total

        await _until(done, 40, "every signal's webhook")
    finally:
        await _stop(process)
        await receivers.runner.cleanup()
    with sqlite3.connect(db) as conn:
        signal_ids = {row[0] for row in conn.execute("SELECT id FROM signals")}
    received = defaultdict(set)
    for path, _, body in receivers.seen:
        received[path].add(json.loads(body)["data"]["id"])
    assert committed <= signal_ids
    assert received == {"/s0": signal_ids, "/s1": signal_ids}
    check, pending = _integrity(db)
    assert check == "ok" and pending == 0
