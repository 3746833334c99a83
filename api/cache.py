"""Answers that depend only on what was asked: bytes by (operation, parsed parameters, audience, data version).

A cache hit is answered with the stored bytes as they are (no model, no serialisation), which is what keeps the
API's hot path near a bare handler's speed (`bench/api.py`)."""

from __future__ import annotations

import sys
from collections import OrderedDict
from typing import Any

__all__ = ["ENTRY_OVERHEAD", "ResponseCache", "footprint"]

#: What an entry costs beyond its body's bytes and its key: the dict slot and the order link, the
#: (body, cost) pair and the body's object header (about 200 bytes on CPython 3.11; rounded up).
ENTRY_OVERHEAD = 256


def footprint(value: Any) -> int:
    """The bytes an object holds (`sys.getsizeof`), a tuple or list with its items: what a key costs.
    Objects the key shares with others (the operation id, the audience) are counted too: an over-count
    only makes the budget stricter."""
    size = sys.getsizeof(value)
    if isinstance(value, tuple | list):
        size += sum(footprint(item) for item in value)
    return size


class ResponseCache:
    """Answer bytes by (operation, parsed parameters, audience, data version), least recently used out first.

    Bounded in bytes — each entry costs its body, its key and `ENTRY_OVERHEAD`, so a flood of distinct
    valid queries with tiny answers (long filters, cursors) cannot hold more than the budget — and in
    entries. A new data version simply stops matching old entries, which age out."""

    def __init__(self, max_bytes: int = 32 * 1024 * 1024, max_entries: int = 10_000) -> None:
        self._entries: OrderedDict[tuple[Any, ...], tuple[bytes, int]] = OrderedDict()
        self._bytes = 0
        self._max_bytes = max_bytes
        self._max_entries = max_entries
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def size(self) -> int:
        """The bytes the entries are counted as (bodies, keys, overhead): at most `max_bytes`."""
        return self._bytes

    def get(self, key: tuple[Any, ...]) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            self.misses += 1
            return None
        self.hits += 1
        self._entries.move_to_end(key)
        return entry[0]

    def put(self, key: tuple[Any, ...], body: bytes) -> None:
        cost = len(body) + footprint(key) + ENTRY_OVERHEAD
        if self._max_entries <= 0 or cost > self._max_bytes // 8 or key in self._entries:
            return
        self._entries[key] = (body, cost)
        self._bytes += cost
        while self._bytes > self._max_bytes or len(self._entries) > self._max_entries:
            _, (_, old) = self._entries.popitem(last=False)
            self._bytes -= old

    def clear(self) -> None:
        self._entries.clear()
        self._bytes = 0
