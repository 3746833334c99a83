"""SQLAlchemy's aiosqlite driver with one trip to aiosqlite's thread per statement instead of three or four.

SQLAlchemy's adapter turns each statement into separate awaited calls on aiosqlite's worker thread — create a
cursor, execute, fetch the rows, close the cursor — and each is a hand-off between the event loop and that
thread (~50-100 µs here). The replay writes a few statements per snapshot, so those hand-offs were most of
storage's time (measured in bench/engine.py). This adapter keeps the same dialect (``sqlite+aiosqlite``),
the same aiosqlite connection and its one thread, and SQLAlchemy's own locking (`_execute_mutex`); it only
runs cursor, execute, fetch and close as one function on that thread and hands back the rows with the
cursor's description, rowcount and lastrowid. No library offers this: aiosqlite's public
``execute_fetchall`` returns the rows without the description SQLAlchemy needs.

It relies on ``aiosqlite.Connection._execute`` (queue a function on the connection's thread), the one hook
aiosqlite has for it; the version is pinned in the lock file and every database test runs through here.
"""

from __future__ import annotations

import collections
import sqlite3
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)

__all__ = ["one_trip_dbapi", "run_on_thread"]


class _Finished:
    """What SQLAlchemy reads from a cursor after the statement ran (it is already closed on the thread)."""

    __slots__ = ("arraysize", "description", "lastrowid", "rowcount")

    def __init__(self, description: Any = None, rowcount: int = -1, lastrowid: int | None = None) -> None:
        self.description = description
        self.rowcount = rowcount
        self.lastrowid = lastrowid
        self.arraysize = 1

    def close(self) -> None:
        """Nothing to close: the sqlite3 cursor was closed on the thread."""


def _run(conn: sqlite3.Connection, operation: str, parameters: Any, many: bool) -> tuple[_Finished, list[Any] | None]:
    """On aiosqlite's thread: the whole life of one cursor."""
    cursor = conn.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        rows = cursor.fetchall() if cursor.description else None
        return _Finished(cursor.description, cursor.rowcount, cursor.lastrowid), rows
    finally:
        cursor.close()


class _OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    __slots__ = ()
    _awaitable_cursor_close = False

    def _make_new_cursor(self, connection: Any) -> Any:
        return _Finished()

    def _aenter_cursor(self, cursor: Any) -> Any:
        return cursor

    async def _execute_async(self, operation: Any, parameters: Any) -> Any:
        await self._trip(operation, parameters, many=False)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> Any:
        await self._trip(operation, seq_of_parameters, many=True)

    async def _trip(self, operation: Any, parameters: Any, *, many: bool) -> None:
        connection: aiosqlite.Connection = self._connection  # type: ignore[assignment]
        async with self._adapt_connection._execute_mutex:
            finished, rows = await connection._execute(run_on_thread, connection, operation, parameters, many)
        self._cursor = finished  # type: ignore[assignment]
        if rows is not None:
            self._rows = collections.deque(rows)


def run_on_thread(connection: aiosqlite.Connection, operation: str, parameters: Any, many: bool) -> Any:
    """`_run` on the sqlite3 connection behind `connection`; call it on that connection's thread, through
    ``connection._execute`` (also `storage.db`'s fast path for writes)."""
    return _run(connection._conn, operation, parameters, many)


class _OneTripConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = _OneTripCursor


class _OneTripDbapi(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> AsyncAdapt_aiosqlite_connection:
        adapted = super().connect(*arg, **kw)
        return _OneTripConnection(self, adapted._connection)


def one_trip_dbapi() -> AsyncAdapt_aiosqlite_dbapi:
    """The DB-API module to hand `create_async_engine(..., module=...)` for a ``sqlite+aiosqlite`` URL."""
    return _OneTripDbapi(aiosqlite, sqlite3)
