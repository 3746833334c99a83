"""A database written by the code of schema 0014 opens with today's code with nothing lost or changed.

The fixture (`tests/fixtures/upgrade/`, see its SOURCE.md) was built once by
`scripts/make_upgrade_fixture.py` with the code of its day and is never rebuilt: it stands for a member's
real `stratum.db`. The test opens a copy the way the app does (`Repositories.open`, which migrates: Alembic
adopts a file of before it by stamping the baseline revision, issue #18), then holds every table to the
manifest's row count and checksum, and reads rows back through the repositories to show the data is usable,
not only present. `table_digest` is the one rule both sides use (the script that built the manifest has the
same one). The committed file itself is never opened for writing.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from pathlib import Path

from engine.models import Market, Side
from services.keys import authenticate
from storage import Repositories
from storage.migrations import BASELINE, head_revision
from tests.paths import FIXTURES

UPGRADE = FIXTURES / "upgrade"
FIXTURE = UPGRADE / "stratum_schema_0014.db"
MANIFEST = UPGRADE / "stratum_schema_0014.json"
GAME = "51369aa71fcd604bdf38a760b6bcc223"
GUILD, MEMBER = 111_000_000_000_000_001, 222_000_000_000_000_002
KEY_PLAINTEXT = "strat_f1x7ure0_upgrade-fixture-not-a-secret"  # the fixture's own; it opens nothing real


def table_digest(conn: sqlite3.Connection, table: str) -> tuple[int, str]:
    """(row count, sha256 of the rows): each row's values in column order, JSON-encoded, the rows sorted."""
    rows = [json.dumps(list(row), ensure_ascii=False) for row in conn.execute(f'SELECT * FROM "{table}"')]  # noqa: S608
    rows.sort()
    return len(rows), hashlib.sha256("\n".join(rows).encode()).hexdigest()


def manifest() -> dict:
    return json.loads(MANIFEST.read_text(encoding="utf-8"))


async def opened_copy(tmp_path: Path) -> Path:
    """A copy of the fixture, opened and closed once by today's code (upgraded in place through Alembic)."""
    copy = tmp_path / "stratum.db"
    shutil.copyfile(FIXTURE, copy)
    repos = await Repositories.open(copy)
    await repos.close()
    return copy


def test_the_fixture_is_small_and_has_a_row_in_every_table() -> None:
    expected = manifest()
    assert FIXTURE.stat().st_size < 400_000
    with sqlite3.connect(f"file:{FIXTURE}?mode=ro", uri=True) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert tables == set(expected["tables"])
    assert all(entry["rows"] > 0 for entry in expected["tables"].values())


async def test_it_upgrades_in_place_through_alembic_and_loses_nothing(tmp_path: Path) -> None:
    expected = manifest()
    fixture_bytes = FIXTURE.read_bytes()
    copy = await opened_copy(tmp_path)
    with sqlite3.connect(copy) as conn:
        assert conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()[0] == expected["schema_version"]
        # Adopted at the baseline (the schema the SQL files left), then brought to this code's head.
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [(head_revision(),)]
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        found = {t: table_digest(conn, t) for t in tables if t != "alembic_version"}
    # schema_migrations is one of the tables: its unchanged checksum says no SQL migration ran again.
    assert found == {t: (e["rows"], e["sha256"]) for t, e in expected["tables"].items()}
    assert int(BASELINE) == expected["schema_version"]
    assert FIXTURE.read_bytes() == fixture_bytes  # the committed file was only copied


async def test_its_rows_read_back_through_the_repositories(tmp_path: Path) -> None:
    copy = await opened_copy(tmp_path)
    repos = await Repositories.open(copy)
    try:
        stored = await repos.games.get(GAME)
        assert stored is not None and stored.game.home_team == "New York Liberty"
        graded = await repos.grades.graded_signals()
        assert graded, "the fixture's graded signals"
        signal, grade = graded[0]
        assert await repos.signals.get(signal.id) == signal
        assert await repos.grades.get(signal.id) == grade
        assert grade.signal_id == signal.id
        assert [reason for _, reason in await repos.grades.ungraded()] == ["no close after the signal"]

        key = await authenticate(repos, KEY_PLAINTEXT)
        assert key is not None and key.plan == "pro_infra" and key.active
        (endpoint,) = await repos.api.endpoints(key.id)
        assert endpoint.url == "https://hooks.example.com/stratum"
        assert endpoint.events == ("signal.created",) and endpoint.secret.startswith("whsec_")

        ((listed, _),) = await repos.bets.for_member(GUILD, MEMBER)
        assert listed.id is not None
        loaded = await repos.bets.get(listed.id)
        assert loaded is not None
        bet, bet_grade = loaded
        assert (bet.game_id, bet.market, bet.side, bet.price) == (GAME, Market.H2H, Side.HOME, -150)
        assert bet_grade is not None and bet_grade.beat

        assert await repos.members.watchlist(GUILD, MEMBER) == [GAME]
        assert [route.min_state for route in await repos.members.routes(GUILD)] == ["unproven"]
        assert len(await repos.outbox.pending()) == manifest()["tables"]["outbox"]["rows"]
    finally:
        await repos.close()
