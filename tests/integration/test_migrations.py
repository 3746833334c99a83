"""The schema's migrations (Alembic, `storage.migrations`) and the copy between databases (`storage.copy`), on
both backends where it makes sense: a new database goes to head, a reopen does nothing, a failing revision
leaves nothing, a database of before Alembic is adopted (at 14) or first upgraded by its SQL files (below),
what this code cannot know is refused in one line before anything is written, two processes migrating at once
do not collide, the migrated schema is what `storage/schema.py` declares, and a copy is verified and complete.
The command line over these (``run_bot.py db …``) is tested through the real process in
``tests/e2e/test_db_commands.py``."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from psycopg import sql
from sqlalchemy import event, select
from sqlalchemy.engine import make_url

import storage.copy
from storage.copy import CopyMismatch, CopyRefused, canonical_row, copy_database
from storage.db import Database
from storage.dialect import byte_order
from storage.legacy_migrations import LAST_VERSION, apply_migrations, load_migrations, split_statements
from storage.migrations import BASELINE, SCRIPT_LOCATION, SchemaError, head_revision, read_state, upgrade
from storage.schema import metadata
from tests.backends import Backend, PostgresServer
from tests.paths import FIXTURES

HEAD = head_revision()
FIXTURE = FIXTURES / "upgrade" / "stratum_schema_0014.db"
T0 = datetime(2026, 8, 5, 18, 30, tzinfo=UTC)


@pytest.fixture
def blank(backend: Backend, tmp_path: Path) -> str:
    """A database with no schema at all: a new SQLite file, or an empty PostgreSQL database."""
    return backend.blank(tmp_path)


async def rows_of(db: Database, *extra: str, only: set[str] | None = None) -> dict[str, list[str]]:
    """Every row of every declared table there (or of those `only`), and of the `extra` tables as text, in
    primary-key order, canonical."""
    found: dict[str, list[str]] = {}
    tables = (await read_state(db)).tables
    for table in metadata.sorted_tables:
        if table.name in tables and (only is None or table.name in only):
            order = [byte_order(db.backend, c) for c in table.primary_key.columns]
            found[table.name] = [canonical_row(table, r) for r in await db.fetch_all(select(table).order_by(*order))]
    for name in extra:
        found[name] = [repr(tuple(r)) for r in await db.fetch_all(f"SELECT * FROM {name} ORDER BY 1")]  # noqa: S608
    return found


async def add_rows(db: Database) -> None:
    """A game, two quotes (one withdrawn), a cursor and a member's preferences: the columns of 0001-0008."""
    async with db.transaction():
        await db.execute(
            "INSERT INTO games (id, sport_key, home_team, away_team, commence_time, scheduled_tip, first_seen,"
            " last_seen) VALUES ('g1', 'basketball_wnba', 'New York Liberty', 'Las Vegas Aces', :tip, :tip, :t, :t)",
            {"tip": T0 + timedelta(hours=5), "t": T0},
        )
        await db.execute_many(
            "INSERT INTO quotes (game_id, book, market, point, price_a, price_b, last_update, observed_at, withdrawn)"
            " VALUES ('g1', :book, 'spreads', -5.5, -110, -110, :t, :t, :withdrawn)",
            [{"book": "pinnacle", "t": T0, "withdrawn": False}, {"book": "fanduel", "t": T0, "withdrawn": True}],
        )
        await db.execute(
            "INSERT INTO cursors (name, value, updated_at) VALUES ('job', '2026-08-05T18:30Z', :t)", {"t": T0}
        )
        await db.execute("INSERT INTO member_prefs (guild_id, user_id, dm_alerts) VALUES ('1', '2', TRUE)")


def statements_of(db: Database) -> list[str]:
    """Every statement `db` sends from now on, on both of its paths (a list that fills as they go), and every
    statement SQLAlchemy sends for it (Alembic's, through `run_sync`)."""
    sent: list[str] = []
    db.watch(lambda statement: sent.append(" ".join(statement.sql.split())))

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        sent.append(" ".join(statement.split()))

    for engine in db.engines:
        event.listen(engine.sync_engine, "before_cursor_execute", record)
    return sent


