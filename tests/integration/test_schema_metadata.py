"""`storage.schema.metadata` states exactly the schema that migrations 0001-0014 build (issue #18, step one).

Four schemas are compared through SQLite's own catalogue (``PRAGMA table_info / index_list / index_info /
foreign_key_list`` and ``sqlite_master.sql`` for CHECKs and a partial index's WHERE): a file migrated by the
numbered SQL files of before Alembic (`storage.legacy_migrations`), a file built by Alembic's baseline revision
0014 (what adopting such a file by stamping it relies on), a file built by ``metadata.create_all``, and the
``MetaData`` objects themselves. Every table must compile to PostgreSQL DDL as well (no server needed), since
the metadata is meant for both engines.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import CheckConstraint, MetaData, Table, UniqueConstraint, create_engine
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateIndex, CreateTable

import storage.schema
from storage import Database
from storage.legacy_migrations import apply_migrations
from storage.schema import UTC_COLUMNS, metadata

#: The migration runners' bookkeeping (the old SQL runner's and Alembic's), which the metadata leaves out.
RUNNER_TABLES = {"schema_migrations", "alembic_version"}


def _where(sql: str | None) -> str | None:
    """A partial index's WHERE clause, normalised: lower case, single spaces, no outer parentheses."""
    if sql is None:
        return None
    match = re.search(r"\bWHERE\b(.*)$", sql, flags=re.IGNORECASE | re.DOTALL)
    if match is None:
        return None
    clause = " ".join(match.group(1).split()).strip().rstrip(";").strip().lower()
    while clause.startswith("(") and clause.endswith(")"):
        clause = clause[1:-1].strip()
    return clause


def _checks(create_sql: str) -> set[str]:
    """Every CHECK expression in a CREATE TABLE statement, lower case with no whitespace."""
    found = set()
    for match in re.finditer(r"\bCHECK\s*\(", create_sql, flags=re.IGNORECASE):
        depth, start = 1, match.end()
        end = start
        while depth:
            depth += {"(": 1, ")": -1}.get(create_sql[end], 0)
            end += 1
        found.add(_squash(create_sql[start : end - 1]))
    return found


def _squash(expression: str) -> str:
    return "".join(expression.split()).lower()


def catalogue(path: Path) -> dict[str, dict[str, object]]:
    """Per table, what SQLite itself reports: CHECKs, columns, primary key, uniques, foreign keys, indexes."""
    conn = sqlite3.connect(path)
    try:
        tables = [
            row[0]
            for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        ]
        facts: dict[str, dict[str, object]] = {}
        for table in sorted(set(tables) - RUNNER_TABLES):
            info = conn.execute(f'PRAGMA table_info("{table}")').fetchall()  # cid, name, type, notnull, dflt, pk
            # SQLite lets a non-INTEGER primary key column hold NULL unless it says NOT NULL; the metadata
            # declares every key column NOT NULL, so nullability is compared for the other columns only.
            columns = [(name, None if pk else bool(notnull), dflt) for _, name, _, notnull, dflt, pk in info]
            primary_key = [row[1] for row in sorted(info, key=lambda r: r[5]) if row[5]]
            uniques: set[tuple[str, ...]] = set()
            indexes: set[tuple[str, tuple[str, ...], bool, str | None]] = set()
            for _, name, unique, origin, _partial in conn.execute(f'PRAGMA index_list("{table}")').fetchall():
                cols = tuple(r[2] for r in conn.execute(f'PRAGMA index_info("{name}")').fetchall())
                if origin == "u":
                    uniques.add(cols)
                elif origin == "c":
                    (sql,) = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (name,)).fetchone()
                    indexes.add((name, cols, bool(unique), _where(sql)))
            fks: dict[int, tuple[str, list[str], list[str]]] = {}
            for fk_id, _seq, ref_table, src, dst, *_ in conn.execute(f'PRAGMA foreign_key_list("{table}")'):
                entry = fks.setdefault(fk_id, (ref_table, [], []))
                entry[1].append(src)
                entry[2].append(dst)
            (create_sql,) = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (table,)).fetchone()
            facts[table] = {
                "checks": _checks(create_sql),
                "columns": columns,
                "primary_key": primary_key,
                "uniques": uniques,
                "foreign_keys": {(t, tuple(s), tuple(d)) for t, s, d in fks.values()},
                "indexes": indexes,
            }
        return facts
    finally:
        conn.close()


#: How a CHECK's expression is spelled inside CREATE TABLE: literal values, bare column names.
_AS_DDL = {"literal_binds": True, "include_table": False}


