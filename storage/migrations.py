"""Schema migrations: Alembic (``storage/alembic/``), driven from code on the `Database`'s own connection.

`upgrade` — run by `Database.open` at every start, and by ``run_bot.py db upgrade`` — brings a database this
code knows to the head revision:

- an empty database gets every revision, from the baseline ``0014`` on;
- a database of before Alembic (the numbered SQL files' ``schema_migrations``) is first brought to version 14
  by those files where it is behind (SQLite only: `storage.legacy_migrations`), then *adopted*: stamped
  ``0014``, whose DDL is exactly what those files built, touching no row and leaving ``schema_migrations``
  as it is;
- then ``upgrade head``.

What this code cannot know is refused with `SchemaError` — one line, printed by the command line without a
traceback (exit code 2) — before anything is written: a revision this code does not have (a newer Stratum
wrote it), ``schema_migrations`` past 14, Stratum's tables with no version of either kind.

Adoption and upgrade run in one `Database.transaction()` (DDL is transactional on both backends: a revision
that fails leaves nothing, not even the revisions before it in the same run). Two processes migrating at
once: on SQLite the transaction's ``BEGIN IMMEDIATE`` serialises them; on PostgreSQL it first takes
``pg_advisory_xact_lock``. The state is read again under that lock, so the second finds the work done.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util import CommandError

from storage.dialect import table_names
from storage.legacy_migrations import LAST_VERSION, apply_migrations, load_migrations
from storage.schema import metadata

if TYPE_CHECKING:
    from storage.db import Database

__all__ = [
    "BASELINE",
    "SCRIPT_LOCATION",
    "SchemaError",
    "SchemaState",
    "Upgrade",
    "alembic_config",
    "head_revision",
    "read_state",
    "upgrade",
]

#: Where the environment and the revisions are: inside the package, so no ``alembic.ini`` is needed.
SCRIPT_LOCATION = Path(__file__).resolve().parent / "alembic"
#: The baseline revision: the schema the last numbered SQL file (0014) left, which a database of before
#: Alembic is stamped with.
BASELINE = "0014"
#: ``pg_advisory_xact_lock``'s key for the migration transaction (any constant; "stratum" in ASCII).
MIGRATION_LOCK = 0x73747261_74756D
_VERSION_TABLE = "alembic_version"
_OURS = frozenset(metadata.tables)
_LEGACY_TABLE = "schema_migrations"


class SchemaError(Exception):
    """The database's schema is one this code will not touch; the message is one line that says what to do."""


def alembic_config(script_location: str | Path | None = None) -> Config:
    """Alembic's configuration, built in code (no ini file); `script_location` is for tests' own revisions."""
    config = Config()
    # The ini-style parser interpolates "%": a path that holds one must say it twice.
    config.set_main_option("script_location", str(script_location or SCRIPT_LOCATION).replace("%", "%%"))
    return config


@lru_cache(maxsize=8)
def _script(location: str) -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config(location))


def head_revision(script_location: str | Path | None = None) -> str:
    """The newest revision this code has."""
    head = _script(str(script_location or SCRIPT_LOCATION)).get_current_head()
    if head is None:
        raise RuntimeError(f"no revision in {script_location or SCRIPT_LOCATION}")
    return head


@dataclass(frozen=True, slots=True)
class SchemaState:
    """Where a database's schema stands against this code's revisions."""

    head: str
    #: The revision(s) in ``alembic_version`` (empty: none recorded).
    revisions: tuple[str, ...]
    #: Those of them this code does not have (a newer Stratum wrote them).
    unknown: tuple[str, ...]
    #: The versions in the old ``schema_migrations`` (None: no such table).
    legacy_versions: frozenset[int] | None
    tables: frozenset[str]

    @property
    def revision(self) -> str | None:
        return ",".join(self.revisions) or None

    @property
    def legacy_version(self) -> int | None:
        return max(self.legacy_versions) if self.legacy_versions else None

    @property
    def standing(self) -> str:
        """``head``, ``behind`` (upgrade brings it to head), ``newer`` (a newer Stratum's), or ``unknown``
        (Stratum's tables, or some of them, with no version of either kind: nothing says what they hold).
        Tables of no concern to Stratum are left alone, as the SQL runner of before Alembic left them."""
        if self.unknown or (self.legacy_version or 0) > LAST_VERSION:
            return "newer"
        if self.revisions:
            return "head" if self.revisions == (self.head,) else "behind"
        if self.legacy_versions is None and self.unversioned:
            return "unknown"
        return "behind"

    @property
    def unversioned(self) -> list[str]:
        """Stratum's tables found in a database that records no schema version."""
        return [] if self.revisions or self.legacy_versions is not None else sorted(self.tables & _OURS)

    @property
    def version_text(self) -> str:
        """The version alone: ``revision 0014``, ``schema_migrations version 9, from before Alembic``, …"""
        if self.revisions:
            return f"revision {self.revision}"
        if self.legacy_versions is not None:
            return f"schema_migrations version {self.legacy_version}, from before Alembic"
        if self.standing == "unknown":
            return f"Stratum's tables ({', '.join(self.unversioned[:3])}, …) but no schema version"
        return "no schema yet"

    def describe(self) -> str:
        """The version and where it stands, as ``db current`` prints it after the location."""
        standing = self.standing
        if standing == "head":
            return f"{self.version_text} (head)"
        if standing == "newer":
            return f"{self.version_text} (newer: this Stratum's head is {self.head})"
        if standing == "unknown":
            return f"{self.version_text} (unknown)"
        return f"{self.version_text} (behind: head is {self.head}; run_bot.py db upgrade or any start brings it there)"

    def refusal(self, shown: str) -> str | None:
        """The one line `upgrade` refuses this database with (None: it may go ahead)."""
        if self.unknown:
            return (
                f"database at {shown} is at schema revision {self.revision}, newer than this Stratum (head "
                f"{self.head}): run a newer Stratum, or point storage.url elsewhere"
            )
        if (self.legacy_version or 0) > LAST_VERSION:
            return (
                f"database at {shown} is at schema_migrations version {self.legacy_version}, newer than this "
                f"Stratum knows ({LAST_VERSION}): run a newer Stratum, or point storage.url elsewhere"
            )
        if self.standing == "unknown":
            return (
                f"database at {shown} holds Stratum's tables ({', '.join(self.unversioned[:3])}, …) but no schema "
                "version, so nothing says what they hold: point storage.url at an empty database or a versioned one"
            )
        return None


