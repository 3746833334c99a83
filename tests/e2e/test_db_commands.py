"""``run_bot.py db upgrade | current | copy`` and the database location at start, through the real `run_bot.py`
in a child process: what each prints, its exit code, one line and exit code 2 for every refusal (a schema
newer than the code, a non-empty copy target, a bad URL, ``--fresh`` on PostgreSQL) with nothing written,
and a database password that never appears in any output or log line."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from storage.db import Database
from storage.migrations import head_revision
from tests.backends import Backend, PostgresServer
from tests.paths import FIXTURES, ROOT

HEAD = head_revision()
FIXTURE = FIXTURES / "upgrade" / "stratum_schema_0014.db"
TAPE = FIXTURES / "wnba_tape_excerpt.jsonl.gz"


def _environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """No STRATUM_ setting of the developer's, the worktree's code first on the path, then `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRATUM_")}
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra or {})
    return env


async def run_bot(*args: str, cwd: Path, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """`run_bot.py ARGS` in a child process: (exit code, stdout, stderr)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "run_bot.py"),
        *args,
        cwd=cwd,
        env=_environment(env),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 300)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def one_error_line(code: int, out: str, err: str) -> str:
    """A refusal: exit code 2, no traceback, one line on stderr starting with ``error: ``."""
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert code == 2, (code, out, err)
    assert lines[0].startswith("error: ")
    return lines[0]


def shown(location: str) -> str:
    """How a location is printed: a file as its path, a URL with its password masked."""
    if "://" not in location:
        return location
    return make_url(location).render_as_string(hide_password=True)


async def _revision(location: str) -> str | None:
    db = await Database.open(location, migrate=False)
    try:
        return await db.scalar("SELECT version_num FROM alembic_version")
    finally:
        await db.close()


async def _set_revision(location: str, revision: str) -> None:
    """Bring the database to head (a new SQLite file has no schema yet), then record `revision` as its own."""
    db = await Database.open(location)
    try:
        await db.execute("UPDATE alembic_version SET version_num = :r", {"r": revision})
    finally:
        await db.close()


def _count(path: Path, table: str) -> int:
    with sqlite3.connect(path) as conn:
        return conn.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0]  # noqa: S608 - our own table names


# --- db current / db upgrade ---------------------------------------------------------------------------------


async def test_current_and_upgrade_on_a_new_file(tmp_path: Path):
    db = tmp_path / "new.db"
    code, out, err = await run_bot("db", "current", "--db", str(db), cwd=tmp_path)
    line = one_error_line(code, out, err)
    assert str(db) in line and "no database" in line
    assert not db.exists(), "db current creates nothing"

    code, out, err = await run_bot("db", "upgrade", "--db", str(db), cwd=tmp_path)
    assert code == 0, err
    assert out.strip() == f"{db}: upgraded from no schema yet to revision {HEAD} (head)"

    code, out, err = await run_bot("db", "current", "--db", str(db), cwd=tmp_path)
    assert (code, out.strip()) == (0, f"{db}: revision {HEAD} (head)"), err
    code, out, err = await run_bot("db", "upgrade", "--db", str(db), cwd=tmp_path)
    assert (code, out.strip()) == (0, f"{db}: revision {HEAD} (head); nothing to do"), err


async def test_the_configured_url_is_used_without_db(tmp_path: Path):
    """`--config` and `STRATUM_STORAGE__URL` name the database as --db does; the environment wins."""
    config = tmp_path / "site.toml"
    config.write_text('[storage]\nurl = "sqlite:///from-config.db"\n')
    code, out, err = await run_bot("db", "upgrade", "--config", str(config), cwd=tmp_path)
    assert code == 0, err
    assert out.startswith("from-config.db: upgraded")
    assert (tmp_path / "from-config.db").exists()
    env = {"STRATUM_STORAGE__URL": f"sqlite:///{tmp_path / 'from-env.db'}"}
    code, out, err = await run_bot("db", "current", "--config", str(config), cwd=tmp_path, env=env)
    line = one_error_line(code, out, err)  # from-env.db does not exist yet: the environment's URL was read
    assert "from-env.db" in line


async def test_an_old_file_is_shown_behind_then_adopted(tmp_path: Path):
    db = tmp_path / "stratum.db"
    shutil.copyfile(FIXTURE, db)
    code, out, err = await run_bot("db", "current", "--db", str(db), cwd=tmp_path)
    assert code == 0, err
    assert out.strip().startswith(f"{db}: schema_migrations version 14, from before Alembic (behind: head is {HEAD}")
    code, out, err = await run_bot("db", "upgrade", "--db", str(db), cwd=tmp_path)
    assert code == 0, err
    assert out.strip() == (
        f"{db}: adopted schema_migrations version 14, from before Alembic, as revision 0014; now at "
        f"revision {HEAD} (head)"
    )
    assert _count(db, "quotes") == 368  # the fixture's rows are all there


async def test_a_newer_revision_is_refused_with_one_line_at_start_and_by_db_upgrade(db_url: str, tmp_path: Path):
    location = db_url
    await _set_revision(location, "9999")
    expected = (
        f"error: database at {shown(location)} is at schema revision 9999, newer than this Stratum (head {HEAD}): "
        "run a newer Stratum, or point storage.url elsewhere"
    )
    code, out, err = await run_bot("--replay", str(TAPE), "--db", location, "--quiet", cwd=tmp_path)
    assert one_error_line(code, out, err) == expected
    code, out, err = await run_bot("db", "upgrade", "--db", location, cwd=tmp_path)
    assert one_error_line(code, out, err) == expected
    code, out, err = await run_bot("db", "current", "--db", location, cwd=tmp_path)
    assert (code, out.strip()) == (0, f"{shown(location)}: revision 9999 (newer: this Stratum's head is {HEAD})")
    assert await _revision(location) == "9999"  # nothing written


# --- db copy -------------------------------------------------------------------------------------------------


async def test_copy_from_sqlite_to_each_backend_verified_then_a_second_copy_refused(backend: Backend, tmp_path: Path):
    source = tmp_path / "source.db"
    shutil.copyfile(FIXTURE, source)
    code, _, err = await run_bot("db", "upgrade", "--db", str(source), cwd=tmp_path)
    assert code == 0, err
    target = backend.blank(tmp_path, "target.db")
    code, out, err = await run_bot("db", "copy", "--from", f"sqlite:///{source}", "--to", target, cwd=tmp_path)
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[0] == f"copying {source} -> {shown(target)}"
    rows = {line.split()[0]: line.split()[1:] for line in lines[2:-1]}
    assert rows["quotes"][0] == "368" and rows["consensus"][0] == "111" and rows["outbox"][0] == "13"
    assert all(len(digest) == 64 for _, digest in rows.values())
    assert lines[-1].endswith(f"every count and checksum equal; the target is at revision {HEAD} (head)")

    code, out, err = await run_bot("db", "copy", "--from", str(source), "--to", target, cwd=tmp_path)
    line = one_error_line(code, out, err)
    assert "not empty" in line and shown(target) in line
    code, out, err = await run_bot("db", "current", "--db", target, cwd=tmp_path)
    assert (code, out.strip()) == (0, f"{shown(target)}: revision {HEAD} (head)"), err


async def test_copy_defaults_to_the_configured_database_and_refuses_a_source_behind(tmp_path: Path):
    source = tmp_path / "stratum.db"
    shutil.copyfile(FIXTURE, source)  # schema_migrations 14, not yet adopted
    target = tmp_path / "copy.db"
    code, out, err = await run_bot("db", "copy", "--db", str(source), "--to", str(target), cwd=tmp_path)
    line = one_error_line(code, out, err)
    assert "db upgrade" in line and str(source) in line
    assert not target.exists(), "nothing written"


# --- locations: bad URLs, --fresh, passwords ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("location", "words"),
    [
        ("mysql://root:hunter2-not-real@127.0.0.1/stratum", ["unsupported database", "mysql"]),
        ("postgresql+psycopg://stratum:hunter2-not-real@127.0.0.1", ["names no database"]),
    ],
)
async def test_a_bad_database_url_is_one_line(tmp_path: Path, location: str, words: list[str]):
    for args, env in (
        (["--replay", str(TAPE), "--db", location], None),
        (["db", "current"], {"STRATUM_STORAGE__URL": location}),
    ):
        code, out, err = await run_bot(*args, cwd=tmp_path, env=env)
        line = one_error_line(code, out, err)
        assert all(word in line for word in words), line
        assert "hunter2-not-real" not in out + err


@pytest.fixture
def password_url(postgres_server: PostgresServer | None) -> Iterator[str]:
    """An empty PostgreSQL database owned by a role of its own, whose password is unique to this test."""
    if postgres_server is None:
        pytest.skip("needs STRATUM_TEST_POSTGRES_URL")
    suffix = secrets.token_hex(4)
    role, name, password = f"stratum_pw_{suffix}", f"stratum_pw_{suffix}", f"pw-{secrets.token_hex(12)}"
    admin = make_url(postgres_server.admin_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role), sql.Literal(password)))
        # Giving a database to a role takes membership of it, unless one is a superuser (CI's role is not).
        conn.execute(sql.SQL("GRANT {} TO CURRENT_USER").format(sql.Identifier(role)))
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(role)))
    url = make_url(postgres_server.admin_url).set(
        drivername="postgresql+psycopg", username=role, password=password, database=name
    )
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


async def test_the_password_never_appears_in_any_output_or_log(password_url: str, tmp_path: Path):
    password = make_url(password_url).password
    masked = shown(password_url)
    assert password and password not in masked
    source = tmp_path / "source.db"
    shutil.copyfile(FIXTURE, source)
    outputs = []
    env = {"STRATUM_STORAGE__URL": password_url}

    async def run(*args: str, expect: int) -> str:
        code, out, err = await run_bot(*args, cwd=tmp_path, env=env)
        assert code == expect, (args, out, err)
        outputs.append(out + err)
        return out + err

    assert masked in await run("db", "current", expect=0)
    assert masked in await run("db", "upgrade", expect=0)
    await run("db", "upgrade", "--db", str(source), expect=0)
    assert f"-> {masked}" in await run("db", "copy", "--from", str(source), "--to", password_url, expect=0)
    assert f"the target {masked} is not empty" in await run(
        "db", "copy", "--db", str(source), "--to", password_url, expect=2
    )
    fresh = await run("--fresh", "--replay", str(TAPE), "--log-level", "DEBUG", expect=2)
    assert "--fresh" in fresh and masked in fresh
    await _set_revision(password_url, "9999")
    assert f"database at {masked} is at schema revision 9999" in await run("--log-level", "DEBUG", expect=2)
    unreachable = make_url(password_url).set(port=1).render_as_string(hide_password=False)
    code, out, err = await run_bot("db", "current", "--db", unreachable, cwd=tmp_path)
    line = one_error_line(code, out, err)
    assert "cannot connect" in line and shown(unreachable) in line
    outputs.append(out + err)
    for text in outputs:
        assert password not in text


async def test_the_replay_names_the_database_without_its_password(password_url: str, tmp_path: Path):
    """The replay's "replayed … into …" line and its DEBUG log name the database by its masked URL.
    (Needs every repository on PostgreSQL: the replay writes games, quotes, consensus and signals.)"""
    tape = tmp_path / "short.jsonl.gz"
    shutil.copyfile(TAPE, tape)
    code, out, err = await run_bot(
        "--replay", str(tape), "--db", password_url, "--quiet", "--log-level", "DEBUG", cwd=tmp_path
    )
    assert code == 0, err[-3000:]
    assert f"into {shown(password_url)}" in out
    assert make_url(password_url).password not in out + err


async def test_fresh_refuses_a_postgresql_database_and_deletes_a_sqlite_file(
    backend: Backend, db_url: str, tmp_path: Path
):
    location = db_url
    if backend.name == "sqlite":
        shutil.copyfile(FIXTURE, location)  # with an API key row, which a replay never writes
    code, out, err = await run_bot("--fresh", "--replay", str(TAPE), "--db", location, "--quiet", cwd=tmp_path)
    if backend.name == "postgresql":
        line = one_error_line(code, out, err)
        assert "--fresh" in line and "DROP DATABASE" in line and shown(location) in line
        assert await _revision(location) == HEAD  # untouched
    else:
        assert code == 0, err
        assert f"into {location}" in out
        assert _count(Path(location), "api_keys") == 0  # the old file was deleted first