async def legacy_database(location: str, *, up_to: int = LAST_VERSION) -> None:
    """A database as the code of before Alembic left it at `up_to`: on SQLite the numbered SQL files
    themselves; on PostgreSQL (where that runner never ran) the baseline's tables with the
    ``schema_migrations`` rows that runner would have written instead of ``alembic_version``."""
    db = await Database.open(location, migrate=False)
    try:
        if db.is_sqlite:
            await apply_migrations(db, [m for m in load_migrations() if m.version <= up_to])
            return
        assert up_to == LAST_VERSION
        await upgrade(db)
        async with db.transaction():
            await db.execute("DROP TABLE alembic_version")
            await db.execute(
                "CREATE TABLE schema_migrations"
                " (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
            )
            await db.execute_many(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (:v, :n, '2026-01-01T00:00:00Z')",
                [{"v": m.version, "n": m.name} for m in load_migrations()],
            )
    finally:
        await db.close()


# --- a new database, a reopen --------------------------------------------------------------------------------


async def test_open_creates_file_with_wal_pragmas_and_schema(tmp_path: Path) -> None:
    path = tmp_path / "data" / "stratum.db"
    db = await Database.open(path)
    try:
        assert await asyncio.to_thread(path.exists)
        assert await db.scalar("PRAGMA journal_mode") == "wal"
        assert await db.scalar("PRAGMA foreign_keys") == 1
        assert await db.scalar("PRAGMA synchronous") == 1  # NORMAL
        assert await db.scalar("PRAGMA busy_timeout") == 5000
        tables = {row[0] for row in await db.fetch_all("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert tables >= {"alembic_version", "games", "quotes", "consensus", "signals", "closes", "grades"}
        assert "schema_migrations" not in tables  # the runner of before Alembic never runs on a new file
    finally:
        await db.close()


async def test_a_new_database_is_migrated_to_head(blank: str) -> None:
    db = await Database.open(blank)
    try:
        state = await read_state(db)
        assert (state.revisions, state.standing, state.legacy_versions) == ((HEAD,), "head", None)
        assert state.tables == {*metadata.tables, "alembic_version"}
    finally:
        await db.close()


async def test_reopening_is_a_no_op(blank: str) -> None:
    db = await Database.open(blank)
    await add_rows(db)
    before = await rows_of(db, "alembic_version")
    await db.close()

    db = await Database.open(blank)
    try:
        sent = statements_of(db)
        result = await upgrade(db)  # what every start does: at head, it only reads
        assert not result.changed and result.after.standing == "head"
        assert sent and all(s.upper().startswith("SELECT") for s in sent), sent
        assert await rows_of(db, "alembic_version") == before
    finally:
        await db.close()


# --- a failing revision, a newer one -------------------------------------------------------------------------


def revisions_with(tmp_path: Path, name: str, body: str) -> Path:
    """This code's migration scripts plus a revision 0015 doing `body` (Alembic's `op` and `sa` in scope)."""
    location = tmp_path / name
    shutil.copytree(SCRIPT_LOCATION, location, ignore=shutil.ignore_patterns("__pycache__"))
    (location / "versions" / "0015_test.py").write_text(
        "import sqlalchemy as sa\nfrom alembic import op\n\n"
        f"revision = '0015'\ndown_revision = '{HEAD}'\nbranch_labels = None\ndepends_on = None\n\n\n"
        f"def upgrade():\n{body}\n\n\ndef downgrade():\n    pass\n"
    )
    return location


async def test_a_failing_revision_leaves_nothing(db_url: str, tmp_path: Path) -> None:
    broken = revisions_with(
        tmp_path,
        "broken",
        "    op.create_table('half_done', sa.Column('x', sa.Integer))\n"
        "    op.execute('INSERT INTO half_done (x) VALUES (1)')\n"
        "    op.add_column('games', sa.Column('note', sa.Text))\n"
        "    op.execute('SELECT * FROM nope')",
    )
    fixed = revisions_with(tmp_path, "fixed", "    op.create_table('half_done', sa.Column('x', sa.Integer))")
    db = await Database.open(db_url)
    try:
        await add_rows(db)
        before = await rows_of(db, "alembic_version")
        with pytest.raises(Exception, match="nope"):
            await upgrade(db, script_location=broken)
        state = await read_state(db)
        assert "half_done" not in state.tables and state.revisions == (HEAD,)
        assert "note" not in list((await db.execute("SELECT * FROM games")).keys())
        assert await rows_of(db, "alembic_version") == before

        result = await upgrade(db, script_location=fixed)
        assert (result.before.revisions, result.after.revisions) == ((HEAD,), ("0015",))
        assert "half_done" in (await read_state(db)).tables
    finally:
        await db.close()
    # This code does not have 0015: the database is now newer than it, and refused at open.
    with pytest.raises(SchemaError, match="schema revision 0015, newer than this Stratum"):
        await Database.open(db_url)


async def test_a_newer_revision_is_refused_with_one_line_and_nothing_written(db_url: str) -> None:
    db = await Database.open(db_url)
    await db.execute("UPDATE alembic_version SET version_num = '9999'")
    shown = db.target.shown
    await db.close()
    with pytest.raises(SchemaError) as refused:
        await Database.open(db_url)
    assert str(refused.value) == (
        f"database at {shown} is at schema revision 9999, newer than this Stratum (head {HEAD}): "
        "run a newer Stratum, or point storage.url elsewhere"
    )
    db = await Database.open(db_url, migrate=False)
    try:
        state = await read_state(db)
        assert (state.revisions, state.standing) == (("9999",), "newer")
    finally:
        await db.close()


async def test_a_schema_migrations_version_past_14_is_refused(tmp_path: Path) -> None:
    path = str(tmp_path / "stratum.db")
    await legacy_database(path)
    db = await Database.open(path, migrate=False)
    await db.execute("INSERT INTO schema_migrations (version, name, applied_at) VALUES (15, 'x', '2027-01-01')")
    await db.close()
    with pytest.raises(SchemaError, match="schema_migrations version 15, newer than this Stratum knows"):
        await Database.open(path)


async def test_stratum_tables_with_no_schema_version_are_refused(blank: str) -> None:
    """Nothing says what such tables hold (a database built some other way): refused, untouched. Tables of
    no concern to Stratum do not stop a migration (the SQL runner of before Alembic left them alone too)."""
    db = await Database.open(blank, migrate=False)
    await db.execute("CREATE TABLE games (id TEXT PRIMARY KEY)")
    await db.execute("CREATE TABLE someone_elses (x INTEGER)")
    await db.close()
    with pytest.raises(SchemaError, match=r"holds Stratum's tables \(games, …\) but no schema version"):
        await Database.open(blank)
    db = await Database.open(blank, migrate=False)
    try:
        assert (await read_state(db)).tables == {"games", "someone_elses"}  # nothing was written
        await db.execute("DROP TABLE games")
    finally:
        await db.close()
    db = await Database.open(blank)
    try:
        assert (await read_state(db)).tables == {*metadata.tables, "alembic_version", "someone_elses"}
    finally:
        await db.close()


# --- databases of before Alembic -----------------------------------------------------------------------------


async def test_a_database_at_14_is_adopted_without_a_change(blank: str) -> None:
    await legacy_database(blank)
    db = await Database.open(blank, migrate=False)
    await add_rows(db)
    before = await rows_of(db, "schema_migrations")
    await db.close()

    db = await Database.open(blank)
    try:
        state = await read_state(db)
        assert (state.revisions, state.standing) == ((BASELINE,), "head") and HEAD == BASELINE
        assert await rows_of(db, "schema_migrations") == before  # every row, schema_migrations's too
        assert await db.scalar("SELECT COUNT(*) FROM quotes WHERE withdrawn") == 1
    finally:
        await db.close()


async def test_an_older_sqlite_file_runs_its_sql_files_to_14_then_is_adopted(tmp_path: Path) -> None:
    path = str(tmp_path / "stratum.db")
    await legacy_database(path, up_to=9)
    db = await Database.open(path, migrate=False)
    await add_rows(db)
    await db.execute(
        "INSERT INTO alert_routes (guild_id, channel_id, types, created_by, created_at)"
        " VALUES ('1', '9', '[]', '2', :t)",
        {"t": T0},
    )
    unchanged = {"games", "quotes", "cursors", "books"}  # the tables 0011-0014 leave as they are
    before = await rows_of(db, only=unchanged)
    assert "class_states" not in (await read_state(db)).tables
    await db.close()

    db = await Database.open(path)
    try:
        state = await read_state(db)
        assert (state.revisions, state.standing) == ((BASELINE,), "head")
        assert state.legacy_versions == {m.version for m in load_migrations()}
        assert await rows_of(db, only=unchanged) == before
        # 0014's columns, with their defaults on the rows that were there; 0012's and 0014's tables.
        assert await db.scalar("SELECT min_state FROM alert_routes WHERE channel_id = '9'") == "unproven"
        assert await db.fetch_all("SELECT dm_alerts, dm_min_state FROM member_prefs") == [(1, "unproven")]
        assert await db.scalar("SELECT COUNT(*) FROM class_states") == 0
        assert await db.scalar("SELECT COUNT(*) FROM web_sessions") == 0
    finally:
        await db.close()


# --- the schema as declared, two at once ---------------------------------------------------------------------


async def test_the_migrated_database_is_what_storage_schema_declares(db_url: str) -> None:
    """Alembic's own comparison (what autogenerate would write) finds nothing between the two, types and
    server defaults included: a model change without its revision fails here."""
    db = await Database.open(db_url)
    try:

        def differences(connection: Any) -> list[Any]:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "compare_server_default": True}
            )
            return compare_metadata(context, metadata)

        async with db.transaction():
            assert await db.run_sync(differences) == []
    finally:
        await db.close()


