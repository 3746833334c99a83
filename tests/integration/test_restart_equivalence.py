"""A restart loses nothing: the bundled tape replayed with a clean restart before many snapshots makes
exactly the signals, closes and grades of an uninterrupted replay, and at each restart the engine
rebuilt from the database remembers what the running one did (everything that can decide a later tick).

The restart is a real one: the service and its repositories are closed and a fresh service is built
on the same database (a SQLite file, or a PostgreSQL database), resuming from the stored cursor.
Snapshot 130 is where a KEY_CROSS used to be lost: the spread consensus sat exactly on the key -8 at
the restart, and the rebuilt detector no longer knew which side of -8 the line had come from.
"""

from __future__ import annotations

from datetime import datetime

from app.bootstrap import BUNDLED_TAPE
from config.settings import Settings
from engine.events import EventBus
from engine.providers.tape import read_tape
from engine.service import EngineService
from storage import Repositories
from tests.engine_builders import settings
from tests.restarts import side_by_side

SNAPSHOTS = list(read_tape(BUNDLED_TAPE))
#: Restart before every STRIDE-th snapshot (each restart costs a full parse and a rebuild, ~20 ms), and
#: before the ones where a full sweep (a restart before every snapshot, ~35 s) lost or changed a
#: signal before the fix: KEY_CROSS on a key the line sat on, STEAM whose "consensus before" or moves
#: were not rebuilt.
STRIDE = 4
KNOWN = {123, 130, 252, 485, 486, 495, 576, 624, 652, 673, 703, 705, 715, 722, 731, 738, 745, 835}
RESTARTS = {index for index in range(1, len(SNAPSHOTS)) if index % STRIDE == 2} | KNOWN


async def _outcome(repos: Repositories) -> dict[str, object]:
    """What the database holds that the product promises: signals, closes, grades, the classes' alert states
    (each change with the sample it rested on) and the cursor."""
    signals = await repos.signals.since(datetime.min.replace(tzinfo=SNAPSHOTS[0].fetched_at.tzinfo))
    grades = [tuple(row) for row in await repos.db.fetch_all("SELECT * FROM grades ORDER BY signal_id")]
    return {
        "signals": [(s.id, s.type, s.market, s.side, s.created_at, s.score, s.details, s.books) for s in signals],
        "closes": await repos.closes.all(),
        "grades": grades,
        "alert_states": await repos.class_states.history(),
        "quotes": await repos.quotes.count(),
        "cursor": (await repos.feed_state.get("test")).cursor,
    }


async def _replay(path, config: Settings, restarts: set[int]) -> list[tuple[int, str, object, datetime, dict]]:
    """The whole tape into the database at `path`, restarting before each index in `restarts`."""
    repos = await Repositories.open(path)
    try:
        service = await EngineService.restore(config, repos, EventBus(), source="test")
        made = []
        for index, raw in enumerate(SNAPSHOTS):
            if index in restarts:
                await repos.close()
                repos = await Repositories.open(path)
                service = await EngineService.restore(config, repos, EventBus(), source="test")
            tick = await service.process(raw)
            made.extend((index, s.id, s.type, s.created_at, s.details) for s in tick.signals)
        return made
    finally:
        await repos.close()


async def test_a_restart_before_snapshot_130_keeps_its_key_cross(backend, tmp_path) -> None:
    """The reported loss: the spread consensus stood on -8 at the restart and then crossed it."""
    config = settings()
    straight = await _replay(backend.fresh(tmp_path, "straight.db"), config, set())
    restarted = await _replay(backend.fresh(tmp_path, "restarted.db"), config, {130})
    assert [s for s in straight if s[0] == 130 and s[2].value == "KEY_CROSS"], "the tape's KEY_CROSS at 130"
    assert restarted == straight


async def test_restarts_anywhere_on_the_tape_lose_no_signal_and_no_memory(backend, tmp_path) -> None:
    straight, restarted = backend.fresh(tmp_path, "straight.db"), backend.fresh(tmp_path, "restarted.db")
    async with side_by_side(settings(), straight, restarted, SNAPSHOTS, RESTARTS) as run:
        assert await _outcome(run.restarted) == await _outcome(run.straight)
