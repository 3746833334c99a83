"""API keys from the command line: shown once, stored as a hash, revoked and rotated."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

from app.cli import main
from services.keys import authenticate
from storage import Repositories


def _secret(out: str) -> str:
    return next(line.split(": ", 1)[1] for line in out.splitlines() if line.startswith("key: "))


async def _authenticate(db, secret):
    repos = await Repositories.open(db)
    try:
        return await authenticate(repos, secret)
    finally:
        await repos.close()


async def _stored_keys(db) -> list[dict]:
    repos = await Repositories.open(db)
    try:
        return [dict(row._mapping) for row in await repos.db.fetch_all("SELECT * FROM api_keys")]
    finally:
        await repos.close()


def test_cli_creates_revokes_and_rotates_keys(backend, db_url, capsys):
    db = db_url
    assert main(["apikey", "create", "--plan", "builder", "--owner", "Acme Analytics", "--db", db]) == 0
    secret = _secret(capsys.readouterr().out)
    # Stored only as a hash with the visible prefix: in no column of the row, nor anywhere in a SQLite file.
    [row] = asyncio.run(_stored_keys(db))
    key_id = row["id"]
    assert secret.startswith(key_id + "_") and row["key_hash"] == hashlib.sha256(secret.encode()).hexdigest()
    assert not any(secret in str(value) for value in row.values())
    if backend.name == "sqlite":
        assert secret not in Path(db).read_bytes().decode("latin-1")
    key = asyncio.run(_authenticate(db, secret))
    assert key.plan == "builder" and key.owner == "Acme Analytics"
    assert asyncio.run(_authenticate(db, secret + "x")) is None
    assert asyncio.run(_authenticate(db, "Bearer nonsense")) is None

    assert main(["apikey", "rotate", key_id, "--db", db]) == 0
    rotated = _secret(capsys.readouterr().out)
    assert main(["apikey", "list", "--db", db]) == 0
    listing = capsys.readouterr().out
    assert key_id in listing and "revoked" in listing and rotated not in listing and secret not in listing
    assert asyncio.run(_authenticate(db, secret)) is None
    assert asyncio.run(_authenticate(db, rotated)).plan == "builder"
    new_id = "_".join(rotated.split("_")[:2])  # "strat_<8 hex>"; the secret part may contain "_"
    assert main(["apikey", "revoke", new_id, "--db", db]) == 0
    assert main(["apikey", "revoke", new_id, "--db", db]) == 2
    assert "No active key" in capsys.readouterr().err


def test_cli_refuses_an_unknown_plan(db_url, capsys):
    assert main(["apikey", "create", "--plan", "gold", "--owner", "x", "--db", db_url]) == 2
    assert "Unknown plan" in capsys.readouterr().err


def test_the_key_cache_is_cleared_on_revoke(db_url):
    from datetime import UTC, datetime

    from config.settings import load_settings
    from services.keys import KeyCache, authenticate_cached, create_key, revoke, watch

    async def run():
        repos = await Repositories.open(db_url)
        try:
            settings = load_settings(env_file=None)
            now = datetime(2026, 8, 5, tzinfo=UTC)
            cache = watch(repos, KeyCache(max_entries=2, max_unknown=2))
            key, secret = await create_key(repos, settings, owner="x", plan="builder", now=now)
            assert (await authenticate_cached(repos, secret, cache)).id == key.id
            assert cache.get(hashlib.sha256(secret.encode()).hexdigest()) == (True, key)
            assert await authenticate_cached(repos, "strat_unknown_secret", cache) is None  # cached as unknown
            await revoke(repos, key.id, now)
            assert len(cache) == 0 and await authenticate_cached(repos, secret, cache) is None
            for n in range(5):
                await authenticate_cached(repos, f"strat_{n}", cache)
            assert len(cache) == 2  # bounded
            # Made-up keys are kept apart: a flood of them never evicts a real key.
            other, other_secret = await create_key(repos, settings, owner="y", plan="builder", now=now)
            assert (await authenticate_cached(repos, other_secret, cache)).id == other.id
            for n in range(100):
                await authenticate_cached(repos, f"strat_flood_{n}", cache)
            assert len(cache) == 3
            assert cache.get(hashlib.sha256(other_secret.encode()).hexdigest()) == (True, other)
        finally:
            await repos.close()

    asyncio.run(run())