async def test_two_processes_migrating_at_once_do_not_collide(blank: str) -> None:
    """Two `Database`s (two connections, as two processes have) upgrading one empty database together: one
    does the work, the other waits (SQLite: BEGIN IMMEDIATE; PostgreSQL: pg_advisory_xact_lock) and finds
    it done."""
    first = await Database.open(blank, migrate=False)
    second = await Database.open(blank, migrate=False)
    try:
        results = await asyncio.gather(upgrade(first), upgrade(second))
        assert [r.after.revisions for r in results] == [(HEAD,), (HEAD,)]
        assert await first.scalar("SELECT COUNT(*) FROM alembic_version") == 1
    finally:
        await first.close()
        await second.close()


# --- the SQL runner of before Alembic, kept for old files -----------------------------------------------------


def test_split_statements_respects_strings_comments_and_triggers() -> None:
    text = """
    -- a comment; with a semicolon
    CREATE TABLE a (x TEXT DEFAULT 'x;y');
    CREATE TRIGGER t AFTER INSERT ON a BEGIN UPDATE a SET x = 'z'; END;
    INSERT INTO a VALUES ('1'); INSERT INTO a VALUES ('2');
    -- trailing comment
    """
    statements = split_statements(text)
    assert len(statements) == 4
    assert "'x;y'" in statements[0]
    assert statements[1].endswith("END;")
    with pytest.raises(ValueError, match="incomplete"):
        split_statements("CREATE TABLE b (x TEXT DEFAULT 'unterminated);")
    # A last statement without its semicolon is still a statement.
    assert split_statements("CREATE TABLE b (x INTEGER)") == ["CREATE TABLE b (x INTEGER);"]


