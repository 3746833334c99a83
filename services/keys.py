"""API keys: made here, shown once, stored only as a hash with a short visible prefix."""

from __future__ import annotations

import hashlib
import secrets
import weakref
from collections import OrderedDict
from dataclasses import replace
from datetime import datetime
from typing import Any, TypeGuard

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
    forget_keys(repos)
    return key, plaintext


async def authenticate(repos: Repositories, presented: str | None) -> ApiKey | None:
    """The active key for a presented secret, or None (unknown, malformed or revoked)."""
    if not well_formed(presented):
        return None
    key = await repos.api.key_by_hash(hash_key(presented))
    return key if key is not None and key.active else None


async def revoke(repos: Repositories, key_id: str, now: datetime) -> ApiKey:
    async with repos.db.transaction():
        if not await repos.api.revoke(key_id, now):
            raise UserError(f"No active key {key_id}.")
    forget_keys(repos)
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
    forget_keys(repos)
    return key, plaintext


def create_key_values(old: ApiKey, now: datetime) -> tuple[ApiKey, str]:
    key_id, plaintext = new_key()
    return replace(old, id=key_id, created_at=now, revoked_at=None), plaintext


# ---------------------------------------------------------------------- the in-memory key cache


class KeyCache:
    """Presented-secret hash → active key (or None for an unknown one), so a request costs no database read.

    Revocation takes effect at once: `revoke`, `rotate` and `create_key` in this process clear every cache
    watching the same repositories (`watch`); a change committed by another process (the `apikey` command
    line) clears it as soon as the API notices that process's commit (`observe`, at most ~1 s later).
    Bounded: at most `max_entries` known keys and, apart, at most `max_unknown` unknown hashes, oldest
    dropped first — apart, so a flood of made-up keys can evict only other made-up keys, never a real one
    (every real key pushed out would cost its next request a database read).
    """

    def __init__(self, max_entries: int = 20_000, max_unknown: int = 4_096) -> None:
        self._entries: OrderedDict[str, ApiKey | None] = OrderedDict()
        self._unknown: OrderedDict[str, None] = OrderedDict()
        self._max = max_entries
        self._max_unknown = max_unknown
        self._external: object = None
        self.generation = 0

    def clear(self) -> None:
        self._entries.clear()
        self._unknown.clear()
        self.generation += 1

    def observe(self, external_version: object) -> None:
        """Another connection's commits moved the database on: forget everything cached."""
        if external_version != self._external:
            if self._external is not None:
                self.clear()
            self._external = external_version

    def get(self, digest: str) -> tuple[bool, ApiKey | None]:
        if digest in self._entries:
            return True, self._entries[digest]
        if digest in self._unknown:
            return True, None
        return False, None

    def put(self, digest: str, key: ApiKey | None) -> None:
        entries: OrderedDict[str, Any] = self._entries if key is not None else self._unknown
        entries[digest] = key
        if len(entries) > (self._max if key is not None else self._max_unknown):
            entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries) + len(self._unknown)


#: Caches watching each Repositories object (weakly: a cache lives as long as its owner).
_WATCHERS: dict[int, weakref.WeakSet[KeyCache]] = {}


def watch(repos: Repositories, cache: KeyCache) -> KeyCache:
    """Have `revoke`/`rotate`/`create_key` on these repositories clear `cache` (the invalidation hook)."""
    _WATCHERS.setdefault(id(repos), weakref.WeakSet()).add(cache)
    return cache


def forget_keys(repos: Repositories) -> None:
    for cache in list(_WATCHERS.get(id(repos), ())):
        cache.clear()


def well_formed(presented: str | None) -> TypeGuard[str]:
    """Could this be one of our keys at all? (No hash, no lookup for what cannot.)"""
    return presented is not None and presented.startswith(PREFIX) and len(presented) <= 200


def cached_key(presented: str | None, cache: KeyCache) -> tuple[bool, ApiKey | None]:
    """What the cache alone knows of a presented secret, without touching the database: (known, key).
    A malformed one is known-unknown. The cost is one SHA-256 of at most 200 bytes (a fast digest, not a
    password hash: the keys are random, so nothing slower is needed) and a dictionary read."""
    if not well_formed(presented):
        return True, None
    return cache.get(hash_key(presented))


async def authenticate_cached(repos: Repositories, presented: str | None, cache: KeyCache) -> ApiKey | None:
    """`authenticate`, answered from `cache` when it can (same rules: unknown, malformed or revoked → None)."""
    if not well_formed(presented):
        return None
    digest = hash_key(presented)
    hit, key = cache.get(digest)
    if hit:
        return key
    generation = cache.generation
    key = await repos.api.key_by_hash(digest)
    active = key if key is not None and key.active else None
    if cache.generation == generation:  # not cleared while we read: the answer is still current
        cache.put(digest, active)
    return active
