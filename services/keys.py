"""API keys: made here, shown once, stored only as a hash with a short visible prefix."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import replace
from datetime import datetime

from access import UserError
from config.settings import Settings
from domain.api import ApiKey
from storage import Repositories

PREFIX = "strat_"


def hash_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def new_key() -> tuple[str, str]:
    """(visible id, full key). The id is the key's first part, so logs and lists can name a key safely."""
    key_id = PREFIX + secrets.token_hex(4)
    return key_id, f"{key_id}_{secrets.token_urlsafe(24)}"


def check_plan(settings: Settings, plan: str) -> str:
    if plan not in settings.plans:
        raise UserError(f"Unknown plan “{plan}”: choose one of {', '.join(settings.plans)}.")
    return plan


async def create_key(
    repos: Repositories, settings: Settings, *, owner: str, plan: str, now: datetime, **overrides: int | None
) -> tuple[ApiKey, str]:
    owner = (owner or "").strip()
    if not owner or len(owner) > 100:
        raise UserError("Name the key's owner (1 to 100 characters).")
    key_id, plaintext = new_key()
    key = ApiKey(id=key_id, owner=owner, plan=check_plan(settings, plan), created_at=now, **overrides)
    async with repos.db.transaction():
        await repos.api.create_key(key, hash_key(plaintext))
    return key, plaintext


async def authenticate(repos: Repositories, presented: str | None) -> ApiKey | None:
    """The active key for a presented secret, or None (unknown, malformed or revoked)."""
    if not presented or not presented.startswith(PREFIX) or len(presented) > 200:
        return None
    key = await repos.api.key_by_hash(hash_key(presented))
    return key if key is not None and key.active else None


async def revoke(repos: Repositories, key_id: str, now: datetime) -> ApiKey:
    async with repos.db.transaction():
        if not await repos.api.revoke(key_id, now):
            raise UserError(f"No active key {key_id}.")
    return await repos.api.key(key_id)


async def rotate(repos: Repositories, settings: Settings, key_id: str, now: datetime) -> tuple[ApiKey, str]:
    """A new secret for the same owner, plan, limits and webhook endpoints; the old key stops working at once."""
    old = await repos.api.key(key_id)
    if old is None or not old.active:
        raise UserError(f"No active key {key_id}.")
    key, plaintext = create_key_values(old, now)
    async with repos.db.transaction():
        await repos.api.create_key(key, hash_key(plaintext))
        await repos.api.revoke(old.id, now, replaced_by=key.id)
        await repos.api.move_endpoints(old.id, key.id)
    return key, plaintext


def create_key_values(old: ApiKey, now: datetime) -> tuple[ApiKey, str]:
    key_id, plaintext = new_key()
    return replace(old, id=key_id, created_at=now, revoked_at=None), plaintext
