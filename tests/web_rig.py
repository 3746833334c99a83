"""The dashboard on a real loopback server over a copy of the template database, on a fixed clock."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx

from app.bootstrap import App, build_app, start_web
from config.settings import Settings
from tests.engine_builders import settings as base_settings


@dataclass
class WebRig:
    app: App
    base: str
    now: datetime

    def client(self, **kwargs) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base, follow_redirects=False, **kwargs)


def web_settings() -> Settings:
    config = base_settings()
    config.web.cookie_secure = False  # plain http on loopback
    return config


@asynccontextmanager
async def web_rig(
    template: tuple[Path, datetime],
    tmp_path: Path,
    config: Settings | None = None,
    clock: Callable[[], datetime] | None = None,
) -> AsyncIterator[WebRig]:
    """`clock`: the app's clock (default: fixed at the template's moment)."""
    path, now = template
    db = tmp_path / "stratum.db"
    shutil.copyfile(path, db)
    app = await build_app(config or web_settings(), db_path=db, source="test", clock=clock or (lambda: now))
    server = await start_web(app)
    try:
        yield WebRig(app, f"http://127.0.0.1:{server.port}", now)
    finally:
        await app.close()


async def demo_sign_in(http: httpx.AsyncClient, tier: str) -> None:
    """The loopback demo sign-in, as a browser does it: the page's token in the form and its cookie."""
    page = await http.get("/signin")
    token = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    answer = await http.post("/auth/demo", data={"csrf": token, "tier": tier, "next": "/"})
    assert answer.status_code == 303, answer.text
