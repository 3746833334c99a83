"""Command line of `run_bot.py`, the project's one entry point.

python run_bot.py                       # no odds key: replay the bundled tape into ./stratum.db
STRATUM_DISCORD__TOKEN=... python run_bot.py [--demo-speed N|max] [--fresh]
                                        # the bot; no odds key: the demo (the bundled tape, shifted to now)
python run_bot.py --demo [--port N] [--demo-speed N|max] [--fresh]
                                        # the dashboard over that demo, no token needed (prints its address)
python run_bot.py --replay PATH [--speed max|N] [--db PATH_OR_URL] [--summary-json PATH] [--fresh]
STRATUM_FEED__API_KEY=... python run_bot.py   # poll The Odds API live until Ctrl-C
python run_bot.py apikey create|revoke|rotate|list …   # REST API keys
python run_bot.py db upgrade|current|copy …            # the database's schema; moving it (app/db_cli.py)

The database is `--db PATH_OR_URL`, else `storage.url` (a SQLite file by default, or PostgreSQL from
STRATUM_STORAGE__URL); it is printed and logged only as `DatabaseTarget.shown`, without its password.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import json
import logging
import signal as signals
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from app.bootstrap import (
    BUNDLED_TAPE,
    App,
    DemoPlan,
    build_app,
    build_bot,
    build_web,
    pool_settings,
    prepare_demo,
    start_live_polling,
)
from app.console import format_signal
from app.db_cli import parse_db_args, run_db
from config.settings import ConfigError, Settings, load_settings
from engine.events import GAME_CLOSED, SIGNAL_CREATED
from engine.integrity import build_audit
from engine.models import Signal
from engine.providers.closes import ExternalCloses
from engine.providers.files import write_private_text
from engine.providers.replay import ReplaySource, parse_speed
from engine.reports import format_audit
from services import bets
from storage.db import DatabaseUnavailable
from storage.migrations import SchemaError
from storage.url import DatabaseTarget, parse_target

log = logging.getLogger("stratum")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="run_bot.py", description="Stratum: NBA odds signals and CLV audit.")
    parser.add_argument("--replay", metavar="PATH", help="replay a tape (JSON Lines, .gz, a JSON file or a folder)")
    parser.add_argument("--speed", default=None, help='replay speed: "max" (default) or a multiple of real time')
    parser.add_argument(
        "--db",
        metavar="PATH_OR_URL",
        help="the database: a SQLite file or a URL, sqlite:///PATH or postgresql+psycopg://… (default: storage.url)",
    )
    parser.add_argument("--summary-json", metavar="PATH", help="write the CLV audit as JSON to PATH")
    parser.add_argument(
        "--closes",
        metavar="CSV",
        help="grade against an external closes file (the NBA lines+scores CSV: an approximate consensus close, "
        "points only, with final scores) instead of the last snapshot before tip",
    )
    parser.add_argument(
        "--demo-speed",
        metavar="N",
        help='the Discord demo (a token, no odds key): replay speed, a multiple of real time or "max" '
        "(default: discord.demo_replay_speed, 30)",
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        help="the dashboard over the demo (the bundled real tape shifted to now), no token or odds key needed; "
        "prints the address to open",
    )
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="delete the database before starting (the demo: start over, its first snapshot at now)",
    )
    parser.add_argument(
        "--config", metavar="PATH", help="config file, which must exist (default: config.toml of the project)"
    )
    parser.add_argument("--quiet", action="store_true", help="do not print each signal")
    parser.add_argument("--serve", action="store_true", help="after the replay, keep serving the REST API and webhooks")
    parser.add_argument("--port", type=int, help="web server port (default: web.port in config)")
    parser.add_argument("--log-level", default="WARNING", help="logging level (default WARNING)")
    return parser.parse_args(argv)


def database_target(db: str | None, settings: Settings) -> DatabaseTarget:
    """The database to open: `--db`, else `storage.url` (or an old config's `storage.path`); a bad location
    is a `ConfigError` naming where it came from (one line at start)."""
    try:
        return parse_target(db or settings.storage.location)
    except ValueError as exc:
        raise ConfigError(f"{'--db' if db else 'storage.url'}: {exc}") from None


def _delete_database(target: DatabaseTarget) -> None:
    """`--fresh`: delete the SQLite file (and its -wal and -shm). A PostgreSQL database is never dropped by
    the app: the operator does that, knowingly."""
    if target.file is None:
        if target.in_memory:
            return
        raise ConfigError(
            f"--fresh deletes a SQLite file; {target.shown} is a PostgreSQL database, which Stratum never drops: "
            "empty it yourself (DROP DATABASE, then CREATE DATABASE) or point storage.url at a new one, and "
            "start without --fresh"
        )
    path = target.file
    for suffix in ("", "-wal", "-shm"):
        candidate = path.with_name(path.name + suffix)
        if candidate.exists():
            candidate.unlink()


async def run_replay(
    settings: Settings,
    args: argparse.Namespace,
    tape: Path,
    db_path: str | Path | DatabaseTarget,
    speed: str | float,
    stop: asyncio.Event | None = None,
) -> int:
    where = parse_target(db_path)
    closes = None
    if getattr(args, "closes", None):
        try:
            closes = await asyncio.to_thread(ExternalCloses.load, args.closes)
        except (OSError, ValueError) as exc:
            print(f"error: --closes: {exc}", file=sys.stderr)
            return 2
    app = await build_app(settings, db_path=where, source=f"replay:{tape.name}", closes=closes)
    try:
        if not args.quiet:
            app.bus.subscribe(SIGNAL_CREATED, _printer(app))
        resumed_from = app.service.cursor
        processed = skipped = 0
        last = None
        async for raw in ReplaySource(tape, speed):
            tick = await app.service.process(raw)
            skipped += tick.skipped
            processed += not tick.skipped
            last = raw.fetched_at
        if closes is not None and last is not None:
            # The file holds the closes of games the tape ends before: close every game left open.
            open_tips = [g.scheduled_tip for g in app.service.engine.open_games()]
            if open_tips:
                await app.service.close_due(max(open_tips))
        if resumed_from is not None and processed == 0:
            print(f"{tape.name} was already replayed into {where.shown} (up to {resumed_from:%Y-%m-%d %H:%MZ}).")
            print("Use --fresh to replay it again from scratch.")
        print(f"\nreplayed {processed} snapshots of {tape.name} into {where.shown}\n")
        report = await build_audit(app.repos, settings)
        if closes is not None:
            print(f"closes: {closes.label}: {len(closes)} games in {Path(args.closes).name}")
        print(format_audit(report))
        if args.summary_json:
            await asyncio.to_thread(_write_json, Path(args.summary_json), report.as_dict())
        if getattr(args, "serve", False):
            await serve_until_stopped(app, stop)
        return 0
    finally:
        await app.close()


async def serve_until_stopped(app: App, stop: asyncio.Event | None = None) -> None:
    """The REST API and webhooks on the embedded web server, until Ctrl-C (or `stop`)."""
    stop = stop or _signal_event()
    server = build_web(app)
    await app.start()  # the web server, the outbox worker (webhooks owed from before resume) and the scheduler
    host = app.settings.web.host
    print(f"\nserving the REST API on http://{host}:{server.port}/v1 (OpenAPI: /v1/openapi.json); Ctrl-C stops")
    print("create a key with: python run_bot.py apikey create --plan builder --owner NAME", flush=True)
    await stop.wait()


def _write_json(path: Path, payload: dict[str, object]) -> None:
    """The audit summary, mode 0600 like every file the app writes (engine.providers.files)."""
    write_private_text(path, json.dumps(payload, indent=2) + "\n")


def _printer(app: App):
    async def print_signal(signal: Signal) -> None:
        state = app.service.engine.state.games.get(signal.game_id)
        print(format_signal(signal, state.game if state else None), flush=True)

    return print_signal


async def run_live(settings: Settings, db_path: str | Path | DatabaseTarget, stop: asyncio.Event | None = None) -> int:
    """Poll until SIGINT/SIGTERM (or `stop` is set), then stop the jobs and close the database."""
    app = await build_app(settings, db_path=db_path, source=f"oddsapi:{settings.feed.sport}")
    stop = stop or _signal_event()
    try:
        app.bus.subscribe(SIGNAL_CREATED, _printer(app))
        if settings.web.enabled:
            build_web(app)
        start_live_polling(app)
        await app.start()
        await stop.wait()
        return 0
    finally:
        await app.close()


async def run_discord(
    settings: Settings, db_path: str | Path | DatabaseTarget, stop: asyncio.Event | None = None
) -> int:
    """The bot, with the engine in its event loop: live odds with a key, else the demo.
    Runs until the bot disconnects for good, Ctrl-C, or `stop` is set.

    The demo replays the bundled real tape shifted in time (`app.bootstrap.prepare_demo`): its first
    snapshot lands now and its games tip in the coming hours, each raw snapshot going through
    `EngineService.process` like a live poll, at `discord.demo_replay_speed` × real time. The app runs
    on the demo's clock and its context carries the `DemoInfo` every footer labels itself with. A restart
    resumes from the stored cursor with the stored offset; `--fresh` starts over."""
    live = settings.feed.api_key is not None
    db_path = parse_target(db_path)
    demo = None if live else await prepare_demo(db_path, pool=pool_settings(settings.storage))
    if demo is not None:
        _plain_http_on_loopback(settings)
    if demo is None:
        app = await build_app(settings, db_path=db_path, source=f"oddsapi:{settings.feed.sport}")
    else:
        app = await build_app(settings, db_path=db_path, source=demo.source, clock=demo.clock, demo=demo.info)

    async def start_feed() -> None:
        if demo is None:
            start_live_polling(app)
        else:
            await replay_demo(app, demo, db_path)

    bot = build_bot(app, start_feed=start_feed)
    if settings.web.enabled:
        build_web(app)
    stop = stop or _signal_event()
    try:
        await app.start()
        _print_dashboard(app)
        async with bot:
            running = asyncio.create_task(bot.start(settings.discord.token.get_secret_value()))
            stopping = asyncio.create_task(stop.wait())
            await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            await bot.close()
            try:
                await asyncio.gather(running, return_exceptions=False)
            except Exception as exc:
                from bot.client import refusal  # here: the bot's modules load only when a bot runs

                message = refusal(exc)  # a wrong token or a switched-off intent: one line saying what to fix
                if message is None:
                    raise
                print(f"error: {message}", file=sys.stderr)
                return 2
    finally:
        await app.close()
    return 0


async def replay_demo(app: App, demo: DemoPlan, db_path: str | Path | DatabaseTarget) -> None:
    """The demo's feed: the bundled tape replayed shifted to now (`prepare_demo`), each raw snapshot through
    `EngineService.process` like a live poll, at `discord.demo_replay_speed` × real time, the demo clock
    keeping up with it. The one feed of both demos (`run_discord` without an odds key, `run_demo`)."""
    speed = app.settings.discord.demo_replay_speed
    log.warning(
        "no odds key: the demo replays the bundled real WNBA tape of %s shifted by %s, at speed %s, into %s",
        demo.info.original_date,
        demo.info.offset,
        speed,
        parse_target(db_path).shown,
    )
    async for raw in ReplaySource(demo.tape, speed, shift=demo.shift, after=app.service.cursor):
        demo.clock.reach(raw.fetched_at)
        await app.service.process(raw)
    log.warning("the demo tape is over (every game closed); restart with --fresh to replay it again")


def dashboard_url(app: App) -> str | None:
    """Where the dashboard answers (None: no web server or no dashboard): `web.public_url`, else the
    address the server is bound to."""
    web_settings = app.settings.web
    if app.web is None or app.web.port is None or not web_settings.dashboard:
        return None
    if web_settings.public_url:
        return web_settings.public_url.rstrip("/") + "/"
    host = web_settings.host
    if not host or _unspecified(host):
        host = "127.0.0.1"  # bound to every address: this machine's is one of them
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{app.web.port}/"


def _unspecified(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False


def _print_dashboard(app: App) -> None:
    url = dashboard_url(app)
    if url is None:
        return
    web_ctx = getattr(app.web.app.state, "web", None) if app.web is not None else None  # None: no dashboard
    demo_sign_in = web_ctx is not None and web_ctx.demo_sign_in
    how = "sign in with the demo sign-in" if demo_sign_in else "sign in with Discord"
    print(f"Dashboard: {url} — {how}", flush=True)


def _plain_http_on_loopback(settings: Settings) -> None:
    """The demo serves plain http on this machine: its cookies cannot be Secure there (a browser would
    drop them and the sign-in would not stick). Anywhere else the setting stands."""
    web_settings = settings.web
    if not web_settings.public_url and web_settings.host in ("127.0.0.1", "::1", "localhost"):
        web_settings.cookie_secure = False


async def run_demo(settings: Settings, db_path: str | Path | DatabaseTarget, stop: asyncio.Event | None = None) -> int:
    """`run_bot.py --demo`: the dashboard over the demo, no Discord token and no odds key needed.

    The same time-shifted replay of the bundled real tape as the Discord demo (`replay_demo`, on the demo
    clock: its games tip in the coming hours, labelled a replay on every page), the web server with the
    REST API and the dashboard, and the bets graded at each close. Prints the address to open and runs
    until Ctrl-C (or `stop`); a restart resumes, `--fresh` starts over."""
    if not (settings.web.enabled and settings.web.dashboard):
        print("error: --demo shows the dashboard: web.enabled and web.dashboard must be on", file=sys.stderr)
        return 2
    _plain_http_on_loopback(settings)
    db_path = parse_target(db_path)
    demo = await prepare_demo(db_path, pool=pool_settings(settings.storage))
    app = await build_app(settings, db_path=db_path, source=demo.source, clock=demo.clock, demo=demo.info)
    stop = stop or _signal_event()
    feed: asyncio.Task | None = None
    stopping: asyncio.Task | None = None
    try:
        app.bus.subscribe(GAME_CLOSED, bets.on_game_closed(app.ctx))
        await bets.grade_missed(app.ctx)
        build_web(app)
        await app.start()
        _print_dashboard(app)
        print("The odds are a replay of real WNBA odds, shifted to now; Ctrl-C stops.", flush=True)
        feed = asyncio.create_task(replay_demo(app, demo, db_path))
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({feed, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if feed.done() and feed.exception() is not None:
            log.error("the demo replay failed", exc_info=feed.exception())
            return 1
        await stopping  # the tape is over: keep serving what it left until Ctrl-C
        return 0
    finally:
        for task in (feed, stopping):
            if task is not None and not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        await app.close()


def _signal_event() -> asyncio.Event:
    """An event set by SIGINT/SIGTERM, so the process shuts down cleanly (jobs stopped, database closed)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signals.SIGINT, signals.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    return stop


def parse_apikey_args(argv: Sequence[str]) -> argparse.Namespace:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--db", metavar="PATH_OR_URL", help="the database: a SQLite file or a URL (default: storage.url in config)"
    )
    common.add_argument("--config", metavar="PATH", help="config file")
    parser = argparse.ArgumentParser(prog="run_bot.py apikey", description="Manage REST API keys.")
    commands = parser.add_subparsers(dest="action", required=True)
    create = commands.add_parser("create", parents=[common], help="create a key and print it (shown once)")
    create.add_argument("--plan", required=True, help="builder, pro_infra or enterprise")
    create.add_argument("--owner", required=True, help="who the key is for")
    create.add_argument("--rpm", type=int, help="Enterprise: requests per minute")
    create.add_argument("--webhooks", type=int, help="Enterprise: webhook endpoints")
    create.add_argument("--monthly", type=int, help="Enterprise: monthly soft limit")
    revoke = commands.add_parser("revoke", parents=[common], help="revoke a key by its id (strat_xxxxxxxx)")
    revoke.add_argument("key_id")
    rotate = commands.add_parser("rotate", parents=[common], help="replace a key's secret; the old one stops working")
    rotate.add_argument("key_id")
    commands.add_parser("list", parents=[common], help="list keys (ids, owners, plans; never secrets)")
    return parser.parse_args(argv)


