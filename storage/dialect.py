"""The few SQL spellings that differ between SQLite and PostgreSQL, chosen per backend in one place.

Almost all of the project's SQL is written once and runs on both (``ON CONFLICT … DO UPDATE/NOTHING``,
``RETURNING``, row values, ``COALESCE``, ``TRUE``/``FALSE``): repositories call these only for what is
not. Each returns a fixed SQL fragment built from a column name the repository wrote, never from input.
"""

from __future__ import annotations

import re

from sqlalchemy import String
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql.elements import ColumnElement

__all__ = ["advance_sequence", "byte_order", "json_flag", "json_text", "table_names"]

_NAME = re.compile(r"^[a-z_][a-z0-9_.]*$")
_KEY = re.compile(r"^[a-z_][a-z0-9_]*$")
_POSTGRESQL = postgresql.dialect()


def _checked(column: str, key: str) -> None:
    if not _NAME.match(column) or not _KEY.match(key):
        raise ValueError(f"not a column and key the SQL may name: {column!r}, {key!r}")


def json_text(backend: str, column: str, key: str) -> str:
    """A top-level field of a JSON document held in a TEXT column, as text (NULL when absent)."""
    _checked(column, key)
    if backend == "postgresql":
        return f"(({column})::jsonb ->> '{key}')"
    return f"json_extract({column}, '$.{key}')"


def json_flag(backend: str, column: str, key: str) -> str:
    """True when a top-level JSON field is ``true`` (absent, ``false`` or ``null`` are not)."""
    _checked(column, key)
    if backend == "postgresql":
        return f"COALESCE((({column})::jsonb -> '{key}') = 'true'::jsonb, FALSE)"
    return f"COALESCE(json_extract({column}, '$.{key}') = 1, 0)"


def table_names(backend: str) -> str:
    """A query listing the tables of the database (PostgreSQL: of its current schema), one name per row,
    SQLite's internal ``sqlite_*`` tables left out."""
    if backend == "postgresql":
        return "SELECT tablename FROM pg_catalog.pg_tables WHERE schemaname = current_schema()"
    return "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite!_%' ESCAPE '!'"


def byte_order(backend: str, column: ColumnElement) -> ColumnElement:
    """`column` to order or compare by, text by its code points on both backends: SQLite's default BINARY
    collation does so, PostgreSQL's database collation (en_US and the like) does not, so text gets ``"C"``."""
    # The type PostgreSQL stores (a variant resolved: the UTC columns are text only on SQLite).
    if backend == "postgresql" and isinstance(column.type.dialect_impl(_POSTGRESQL), String):
        return column.collate("C")
    return column


def advance_sequence(backend: str, table: str, column: str) -> str | None:
    """After rows were written with explicit ids: the statement that moves the id column's sequence past
    them, so the next generated id is free (None on SQLite, whose ``INTEGER PRIMARY KEY`` takes the largest
    id plus one by itself)."""
    _checked(column, table)
    if backend != "postgresql":
        return None
    return (
        f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), MAX({column})) "  # noqa: S608 - fixed names
        f"FROM {table} HAVING MAX({column}) IS NOT NULL"
    )
