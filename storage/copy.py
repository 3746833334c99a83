"""Moving an installation: every row of one database into an empty one, verified (``run_bot.py db copy``).

The usual move is a SQLite file to PostgreSQL; any direction works, since both sides go through the same
tables (`storage.schema`). The rules:

- **The source** must be at this code's head revision (``db upgrade`` it first), and is read in one
  `Database.snapshot`: a consistent view even if a Stratum still writes to it (stop it first all the same,
  or what it writes after the snapshot is not copied).
- **The target** must hold no row of any table and no table Stratum does not know; otherwise the copy is
  refused before anything is written. It is then migrated to the head revision, and every table is copied in
  foreign-key order, in chunks, in **one** transaction: a failure leaves it as it was after the migration.
- **Ids:** rows keep their ids; on PostgreSQL each id column's sequence is moved past the copied ids.
- **Verified** before that transaction commits: per table, the row count and a sha256 over a canonical form
  of each row (`canonical_row`), in primary-key order (text by code point on both backends), computed on the
  rows read from the source and again on the rows read back from the target. A difference rolls the copy
  back and raises `CopyMismatch`.

Not copied: the migration tools' own tables (``alembic_version`` is written by the target's migration; the
old ``schema_migrations`` of a SQLite file of before Alembic stays behind).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, insert, literal, select

from storage.codec import from_db, to_db
from storage.db import Database
from storage.dialect import advance_sequence, byte_order
from storage.migrations import read_state, upgrade
from storage.schema import metadata

__all__ = [
    "CHUNK_ROWS",
    "CopyMismatch",
    "CopyRefused",
    "CopyReport",
    "TableCopy",
    "canonical_row",
    "check_source",
    "check_target",
    "copy_database",
]

#: Rows read and written per round trip.
CHUNK_ROWS = 2000
#: Tables of the migration tools, never copied.
_TOOL_TABLES = frozenset({"alembic_version", "schema_migrations"})


class CopyRefused(Exception):
    """The copy cannot start (a target that is not empty, a source not at head): one line; nothing written."""


@dataclass(frozen=True, slots=True)
class TableCopy:
    """One table: rows and checksum read from the source, and read back from the target."""

    name: str
    source_rows: int
    source_sha256: str
    target_rows: int
    target_sha256: str

    @property
    def equal(self) -> bool:
        return (self.source_rows, self.source_sha256) == (self.target_rows, self.target_sha256)


@dataclass(frozen=True, slots=True)
class CopyReport:
    tables: tuple[TableCopy, ...]

    @property
    def equal(self) -> bool:
        return all(table.equal for table in self.tables)

    @property
    def rows(self) -> int:
        return sum(table.source_rows for table in self.tables)


class CopyMismatch(Exception):
    """The rows read back from the target differ from the source's; the copy was rolled back."""

    def __init__(self, report: CopyReport) -> None:
        self.report = report
        differing = ", ".join(t.name for t in report.tables if not t.equal)
        super().__init__(f"the copy differs from the source in {differing}: rolled back, nothing kept")


def canonical_row(table: Table, row: Sequence[Any]) -> str:
    """One row as the checksum reads it, the same whichever backend it came from: the values in column order,
    as JSON, with instants as the codec's fixed-width UTC text, booleans as booleans, floats by their repr
    (exact: every bit), NULL as null."""
    values: list[Any] = []
    for column, value in zip(table.columns, row, strict=True):
        if value is not None and column.info.get("utc"):
            values.append(to_db(from_db(value)))
        elif isinstance(value, float):
            values.append(repr(value))
        elif value is None or isinstance(value, bool | int | str):
            values.append(value)
        else:
            raise TypeError(f"{table.name}.{column.name}: no canonical form for {type(value).__name__}")
    return json.dumps(values, ensure_ascii=False, separators=(",", ":"))


def _ordered(db: Database, table: Table) -> Any:
    """Every row of `table` in primary-key order (text by code point on both backends)."""
    return select(table).order_by(*(byte_order(db.backend, column) for column in table.primary_key.columns))


def _for_insert(table: Table, row: Sequence[Any]) -> dict[str, Any]:
    """A row read from either backend as values to insert into either: instants as aware datetimes (the
    `Database` binds them as each backend stores them)."""
    values = {}
    for column, value in zip(table.columns, row, strict=True):
        if value is not None and column.info.get("utc") and not isinstance(value, datetime):
            value = from_db(value)
        values[column.name] = value
    return values


async def check_target(target: Database) -> None:
    """`CopyRefused` unless `target` is empty: no row in any table of ours, no table of anyone else's, and no
    schema newer than this code."""
    state = await read_state(target)
    reason = state.refusal(target.target.shown) or await _occupied(target, state.tables)
    if reason is not None:
        raise CopyRefused(reason)


async def _occupied(target: Database, tables: frozenset[str]) -> str | None:
    """Why `target`, holding `tables`, is not empty (None: it is)."""
    foreign = sorted(tables - set(metadata.tables) - _TOOL_TABLES)
    if foreign:
        unknown = ", ".join(foreign)
        return f"the target {target.target.shown} is not empty: it holds tables Stratum does not know ({unknown})"
    for name in sorted(tables & set(metadata.tables)):
        if await target.scalar(select(literal(1)).select_from(metadata.tables[name]).limit(1)) is not None:
            return (
                f"the target {target.target.shown} is not empty (table {name} holds rows): copy into an empty database"
            )
    return None


async def _digest(db: Database, table: Table, chunk: int) -> tuple[int, str]:
    rows = 0
    digest = hashlib.sha256()
    async for batch in db.stream(_ordered(db, table), chunk=chunk):
        for row in batch:
            digest.update(canonical_row(table, row).encode() + b"\n")
        rows += len(batch)
    return rows, digest.hexdigest()


async def check_source(source: Database) -> None:
    """`CopyRefused` unless `source` is at this code's head revision (checked before the target is opened)."""
    state = await read_state(source)
    if state.standing != "head":
        raise CopyRefused(
            f"the source {source.target.shown} has {state.describe()}; only a database at this Stratum's head "
            "revision is copied: run_bot.py db upgrade --db SOURCE first"
        )


async def copy_database(source: Database, target: Database, *, chunk: int = CHUNK_ROWS) -> CopyReport:
    """Copy every row of `source` into the empty `target` (see the module docstring); the verified report.

    Raises `CopyRefused` (nothing written) or `CopyMismatch` (rolled back); `SchemaError` from a migration."""
    if source.target.url == target.target.url:
        raise CopyRefused(f"the source and the target are the same database ({source.target.shown})")
    await check_source(source)
    await check_target(target)
    await upgrade(target)
    tables: list[TableCopy] = []
    async with source.snapshot(), target.transaction():
        for table in metadata.sorted_tables:
            source_rows = 0
            digest = hashlib.sha256()
            async for batch in source.stream(_ordered(source, table), chunk=chunk):
                for row in batch:
                    digest.update(canonical_row(table, row).encode() + b"\n")
                await target.execute_many(insert(table), [_for_insert(table, row) for row in batch])
                source_rows += len(batch)
            key = table.autoincrement_column
            if key is not None and source_rows:
                statement = advance_sequence(target.backend, table.name, key.name)
                if statement is not None:
                    await target.execute(statement)
            target_rows, target_sha = await _digest(target, table, chunk)
            tables.append(TableCopy(table.name, source_rows, digest.hexdigest(), target_rows, target_sha))
        report = CopyReport(tuple(tables))
        if not report.equal:
            raise CopyMismatch(report)
    return report
