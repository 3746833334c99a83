"""For the documentation portal's tests: the app on a real loopback server over a fresh database (the portal
needs no data), with or without the dashboard; real webhook deliveries from that app to a partner's endpoint
on 127.0.0.1; and the verification snippets of `docs/api/getting-started.md`, read from the Markdown the
portal renders, with the messages they must accept and refuse.

The app runs on the real clock: the snippets check `webhook-timestamp` against the real time, as a partner's
receiver does."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from aiohttp import web
from markdown_it import MarkdownIt
from standardwebhooks import Webhook

from api.portal import GETTING_STARTED
from app.bootstrap import BUNDLED_TAPE, App, build_app, start_web
from engine.providers.tape import read_tape
from services.keys import create_key
from tests.engine_builders import settings

#: The second word of the info string of every verification snippet (```` ```python verify-webhook ````).
SNIPPET_TAG = "verify-webhook"


def snippets(language: str) -> list[str]:
    """The webhook verification snippets in `language`, in the page's order, exactly as the page shows them."""
    tokens = MarkdownIt("commonmark").parse(GETTING_STARTED.read_text(encoding="utf-8"))
    return [t.content for t in tokens if t.type == "fence" and t.info.split()[:2] == [language, SNIPPET_TAG]]


@dataclass
class PortalRig:
    app: App
    base: str

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base, follow_redirects=False)


@asynccontextmanager
async def portal_rig(tmp_path: Path, *, dashboard: bool) -> AsyncIterator[PortalRig]:
    """The whole app served on 127.0.0.1 (`[web] dashboard` as given), webhooks to loopback allowed."""
    config = settings()
    config.web.dashboard = dashboard
    config.web.cookie_secure = False  # plain http on loopback
    config.web.allow_loopback_webhooks = True
    app = await build_app(config, db_path=tmp_path / "portal.db", source="test")
    try:
        server = await start_web(app)
        yield PortalRig(app, f"http://127.0.0.1:{server.port}")
    finally:
        await app.close()


@dataclass(frozen=True)
class Delivery:
    headers: dict[str, str]  # names in lower case, as a framework hands them over
    body: bytes

    @property
    def event(self) -> dict[str, Any]:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A partner's endpoint on 127.0.0.1: keeps every POST, answers 204."""

    seen: list[Delivery] = field(default_factory=list)
    url: str = ""
    _runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        headers = {name.lower(): value for name, value in request.headers.items()}
        self.seen.append(Delivery(headers, await request.read()))
        return web.Response(status=204)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/stratum", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/stratum"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def delivery(self, wanted: Callable[[Delivery], bool], within: float = 15.0) -> Delivery:
        deadline = asyncio.get_running_loop().time() + within
        while True:
            found = next((d for d in self.seen if wanted(d)), None)
            if found is not None:
                return found
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"no such delivery arrived; seen: {[d.event['type'] for d in self.seen]}")
            await asyncio.sleep(0.05)


@dataclass(frozen=True)
class Captured:
    """Real deliveries of one endpoint: a signal before its secret was rotated, a test message during the
    rotation's overlap (signed with both secrets)."""

    secret: str
    new_secret: str
    signal: Delivery
    rotated: Delivery


async def capture_deliveries(app: App) -> Captured:
    """A partner's key and endpoint on the running `app`; the bundled tape fed in until a signal fires and its
    `signal.created` arrives; then the endpoint's secret rotated and a `webhook.test` sent."""
    receiver = Receiver()
    await receiver.start()
    try:
        now = datetime.now(UTC)
        key, _ = await create_key(app.repos, app.settings, owner="Acme Analytics", plan="pro_infra", now=now)
        endpoint, secret = await app.webhooks.create(key, receiver.url, None, now)
        for raw in read_tape(BUNDLED_TAPE):
            await app.service.process(raw)
            if await app.repos.signals.list(limit=1):
                break
        signal = await receiver.delivery(lambda d: d.event["type"] == "signal.created")
        new_secret = await app.webhooks.rotate_secret(key, endpoint.id, datetime.now(UTC))
        await app.webhooks.send_test(key, endpoint.id, datetime.now(UTC))
        rotated = await receiver.delivery(lambda d: d.event["type"] == "webhook.test")
    finally:
        await receiver.stop()
    return Captured(secret, new_secret, signal, rotated)


@dataclass(frozen=True)
class Case:
    name: str
    secret: str
    headers: dict[str, str]
    body: bytes
    genuine: bool

    def as_js(self) -> dict[str, Any]:
        return {"secret": self.secret, "headers": self.headers, "body": base64.b64encode(self.body).decode()}


def _flip(body: bytes) -> bytes:
    """The body with one byte changed (a bit of the middle one)."""
    changed = bytearray(body)
    changed[len(changed) // 2] ^= 0x01
    return bytes(changed)


def verification_cases(captured: Captured) -> list[Case]:
    """What a correct verifier accepts and refuses. Messages signed again at other times are signed by the
    Standard Webhooks library (not our signer), so a refusal of an old one is for its time, not its signature."""
    signal, rotated, old, new = captured.signal, captured.rotated, captured.secret, captured.new_secret
    msg_id = signal.headers["webhook-id"]

    def signed_at(at: datetime, **extra: str) -> dict[str, str]:
        headers = signal.headers | {"webhook-timestamp": str(int(at.timestamp()))}
        return headers | {"webhook-signature": Webhook(old).sign(msg_id, at, signal.body)} | extra

    now = datetime.now(UTC)
    without_signature = {k: v for k, v in signal.headers.items() if k != "webhook-signature"}
    return [
        Case("a real signal.created delivery", old, signal.headers, signal.body, True),
        Case("the same with one byte of its body changed", old, signal.headers, _flip(signal.body), False),
        Case("the same checked with another secret", new, signal.headers, signal.body, False),
        Case("its message signed again now", old, signed_at(now), signal.body, True),
        Case("its message signed ten minutes ago", old, signed_at(now - timedelta(minutes=10)), signal.body, False),
        Case("its message signed ten minutes ahead", old, signed_at(now + timedelta(minutes=10)), signal.body, False),
        Case(
            "a malformed signature before the real one",
            old,
            signal.headers | {"webhook-signature": "v1,not*base64 " + signal.headers["webhook-signature"]},
            signal.body,
            True,
        ),
        Case(
            "a malformed signature alone",
            old,
            signal.headers | {"webhook-signature": "v1,not*base64"},
            signal.body,
            False,
        ),
        Case("no webhook-signature header", old, without_signature, signal.body, False),
        Case("a delivery during a rotation, checked with the old secret", old, rotated.headers, rotated.body, True),
        Case("the same checked with the new secret", new, rotated.headers, rotated.body, True),
        Case("the same with one byte of its body changed", new, rotated.headers, _flip(rotated.body), False),
    ]