def test_no_sql_file_is_added_after_14() -> None:
    """A schema change is an Alembic revision now; the SQL files stop at the baseline."""
    assert max(m.version for m in load_migrations()) == LAST_VERSION == int(BASELINE)


# --- copying a database --------------------------------------------------------------------------------------


@pytest.fixture
async def source(tmp_path: Path) -> str:
    """The upgrade fixture (a row in every table), adopted: at head, as `db copy` wants its source."""
    path = tmp_path / "source.db"
    shutil.copyfile(FIXTURE, path)
    await (await Database.open(path)).close()
    return str(path)


async def test_a_copy_is_complete_verified_and_keeps_ids_going(source: str, blank: str, tmp_path: Path) -> None:
    src = await Database.open(source, migrate=False)
    dst = await Database.open(blank, migrate=False)
    try:
        report = await copy_database(src, dst, chunk=50)  # small chunks: quotes and consensus take several
        assert report.equal and [t.name for t in report.tables] == [t.name for t in metadata.sorted_tables]
        counts = {t.name: t.source_rows for t in report.tables}
        assert counts["quotes"] == 368 and counts["consensus"] == 111 and min(counts.values()) >= 1
        assert await rows_of(dst) == await rows_of(src)
        assert (await read_state(dst)).standing == "head"
        # New rows get ids past the copied ones (PostgreSQL: the sequence was moved).
        new_id = await dst.scalar(
            "INSERT INTO api_anomalies (key_id, kind, detail, at, dedupe_key) VALUES ('k', 'x', '', :t, 'new')"
            " RETURNING id",
            {"t": T0},
        )
        assert new_id > await dst.scalar("SELECT MAX(id) FROM api_anomalies WHERE dedupe_key <> 'new'")
        # And back into a new SQLite file: the same checksums, table by table.
        back = await Database.open(tmp_path / "back.db", migrate=False)
        try:
            again = await copy_database(dst, back)
        finally:
            await back.close()
        assert [(t.name, t.source_rows) for t in again.tables] == [
            (t.name, t.source_rows + (t.name == "api_anomalies")) for t in report.tables
        ]
    finally:
        await src.close()
        await dst.close()