@dataclass(frozen=True, slots=True)
class Upgrade:
    """What `upgrade` found and left."""

    before: SchemaState
    after: SchemaState

    @property
    def adopted(self) -> bool:
        """A database of before Alembic was stamped with the baseline."""
        return not self.before.revisions and self.before.legacy_versions is not None

    @property
    def changed(self) -> bool:
        return self.before != self.after


async def read_state(db: Database, script_location: str | Path | None = None) -> SchemaState:
    """Read where the schema stands (on the current task's transaction, if one is open); writes nothing."""
    script = _script(str(script_location or SCRIPT_LOCATION))
    tables = frozenset(str(row[0]) for row in await db.fetch_all(table_names(db.backend)))
    revisions: tuple[str, ...] = ()
    if _VERSION_TABLE in tables:
        rows = await db.fetch_all(f"SELECT version_num FROM {_VERSION_TABLE} ORDER BY version_num")  # noqa: S608
        revisions = tuple(str(row[0]) for row in rows)
    legacy = None
    if _LEGACY_TABLE in tables:
        legacy = frozenset(int(row[0]) for row in await db.fetch_all(f"SELECT version FROM {_LEGACY_TABLE}"))  # noqa: S608
    return SchemaState(
        head=head_revision(script_location),
        revisions=revisions,
        unknown=tuple(r for r in revisions if not _known(script, r)),
        legacy_versions=legacy,
        tables=tables,
    )


def _known(script: ScriptDirectory, revision: str) -> bool:
    try:
        return script.get_revision(revision) is not None
    except CommandError:
        return False


async def upgrade(db: Database, *, script_location: str | Path | None = None) -> Upgrade:
    """Bring the schema to the head revision (see the module docstring); `SchemaError` if it cannot be."""
    before = await read_state(db, script_location)
    _refuse(db, before)
    if before.standing == "head":
        return Upgrade(before, before)
    if not before.revisions and before.legacy_versions is not None:
        await _legacy_to_baseline(db, before.legacy_versions)
    config = alembic_config(script_location)
    async with db.transaction():
        if db.backend == "postgresql":
            await db.execute("SELECT pg_advisory_xact_lock(:key)", {"key": MIGRATION_LOCK})
        state = await read_state(db, script_location)  # again, under the lock: another process may have run
        _refuse(db, state)
        adopt = not state.revisions and state.legacy_versions is not None

        def run(connection: Any) -> None:
            # Alembic must see the transaction as the caller's, or it would commit it itself. On SQLite the
            # BEGIN IMMEDIATE went to the driver, not through SQLAlchemy: tell SQLAlchemy (it sends nothing).
            if not connection.in_transaction():
                connection.begin()
            config.attributes["connection"] = connection
            if adopt:
                command.stamp(config, BASELINE)
            command.upgrade(config, "head")

        await db.run_sync(run)
        after = await read_state(db, script_location)
    return Upgrade(before, after)


async def _legacy_to_baseline(db: Database, applied: frozenset[int]) -> None:
    """The numbered SQL files a database of before Alembic lacks, up to 14 (SQLite only; none exist on
    PostgreSQL, where that runner never ran)."""
    missing: Sequence = [m for m in load_migrations() if m.version <= LAST_VERSION and m.version not in applied]
    if not missing:
        return
    if not db.is_sqlite:
        versions = ", ".join(str(m.version) for m in missing)
        raise SchemaError(
            f"database at {db.target.shown} lacks the SQL migrations {versions} of before Alembic, which run on "
            "SQLite only: copy it from a SQLite file with run_bot.py db copy instead"
        )
    await apply_migrations(db, missing)


def _refuse(db: Database, state: SchemaState) -> None:
    reason = state.refusal(db.target.shown)
    if reason is not None:
        raise SchemaError(reason)
