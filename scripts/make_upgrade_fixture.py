"""Build the upgrade fixture: a small SQLite database written by today's code, with a row in every table.

    PYTHONPATH=. python scripts/make_upgrade_fixture.py [--out tests/fixtures/upgrade]

Issue #18 replaces the numbered SQL migrations (`storage/migrations/`) with SQLAlchemy Core and Alembic;
its promise is that a database written by the old code upgrades in place with nothing lost. Once the
storage layer is rewritten, the old code can no longer write such a file, so this script built it while it
still could, and the file is committed (`tests/fixtures/upgrade/SOURCE.md`). **Never re-run it with newer
code over the committed fixture**: a fixture rebuilt by the new code proves nothing about the old.

How the rows get there, all through today's code paths with fixed clocks (no wall clock anywhere):
- before the replay, through the repositories: members (watchlist, DM prefs, an alert route with a
  minimum state), a billing link, an API key (its hash only), a webhook endpoint;
- the pipeline itself (`app.bootstrap.build_app` + `EngineService.process`, the clock following the tape):
  every `STRIDE`-th snapshot of the committed WNBA tape excerpt (`tests/fixtures/wnba_tape_excerpt.jsonl.gz`)
  gives games, quotes, books, consensus, signals, the close at tip, the signals' grades, the feed state,
  the cursor, an ungraded signal (one fired after the last pre-tip snapshot), and outbox rows (Discord
  route posts, watchlist DMs, webhook deliveries); a bet logged before tip is graded by the app's own
  `game.closed` subscriber;
- after the replay, through the repositories: a Stripe event and a subscription, API usage and an anomaly,
  a web session, a class state, a game result.

It prints the table counts and the file size; nothing secret (the API key's plaintext is never stored or
printed; the webhook secret is a fixed fake one, `whsec_` + zeros-and-ones, that signs nothing real).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gzip
import hashlib
import json
import sqlite3
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from app.bootstrap import build_app  # noqa: E402
from config.settings import load_settings  # noqa: E402
from domain.api import ApiKey, WebhookEndpoint  # noqa: E402
from domain.billing import BillingLink, SubscriptionState  # noqa: E402
from engine.alert_state import ClassState  # noqa: E402
from engine.events import GAME_CLOSED  # noqa: E402
from engine.models import Bet, Market, Side, SignalType  # noqa: E402
from engine.providers.replay import ReplaySource  # noqa: E402
from services import bets  # noqa: E402
from services.keys import hash_key  # noqa: E402
from storage import Repositories  # noqa: E402
from storage.legacy_migrations import load_migrations  # noqa: E402

TAPE = ROOT / "tests" / "fixtures" / "wnba_tape_excerpt.jsonl.gz"
GAME = "51369aa71fcd604bdf38a760b6bcc223"  # Seattle Storm @ New York Liberty, tips 2026-08-03 23:04Z
STRIDE = 6  # every 6th snapshot of the tape (and its last, at tip): keeps the file small
GUILD, MEMBER, MODERATOR, CHANNEL = 111_000_000_000_000_001, 222_000_000_000_000_002, 333_000_000_000_000_003, 444
T0 = datetime(2026, 8, 3, 1, 0, tzinfo=UTC)  # before the tape's first snapshot (02:05Z)
AFTER = datetime(2026, 8, 4, 1, 0, tzinfo=UTC)  # after its last (23:45Z)
KEY_ID = "strat_f1x7ure0"
#: The key's hash only; the plaintext is a fixed fixture value that opens nothing anywhere.
KEY_PLAINTEXT = f"{KEY_ID}_upgrade-fixture-not-a-secret"
WEBHOOK_SECRET = "whsec_" + base64.b64encode(bytes(range(24))).decode()
WEBHOOK_ID = "we_fixture0001"
PAGE_SIZE = 1024


def version() -> int:
    """The last migration shipped today: the fixture is named after it."""
    return load_migrations()[-1].version


def excerpt(dest: Path) -> Path:
    """Every `STRIDE`-th line of the tape and its last lines (tip-off: the close), as a smaller tape."""
    with gzip.open(TAPE, "rt", encoding="utf-8") as f:
        lines = f.read().splitlines()
    kept = [line for i, line in enumerate(lines) if i % STRIDE == 0 or i >= len(lines) - 2]
    path = dest / "tape.jsonl"
    path.write_text("\n".join(kept) + "\n", encoding="utf-8")
    return path


async def before_replay(path: Path) -> None:
    repos = await Repositories.open(path)
    try:
        async with repos.db.transaction():
            await repos.members.watch(GUILD, MEMBER, GAME, T0)
            await repos.members.set_dm_alerts(GUILD, MEMBER, True)
            await repos.members.set_dm_filters(GUILD, MEMBER, None, 0)
            await repos.members.set_dm_min_state(GUILD, MEMBER, "unproven")
            await repos.members.set_route(GUILD, CHANNEL, list(SignalType), MODERATOR, T0, min_state="unproven")
            await repos.billing.link(BillingLink(GUILD, MEMBER, "cus_fixture0001", MODERATOR, T0))
            await repos.api.create_key(
                ApiKey(id=KEY_ID, owner="Upgrade fixture partner", plan="pro_infra", created_at=T0),
                hash_key(KEY_PLAINTEXT),
            )
            await repos.api.create_endpoint(
                WebhookEndpoint(
                    id=WEBHOOK_ID,
                    key_id=KEY_ID,
                    url="https://hooks.example.com/stratum",
                    events=("signal.created",),
                    secret=WEBHOOK_SECRET,
                    created_at=T0,
                )
            )
    finally:
        await repos.close()


async def replay(path: Path, tape: Path) -> None:
    """The pipeline as `run_bot.py --replay` runs it, on a clock that follows the tape."""
    settings = load_settings(ROOT / "config.toml", env_file=None)
    now = [T0]
    app = await build_app(settings, db_path=path, source=f"replay:{TAPE.name}", clock=lambda: now[0])
    app.bus.subscribe(GAME_CLOSED, bets.on_game_closed(app.ctx))  # as `run_bot.py --demo` wires it
    try:
        bet_logged = False
        async for raw in ReplaySource(tape, "max"):
            now[0] = raw.fetched_at
            await app.service.process(raw)
            if not bet_logged and raw.fetched_at >= datetime(2026, 8, 3, 20, 0, tzinfo=UTC):
                async with app.repos.db.transaction():
                    await app.repos.bets.insert(
                        Bet(None, GUILD, MEMBER, GAME, Market.H2H, Side.HOME, None, -150, "fanduel", raw.fetched_at)
                    )
                bet_logged = True
        await bets.grade_missed(app.ctx)  # any bet the subscriber left: the start-up catch-up's path
    finally:
        await app.close()


async def after_replay(path: Path) -> None:
    repos = await Repositories.open(path)
    try:
        async with repos.db.transaction():
            await repos.billing.store_event(
                "evt_fixture0001", "customer.subscription.updated", {"id": "evt_fixture0001", "object": "event"}, AFTER
            )
            await repos.billing.mark_processed("evt_fixture0001", AFTER)
            await repos.billing.save_subscription(
                SubscriptionState(
                    id="sub_fixture0001",
                    customer_id="cus_fixture0001",
                    status="active",
                    current_period_end=AFTER + timedelta(days=30),
                    price_ids=("price_pro_monthly",),
                ),
                AFTER,
            )
            await repos.api.add_usage(KEY_ID, "2026-08-04T00:59", 12, 1)
            await repos.api.record_anomaly(
                KEY_ID, "burst", "12 requests in one minute", AFTER, "burst:2026-08-04T00:59"
            )
            await repos.web_sessions.add("fixture-session-0001", MEMBER, "pro", AFTER)
            await repos.class_states.record(
                ClassState(
                    name="STEAM:spreads",
                    state="unproven",
                    tier="-",
                    since=AFTER,
                    graded=2,
                    beats=2,
                    null_rate=0.55,
                    lift=0.45,
                    reason="too few: 2 graded, 30 needed",
                )
            )
            await repos.closes.save_result(GAME, 87, 81, "fixture")
    finally:
        await repos.close()


def tables(conn: sqlite3.Connection) -> list[str]:
    return [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]


def table_digest(conn: sqlite3.Connection, table: str) -> tuple[int, str]:
    """(row count, sha256 of the rows): each row's values in column order, JSON-encoded, the rows sorted.
    The same rule as `tests/integration/test_upgrade_fixture.py`'s `table_digest`."""
    rows = [json.dumps(list(row), ensure_ascii=False) for row in conn.execute(f'SELECT * FROM "{table}"')]  # noqa: S608
    rows.sort()
    return len(rows), hashlib.sha256("\n".join(rows).encode()).hexdigest()


