"""The API as a user meets it: `run_bot.py --replay TAPE --serve` keeps serving the REST API on the replayed
data, and engine events reach a partner's webhook signed per Standard Webhooks — also when they were
committed just before a crash."""

from __future__ import annotations

import argparse
import asyncio
import json
import re
from datetime import UTC, datetime

import httpx
from aiohttp import web
from standardwebhooks import Webhook, WebhookVerificationError

from api.events import SignalCreated
from app.bootstrap import BUNDLED_TAPE, build_app, start_web
from app.cli import run_replay
from engine.models import SignalType
from engine.providers.tape import read_tape
from services.keys import create_key
from tests.engine_builders import settings


def verify(secret: str, headers, body: bytes) -> bool:
    """A receiver's check, by the Standard Webhooks library (signature, timestamp within 5 min of now)."""
    try:
        Webhook(secret).verify(body, dict(headers))
    except WebhookVerificationError:
        return False
    return True


class Receiver:
    def __init__(self) -> None:
        self.deliveries: list[tuple[dict, bytes]] = []
        self.arrived = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        self.deliveries.append((dict(request.headers), await request.read()))
        self.arrived.set()
        return web.Response(status=204)

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0).start()
        return f"http://127.0.0.1:{self.runner.addresses[0][1]}/hook"


async def test_replay_then_serve_the_api(db_url, capsys):
    config = settings()
    db = db_url
    args = argparse.Namespace(quiet=True, summary_json=None, serve=True)
    stop = asyncio.Event()
    task = asyncio.create_task(run_replay(config, args, BUNDLED_TAPE, db, "max", stop))
    printed = ""
    for _ in range(600):
        printed += capsys.readouterr().out
        if "serving the REST API" in printed or task.done():
            break
        await asyncio.sleep(0.05)
    try:
        port = re.search(r"http://127\.0\.0\.1:(\d+)/v1", printed).group(1)
        reader = await build_app(config, db_path=db, source="reader")
        _, key = await create_key(reader.repos, config, owner="tester", plan="pro_infra", now=datetime.now(UTC))
        await reader.close()
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=headers) as http:
            games = (await http.get("/v1/games")).json()["data"]
            assert {g["home_team"] for g in games} == {"New York Liberty", "Atlanta Dream", "Washington Mystics"}
            signals = await http.get("/v1/signals", params={"limit": 200})
            assert signals.status_code == 200 and signals.headers["X-RateLimit-Limit"] == "120"
            assert {s["type"] for s in signals.json()["data"]} == {"STEAM", "DISLOCATION", "KEY_CROSS"}
            assert (await http.get("/v1/clv/summary")).status_code == 200
            assert (await http.get("/v1/signals", headers={"Authorization": "Bearer nope"})).status_code == 401
            assert (await http.get("/v1/openapi.json")).json()["openapi"].startswith("3.1")
    finally:
        stop.set()
        assert await asyncio.wait_for(task, 20) == 0


async def test_engine_events_reach_a_partners_webhook_signed(db_url):
    config = settings()
    config.web.allow_loopback_webhooks = True
    app = await build_app(config, db_path=db_url, source="test")
    receiver = Receiver()
    url = await receiver.start()
    server = await start_web(app)
    base = f"http://127.0.0.1:{server.port}"
    try:
        _, key = await create_key(app.repos, config, owner="Acme", plan="builder", now=datetime.now(UTC))
        async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {key}"}) as http:
            created = await http.post("/v1/webhooks", json={"url": url, "events": ["signal.created"]})
            assert created.status_code == 201, created.text
            secret = created.json()["secret"]
            assert (await http.get("/healthz")).status_code == 200
            # Replay a slice of the real tape: its signals go out to the partner.
            for raw in list(read_tape(BUNDLED_TAPE))[:200]:
                await app.service.process(raw)
            stored = await app.repos.signals.list(limit=1000)
            assert stored
            await asyncio.wait_for(receiver.arrived.wait(), 10)
            for _ in range(200):
                if len(receiver.deliveries) >= len(stored):
                    break
                await asyncio.sleep(0.05)
            assert len(receiver.deliveries) == len(stored)
            for headers, body in receiver.deliveries:
                assert verify(secret, headers, body)
                envelope = json.loads(body)
                assert envelope["type"] == "signal.created" and envelope["data"]["books"]
                SignalCreated.model_validate_json(body)  # as the document's `webhooks` section describes it
            assert {json.loads(b)["data"]["id"] for _, b in receiver.deliveries} == {s.id for s in stored}
            # Each payload carries the EV its signal fired on (a DISLOCATION's, above the bar; null otherwise).
            sent = {json.loads(b)["data"]["id"]: json.loads(b)["data"]["ev_at_fire"] for _, b in receiver.deliveries}
            assert sent == {s.id: s.ev_at_fire for s in stored}
            assert any(s.type == SignalType.DISLOCATION for s in stored)
            assert all(sent[s.id] > config.dislocation.min_ev for s in stored if s.type == SignalType.DISLOCATION)
            signals = await http.get("/v1/signals", params={"limit": 5})
            assert signals.status_code == 200 and len(signals.json()["data"]) == 5
    finally:
        await app.close()
        await receiver.runner.cleanup()


