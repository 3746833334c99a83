"""``run_bot.py db …``: the database's schema, and moving an installation to another database.

    python run_bot.py db upgrade [--db PATH_OR_URL] [--config PATH]   # to this Stratum's head revision
    python run_bot.py db current [--db PATH_OR_URL] [--config PATH]   # the revision: head, behind or newer
    python run_bot.py db copy --to URL [--from URL] [--db …] [--config PATH]

The database is ``--db``, else ``storage.url`` (config or ``STRATUM_STORAGE__URL``), as for every command;
``db copy --from`` defaults to it. Every location is printed as `DatabaseTarget.shown`: never a password.
A refusal is one line on stderr and exit code 2, with nothing written (the schema checks themselves are
`storage.migrations`'; the copy's rules `storage.copy`'s).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from storage.copy import CopyMismatch, CopyRefused, CopyReport, check_source, check_target, copy_database
from storage.db import Database, PoolSettings
from storage.migrations import BASELINE, Upgrade, read_state, upgrade
from storage.url import DatabaseTarget, parse_target

__all__ = ["parse_db_args", "run_db"]


def parse_db_args(argv: Sequence[str]) -> argparse.Namespace:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--db", metavar="PATH_OR_URL", help="the database: a SQLite file or a URL (default: storage.url in config)"
    )
    common.add_argument("--config", metavar="PATH", help="config file")
    parser = argparse.ArgumentParser(prog="run_bot.py db", description="The database's schema, and copying it.")
    commands = parser.add_subparsers(dest="action", required=True)
    commands.add_parser(
        "upgrade", parents=[common], help="bring the schema to this Stratum's revision (every start does it too)"
    )
    commands.add_parser(
        "current", parents=[common], help="print the schema's revision and whether it is head, behind or newer"
    )
    copy = commands.add_parser(
        "copy",
        parents=[common],
        help="copy every row into an empty database (migrated first), verified by row counts and checksums",
    )
    copy.add_argument(
        "--from", dest="source", metavar="URL", help="the database to copy (default: --db or storage.url)"
    )
    copy.add_argument("--to", dest="target", metavar="URL", required=True, help="an empty database to copy into")
    return parser.parse_args(argv)


async def run_db(args: argparse.Namespace, where: DatabaseTarget, pool: PoolSettings) -> int:
    """Run one ``db`` command on `where` (the copy's default source). `SchemaError` and `DatabaseUnavailable`
    propagate: `app.cli.main` prints them as one line, as it does at every start."""
    if args.action == "copy":
        return await _copy(args, where, pool)
    if args.action == "current" and _missing_file(where):
        return _refuse(f"no database at {where.shown} (run_bot.py db upgrade creates one)")
    db = await Database.open(where, pool=pool, migrate=False)
    try:
        if args.action == "current":
            print(f"{where.shown}: {(await read_state(db)).describe()}")
        else:
            print(f"{where.shown}: {_upgraded(await upgrade(db))}")
    finally:
        await db.close()
    return 0


def _upgraded(result: Upgrade) -> str:
    before, after = result.before, result.after
    if not result.changed:
        return f"{after.describe()}; nothing to do"
    if result.adopted:
        legacy = before.legacy_version or 0
        ran = "" if legacy >= 14 else " (after its SQL migrations up to 14)"
        return f"adopted {before.version_text}, as revision {BASELINE}{ran}; now at {after.describe()}"
    return f"upgraded from {before.version_text} to {after.describe()}"


async def _copy(args: argparse.Namespace, default: DatabaseTarget, pool: PoolSettings) -> int:
    try:
        source = parse_target(args.source) if args.source else default
        target = parse_target(args.target)
    except ValueError as exc:
        return _refuse(f"db copy: {exc}")
    if source.in_memory or target.in_memory:
        return _refuse("db copy: an in-memory database holds nothing once closed: name a file or a URL")
    if _missing_file(source):
        return _refuse(f"no database at {source.shown} to copy")
    src = await Database.open(source, pool=pool, migrate=False)
    try:
        await check_source(src)  # before the target is opened (a new SQLite file would be created)
        dst = await Database.open(target, pool=pool, migrate=False)
        try:
            await check_target(dst)  # refused before a word is printed; copy_database checks both again
            print(f"copying {source.shown} -> {target.shown}", flush=True)
            report = await copy_database(src, dst)
            state = await read_state(dst)
        finally:
            await dst.close()
    except CopyRefused as exc:
        return _refuse(str(exc))
    except CopyMismatch as exc:
        _print_report(exc.report)
        return _refuse(str(exc), code=1)
    finally:
        await src.close()
    _print_report(report)
    print(
        f"{len(report.tables)} tables, {report.rows} rows: every count and checksum equal; "
        f"the target is at {state.describe()}"
    )
    return 0


def _print_report(report: CopyReport) -> None:
    width = max(len(t.name) for t in report.tables)
    print(f"{'table':<{width}} {'rows':>9}  sha256 (source = target)")
    for table in report.tables:
        if table.equal:
            print(f"{table.name:<{width}} {table.source_rows:>9}  {table.source_sha256}")
        else:
            print(f"{table.name:<{width}} {table.source_rows:>9}  {table.source_sha256}  source")
            print(f"{'':<{width}} {table.target_rows:>9}  {table.target_sha256}  target: DIFFERS")


def _missing_file(where: DatabaseTarget) -> bool:
    return where.file is not None and not where.file.exists()


def _refuse(message: str, *, code: int = 2) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code
