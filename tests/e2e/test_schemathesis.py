"""schemathesis against the running API over every operation of its generated OpenAPI document.

The real server (the app's ASGI app with the API installed, served by uvicorn on 127.0.0.1:
`tests.api_rig.api_server`) runs in its own thread and event loop over the bundled tape replayed into a
database of each backend (SQLite, PostgreSQL); schemathesis reads the document FastAPI generates
(`/v1/openapi.json`) from it and sends generated requests — valid ones and deliberately invalid ones — with a
valid key. Bounded: a few dozen examples per operation and mode, no deadline per
example, well under a minute. It asserts no server error and that every answer conforms to the document:
status, content type, headers and body schema.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, given  # noqa: E402
from hypothesis import settings as hsettings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from services.keys import create_key  # noqa: E402
from storage import Repositories  # noqa: E402
from tests.api_rig import START, FakeWebhooks, api_server, replay_to_cut  # noqa: E402
from tests.backends import Backend  # noqa: E402
from tests.engine_builders import Clock, settings  # noqa: E402

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
EXAMPLES = 25


class ServerThread:
    """The API on its own loop in a thread, so schemathesis's blocking client can call it."""

    def __init__(self, db: str, *, raw_odds: bool) -> None:
        self.db, self.raw_odds = db, raw_odds
        self.ready = threading.Event()
        self.port = 0
        self.token = ""
        self.error: BaseException | None = None
        self.served: set[str] = set()  # "GET /v1/games", … : every operation the server has
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # surfaced to the test
            self.error = exc
            self.ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        await replay_to_cut(self.db)
        config = settings()
        config.api.redistribute_raw_odds = self.raw_odds
        repos = await Repositories.open(self.db)
        clock = Clock(START)
        _, self.token = await create_key(
            repos, config, owner="schemathesis", plan="pro_infra", now=clock(), rpm_override=10**6, monthly_override=0
        )
        server, _, api = await api_server(config, repos, clock, webhooks=FakeWebhooks(config.plans))
        self.port = server.port or 0
        self.served = {f"{m} {r.path_format}" for r in api.routes if r.include_in_schema for m in r.methods}
        self.ready.set()
        try:
            await self._stop.wait()
        finally:
            await server.stop()
            await repos.close()

    def __enter__(self) -> ServerThread:
        self._thread.start()
        assert self.ready.wait(120), "the API did not start"
        if self.error:
            raise self.error
        return self

    def __exit__(self, *_: object) -> None:
        assert self._loop is not None and self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)


@pytest.fixture(scope="module", params=[True, False], ids=["raw-odds-licensed", "raw-odds-not-licensed"])
def server(
    request: pytest.FixtureRequest, backend: Backend, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerThread]:
    db = backend.fresh(tmp_path_factory.mktemp("schemathesis"))
    with ServerThread(db, raw_odds=request.param) as running:
        yield running


def test_every_operation_conforms_to_the_document(server: ServerThread):
    base = f"http://127.0.0.1:{server.port}"
    schema = schemathesis.openapi.from_url(f"{base}/v1/openapi.json")
    headers = {"Authorization": f"Bearer {server.token}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    # Every operation the server has (schemathesis leaves out the document it reads itself).
    assert {op.label for op in operations} >= server.served - {"GET /v1/openapi.json"}
    failures: list[str] = []
    calls = 0

    def exercise(operation, mode) -> None:
        @hsettings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def run(case) -> None:
            nonlocal calls
            calls += 1
            case.call_and_validate(base_url=base, headers=headers, checks=CHECKS, timeout=10)

        try:
            run()
        except Exception as exc:  # keep going, to report every operation that fails
            failures.append(f"{operation.label} ({mode.value}): {type(exc).__name__}: {str(exc)[:1500]}")

    for operation in operations:
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            exercise(operation, mode)
    assert calls > len(operations)
    assert not failures, "\n\n".join(failures)
