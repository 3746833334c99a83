"""Conversions between engine values and database columns.

On SQLite, datetimes are stored as ISO-8601 UTC text in one fixed-width format
(``2024-05-01T18:30:00.000000Z``) so that comparing the text compares the instants: ordering,
range filters and keyset pagination then work in plain SQL, on SQLite and on PostgreSQL alike,
without any date function; on PostgreSQL they are ``timestamptz`` (``storage.db`` binds each the right
way, so repositories pass and receive aware datetimes on both). JSON columns hold tuples and mappings;
they are written strictly (no NaN/Infinity, which PostgreSQL's JSON types reject) and read back as lists and dicts.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

__all__ = ["from_db", "from_db_opt", "json_dumps", "json_loads", "to_db", "to_db_opt"]


def to_db(dt: datetime) -> str:
    """Aware datetime -> fixed-format UTC text; naive datetimes are refused rather than guessed."""
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"naive datetime cannot be stored: {dt!r}")
    # isoformat (not strftime) keeps a four-digit year and always writes microseconds, so every
    # value has the same width and text order is time order.
    return dt.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def from_db(value: str | datetime) -> datetime:
    """A stored instant -> aware UTC datetime: SQLite gives the text above, PostgreSQL a ``timestamptz``."""
    dt = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    if dt.tzinfo is None:
        raise ValueError(f"stored datetime has no time zone: {value!r}")
    return dt.astimezone(UTC)


def to_db_opt(dt: datetime | None) -> str | None:
    return None if dt is None else to_db(dt)


def from_db_opt(value: str | datetime | None) -> datetime | None:
    return None if value is None else from_db(value)


def json_dumps(value: Any) -> str:
    """Compact, strict JSON: NaN/Infinity raise instead of producing text PostgreSQL would reject."""
    return json.dumps(value, separators=(",", ":"), allow_nan=False, ensure_ascii=False)


def json_loads(text: str) -> Any:
    return json.loads(text)
