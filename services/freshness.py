"""How new the data is: a version that changes whenever the database does, read without a query.

`version()` is (this process's data changes, the other processes' commits): the first moves
with every row this process writes (the engine's snapshots, grades, keys, webhooks) except bookkeeping
that no answer is built from — the API's usage counters, flushed every ~2 s, are written in
`transaction(bookkeeping=True)` and leave it alone (`storage.db.Database.data_changes`) — counted in
memory; the second (`Database.external_version`) moves when another process commits to the same database
(an engine or a command line running separately; LISTEN/NOTIFY on PostgreSQL, see storage.changes) and is polled
at most every `poll_seconds`. Responses cached under one version are therefore never served after this
process writes data, and at most `poll_seconds` after another process commits.
"""

from __future__ import annotations

import asyncio
import time

from storage import Repositories


class DataVersion:
    def __init__(self, repos: Repositories, poll_seconds: float = 1.0) -> None:
        self._repos = repos
        self._poll = poll_seconds
        self._external: int | None = None
        self._checked = float("-inf")
        self._lock = asyncio.Lock()

    @property
    def external(self) -> int | None:
        return self._external

    async def version(self) -> tuple[int, int | None]:
        if time.monotonic() - self._checked >= self._poll and not self._lock.locked():
            async with self._lock:
                self._external = await self._repos.db.external_version()
                self._checked = time.monotonic()
        return self._repos.db.data_changes, self._external

    def refresh(self) -> None:
        """Check the other processes' commits on the next call (after an event says data moved)."""
        self._checked = float("-inf")
