"""The partner API served for real on loopback over a copy of the bundled tape replayed into SQLite: every
plan's key, an in-memory webhook service with its rules, and a checker that holds each answer to the
generated OpenAPI document. Shared by the API's tests, the tier promise, the grade horizon and schemathesis.

The server is the app's own: the one ASGI app (`app.asgi.root_app` / `finish`) with the API installed on it
(`api.install.install_api`) over a `ServiceContext`, served by uvicorn (`app.web.WebServer`)."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
from fastapi import FastAPI

from access import NotFound, UserError, plan_limits
from api.install import install_api
from api.schemas import Error, Model
from api.state import ApiState
from app.asgi import finish, root_app
from app.web import WebServer
from config.settings import Settings
from domain.api import ApiKey, WebhookEndpoint
from engine.events import EventBus
from engine.providers.tape import read_tape
from engine.service import EngineService
from services.context import ServiceContext
from services.keys import create_key, revoke
from storage import Repositories
from tests.backends import copy_database
from tests.engine_builders import Clock, settings
from tests.paths import ROOT

#: app.bootstrap.BUNDLED_TAPE (named here so these tests do not import the wiring).
BUNDLED_TAPE = ROOT / "engine" / "data" / "wnba_demo_tape.jsonl.gz"
CUT = datetime(2026, 8, 5, 23, 15, tzinfo=UTC)
START = datetime(2026, 8, 5, 23, 20, 5, tzinfo=UTC)  # the API's clock: a few seconds into a minute


# ---------------------------------------------------------------------- the contract: the models


@dataclass(frozen=True)
class Operation:
    """One documented operation: where it is, what the document says of it, the model it answers with."""

    method: str
    path: str  # as documented, e.g. /v1/games/{game_id}
    operation_id: str
    documented: dict[str, Any]
    response: type[Model] | None

    def matches(self, method: str, path: str) -> bool:
        return self.method == method and re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", self.path), path) is not None

    @property
    def query(self) -> set[str]:
        return {p["name"] for p in self.documented.get("parameters", []) if p["in"] == "query"}


def operations(doc: dict[str, Any], routes: list[Any]) -> list[Operation]:
    """The document's operations, each with the model its route answers with (from the served routes)."""
    models = {r.operation_id: r.response_model for r in routes if getattr(r, "operation_id", None)}
    return [
        Operation(method.upper(), path, op["operationId"], op, models.get(op["operationId"]))
        for path, item in doc["paths"].items()
        for method, op in item.items()
    ]


@dataclass
class DocumentChecker:
    """Parses each response with the operation's pydantic model (the contract) and checks it against the
    generated document's statuses, headers and parameters; remembers which operations it saw succeed."""

    doc: dict[str, Any]
    operations: list[Operation]
    seen: set[str] = field(default_factory=set)
    checked: int = 0

    def find(self, method: str, path: str) -> Operation | None:
        return next((op for op in self.operations if op.matches(method, path)), None)

    async def __call__(self, response: httpx.Response) -> None:
        await response.aread()
        request = response.request
        if not request.url.path.startswith("/v1/"):
            return  # /healthz and the Stripe webhook are not the API's
        if request.url.path == "/v1/openapi.json":
            assert response.status_code == 200 and response.json()["openapi"] == "3.1.0"
            self.seen.add("getOpenApi")
            return
        op = self.find(request.method, request.url.path)
        if op is None:
            # Unknown paths and methods are answered with the documented error shape.
            assert response.status_code in (401, 404, 405), (request.url, response.status_code)
            conforms(Error, response)
            return
        status = str(response.status_code)
        assert status in op.documented["responses"], f"{request.method} {op.path} → undocumented {status}"
        if response.status_code >= 400:
            conforms(Error, response)
        elif op.response is not None:
            conforms(op.response, response)
        else:
            assert response.content == b""
        for header in op.documented["responses"][status].get("headers", {}):
            if header != "X-Usage-Warning":
                assert header in response.headers, f"{op.operation_id}: no {header} on {status}"
        if response.status_code < 400:
            undeclared = set(request.url.params) - op.query
            assert not undeclared, f"{op.operation_id}: undocumented parameters {undeclared}"
            self.seen.add(op.operation_id)
        self.checked += 1


def conforms(model: type[Model], response: httpx.Response) -> None:
    """The body parses with the model (extra keys forbidden, bounds, enums) and is exactly what the model
    writes back (so times carry their Z and nothing is left out or added)."""
    assert response.headers["Content-Type"].startswith("application/json")
    parsed = model.model_validate_json(response.content)
    assert json.loads(parsed.body()) == response.json(), model.__name__


# ---------------------------------------------------------------------- the world


async def replay_to_cut(path: str | Path) -> None:
    """The bundled tape replayed into the database at `path` up to CUT: the API tests' data."""
    repos = await Repositories.open(path)
    try:
        service = await EngineService.restore(settings(), repos, EventBus(), source="test")
        for raw in read_tape(BUNDLED_TAPE):
            if raw.fetched_at > CUT:
                break
            await service.process(raw)
    finally:
        await repos.close()


class PlanLimitReached(UserError):
    status = 403


