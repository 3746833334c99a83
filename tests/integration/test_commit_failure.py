"""A snapshot whose commit fails (here: a price too large for SQLite's INTEGER, found by `bench/soak.py`)
rolls back; the engine's memory must roll back with it, or the next snapshot's quotes equal to the lost
ones count as unchanged and are never stored."""

from __future__ import annotations

import pytest

from app.bootstrap import BUNDLED_TAPE, build_app
from engine.providers.tape import read_tape
from tests.engine_builders import settings


async def test_a_failed_commit_leaves_the_engine_as_the_database_is(db_url, monkeypatch):
    app = await build_app(settings(), db_path=db_url, source="test")
    first, second = list(read_tape(BUNDLED_TAPE))[:2]
    insert = app.repos.quotes.insert_many

    async def overflow(*args, **kw):
        raise OverflowError("Python int too large to convert to SQLite INTEGER")

    try:
        monkeypatch.setattr(app.repos.quotes, "insert_many", overflow)
        with pytest.raises(OverflowError):
            await app.service.process(first)
        monkeypatch.setattr(app.repos.quotes, "insert_many", insert)
        assert app.service.cursor is None  # as stored: nothing
        tick = await app.service.process(second)
        rows = await app.repos.db.fetch_all("SELECT game_id, book, market, point, price_a, price_b FROM quotes")
    finally:
        await app.close()
    stored = {tuple(row) for row in rows}
    expected = {(q.game_id, q.book, q.market.value, q.point, q.price_a, q.price_b) for q in tick.lines}
    assert stored == expected
    assert len(tick.lines) == sum(
        len(m["outcomes"]) > 0 for e in second.data for b in e["bookmakers"] for m in b["markets"]
    )
