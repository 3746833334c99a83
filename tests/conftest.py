"""The tier markers, put on each test from its folder (tests/tiers.py), and fixtures shared by the bot's
test modules."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.bootstrap import BUNDLED_TAPE, build_app
from engine.providers.tape import read_tape
from tests.engine_builders import settings
from tests.tiers import mark_by_folder

#: The bot tests' moment: the morning of 2026-08-05, two games of the bundled tape still to tip that evening.
CUT = datetime(2026, 8, 5, 12, 0, tzinfo=UTC)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """`unit`, `integration` or `e2e` from the folder; a test module outside them fails the collection."""
    mark_by_folder(items, Path(__file__).parent)


@pytest.fixture(scope="session")
def template_db(tmp_path_factory) -> tuple[Path, datetime]:
    """The bundled tape replayed once to CUT; each test copies the file and gets its own database."""
    path = tmp_path_factory.mktemp("template") / "stratum.db"
    snapshots = [raw for raw in read_tape(BUNDLED_TAPE) if raw.fetched_at <= CUT]

    async def build() -> None:
        app = await build_app(settings(), db_path=path, source="test")
        for raw in snapshots:
            await app.service.process(raw)
        await app.close()

    asyncio.run(build())
    return path, snapshots[-1].fetched_at
