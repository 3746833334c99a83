"""The one SQL layer: SQLAlchemy 2 Core (async) on SQLite (aiosqlite) or PostgreSQL (psycopg 3).

Repositories hand `Database` a statement — a Core expression, or SQL text with ``:named`` parameters — and a
mapping of values; they never hold a connection. Everything that differs between the two backends is decided
here or in `storage.dialect`, not per repository:

- **Datetimes.** Values are aware `datetime`s. On SQLite a bound datetime is written as the fixed-width UTC
  text of `storage.codec.to_db` (text order is time order, as in every file written so far); on PostgreSQL
  it is bound as it is, into ``timestamptz`` columns. Reads go through `storage.codec.from_db`, which accepts
  both the text and the datetime.
- **Transactions.** `transaction()` is the only way to write. On SQLite it is ``BEGIN IMMEDIATE`` on the one
  writer connection, under an asyncio lock (one writer per process; another process waits up to the busy
  timeout instead of deadlocking on a read-to-write upgrade); reads outside a transaction use a small pool of
  reader connections and, thanks to WAL, see the last commit without waiting for a writer. On PostgreSQL each
  transaction takes a pooled connection at the server's default isolation, READ COMMITTED: every
  read-modify-write in the repositories is one statement (an upsert, an ``UPDATE … WHERE``, or
  ``RETURNING``), so none relies on a single writer. Statements outside a transaction run in autocommit.
- **Ownership.** A transaction belongs to the task that opened it: that task's statements (and nested
  `transaction()` blocks, which are SAVEPOINTs) run on its connection; other tasks, even ones it created,
  get their own. An in-memory SQLite database is one shared connection, as before: there, a read by another
  task while a transaction is open sees its uncommitted rows.

`data_changes` counts the rows written by transactions this process committed, less those opened as
`transaction(bookkeeping=True)` — writes no cached answer is built from (the API's usage counters) — so
`services.freshness.DataVersion` moves with the data, not with the bookkeeping written every few seconds.
`external_version()` moves when another process commits data (SQLite's ``PRAGMA data_version``; PostgreSQL's
``NOTIFY``, see `storage.changes`).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import re
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import CursorResult, Row
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.elements import TextClause

from engine.providers.files import ensure_private, tighten
from storage.changes import CHANNEL, ChangeFeed
from storage.codec import to_db
from storage.sqlite_driver import one_trip_dbapi, run_on_thread
from storage.url import DatabaseTarget, parse_target

__all__ = ["DEFAULT_BUSY_TIMEOUT_MS", "Database", "DatabaseUnavailable", "PoolSettings", "SentStatement", "WriteResult"]

log = logging.getLogger(__name__)

#: How long a statement waits for another process's write lock before raising "database is locked".
DEFAULT_BUSY_TIMEOUT_MS = 5000

Params = Mapping[str, Any] | None

#: A pooled PostgreSQL connection idle longer than this is tested before use (see `_postgres_engine`).
IDLE_PING_SECONDS = 5.0

#: SQL text whose first word is one of these only reads (everything else is run as a write).
_READ_WORDS = ("SELECT", "WITH", "PRAGMA", "EXPLAIN", "VALUES")
_TEXT_CACHE_MAX = 1024
_RETURNING = re.compile(r"\bRETURNING\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class PoolSettings:
    """Connection pool sizes and timeouts (``[storage]`` in config.toml)."""

    pool_size: int = 5
    max_overflow: int = 5
    pool_timeout_seconds: float = 10.0
    connect_timeout_seconds: float = 10.0
    #: PostgreSQL only: a statement running longer is cancelled by the server.
    statement_timeout_ms: int = 30_000
    #: SQLite only: how long to wait for another process's write lock.
    busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS


class DatabaseUnavailable(Exception):
    """The database cannot be reached or opened (no server, a refused login, an unreadable file): one line,
    naming it by `DatabaseTarget.shown`."""


class _Control:
    """Transaction control (BEGIN, COMMIT, ROLLBACK, SAVEPOINT) of one connection.

    On PostgreSQL it goes through SQLAlchemy's connection. On SQLite it goes straight to the aiosqlite
    connection, one trip to its thread each: SQLAlchemy's pysqlite-style dialects do not emit BEGIN themselves
    (the driver is in autocommit; see the module docstring), so there is no transaction state of SQLAlchemy's
    to keep in step, and the ~80 µs SQLAlchemy adds to each statement would be spent twice per snapshot on
    statements it does not need to see (bench/engine.py).
    """

    def __init__(self, conn: AsyncConnection, sqlite: Any | None = None, db: Database | None = None) -> None:
        self.conn = conn
        self.sqlite = sqlite  # the aiosqlite connection, on SQLite
        self._db = db
        self._driver: Any = sqlite

    async def sql(self, statement: str) -> None:
        started = time.perf_counter()
        if self.sqlite is not None:
            await self.sqlite.execute_fetchall(statement)
        else:
            await self.conn.exec_driver_sql(statement)
        if self._db is not None and self._db._watchers:
            self._db._tell(statement, False, started)

    async def commit(self, notify: str | None = None) -> None:
        """COMMIT; on PostgreSQL with `notify`, ``pg_notify(channel, notify)`` first, in the same round trip
        (psycopg's pipeline: one trip to the server instead of two for every data transaction)."""
        started = time.perf_counter()
        if self.sqlite is not None:
            await self.sqlite.commit()
        elif notify is not None:
            driver = await self.driver()
            async with driver.pipeline():
                await driver.execute("SELECT pg_notify(%s, %s)", (CHANNEL, notify))
                await driver.commit()
            await self.conn.commit()  # SQLAlchemy's side of it: the server has nothing left to commit
        else:
            await self.conn.commit()
        if self._db is not None and self._db._watchers:
            self._db._tell("COMMIT", False, started)

    async def rollback(self) -> None:
        # Some SQLite errors (SQLITE_FULL, SQLITE_IOERR, ...) already rolled the transaction back; the
        # driver's rollback is then a no-op rather than an error that would hide the original one.
        try:
            await asyncio.shield(self.sqlite.rollback() if self.sqlite is not None else self.conn.rollback())
        except Exception:
            log.debug("rollback after a failed transaction also failed", exc_info=True)

    async def driver(self) -> Any:
        """The driver's own connection under SQLAlchemy's (psycopg's, on PostgreSQL), found once."""
        if self._driver is None:
            self._driver = (await self.conn.get_raw_connection()).driver_connection
        return self._driver

    async def still_open(self) -> bool:
        """Whether the transaction survived an error (SQLite may have rolled it back itself; PostgreSQL keeps
        a failed one, refusing statements until ROLLBACK TO SAVEPOINT)."""
        if self.sqlite is not None:
            return bool(self.sqlite.in_transaction)
        from psycopg.pq import TransactionStatus

        driver = (await self.conn.get_raw_connection()).driver_connection
        status = driver.info.transaction_status
        return status in (TransactionStatus.INTRANS, TransactionStatus.INERROR)


@dataclass(frozen=True, slots=True)
class SentStatement:
    """One statement as `Database.watch` reports it: its SQL, whether it ran over many parameter sets, and
    how long it took from the event loop's side (driver and thread hand-offs included)."""

    sql: str
    many: bool
    seconds: float


class WriteResult:
    """What a write sent straight to SQLite returns (see `Database._send`): the rows it changed."""

    __slots__ = ("rowcount",)

    def __init__(self, rowcount: int) -> None:
        self.rowcount = rowcount


@dataclass(slots=True)
class _Transaction:
    task: asyncio.Task[Any] | None
    control: _Control
    depth: int = 1
    changes: int = 0
    after_commit: list[Callable[[], object]] = field(default_factory=list)

    @property
    def conn(self) -> AsyncConnection:
        return self.control.conn


@dataclass(frozen=True, slots=True)
class _Text:
    """A SQL string, parsed once: its `text()` (so SQLAlchemy's compiled cache is hit on every repeat),
    whether it writes, whether it returns rows, and its text as compiled for a driver's parameter style."""

    clause: TextClause
    writes: bool
    returns_rows: bool
    compiled: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class _TextCache:
    clauses: dict[str, _Text] = field(default_factory=dict)

    def get(self, sql: str) -> _Text:
        hit = self.clauses.get(sql)
        if hit is None:
            writes = not sql.lstrip().upper().startswith(_READ_WORDS)
            hit = _Text(text(sql), writes, not writes or bool(_RETURNING.search(sql)))
            if len(self.clauses) < _TEXT_CACHE_MAX:
                self.clauses[sql] = hit
        return hit


_TEXTS = _TextCache()


def _prepare_file(path: Path) -> None:
    """The database's folder, and the file itself created (or tightened) 0600 with any -wal/-shm left."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ensure_private(path)
    for suffix in ("-wal", "-shm", "-journal"):
        tighten(f"{path}{suffix}")


def _sqlite_engine(target: DatabaseTarget, pool: PoolSettings, *, size: int) -> AsyncEngine:
    if target.in_memory:
        engine = create_async_engine(
            target.url, module=one_trip_dbapi(), poolclass=StaticPool, pool_reset_on_return=None
        )
    else:
        engine = create_async_engine(
            target.url,
            module=one_trip_dbapi(),
            pool_size=size,
            max_overflow=0,
            pool_timeout=pool.pool_timeout_seconds,
            # Transactions are ours (BEGIN IMMEDIATE ... COMMIT/ROLLBACK): nothing is left open to reset.
            pool_reset_on_return=None,
            connect_args={"timeout": pool.busy_timeout_ms / 1000},
        )
    busy = int(pool.busy_timeout_ms)

    @event.listens_for(engine.sync_engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # The driver must never open transactions behind our back: `transaction()` emits BEGIN IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # Pragmas take no bound parameters; the timeout is an int we control, not user text.
        cursor.execute(f"PRAGMA busy_timeout = {busy}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    return engine


def _postgres_engine(target: DatabaseTarget, pool: PoolSettings) -> AsyncEngine:
    options = f"-c statement_timeout={int(pool.statement_timeout_ms)} -c timezone=UTC"
    engine = create_async_engine(
        target.url,
        pool_size=pool.pool_size,
        max_overflow=pool.max_overflow,
        pool_timeout=pool.pool_timeout_seconds,
        connect_args={"connect_timeout": max(1, round(pool.connect_timeout_seconds)), "options": options},
    )
    dialect = engine.sync_engine.dialect

    # SQLAlchemy's pool_pre_ping tests every connection taken from the pool: one more round trip per
    # transaction (the replay's snapshots measurably, bench/engine.py). A connection back within
    # IDLE_PING_SECONDS is taken as it is; one idle longer (across a server restart, a firewall's timeout)
    # is tested, and replaced if dead. A restart under load fails the statements then in flight once, and
    # SQLAlchemy's disconnect handling replaces the pool's other connections.
    @event.listens_for(engine.sync_engine, "checkin")
    def _returned(_dbapi_connection: Any, record: Any) -> None:
        record.info["stratum_returned"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        returned = record.info.get("stratum_returned")
        if returned is None or time.monotonic() - returned < IDLE_PING_SECONDS:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as error:
            raise DisconnectionError(f"a pooled connection idle for a while is dead: {error}") from error

    return engine


class Database:
    """An open database on either backend, its schema migrated to the latest revision."""

    def __init__(self, target: DatabaseTarget, pool: PoolSettings) -> None:
        """Build the engines; use `Database.open`, which also checks the connection and the schema."""
        self.target = target
        self.pool = pool
        self.backend = target.backend
        self._closed = False
        self._write_lock = asyncio.Lock()
        self._current: contextvars.ContextVar[_Transaction | None] = contextvars.ContextVar(
            f"stratum_tx_{id(self)}", default=None
        )
        self._changes = 0
        self._external: int | None = None
        self._writer_control: _Control | None = None
        self._changes_feed: ChangeFeed | None = None
        self._watchers: list[Callable[[SentStatement], None]] = []
        if target.is_sqlite:
            self._writer = _sqlite_engine(target, pool, size=1)
            self._reader = self._writer if target.in_memory else _sqlite_engine(target, pool, size=pool.pool_size)
            self._autocommit = self._reader
        else:
            self._writer = self._reader = _postgres_engine(target, pool)
            self._changes_feed = ChangeFeed(target.url, pool.connect_timeout_seconds)
            self._autocommit = self._writer.execution_options(isolation_level="AUTOCOMMIT")

    @classmethod
    async def open(
        cls,
        target: str | Path | DatabaseTarget,
        *,
        pool: PoolSettings | None = None,
        migrate: bool = True,
        busy_timeout_ms: int | None = None,
    ) -> Database:
        """Open (creating a SQLite file if needed) the database and bring its schema up to date.

        ``":memory:"`` gives a private in-memory SQLite database. A SQLite file is made mode 0600 before
        SQLite opens it (it holds webhook signing secrets, key hashes and Stripe links; see
        engine.providers.files), and SQLite gives its -wal and -shm that mode. `migrate=False` is for the
        migration tests and ``db current``, which must see a schema as it is.
        """
        where = parse_target(target)
        settings = pool or PoolSettings()
        if busy_timeout_ms is not None:
            settings = PoolSettings(**{**_fields(settings), "busy_timeout_ms": busy_timeout_ms})
        if where.file is not None:
            await asyncio.to_thread(_prepare_file, where.file)
        db = cls(where, settings)
        try:
            try:
                if where.is_sqlite:
                    await db._check_journal_mode()
                else:
                    await db.scalar("SELECT 1")
            except DBAPIError as exc:
                raise DatabaseUnavailable(
                    f"cannot connect to the database at {where.shown}: {_reason(exc, where)}"
                ) from None
            if migrate:
                from storage.migrations import upgrade

                await upgrade(db)
        except BaseException:
            await db.close()
            raise
        return db

    async def _check_journal_mode(self) -> None:
        mode = str(await self.scalar("PRAGMA journal_mode") or "").lower()
        if mode != "wal" and not self.target.in_memory:
            log.warning("SQLite journal_mode is %r, not 'wal', for %s", mode, self.target.shown)

    # -- statements ---------------------------------------------------------------------------------------------

    @property
    def is_sqlite(self) -> bool:
        return self.target.is_sqlite

    @property
    def engines(self) -> tuple[AsyncEngine, ...]:
        """The engines (writer first), for tests that watch the statements sent."""
        return (self._writer,) if self._reader is self._writer else (self._writer, self._reader)

    def _bind(self, params: Params) -> dict[str, Any]:
        """Values as the backend stores them: on SQLite an aware datetime becomes the codec's UTC text."""
        if not params:
            return {}
        if not self.target.is_sqlite:
            return dict(params)
        return {k: (to_db(v) if isinstance(v, datetime) else v) for k, v in params.items()}

    def _owned(self) -> _Transaction | None:
        state = self._current.get()
        if state is not None and state.task is asyncio.current_task():
            return state
        return None

    async def execute(self, statement: str | Executable, params: Params = None) -> CursorResult[Any] | WriteResult:
        """Run one statement; the result is buffered (rows, ``rowcount``). A write outside a transaction
        runs in one of its own. A write without RETURNING may answer with a `WriteResult` (its ``rowcount``
        is all a write has to say)."""
        if self._closed:
            raise RuntimeError("database is closed")
        if isinstance(statement, str):
            parsed = _TEXTS.get(statement)
            clause, writes = parsed.clause, parsed.writes
        else:
            parsed = None
            clause, writes = statement, bool(getattr(statement, "is_dml", False) or getattr(statement, "is_ddl", False))
        bound = self._bind(params)
        state = self._owned()
        if state is not None:
            result = await self._send(state, statement, parsed, clause, bound, many=False)
            if writes and result.rowcount > 0:
                state.changes += result.rowcount
            return result
        if writes:
            async with self.transaction():
                return await self.execute(statement, params)
        started = time.perf_counter()
        async with self._autocommit.connect() as conn:
            result = await (
                conn.exec_driver_sql(statement, bound)
                if self.target.is_sqlite and parsed is not None
                else conn.execute(clause, bound)
            )
        if self._watchers:
            self._tell(statement, False, started)
        return result

    async def execute_many(self, statement: str | Executable, rows: Sequence[Mapping[str, Any]]) -> int:
        """One statement over many parameter sets (an executemany); returns how many sets were sent."""
        if not rows:
            return 0
        parsed = _TEXTS.get(statement) if isinstance(statement, str) else None
        clause = parsed.clause if parsed is not None else statement
        bound = [self._bind(row) for row in rows]
        state = self._owned()
        if state is None:
            async with self.transaction():
                return await self.execute_many(statement, rows)
        result = await self._send(state, statement, parsed, clause, bound, many=True)
        state.changes += result.rowcount if result.rowcount > 0 else len(bound)
        return len(bound)

    async def _send(
        self,
        state: _Transaction,
        statement: str | Executable,
        parsed: _Text | None,
        clause: Executable,
        bound: Any,
        *,
        many: bool,
    ) -> CursorResult[Any] | WriteResult:
        """Send one statement on the transaction's connection.

        A write of SQL text that returns no rows goes straight to the driver: SQLAlchemy's execution context
        and result (~50 µs a statement here, against ~30 µs for the statement itself on SQLite) would buy
        nothing for a write whose only answer is a row count, and the replay writes a few per snapshot
        (bench/engine.py). On SQLite that is one trip to aiosqlite's thread, the text as written (sqlite3 takes
        ``:named`` parameters itself); on PostgreSQL psycopg runs the text as SQLAlchemy compiled it once for
        psycopg's ``%(name)s`` (cached), in the transaction SQLAlchemy began on that same connection. Driver
        errors are raised as SQLAlchemy's, as on the other path. Reads, RETURNING and Core expressions go
        through SQLAlchemy."""
        started = time.perf_counter()
        raw = state.control.sqlite
        result: CursorResult[Any] | WriteResult
        if parsed is not None and not parsed.returns_rows:
            if raw is not None:
                text_sql: str = statement  # type: ignore[assignment]
                try:
                    finished, _rows = await raw._execute(run_on_thread, raw, text_sql, bound, many)
                except sqlite3.Error as error:
                    raise DBAPIError.instance(text_sql, bound, error, sqlite3.Error) from error
                result = WriteResult(finished.rowcount)
            else:
                result = await self._postgres_write(state, parsed, bound, many)
        elif raw is not None and parsed is not None:
            result = await state.conn.exec_driver_sql(statement, bound)  # type: ignore[arg-type]
        else:
            result = await state.conn.execute(clause, bound)
        if self._watchers:
            self._tell(statement, many, started)
        return result

    async def _postgres_write(self, state: _Transaction, parsed: _Text, bound: Any, many: bool) -> WriteResult:
        import psycopg

        sql = parsed.compiled.get(self.backend)
        if sql is None:
            sql = str(parsed.clause.compile(dialect=self._writer.dialect))
            parsed.compiled[self.backend] = sql
        driver = await state.control.driver()
        try:
            async with driver.cursor() as cursor:
                if many:
                    await cursor.executemany(sql, bound)
                else:
                    await cursor.execute(sql, bound)
                return WriteResult(cursor.rowcount)
        except psycopg.Error as error:
            raise DBAPIError.instance(sql, bound, error, psycopg.Error) from error

    # -- watching -----------------------------------------------------------------------------------------------

    def watch(self, callback: Callable[[SentStatement], None]) -> Callable[[], None]:
        """Call `callback` after every statement this database sends (transaction control included), on both
        paths and both backends; returns the function that stops it. For tests that count statements and for
        bench/engine.py's most expensive statements."""
        self._watchers.append(callback)
        return lambda: self._watchers.remove(callback) if callback in self._watchers else None

    def _tell(self, statement: str | Executable, many: bool, started: float) -> None:
        sent = SentStatement(str(statement), many, time.perf_counter() - started)
        for watcher in list(self._watchers):
            watcher(sent)

    async def run_sync(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(sync_connection, *args)`` on this task's transaction (DDL with ``metadata.create_all``,
        Alembic's migration context); only inside `transaction()`."""
        state = self._owned()
        if state is None:
            raise RuntimeError("run_sync needs an open transaction")
        return await state.conn.run_sync(fn, *args)

    async def stream(
        self, statement: str | Executable, params: Params = None, *, chunk: int = 1000
    ) -> AsyncIterator[list[Row[Any]]]:
        """The rows of one query in lists of up to `chunk`, never all held at once (a server-side cursor on
        PostgreSQL); only inside `transaction()` or `snapshot()`, whose connection it reads on."""
        state = self._owned()
        if state is None:
            raise RuntimeError("stream needs an open transaction or snapshot")
        clause = _TEXTS.get(statement).clause if isinstance(statement, str) else statement
        result = await state.conn.stream(clause, self._bind(params))
        async for rows in result.partitions(chunk):
            yield list(rows)

    async def fetch_all(self, statement: str | Executable, params: Params = None) -> list[Row[Any]]:
        return list((await self.execute(statement, params)).all())

    async def fetch_one(self, statement: str | Executable, params: Params = None) -> Row[Any] | None:
        return (await self.execute(statement, params)).first()

    async def scalar(self, statement: str | Executable, params: Params = None) -> Any:
        return (await self.execute(statement, params)).scalar()

    # -- transactions -------------------------------------------------------------------------------------------

    @property
    def in_transaction(self) -> bool:
        """True while the current task is inside `transaction()`."""
        return self._owned() is not None

    @property
    def data_changes(self) -> int:
        """Rows written by committed transactions of this process, bookkeeping ones excepted."""
        return self._changes

    @asynccontextmanager
    async def transaction(self, *, bookkeeping: bool = False) -> AsyncIterator[None]:
        """BEGIN … COMMIT; ROLLBACK if the block raises (cancellation included).

        Nested use by the same task opens a SAVEPOINT, so an inner block that raises undoes only its own work
        when the outer block catches the error; if the error propagates, the outer block rolls everything back.
        `bookkeeping=True`: the block writes only rows no cached answer is built from, so its changes are
        left out of `data_changes` (it applies to a transaction it opens, not to a nested block).
        """
        if self._closed:
            raise RuntimeError("database is closed")
        state = self._owned()
        if state is not None:
            async with self._savepoint(state):
                yield
            return
        if self.target.is_sqlite:
            async with self._write_lock:
                control = await self._sqlite_writer()
                await control.sql("BEGIN IMMEDIATE")
                async with self._run(control, bookkeeping):
                    yield
        else:
            # READ COMMITTED (PostgreSQL's default), stated: see the module docstring for why it is enough.
            async with self._writer.connect() as conn:
                await conn.begin()
                async with self._run(_Control(conn, db=self), bookkeeping):
                    yield

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[None]:
        """A read-only transaction: every read in it sees the database as of its first read, while other
        connections (another process) go on writing. For long reads that must agree with themselves, such
        as ``db copy``'s. SQLite: a deferred ``BEGIN`` on a reader connection (WAL keeps its view; no lock
        that would stop a writer); PostgreSQL: ``REPEATABLE READ, READ ONLY``."""
        if self._closed:
            raise RuntimeError("database is closed")
        if self._owned() is not None:
            raise RuntimeError("a snapshot cannot be nested in a transaction")
        if self.target.in_memory:
            async with self.transaction(bookkeeping=True):  # one shared connection: the writer's
                yield
            return
        async with self._reader.connect() as conn:
            if self.target.is_sqlite:
                control = _Control(conn, (await conn.get_raw_connection()).driver_connection, db=self)
                await control.sql("BEGIN")
            else:
                control = _Control(conn, db=self)
                await conn.begin()
                await control.sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            async with self._run(control, bookkeeping=True):
                yield

    async def _sqlite_writer(self) -> _Control:
        """The one SQLite writer connection, kept for the database's life (taking it from the pool and giving
        it back around every transaction cost more than the transaction's statements)."""
        if self._writer_control is None:
            conn = await self._writer.connect()
            raw = (await conn.get_raw_connection()).driver_connection
            self._writer_control = _Control(conn, raw, db=self)
        return self._writer_control

    @asynccontextmanager
    async def _run(self, control: _Control, bookkeeping: bool) -> AsyncIterator[None]:
        state = _Transaction(asyncio.current_task(), control)
        token = self._current.set(state)
        try:
            try:
                yield
            except BaseException:
                await control.rollback()
                raise
            try:
                announce = self._changes_feed is not None and not bookkeeping and state.changes
                await control.commit(self._changes_feed.token if announce and self._changes_feed else None)
            except BaseException:
                await control.rollback()
                raise
        finally:
            self._current.reset(token)
        if not bookkeeping:
            self._changes += state.changes
        for callback in state.after_commit:
            callback()

    def after_commit(self, callback: Callable[[], object]) -> None:
        """Call `callback()` once the current task's transaction has committed (dropped if it rolls back; a
        callback registered inside a savepoint that rolled back still runs, so it must tolerate a spurious
        call); right away outside a transaction. For in-process wake-ups that must not outrun the commit."""
        state = self._owned()
        if state is None:
            callback()
        else:
            state.after_commit.append(callback)

    @asynccontextmanager
    async def _savepoint(self, state: _Transaction) -> AsyncIterator[None]:
        state.depth += 1
        # The name is built from our own counter, never from input.
        name = f"stratum_sp_{state.depth}"
        control = state.control
        await control.sql(f"SAVEPOINT {name}")
        try:
            try:
                yield
            except BaseException:
                if await control.still_open():
                    await control.sql(f"ROLLBACK TO SAVEPOINT {name}")
                    await control.sql(f"RELEASE SAVEPOINT {name}")
                raise
            await control.sql(f"RELEASE SAVEPOINT {name}")
        finally:
            state.depth -= 1

    # -- other processes ----------------------------------------------------------------------------------------

    async def external_version(self) -> int | None:
        """A number that changes when another process commits (None for a private in-memory database).

        SQLite: ``PRAGMA data_version`` on the writer connection, which only other processes' commits move;
        it never waits for a running transaction (while one holds the writer, the last value read is
        returned). PostgreSQL: the count of other processes' data commits heard by `storage.changes.ChangeFeed`
        (``LISTEN``/``NOTIFY``; bookkeeping announces nothing, as on SQLite it moves nothing of ours)."""
        if self._closed or self.target.in_memory:
            return None
        if self._changes_feed is not None:
            return await self._changes_feed.version()
        if self._write_lock.locked():
            return self._external
        async with self._write_lock:
            control = await self._sqlite_writer()
            rows = list(await control.sqlite.execute_fetchall("PRAGMA data_version"))
        self._external = int(rows[0][0]) if rows else None
        return self._external

    # -- lifetime -----------------------------------------------------------------------------------------------

    async def close(self) -> None:
        """Dispose of the pools (idempotent). WAL content is checkpointed by SQLite on last close."""
        if self._closed:
            return
        self._closed = True
        if self._changes_feed is not None:
            await self._changes_feed.close()
        if self._writer_control is not None:
            await self._writer_control.conn.close()
            self._writer_control = None
        await self._writer.dispose()
        if self._reader is not self._writer:
            await self._reader.dispose()

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


def _fields(settings: PoolSettings) -> dict[str, Any]:
    return {name: getattr(settings, name) for name in PoolSettings.__dataclass_fields__}


def _reason(exc: DBAPIError, where: DatabaseTarget) -> str:
    """The driver's own words for a failed connection, on one line, never with the password."""
    words = " ".join(str(exc.orig or exc).split()) or type(exc).__name__
    password = where.url.password
    return words.replace(str(password), "***") if password else words
