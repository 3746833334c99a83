"""The two database backends every database test runs on: a SQLite file, and a throwaway PostgreSQL database.

PostgreSQL comes from ``STRATUM_TEST_POSTGRES_URL`` (a role that may create databases; ``.ci/run`` starts a
cluster on loopback and sets it). Without it the PostgreSQL half of each test is skipped with one reason,
and the run's header says so in one line. Each test gets its own database: a SQLite file under its
``tmp_path``, or on PostgreSQL ``CREATE DATABASE … TEMPLATE`` of a database migrated once per session (a copy
takes ~0.1 s, where migrating takes longer). Every database this session created is dropped at its end.
"""

from __future__ import annotations

import itertools
import os
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

ENV = "STRATUM_TEST_POSTGRES_URL"
BACKENDS = ("sqlite", "postgresql")
MISSING = f"PostgreSQL half skipped: {ENV} is not set (.ci/run starts a server on loopback and sets it)"
_PREFIX = "stratum_t_"


def _libpq(url: str, database: str | None = None) -> str:
    """A SQLAlchemy URL -> a libpq conninfo URL (optionally of another database on the same server)."""
    parsed = make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


@dataclass
class PostgresServer:
    """The test server: creates and drops this session's databases (names ``stratum_t_<session>_<n>``)."""

    admin_url: str
    session: str = field(default_factory=lambda: secrets.token_hex(4))
    created: list[str] = field(default_factory=list)
    _numbers: itertools.count = field(default_factory=itertools.count)
    _empty: str | None = None

    @classmethod
    def from_env(cls) -> PostgresServer | None:
        url = os.environ.get(ENV, "").strip()
        return cls(url) if url else None

    def _admin(self) -> psycopg.Connection:
        return psycopg.connect(_libpq(self.admin_url), autocommit=True, connect_timeout=10)

    def url_of(self, name: str) -> str:
        return (
            make_url(self.admin_url)
            .set(drivername="postgresql+psycopg", database=name)
            .render_as_string(hide_password=False)
        )

    def create(self, template: str | None = None) -> str:
        """A new database (a copy of `template` if given); its SQLAlchemy URL."""
        name = f"{_PREFIX}{self.session}_{next(self._numbers)}"
        with self._admin() as conn:
            statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
            if template is not None:
                statement += sql.SQL(" TEMPLATE {} STRATEGY FILE_COPY").format(sql.Identifier(template))
            conn.execute(statement)
        self.created.append(name)
        return self.url_of(name)

    def copy(self, url: str) -> str:
        """A new database holding what the database at `url` holds (nothing may be connected to it)."""
        return self.create(template=make_url(url).database)

    def prepare(self) -> None:
        """Migrate the session's empty database that `fresh` copies, once. It runs its own event loop, so
        tests/conftest.py calls it from the (synchronous) `backend` fixture: a test that asks `fresh` for a
        database from inside its running loop (`backend.fresh(tmp_path)` in an async test) finds it done."""
        if self._empty is not None:
            return
        import asyncio

        from storage.db import Database

        url = self.create()

        async def migrate() -> None:
            await (await Database.open(url)).close()

        asyncio.run(migrate())
        self._empty = url

    def fresh(self) -> str:
        """A new database with the schema migrated (copied from one migrated once per session)."""
        self.prepare()
        assert self._empty is not None
        return self.copy(self._empty)

    def drop_all(self) -> None:
        with self._admin() as conn:
            for name in reversed(self.created):
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        self.created.clear()


@dataclass(frozen=True)
class Backend:
    """One backend as a test sees it: where to put a fresh database, and how to copy one."""

    name: str
    server: PostgresServer | None = None

    def fresh(self, tmp_path: Path, file_name: str = "stratum.db") -> str:
        """A location for a new, empty database: a file path on SQLite, a migrated database's URL otherwise."""
        if self.server is None:
            return str(tmp_path / file_name)
        return self.server.fresh()

    def blank(self, tmp_path: Path, file_name: str = "stratum.db") -> str:
        """A location with no schema at all (for tests of migrating one)."""
        if self.server is None:
            return str(tmp_path / file_name)
        return self.server.create()


_session_server: list[PostgresServer] = []  # the session's server, set once by tests/conftest.py


def use_server(server: PostgresServer) -> None:
    _session_server[:] = [server]


def copy_database(location: str | Path, tmp_path: Path, file_name: str = "stratum.db") -> str:
    """A private copy of the database at `location` for one test: a file copy, or a PostgreSQL template copy."""
    text = str(location)
    if text.startswith("postgresql"):
        if not _session_server:
            raise RuntimeError(f"no PostgreSQL server for this session ({ENV} unset)")
        return _session_server[0].copy(text)
    target = tmp_path / file_name
    shutil.copyfile(text, target)
    return str(target)