class FakeWebhooks:
    """The webhook service's interface, in memory, with its ownership and plan-limit rules."""

    def __init__(self, plans: dict[str, Any]) -> None:
        self.plans = plans
        self.endpoints: dict[str, WebhookEndpoint] = {}
        self.calls: list[tuple[str, str]] = []

    async def create(self, key: ApiKey, url: str, events: list[str] | None, now: datetime) -> tuple[Any, str]:
        self.calls.append(("create", key.id))
        if not url.startswith("https://"):
            raise UserError("Webhook URLs must be https://.")
        if sum(e.key_id == key.id for e in self.endpoints.values()) >= plan_limits(key, self.plans).webhooks:
            raise PlanLimitReached("Your plan allows no more webhook endpoints.")
        endpoint = WebhookEndpoint(
            id=f"we_{len(self.endpoints) + 1}",
            key_id=key.id,
            url=url,
            events=tuple(events or ("signal.created", "clv.graded", "usage.anomaly")),
            secret="whsec_first",
            created_at=now,
        )
        self.endpoints[endpoint.id] = endpoint
        return replace(endpoint, secret=""), "whsec_first"

    async def list(self, key: ApiKey) -> list[WebhookEndpoint]:
        self.calls.append(("list", key.id))
        return [replace(e, secret="") for e in self.endpoints.values() if e.key_id == key.id]

    def _own(self, key: ApiKey, endpoint_id: str) -> WebhookEndpoint:
        endpoint = self.endpoints.get(endpoint_id)
        if endpoint is None or endpoint.key_id != key.id:
            raise NotFound(f"No webhook endpoint {endpoint_id}.")
        return endpoint

    async def delete(self, key: ApiKey, endpoint_id: str) -> None:
        self.calls.append(("delete", endpoint_id))
        self._own(key, endpoint_id)
        del self.endpoints[endpoint_id]

    async def send_test(self, key: ApiKey, endpoint_id: str, now: datetime) -> Any:
        self.calls.append(("test", endpoint_id))
        self._own(key, endpoint_id)
        return SimpleNamespace(id="msg_test1")

    async def rotate_secret(self, key: ApiKey, endpoint_id: str, now: datetime) -> str:
        self.calls.append(("rotate", endpoint_id))
        endpoint = self._own(key, endpoint_id)
        self.endpoints[endpoint_id] = replace(
            endpoint, secret="whsec_second", old_secret="whsec_first", old_secret_until=now + timedelta(hours=24)
        )
        return "whsec_second"


@dataclass
class World:
    ctx: ServiceContext
    api: ApiState
    clock: Clock
    client: httpx.AsyncClient
    keys: dict[str, str]  # name -> plaintext
    key_ids: dict[str, str]
    webhooks: FakeWebhooks
    anomalies: list[tuple[str, str, str]]
    checker: DocumentChecker
    root: FastAPI

    @property
    def repos(self) -> Repositories:
        return self.ctx.repos

    def auth(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[name]}"}

    async def get(self, path: str, key: str = "pro", **params: Any) -> httpx.Response:
        return await self.client.get(path, params=params or None, headers=self.auth(key))


KEYS = {
    "builder": {"plan": "builder"},
    "pro": {"plan": "pro_infra", "rpm_override": 100_000},  # data tests should not meet the limit
    "pro_plain": {"plan": "pro_infra"},
    "tiny": {"plan": "pro_infra", "monthly_override": 5},
    "enterprise": {"plan": "enterprise"},
    "revoked": {"plan": "pro_infra"},
}


async def api_server(
    config: Settings, repos: Repositories, clock: Any, *, webhooks: Any = None, on_anomaly: Any = None
) -> tuple[WebServer, FastAPI, ApiState]:
    """The API as the app serves it, over `repos`, on a loopback port (started)."""
    engine = await EngineService.restore(config, repos, EventBus(), source="test")
    root, lifespan = root_app()
    api = install_api(
        root, lifespan, ServiceContext(config, repos, engine, clock), webhooks=webhooks, on_anomaly=on_anomaly
    )
    server = WebServer(config.web, finish(root, pages=False), drain=lifespan.drain)
    await server.start()
    return server, root, api


async def serve_api(
    template_db: str | Path, tmp_path: Path, *, webhooks: bool = True, raw_odds: bool = True
) -> AsyncIterator[World]:
    path = copy_database(template_db, tmp_path)
    config = settings()
    config.api.redistribute_raw_odds = raw_odds  # most tests: an operator licensed to pass per-book odds on
    repos = await Repositories.open(path)
    clock = Clock(START)
    keys, key_ids = {}, {}
    for name, options in KEYS.items():
        key, plaintext = await create_key(repos, config, owner=f"owner-{name}", now=clock(), **options)
        keys[name], key_ids[name] = plaintext, key.id
    await revoke(repos, key_ids["revoked"], clock())
    seen: list[tuple[str, str, str]] = []

    async def on_anomaly(key: ApiKey, kind: str, detail: str) -> None:
        seen.append((key.id, kind, detail))

    fake = FakeWebhooks(config.plans)
    server, root, api = await api_server(
        config, repos, clock, webhooks=fake if webhooks else None, on_anomaly=on_anomaly
    )
    base = f"http://127.0.0.1:{server.port}"
    async with httpx.AsyncClient(base_url=base, timeout=10) as plain:
        doc = (await plain.get("/v1/openapi.json")).json()
    checker = DocumentChecker(doc, operations(doc, api.routes))
    client = httpx.AsyncClient(base_url=base, timeout=10, event_hooks={"response": [checker]})
    try:
        yield World(api.ctx, api, clock, client, keys, key_ids, fake, seen, checker, root)
    finally:
        await client.aclose()
        await server.stop()
        await repos.close()
