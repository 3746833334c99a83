"""A write that fails on demand, on either backend: a trigger that refuses every row of one statement kind on
one table, for the tests of a commit that fails (the engine's memory must roll back with the database).

SQLite raises with ``RAISE(ABORT, …)``; PostgreSQL with a plpgsql function raising ``check_violation``, so
both surface as ``sqlalchemy.exc.IntegrityError`` (the driver's error in ``.orig``) carrying `MESSAGE`.
Only the fixed table and event names of the tests are formatted into the SQL, never input.
"""

from __future__ import annotations

from storage.db import Database

MESSAGE = "injected commit failure"
_TRIGGER = "injected_failure"
_FUNCTION = "stratum_injected_failure"
_EVENTS = ("INSERT", "UPDATE", "DELETE")


async def inject_failure(db: Database, event: str, table: str) -> None:
    """From now on every `event` (INSERT, UPDATE or DELETE) of a row of `table` fails with `MESSAGE`."""
    if event not in _EVENTS or not table.isidentifier():
        raise ValueError(f"not a trigger: {event} ON {table}")
    if db.is_sqlite:
        await db.execute(
            f"CREATE TRIGGER {_TRIGGER} BEFORE {event} ON {table} BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"
        )
        return
    await db.execute(
        f"CREATE OR REPLACE FUNCTION {_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS "
        f"$$ BEGIN RAISE EXCEPTION USING ERRCODE = 'check_violation', MESSAGE = '{MESSAGE}'; END $$"
    )
    await db.execute(f"CREATE TRIGGER {_TRIGGER} BEFORE {event} ON {table} FOR EACH ROW EXECUTE FUNCTION {_FUNCTION}()")


async def remove_failure(db: Database, table: str) -> None:
    """Writes to `table` work again."""
    if not table.isidentifier():
        raise ValueError(f"not a table: {table}")
    if db.is_sqlite:
        await db.execute(f"DROP TRIGGER {_TRIGGER}")
    else:
        await db.execute(f"DROP TRIGGER {_TRIGGER} ON {table}")
