"""Where the database is: a file path or a URL, made into the SQLAlchemy URL of one of the two backends.

`storage.url` (or ``--db``) accepts ``sqlite:///stratum.db``, a bare path (the same thing), ``:memory:``,
and ``postgresql://…`` / ``postgresql+psycopg://…``. The drivers are fixed here, not by the user: aiosqlite
for SQLite and psycopg 3 for PostgreSQL, the two the SQL layer is tested on. `shown` is the one spelling
that may reach a log line or an error: the password never does.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

__all__ = ["MEMORY", "DatabaseTarget", "parse_target"]

MEMORY = ":memory:"

_SQLITE = "sqlite+aiosqlite"
_POSTGRES = "postgresql+psycopg"
_ACCEPTED = {
    "sqlite": _SQLITE,
    "sqlite+aiosqlite": _SQLITE,
    "postgresql": _POSTGRES,
    "postgres": _POSTGRES,
    "postgresql+psycopg": _POSTGRES,
}


@dataclass(frozen=True, slots=True)
class DatabaseTarget:
    """A database to open: its SQLAlchemy URL, and for SQLite the file (None in memory)."""

    url: URL
    file: Path | None = None

    @property
    def backend(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self.url.get_backend_name()

    @property
    def is_sqlite(self) -> bool:
        return self.backend == "sqlite"

    @property
    def in_memory(self) -> bool:
        return self.is_sqlite and self.file is None

    @property
    def shown(self) -> str:
        """The URL with its password masked: the only form that is logged or printed."""
        if self.file is not None:
            return str(self.file)
        return self.url.render_as_string(hide_password=True)

    def __str__(self) -> str:
        return self.shown

    def __repr__(self) -> str:
        return f"DatabaseTarget({self.shown!r})"


def parse_target(target: str | Path | DatabaseTarget) -> DatabaseTarget:
    """A path or URL as given by config or ``--db`` → the target; a one-line ValueError for anything else."""
    if isinstance(target, DatabaseTarget):
        return target
    if isinstance(target, Path):
        return DatabaseTarget(make_url(f"{_SQLITE}:///{target}"), target)
    text = str(target).strip()
    if not text:
        raise ValueError("the database location is empty (set storage.url or --db)")
    if text == MEMORY:
        return DatabaseTarget(make_url(f"{_SQLITE}://"), None)
    if "://" not in text:
        return DatabaseTarget(make_url(f"{_SQLITE}:///{text}"), Path(text))
    try:
        url = make_url(text)
    except ArgumentError:
        raise ValueError(f"not a database URL: {_mask(text)}") from None
    driver = _ACCEPTED.get(url.drivername)
    if driver is None:
        raise ValueError(
            f"unsupported database {url.drivername!r} in {url.render_as_string(hide_password=True)}: "
            "use sqlite:///PATH or postgresql+psycopg://USER@HOST/NAME"
        )
    url = url.set(drivername=driver)
    if driver == _SQLITE:
        database = url.database or ""
        if database in ("", MEMORY):
            return DatabaseTarget(url.set(database=None), None)
        return DatabaseTarget(url, Path(database))
    if not url.database:
        raise ValueError(f"the PostgreSQL URL names no database: {url.render_as_string(hide_password=True)}")
    return DatabaseTarget(url, None)


def _mask(text: str) -> str:
    """Hide what may be a password in a string that did not even parse as a URL."""
    scheme, _, rest = text.partition("://")
    if "@" in rest:
        rest = "***@" + rest.split("@", 1)[1]
    return f"{scheme}://{rest}"