def declared(meta: MetaData) -> dict[str, dict[str, object]]:
    """The same facts read from the `MetaData` objects (defaults as SQLite's DDL spells them)."""
    dialect = create_engine("sqlite://").dialect
    facts: dict[str, dict[str, object]] = {}
    for table in meta.sorted_tables:
        pk_names = [c.name for c in table.primary_key.columns]
        columns = []
        for column in table.columns:
            default = None
            if column.server_default is not None:
                default = str(column.server_default.arg.compile(dialect=dialect))
            columns.append((column.name, None if column.name in pk_names else not column.nullable, default))
        uniques = {
            tuple(c.name for c in constraint.columns)
            for constraint in table.constraints
            if isinstance(constraint, UniqueConstraint)
        }
        indexes = set()
        for index in table.indexes:
            where = index.dialect_options["sqlite"]["where"]
            indexes.add(
                (
                    index.name,
                    tuple(c.name for c in index.columns),
                    bool(index.unique),
                    None if where is None else _where(f"WHERE {where}"),
                )
            )
        foreign_keys = {
            (
                fk.referred_table.name,
                tuple(c.name for c in fk.columns),
                tuple(e.column.name for e in fk.elements),
            )
            for fk in table.foreign_key_constraints
        }
        checks = {
            _squash(str(constraint.sqltext.compile(dialect=dialect, compile_kwargs=_AS_DDL)))
            for constraint in table.constraints
            if isinstance(constraint, CheckConstraint)
        }
        facts[table.name] = {
            "checks": checks,
            "columns": columns,
            "primary_key": pk_names,
            "uniques": uniques,
            "foreign_keys": foreign_keys,
            "indexes": indexes,
        }
    return facts


@pytest.fixture
async def migrated(tmp_path: Path) -> Path:
    """A fresh SQLite file migrated by the numbered SQL files 0001-0014 (the runner of before Alembic)."""
    path = tmp_path / "migrated.sqlite3"
    db = await Database.open(path, migrate=False)
    try:
        await apply_migrations(db)
    finally:
        await db.close()
    return path


@pytest.fixture
async def upgraded(tmp_path: Path) -> Path:
    """A fresh SQLite file brought to the head revision by Alembic, as `Database.open` does."""
    path = tmp_path / "upgraded.sqlite3"
    db = await Database.open(path)
    await db.close()
    return path


@pytest.fixture
def created(tmp_path: Path) -> Path:
    """A fresh SQLite file built by `metadata.create_all`."""
    path = tmp_path / "created.sqlite3"
    engine = create_engine(f"sqlite:///{path}")
    try:
        metadata.create_all(engine)
    finally:
        engine.dispose()
    return path


def assert_same(actual: dict[str, dict[str, object]], expected: dict[str, dict[str, object]]) -> None:
    assert sorted(actual) == sorted(expected), "the set of tables differs"
    for table in expected:
        for fact in ("checks", "columns", "primary_key", "uniques", "foreign_keys", "indexes"):
            assert actual[table][fact] == expected[table][fact], f"{table}.{fact} differs"


def test_the_metadata_declares_what_the_migrations_build(migrated: Path) -> None:
    assert_same(declared(metadata), catalogue(migrated))


def test_the_alembic_baseline_builds_what_the_sql_files_built(migrated: Path, upgraded: Path) -> None:
    """A file of before Alembic is adopted by stamping 0014 without a change: so 0014 must build the same."""
    assert_same(catalogue(upgraded), catalogue(migrated))


def test_create_all_builds_what_the_migrations_build(migrated: Path, created: Path) -> None:
    assert_same(catalogue(created), catalogue(migrated))
    assert_same(catalogue(created), declared(metadata))


def test_a_missing_column_is_caught(migrated: Path) -> None:
    """The comparison is not vacuous: the metadata less one column no longer matches the migrated file."""
    trimmed = MetaData()
    for table in metadata.sorted_tables:
        table.to_metadata(trimmed)
    games: Table = trimmed.tables["games"]
    games._columns.remove(games.c.last_seen)  # a Table has no public way to drop a column
    with pytest.raises(AssertionError, match=r"games\.columns differs"):
        assert_same(declared(trimmed), catalogue(migrated))


def test_every_table_compiles_to_postgresql_ddl() -> None:
    dialect = postgresql.dialect()
    for table in metadata.sorted_tables:
        ddl = str(CreateTable(table).compile(dialect=dialect))
        assert ddl.startswith(f"\nCREATE TABLE {table.name} (")
        assert "DOUBLE PRECISION" in ddl or all(c.type.__class__.__name__ != "Double" for c in table.columns)
        for index in table.indexes:
            str(CreateIndex(index).compile(dialect=dialect))
    pending = next(i for i in metadata.tables["outbox"].indexes if i.name == "outbox_pending")
    assert str(CreateIndex(pending).compile(dialect=dialect)).endswith("WHERE sent_at IS NULL AND failed_at IS NULL")
    # 0/1 flags are native booleans there (SQLite keeps its 0/1 and the migrations' CHECK).
    grades_ddl = str(CreateTable(metadata.tables["grades"]).compile(dialect=dialect))
    assert "beat BOOLEAN NOT NULL" in grades_ddl
    assert "IN (0, 1)" not in grades_ddl


def test_the_docstring_lists_the_utc_text_columns() -> None:
    """The module docstring's list of future `timestamptz` columns is the list the code marks."""
    listed = set()
    for line in (storage.schema.__doc__ or "").splitlines():
        match = re.match(r"^- (\w+): (.+)$", line)
        if match and match.group(2) != "(none)":
            listed |= {(match.group(1), name.strip()) for name in match.group(2).split(",")}
    assert listed == set(UTC_COLUMNS)