def finish(path: Path) -> dict[str, object]:
    """Fold the WAL into the file and leave one self-contained file; return the manifest.

    The VACUUM repacks it in 1 KiB pages (SQLite's default is 4 KiB): the schema's 70 tables and indexes
    take a page each even when nearly empty, so this keeps the committed file small. Page size is a
    property of the file, not of the schema or the rows: every SQLite (and the upgrade) reads either.
    """
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("PRAGMA journal_mode = DELETE")
        conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")
        conn.execute("VACUUM")
        names = tables(conn)
        empty = [t for t in names if conn.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] == 0]  # noqa: S608
        if empty:
            raise SystemExit(f"error: tables with no row: {', '.join(empty)}")
        digests = {t: table_digest(conn, t) for t in names}
        schema_version = conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()[0]
    finally:
        conn.close()
    return {
        "schema_version": schema_version,
        "tables": {t: {"rows": n, "sha256": h} for t, (n, h) in digests.items()},
    }


async def populate(work: Path, tape: Path) -> None:
    await before_replay(work)
    await replay(work, tape)
    await after_replay(work)


def build(out: Path) -> Path:
    name = f"stratum_schema_{version():04d}"
    target = out / f"{name}.db"
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "fixture.db"
        asyncio.run(populate(work, excerpt(Path(tmp))))
        manifest = finish(work)
        out.mkdir(parents=True, exist_ok=True)
        target.write_bytes(work.read_bytes())
    (out / f"{name}.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    for table, entry in manifest["tables"].items():  # type: ignore[union-attr]
        print(f"{table:<20} {entry['rows']:>5}")
    print(f"{target}: {target.stat().st_size} bytes, schema version {manifest['schema_version']}")
    return target


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "tests" / "fixtures" / "upgrade"), help="output folder")
    args = parser.parse_args()
    build(Path(args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
