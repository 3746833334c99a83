"""The one aiosqlite connection, its pragmas, and explicit transactions.

The connection runs in autocommit mode (``isolation_level=None``): Python's sqlite3 module then
never opens transactions behind our back, and every transaction is the explicit
``BEGIN IMMEDIATE`` of `Database.transaction`. IMMEDIATE takes the write lock up front, so a
second process fails fast on ``busy_timeout`` instead of deadlocking on a read-to-write upgrade.

One connection is shared by every task of the process. A transaction therefore belongs to the task
that opened it: other tasks calling `transaction()` wait their turn on a lock, while the owning task
may nest `transaction()` freely (inner levels are SAVEPOINTs). Statements that other tasks run on the
connection *outside* `transaction()` while one is open do run inside it (it is one SQLite
connection), which is why every write should go through `transaction()`.

`data_changes` counts the rows this connection changed, less those of transactions opened as
`transaction(bookkeeping=True)` — writes no cached answer is built from (the API's usage counters) — so
`services.freshness.DataVersion` moves with the data, not with the bookkeeping written every few seconds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import TracebackType

import aiosqlite

from engine.providers.files import ensure_private, tighten
from storage.migrations import apply_migrations

__all__ = ["DEFAULT_BUSY_TIMEOUT_MS", "Database"]

log = logging.getLogger(__name__)

#: How long a statement waits for another process's write lock before raising "database is locked".
DEFAULT_BUSY_TIMEOUT_MS = 5000

MEMORY = ":memory:"


def _prepare_file(path: Path) -> None:
    """The database's folder, and the file itself created (or tightened) 0600 with any -wal/-shm left."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ensure_private(path)
    for suffix in ("-wal", "-shm", "-journal"):
        tighten(f"{path}{suffix}")


class Database:
    """An open SQLite database with WAL, foreign keys and the schema migrated to the latest version."""

    def __init__(self, conn: aiosqlite.Connection, path: str) -> None:
        """Wrap an already-configured connection; use `Database.open` instead."""
        self._conn = conn
        self.path = path
        self._lock = asyncio.Lock()
        self._owner: asyncio.Task[object] | None = None
        self._depth = 0
        self._closed = False
        self._bookkeeping_changes = 0
        self._bookkeeping_from: int | None = None  # total_changes when the open bookkeeping transaction began

    @classmethod
    async def open(
        cls,
        path: str | Path,
        *,
        busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS,
        migrate: bool = True,
    ) -> Database:
        """Open (creating it if needed) the database at `path` and bring its schema up to date.

        ``":memory:"`` gives a private in-memory database (journal mode stays "memory" there).
        A file database is made mode 0600 before SQLite opens it (it holds webhook signing secrets, key
        hashes and Stripe links; see engine.providers.files), and SQLite gives its -wal and -shm that mode.
        `migrate=False` exists for tests of the migration runner itself.
        """
        location = str(path)
        if location != MEMORY and not location.startswith("file:"):
            await asyncio.to_thread(_prepare_file, Path(location))
        conn = await aiosqlite.connect(location, isolation_level=None)
        try:
            conn.row_factory = aiosqlite.Row
            # Pragmas take no bound parameters; the timeout is an int we control, not user text.
            await conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            async with conn.execute("PRAGMA journal_mode = WAL") as cur:
                row = await cur.fetchone()
            mode = str(row[0]).lower() if row else ""
            if mode != "wal" and location != MEMORY:
                log.warning("SQLite journal_mode is %r, not 'wal', for %s", mode, location)
            await conn.execute("PRAGMA synchronous = NORMAL")
            await conn.execute("PRAGMA foreign_keys = ON")
            db = cls(conn, location)
            if migrate:
                await apply_migrations(db)
        except BaseException:
            await conn.close()
            raise
        return db

    @property
    def conn(self) -> aiosqlite.Connection:
        """The aiosqlite connection, for repositories (rows come back as `aiosqlite.Row`)."""
        if self._closed:
            raise RuntimeError("database is closed")
        return self._conn

    @property
    def in_transaction(self) -> bool:
        """True while the current task is inside `transaction()`."""
        return self._depth > 0 and self._owner is asyncio.current_task()

    @property
    def data_changes(self) -> int:
        """Rows this connection has changed, bookkeeping transactions excepted (see the module docstring).
        While one is open it holds the write lock, so nothing but bookkeeping has changed since it began."""
        changes = self.conn.total_changes if self._bookkeeping_from is None else self._bookkeeping_from
        return changes - self._bookkeeping_changes

    @asynccontextmanager
    async def transaction(self, *, bookkeeping: bool = False) -> AsyncIterator[None]:
        """``BEGIN IMMEDIATE`` … ``COMMIT``; ``ROLLBACK`` if the block raises (cancellation included).

        Nested use by the same task opens a SAVEPOINT, so an inner block that raises undoes only its
        own work when the outer block catches the error; if the error propagates, the outer block
        rolls everything back.

        `bookkeeping=True` says the block writes only rows no cached answer is built from: its changes
        are left out of `data_changes`. It applies to a transaction it opens, not to a nested block (whose
        rows belong to the outer transaction).
        """
        task = asyncio.current_task()
        if self._depth > 0 and self._owner is task:
            async with self._savepoint():
                yield
            return
        async with self._lock:
            conn = self.conn
            before = conn.total_changes
            await conn.execute("BEGIN IMMEDIATE")
            self._owner, self._depth = task, 1
            if bookkeeping:
                self._bookkeeping_from = before
            try:
                try:
                    yield
                except BaseException:
                    await self._rollback()
                    raise
                try:
                    await conn.execute("COMMIT")
                except BaseException:
                    await self._rollback()
                    raise
            finally:
                self._owner, self._depth = None, 0
                if bookkeeping:  # still under the lock: every change since `before` was this block's
                    self._bookkeeping_changes += conn.total_changes - before
                    self._bookkeeping_from = None

    @asynccontextmanager
    async def _savepoint(self) -> AsyncIterator[None]:
        self._depth += 1
        # The name is built from our own counter, never from input.
        name = f"stratum_sp_{self._depth}"
        conn = self.conn
        await conn.execute(f"SAVEPOINT {name}")
        try:
            try:
                yield
            except BaseException:
                if conn.in_transaction:
                    await conn.execute(f"ROLLBACK TO SAVEPOINT {name}")
                    await conn.execute(f"RELEASE SAVEPOINT {name}")
                raise
            await conn.execute(f"RELEASE SAVEPOINT {name}")
        finally:
            self._depth -= 1

    async def _rollback(self) -> None:
        # Some errors (SQLITE_FULL, SQLITE_IOERR, ...) already rolled the transaction back;
        # a second ROLLBACK would raise and hide the original error.
        if self._conn.in_transaction:
            await self._conn.execute("ROLLBACK")

    async def close(self) -> None:
        """Close the connection (idempotent). WAL content is checkpointed by SQLite on last close."""
        if self._closed:
            return
        self._closed = True
        await self._conn.close()

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
