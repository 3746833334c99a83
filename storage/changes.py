"""Other processes' commits on PostgreSQL, heard through ``LISTEN``/``NOTIFY`` (the SQLite side needs none of
this: ``PRAGMA data_version`` on the writer connection already says it).

Every `Database` on PostgreSQL sends ``pg_notify('stratum_data', <its token>)`` inside each transaction that
wrote rows and is not bookkeeping (`storage.db.Database.transaction`); PostgreSQL delivers it at commit, never
for a rollback. `ChangeFeed` keeps one extra connection per process listening on that channel and counts the
notifications that carry another process's token: that count is `Database.external_version`, which the API's
response and key caches are keyed on (services/freshness.py), so a key revoked by ``run_bot.py apikey revoke``
stops working in a running API within its poll, while this process's own usage bookkeeping leaves the caches
alone. Payloads are only tokens; the tables stay the source of truth.

While the listening connection is not up (at start, after the server restarted) nothing can be heard, so the
count moves each time it (re)connects: a cache built before is never trusted across a gap. A change made
outside Stratum (psql by hand) is not announced; restart the processes after one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets

import psycopg
from sqlalchemy.engine import URL

__all__ = ["CHANNEL", "ChangeFeed"]

log = logging.getLogger(__name__)

CHANNEL = "stratum_data"


class ChangeFeed:
    """The count of other processes' data commits, heard on one listening connection (started on first use)."""

    def __init__(self, url: URL, connect_timeout: float) -> None:
        self.token = secrets.token_hex(8)
        self._conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._timeout = max(1, round(connect_timeout))
        self._count = 0
        self._task: asyncio.Task[None] | None = None
        self._ready: asyncio.Event | None = None

    async def version(self) -> int:
        """The count now; (re)starts the listener if it is not running, and waits for it briefly."""
        if self._task is None or self._task.done():
            self._count += 1  # whatever was said while nobody listened is unknown
            self._ready = asyncio.Event()
            self._task = asyncio.create_task(self._listen(self._ready), name="stratum-change-feed")
        if self._ready is not None and not self._ready.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ready.wait(), timeout=self._timeout)
        return self._count

    async def _listen(self, ready: asyncio.Event) -> None:
        try:
            async with await psycopg.AsyncConnection.connect(
                self._conninfo, autocommit=True, connect_timeout=self._timeout
            ) as conn:
                await conn.execute(f"LISTEN {CHANNEL}")
                self._count += 1  # anything committed between the last count and LISTEN
                ready.set()
                async for note in conn.notifies():
                    if note.payload != self.token:
                        self._count += 1
        except (psycopg.Error, OSError) as error:
            log.warning("listening for other processes' changes stopped (%s); retrying on the next check", error)
        finally:
            ready.set()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