async def test_a_copy_into_a_database_that_is_not_empty_is_refused_before_writing(source: str, db_url: str) -> None:
    src = await Database.open(source, migrate=False)
    dst = await Database.open(db_url)
    try:
        await dst.execute("INSERT INTO books (key, title, updated_at) VALUES ('x', 'X', :t)", {"t": T0})
        before = await rows_of(dst)
        with pytest.raises(CopyRefused, match=r"is not empty \(table books holds rows\)"):
            await copy_database(src, dst)
        assert await rows_of(dst) == before
        await dst.execute("DELETE FROM books")
        await dst.execute("CREATE TABLE someone_elses (x INTEGER)")
        with pytest.raises(CopyRefused, match=r"tables Stratum does not know \(someone_elses\)"):
            await copy_database(src, dst)
    finally:
        await src.close()
        await dst.close()


async def test_a_copy_that_reads_back_differently_is_rolled_back(
    source: str, blank: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The verification is real: a value changed on its way in is caught, and the copy leaves no row."""
    original = storage.copy._for_insert

    def tampered(table, row):
        values = original(table, row)
        if table.name == "books" and values["key"] == "fanduel":
            values["title"] = "FanDuel (changed)"
        return values

    monkeypatch.setattr(storage.copy, "_for_insert", tampered)
    src = await Database.open(source, migrate=False)
    dst = await Database.open(blank, migrate=False)
    try:
        with pytest.raises(CopyMismatch, match="differs from the source in books") as caught:
            await copy_database(src, dst)
        assert [t.name for t in caught.value.report.tables if not t.equal] == ["books"]
        assert all(rows == [] for rows in (await rows_of(dst)).values())
    finally:
        await src.close()
        await dst.close()


@pytest.fixture
def icu_database(postgres_server: PostgresServer | None) -> Iterator[str]:
    """An empty PostgreSQL database collating text as en-US does (not by code point)."""
    if postgres_server is None:
        pytest.skip("needs STRATUM_TEST_POSTGRES_URL")
    name = f"stratum_t_{postgres_server.session}_icu"
    admin = make_url(postgres_server.admin_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C'").format(
                sql.Identifier(name)
            )
        )
    try:
        yield postgres_server.url_of(name)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


async def test_the_checksum_order_does_not_depend_on_the_collation(tmp_path: Path, icu_database: str) -> None:
    """Keys whose en-US order differs from their code-point order ('B' < 'a' < '_c' by code point) copy and
    verify: both sides are read with text ordered by code point."""
    path = tmp_path / "keys.db"
    src = await Database.open(path)
    dst = await Database.open(icu_database, migrate=False)
    try:
        await src.execute_many(
            "INSERT INTO books (key, title, updated_at) VALUES (:k, :k, :t)",
            [{"k": k, "t": T0} for k in ("a", "B", "_c", "Zz", "b")],
        )
        report = await copy_database(src, dst)
        assert report.equal
        natural = [r[0] for r in await dst.fetch_all("SELECT key FROM books ORDER BY key")]
        assert natural != sorted(natural)  # the server's own order is not the code-point order
    finally:
        await src.close()
        await dst.close()


async def test_a_snapshot_reads_one_moment_while_another_connection_writes(db_url: str) -> None:
    reader = await Database.open(db_url)
    writer = await Database.open(db_url, migrate=False)
    try:
        count = "SELECT COUNT(*) FROM books"
        async with reader.snapshot():
            assert await reader.scalar(count) == 0
            await writer.execute("INSERT INTO books (key, title, updated_at) VALUES ('x', 'X', :t)", {"t": T0})
            assert await writer.scalar(count) == 1
            assert await reader.scalar(count) == 0  # still the snapshot's moment
        assert await reader.scalar(count) == 1
    finally:
        await reader.close()
        await writer.close()
