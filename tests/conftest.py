"""The tier markers, put on each test from its folder (tests/tiers.py), and fixtures shared by the bot's
test modules."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from app.bootstrap import BUNDLED_TAPE, build_app
from engine.providers.tape import read_tape
from storage import Repositories
from tests.backends import BACKENDS, MISSING, Backend, PostgresServer, use_server
from tests.engine_builders import settings
from tests.tiers import mark_by_folder

# The shared restart replay checks with plain asserts: rewritten like a test module's, a rebuilt memory that
# differs from the running one's is shown as a diff.
pytest.register_assert_rewrite("tests.restarts")

#: The bot tests' moment: the morning of 2026-08-05, two games of the bundled tape still to tip that evening.
CUT = datetime(2026, 8, 5, 12, 0, tzinfo=UTC)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """`unit`, `integration` or `e2e` from the folder; a test module outside them fails the collection."""
    mark_by_folder(items, Path(__file__).parent)


@pytest.fixture(scope="session")
def template_db(backend: Backend, tmp_path_factory) -> tuple[str, datetime]:
    """The bundled tape replayed once to CUT per backend; each test copies it (tests.backends.copy_database)
    and gets its own database."""
    path = backend.fresh(tmp_path_factory.mktemp("template"))
    snapshots = [raw for raw in read_tape(BUNDLED_TAPE) if raw.fetched_at <= CUT]

    async def build() -> None:
        app = await build_app(settings(), db_path=path, source="test")
        for raw in snapshots:
            await app.service.process(raw)
        await app.close()

    asyncio.run(build())
    return path, snapshots[-1].fetched_at


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer | None]:
    """This session's PostgreSQL (None without STRATUM_TEST_POSTGRES_URL); its databases dropped at the end."""
    server = PostgresServer.from_env()
    if server is None:
        yield None
        return
    use_server(server)
    try:
        yield server
    finally:
        server.drop_all()


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request, postgres_server) -> Backend:
    """Each database test runs once per backend (`[sqlite]`, `[postgresql]` in its id)."""
    if request.param == "sqlite":
        return Backend("sqlite")
    if postgres_server is None:
        pytest.skip(MISSING)
    postgres_server.prepare()
    return Backend("postgresql", postgres_server)


@pytest.fixture
def db_url(backend: Backend, tmp_path: Path) -> str:
    """A new, empty database for this test on the backend of this run."""
    return backend.fresh(tmp_path)


@pytest.fixture
async def repos(db_url: str) -> AsyncIterator[Repositories]:
    """The repositories over this test's new database (`db_url`), closed after the test."""
    opened = await Repositories.open(db_url)
    try:
        yield opened
    finally:
        await opened.close()


def pytest_report_header() -> str:
    """One line at the top of every run saying whether the PostgreSQL half runs."""
    server = PostgresServer.from_env()
    if server is None:
        return MISSING
    return f"PostgreSQL: every database test also runs on {make_url(server.admin_url).render_as_string()}"
