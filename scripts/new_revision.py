"""Write a new Alembic revision of the schema: what `storage/schema.py` declares that the head revision lacks.

    PYTHONPATH=. python scripts/new_revision.py "add bets.note" [--rev-id 0015] [--db URL]

It migrates a scratch database (a temporary SQLite file, or the empty database `--db` names) to the head
revision, then lets Alembic's autogenerate compare it with `storage.schema.metadata` and write the revision to
`storage/alembic/versions/`. Read what it wrote and correct it where autogenerate cannot know (a data move, a
rename, a server default that must differ per backend), then freeze it: a committed revision never changes and
never imports `storage.schema`. `tests/integration/test_migrations.py` holds the migrated schema equal to the
metadata on both backends.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from alembic import command

from storage.db import Database
from storage.migrations import SCRIPT_LOCATION, alembic_config, upgrade


async def write_revision(message: str, rev_id: str | None, location: str) -> None:
    db = await Database.open(location, migrate=False)
    try:
        if any(path.name != "__init__.py" for path in (SCRIPT_LOCATION / "versions").glob("*.py")):
            await upgrade(db)  # to the current head, which the new revision follows
        config = alembic_config()

        def revise(connection) -> None:
            config.attributes["connection"] = connection
            command.revision(config, message, autogenerate=True, rev_id=rev_id)

        async with db.transaction():
            await db.run_sync(revise)
    finally:
        await db.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("message")
    parser.add_argument("--rev-id", help="the revision's id (the next number, four digits)")
    parser.add_argument("--db", help="an empty scratch database to compare against (default: a temporary SQLite file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        asyncio.run(write_revision(args.message, args.rev_id, args.db or str(Path(scratch) / "scratch.db")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