async def test_the_app_serves_the_apis_document_and_not_the_dashboards_routes(db_url):
    """The whole app (the dashboard on): one document at both addresses, holding the API's operations only."""
    config = settings()
    assert config.web.dashboard
    app = await build_app(config, db_path=db_url, source="test")
    server = await start_web(app)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as http:
            assert (await http.get("/signin")).status_code == 200  # a dashboard page is served here
            doc = await http.get("/openapi.json")
            assert doc.status_code == 200 and doc.content == (await http.get("/v1/openapi.json")).content
            paths = doc.json()["paths"]
            assert "/v1/signals" in paths and all(path.startswith("/v1/") for path in paths)
    finally:
        await app.close()


async def test_a_signal_committed_before_a_crash_is_sent_at_the_next_start(db_url):
    config = settings()
    config.web.allow_loopback_webhooks = True
    raws = list(read_tape(BUNDLED_TAPE))[:200]
    clock = lambda: raws[-1].fetched_at  # noqa: E731 - the tape's own time
    app = await build_app(config, db_path=db_url, source="test", clock=clock)
    receiver = Receiver()
    url = await receiver.start()
    try:
        key, _ = await create_key(app.repos, config, owner="Acme", plan="builder", now=raws[0].fetched_at)
        _, secret = await app.webhooks.create(key, url, ["signal.created"], raws[0].fetched_at)
        # Every snapshot commits its signals with the rows they owe; the process dies before any is sent
        # (no worker ever ran).
        for raw in raws:
            await app.service.process(raw)
        owed = await app.repos.signals.list(limit=1000)
        assert owed and len(await app.repos.outbox.pending()) == len(owed)
        await app.close()

        app = await build_app(config, db_path=db_url, source="test", clock=clock)
        await app.start()  # the worker resumes what is owed
        for _ in range(200):
            if len(receiver.deliveries) >= len(owed):
                break
            await asyncio.sleep(0.05)
        assert {json.loads(b)["data"]["id"] for _, b in receiver.deliveries} == {s.id for s in owed}
        assert len(receiver.deliveries) == len(owed)
        # The app runs on the tape's time, long past; the signatures carry the real time all the same.
        assert all(verify(secret, headers, body) for headers, body in receiver.deliveries)
    finally:
        await app.close()
        await receiver.runner.cleanup()


class DiscordRecorder:
    """Stands in for the bot's Discord sender: records the DMs and channel posts the outbox sends."""

    kinds = frozenset({"dm", "message"})
    policy = None

    def __init__(self) -> None:
        self.dms: list[tuple[int, str]] = []
        self.posts: list[tuple[int, str]] = []

    def ready(self) -> bool:
        return True

    async def send(self, item, now):
        if item.kind == "dm":
            self.dms.append((item.payload["user_id"], item.payload["text"]))
        else:
            self.posts.append((item.payload["channel_id"], item.payload["text"]))

    async def gave_up(self, item, reason, now, *, target_gone):
        pass


async def test_a_usage_anomaly_reaches_the_keys_webhook_its_owner_and_the_operators(db_url):
    config = settings()
    config.web.allow_loopback_webhooks = True
    app = await build_app(config, db_path=db_url, source="test")
    receiver = Receiver()
    url = await receiver.start()
    discord = DiscordRecorder()
    app.outbox.register(discord)
    config.discord.operators_channel = 77
    server = await start_web(app)
    owners, operators = discord.dms, discord.posts
    try:
        key, secret = await create_key(
            app.repos, config, owner="discord:42", plan="pro_infra", now=datetime.now(UTC), monthly_override=2
        )
        await app.webhooks.create(key, url, ["usage.anomaly"], datetime.now(UTC))
        headers = {"Authorization": f"Bearer {secret}"}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}", headers=headers) as http:
            for _ in range(3):
                assert (await http.get("/v1/usage")).status_code == 200
            usage = (await http.get("/v1/usage")).json()
        assert {a["kind"] for a in usage["anomalies"]} >= {"soft_limit_80", "soft_limit_100"}
        await asyncio.wait_for(receiver.arrived.wait(), 10)
        for _ in range(100):
            if len(receiver.deliveries) >= 2 and len(owners) >= 2 and len(operators) >= 2:
                break
            await asyncio.sleep(0.05)
        kinds = {json.loads(body)["data"]["kind"] for _, body in receiver.deliveries}
        assert kinds == {"soft_limit_80", "soft_limit_100"}
        assert len(owners) == 2 and all(user == 42 and key.id in text for user, text in owners)
        assert len(operators) == 2 and all(channel == 77 and key.id in text for channel, text in operators)
    finally:
        await app.close()
        await receiver.runner.cleanup()
