"""Shared helpers of the kill -9 tests (`test_outbox_crash`, `test_bot_crash`, `test_api_crash`): the
launcher that runs `run_bot.py` in a child process with discord.py pointed at the loopback fake Discord,
loopback webhook receivers, and the waits and checks on the database afterwards — a SQLite file or a
PostgreSQL database (`--db` takes either), read here while the child writes it."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool

from storage.codec import to_db
from tests.fake_discord import FakeDiscord
from tests.paths import ROOT

if TYPE_CHECKING:
    from app.bootstrap import App
    from domain.api import ApiKey

#: Runs run_bot.py with discord.py pointed at the fake Discord (the same two class attributes
#: `FakeDiscord.install` patches in-process); optionally kills itself right after the first snapshot commit
#: that wrote signals (before `_publish` and before any send), or half-way through the first fan-out of a
#: poll with two moves or more (its first move's rows written, inside the snapshot's transaction).
LAUNCHER = """
import os, runpy, signal, sys
import discord, yarl
if os.environ.get("FAKE_DISCORD_API"):
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
if os.environ.get("CRASH_MID_FANOUT"):
    from delivery.fanout import Fanout
    from engine.poll_moves import group_moves
    poll_rows, move_rows, moves = Fanout.poll_rows, Fanout.move_rows, [0]
    async def counting_poll_rows(self, signals, now, routes=None):
        signals = list(signals)
        moves[0] = len(group_moves(signals))
        return await poll_rows(self, signals, now, routes)
    async def move_rows_then_die(self, move, now, routes, *args):
        written = await move_rows(self, move, now, routes, *args)
        if written and moves[0] >= 2:
            os.kill(os.getpid(), signal.SIGKILL)
        return written
    Fanout.poll_rows, Fanout.move_rows = counting_poll_rows, move_rows_then_die
sys.argv = ["run_bot.py", *sys.argv[1:]]
runpy.run_path(os.path.join(os.environ["STRATUM_ROOT"], "run_bot.py"), run_name="__main__")
"""


class Receivers:
    """Webhook receivers on 127.0.0.1 (one server, one path per endpoint), a little slow so a kill lands mid-way."""

    def __init__(self, delay: float = 0.002) -> None:
        self.delay = delay
        self.seen: list[tuple[str, str, bytes]] = []  # (path, webhook-id, body)
        self.runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        await asyncio.sleep(self.delay)
        self.seen.append((request.path, request.headers["webhook-id"], body))
        return web.Response(status=204)

    async def start(self) -> int:
        app = web.Application()
        app.router.add_post("/{name}", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0).start()
        return self.runner.addresses[0][1]

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


def child_env(fake: FakeDiscord | None, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The child's environment: no STRATUM_ setting of the developer's, the web server on an OS-chosen port,
    loopback webhooks allowed; with `fake`, a Discord token and the fake's URLs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRATUM_")}
    env.update(
        {
            "STRATUM_ROOT": str(ROOT),
            "STRATUM_WEB__PORT": "0",
            "STRATUM_WEB__ALLOW_LOOPBACK_WEBHOOKS": "true",
            "PYTHONPATH": str(ROOT),
        }
    )
    if fake is not None:
        env.update(
            {
                "FAKE_DISCORD_API": fake.api_base,
                "FAKE_DISCORD_GATEWAY": fake.gateway_url,
                "STRATUM_DISCORD__TOKEN": "fake-token",
                "STRATUM_DISCORD__GUILD_ID": str(fake.guild_id),
            }
        )
    env.update(extra or {})
    return env


async def launch(
    db: str | Path, env: dict[str, str], args: Sequence[str] = (), *, log: Path | None = None
) -> asyncio.subprocess.Process:
    """`run_bot.py --db DB ARGS` in a child process (stderr appended to `log`, if given)."""
    stderr = open(log, "ab") if log is not None else asyncio.subprocess.DEVNULL  # noqa: ASYNC230, SIM115
    try:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            LAUNCHER,
            "--db",
            str(db),
            *args,
            cwd=str(ROOT),
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=stderr,
        )
    finally:
        if log is not None:
            stderr.close()


async def until(predicate: Callable[[], object], within: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 20)
        except TimeoutError:
            process.kill()
            await process.wait()


def _is_postgres(db: str | Path) -> bool:
    return str(db).startswith("postgresql")


def _engine(db: str | Path) -> Engine:
    """A synchronous engine on the child's database, one connection per use (nothing left open)."""
    if _is_postgres(db):
        return create_engine(str(db), poolclass=NullPool)
    return create_engine(f"sqlite:///{db}", poolclass=NullPool, connect_args={"timeout": 10})


def _as_sqlite_gives_it(value: object) -> object:
    """An instant as the codec's UTC text, as SQLite hands it back (PostgreSQL gives a datetime)."""
    return to_db(value) if isinstance(value, datetime) else value


def query(db: str | Path, sql: str, params: Mapping[str, object] | None = None) -> list[tuple]:
    """The rows of one statement (``:named`` parameters) on the database at `db`, instants as text."""
    engine = _engine(db)
    try:
        with engine.connect() as conn:
            return [tuple(map(_as_sqlite_gives_it, row)) for row in conn.execute(text(sql), dict(params or {}))]
    finally:
        engine.dispose()


def integrity(db: str | Path) -> tuple[str, int]:
    """SQLite's `PRAGMA integrity_check` of the file the killed process was writing, and the outbox rows still
    pending. On PostgreSQL the check is "ok": a killed client cannot damage the server's files."""
    pending = query(db, "SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL AND failed_at IS NULL")[0][0]
    check = "ok" if _is_postgres(db) else query(db, "PRAGMA integrity_check")[0][0]
    return check, pending


async def app_with_webhooks(
    db: str | Path,
    port: int,
    paths: Sequence[str],
    events: Sequence[str],
    *,
    plan: str = "pro_infra",
    **key_options: Any,
) -> tuple[App, ApiKey, datetime]:
    """The app on `db` (loopback webhooks allowed) with one API key and an endpoint per path on the loopback
    receivers at `port`, as a partner would have registered them before the process under test starts."""
    from app.bootstrap import build_app
    from services.keys import create_key
    from tests.engine_builders import settings

    config = settings()
    config.web.allow_loopback_webhooks = True
    app = await build_app(config, db_path=db, source="setup")
    now = datetime.now(UTC)
    key, _ = await create_key(app.repos, config, owner="acme", plan=plan, now=now, **key_options)
    for path in paths:
        await app.webhooks.create(key, f"http://127.0.0.1:{port}/{path}", list(events), now)
    return app, key, now