async def run_apikey(settings: Settings, args: argparse.Namespace, db_path: str | Path | DatabaseTarget) -> int:
    from access import UserError
    from services import keys
    from storage import Repositories

    repos = await Repositories.open(db_path, pool=pool_settings(settings.storage))
    now = datetime.now(UTC)
    try:
        if args.action == "create":
            overrides = {"rpm_override": args.rpm, "webhooks_override": args.webhooks, "monthly_override": args.monthly}
            key, secret = await keys.create_key(repos, settings, owner=args.owner, plan=args.plan, now=now, **overrides)
            print(f"created {key.id} ({key.plan}) for {key.owner}")
            print(f"key: {secret}")
            print("Store it now: it is shown once and kept only as a hash.")
        elif args.action == "revoke":
            key = await keys.revoke(repos, args.key_id, now)
            print(f"revoked {key.id}")
        elif args.action == "rotate":
            key, secret = await keys.rotate(repos, settings, args.key_id, now)
            print(f"{args.key_id} is revoked; its replacement is {key.id}")
            print(f"key: {secret}")
        else:
            for key in await repos.api.keys():
                state = "active" if key.active else f"revoked {key.revoked_at:%Y-%m-%d}"
                print(f"{key.id}  {key.plan:<10} {state:<18} {key.owner}")
        return 0
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        await repos.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command. A configuration fault — in the file or the environment, or found while starting (a
    setting only checked when the part that needs it is built, like Sign in with Discord's) — is one line and
    exit code 2, never a traceback; so is a database that cannot be reached, or whose schema is newer than
    this code (`SchemaError`)."""
    try:
        return _main(list(sys.argv[1:] if argv is None else argv))
    except (ConfigError, DatabaseUnavailable, SchemaError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _main(argv: list[str]) -> int:
    if argv[:1] == ["apikey"]:
        key_args = parse_apikey_args(argv[1:])
        settings = load_settings(key_args.config)
        return asyncio.run(run_apikey(settings, key_args, database_target(key_args.db, settings)))
    if argv[:1] == ["db"]:
        db_args = parse_db_args(argv[1:])
        settings = load_settings(db_args.config)
        where = database_target(db_args.db, settings)
        return asyncio.run(run_db(db_args, where, pool_settings(settings.storage)))
    args = parse_args(argv)
    level = logging.getLevelName(args.log_level.upper())
    if not isinstance(level, int):
        known = "DEBUG, INFO, WARNING, ERROR, CRITICAL"
        print(f"error: --log-level: {args.log_level!r} is not a level; use one of {known}", file=sys.stderr)
        return 2
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = load_settings(args.config)
    speed_text = args.speed or settings.replay.speed
    try:
        speed = "max" if parse_speed(speed_text) is None else float(speed_text)
    except ValueError as exc:
        print(f"error: --speed: {exc}", file=sys.stderr)
        return 2
    db_path = database_target(args.db, settings)
    if args.port is not None:
        if not 0 <= args.port <= 65535:
            print("error: --port must be between 0 and 65535", file=sys.stderr)
            return 2
        settings.web.port = args.port
    if args.demo_speed is not None:
        try:
            parse_speed(args.demo_speed)
        except ValueError as exc:
            print(f"error: --demo-speed: {exc}", file=sys.stderr)
            return 2
        settings.discord.demo_replay_speed = args.demo_speed.strip()
    if args.demo:
        if args.replay:
            print("error: --demo replays the bundled tape; it does not take --replay", file=sys.stderr)
            return 2
        if args.fresh:
            _delete_database(db_path)
        return asyncio.run(run_demo(settings, db_path))
    if settings.discord.token is not None and not args.replay:
        if args.fresh:
            _delete_database(db_path)
        return asyncio.run(run_discord(settings, db_path))
    if args.replay:
        tape = Path(args.replay)
        if not tape.exists():
            print(f"error: tape not found: {tape}", file=sys.stderr)
            return 2
    elif settings.feed.api_key is not None:
        if args.fresh:
            _delete_database(db_path)
        return asyncio.run(run_live(settings, db_path))
    else:
        tape = BUNDLED_TAPE
        print(f"No odds API key set (STRATUM_FEED__API_KEY): replaying the bundled demo tape {tape.name}.")
        print("It is real WNBA odds (The Odds API v4 shape), see engine/data/SOURCE.md.\n")
    if args.fresh:
        _delete_database(db_path)
    return asyncio.run(run_replay(settings, args, tape, db_path, speed))
