"""What a commit tells others: the outbox's in-process wake-up comes only after the enqueuing transaction
commits (a worker woken earlier reads before the row is visible), and another process's data commits move
`Database.external_version` on both backends while bookkeeping and rolled-back transactions do not."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from storage import Repositories

T0 = datetime(2026, 8, 5, 12, 0, tzinfo=UTC)


async def test_the_outbox_wakes_its_worker_only_once_the_row_is_committed(repos: Repositories) -> None:
    woken: list[tuple[str, int]] = []

    def wake(queue: str) -> None:
        # What the worker would do on waking: the row must already be there for it.
        woken.append((queue, len(seen)))

    seen: list[object] = []
    repos.outbox.listen(wake)
    async with repos.db.transaction():
        assert await repos.outbox.enqueue("k1", "dm", "user:1", {"text": "hi"}, T0)
        await asyncio.sleep(0)
        assert woken == [], "woken before the commit"
    assert len(woken) == 1
    seen.extend(await repos.outbox.due("discord", T0, 10))
    assert [item.key for item in seen] == ["k1"]

    with pytest.raises(RuntimeError):
        async with repos.db.transaction():
            await repos.outbox.enqueue("k2", "dm", "user:1", {"text": "lost"}, T0)
            raise RuntimeError("rolled back")
    assert len(woken) == 1, "a rolled-back row woke the worker"


async def test_another_processes_data_commits_move_the_external_version_and_bookkeeping_does_not(
    db_url: str, backend
) -> None:
    here = await Repositories.open(db_url)
    other = await Repositories.open(db_url)  # another process's Database: its own connections (and token)
    try:
        before = await here.db.external_version()
        async with here.db.transaction():  # our own commit: not another process's
            await here.cursors.set("digest", T0, T0)
        assert await _settled(here) == before

        async with other.db.transaction(bookkeeping=True):
            await other.cursors.set("usage-flush", T0, T0)
        bookkeeping = await _settled(here)
        if backend.name == "postgresql":  # SQLite's data_version moves with any commit of another connection
            assert bookkeeping == before, "bookkeeping announced itself"

        async with other.db.transaction():
            await other.cursors.set("engine", T0, T0)
        assert await _settled(here) != bookkeeping
    finally:
        await other.close()
        await here.close()


async def _settled(repos: Repositories) -> int | None:
    """The external version once a notification sent by a commit has had time to arrive."""
    for _ in range(20):
        await asyncio.sleep(0.05)
    return await repos.db.external_version()
