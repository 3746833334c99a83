"""The numbered SQL migrations of before Alembic: ``storage/migrations/NNNN_name.sql``, applied once each, in order.

Alembic (`storage.migrations`) owns the schema from revision ``0014`` on. This runner is kept for exactly
one job: a SQLite file written before then, at a version below 14, is brought up to 14 by the files it
already knew, and then adopted by Alembic. No file is ever added here; a schema change is an Alembic revision.

Each file runs in its own ``BEGIN IMMEDIATE`` transaction together with the row that records it in
``schema_migrations``, so a file that fails half-way leaves neither its changes nor its version behind
(SQLite DDL is transactional), and two processes opening the same file at once cannot both apply it:
the second waits for the write lock, then sees the version recorded and skips it.

Files are split into statements with `sqlite3.complete_statement` rather than run with
``executescript``, because ``executescript`` commits any open transaction first and would defeat the
all-or-nothing guarantee.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import TYPE_CHECKING

from storage.codec import to_db

if TYPE_CHECKING:
    from storage.db import Database

__all__ = ["LAST_VERSION", "Migration", "applied_versions", "apply_migrations", "load_migrations", "split_statements"]

#: The last numbered file: Alembic's baseline revision ``0014`` is the schema it leaves.
LAST_VERSION = 14

_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

_CREATE_VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at TEXT NOT NULL
)
"""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def load_migrations() -> list[Migration]:
    """The migrations shipped in the package, ordered by version.

    A ``.sql`` file whose name does not follow ``NNNN_name.sql``, or two files with one number, is an
    error: silently skipping or reordering a schema change is worse than refusing to start.
    """
    folder = resources.files("storage").joinpath("migrations")
    found: dict[int, Migration] = {}
    for entry in folder.iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _FILE_NAME.match(entry.name)
        if match is None:
            raise ValueError(f"migration file name must look like 0001_name.sql: {entry.name}")
        version = int(match.group(1))
        if version in found:
            raise ValueError(f"two migrations numbered {version}: {found[version].name}, {entry.name}")
        found[version] = Migration(version, match.group(2), entry.read_text(encoding="utf-8"))
    return [found[v] for v in sorted(found)]


def split_statements(sql: str) -> list[str]:
    """Split a script into complete statements (semicolons in strings, comments and triggers are kept)."""
    statements: list[str] = []
    buffer = ""
    for piece in sql.split(";"):
        buffer += piece + ";"
        if sqlite3.complete_statement(buffer):
            if _strip_comments(buffer).strip(" \t\r\n;"):
                statements.append(buffer.strip())
            buffer = ""
    # The split adds a ";" after the last piece; what remains may only be blanks and comments.
    if _strip_comments(buffer).strip(" \t\r\n;"):
        raise ValueError(f"incomplete SQL statement at the end of the migration: {buffer.strip()[:80]!r}")
    return statements


def _strip_comments(text: str) -> str:
    lines = (line for line in text.splitlines() if not line.lstrip().startswith("--"))
    return "\n".join(lines)


async def applied_versions(db: Database) -> set[int]:
    return {int(row[0]) for row in await db.fetch_all("SELECT version FROM schema_migrations")}


async def apply_migrations(db: Database, migrations: Iterable[Migration] | None = None) -> list[int]:
    """Apply every migration not yet recorded; return the versions applied now (oldest first)."""
    todo: Sequence[Migration] = sorted(load_migrations() if migrations is None else migrations, key=lambda m: m.version)
    async with db.transaction():
        await db.execute(_CREATE_VERSION_TABLE)
    applied: list[int] = []
    for migration in todo:
        async with db.transaction():
            # Checked inside the write transaction: another process may have just applied it.
            if migration.version in await applied_versions(db):
                continue
            for statement in split_statements(migration.sql):
                await db.execute(statement)
            await db.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (:version, :name, :at)",
                {"version": migration.version, "name": migration.name, "at": to_db(datetime.now(UTC))},
            )
        applied.append(migration.version)
    return applied
