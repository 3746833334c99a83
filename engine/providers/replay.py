"""Replaying a tape as if it were the live feed: the demo mode, backtests and end-to-end tests.

Snapshots come out in tape order with their recorded `fetched_at`, and the engine takes its time
from the data, so a replay at "max" speed gives the same signals as the live run it recorded.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from engine.providers.base import FeedError, RawSnapshot
from engine.providers.tape import read_tape

__all__ = ["ReplayFinished", "ReplaySource", "parse_speed"]


class ReplayFinished(FeedError):
    """The tape has no more snapshots (what `fetch()` raises at the end)."""


def parse_speed(speed: str | float) -> float | None:
    """`"max"` → None (no pacing); a positive number (or numeric string) → that multiple of real time."""
    if isinstance(speed, str):
        if speed.strip().lower() == "max":
            return None
        try:
            value = float(speed)
        except ValueError:
            raise ValueError(f'replay speed must be "max" or a positive number, got {speed!r}') from None
    elif isinstance(speed, bool) or not isinstance(speed, int | float):
        raise ValueError(f'replay speed must be "max" or a positive number, got {speed!r}')
    else:
        value = float(speed)
    if not value > 0 or value == float("inf"):
        raise ValueError(f"replay speed must be a positive finite number, got {speed!r}")
    return value


class ReplaySource:
    """Snapshots of a tape (see `read_tape`), paced at `speed` × real time or as fast as possible.

    Iterate it (`async for raw in source`) to get the pacing: between two snapshots it sleeps their
    time gap divided by `speed`; "max" never sleeps. It is also an `OddsSource`: `fetch()` hands out
    the next snapshot without sleeping (the caller's scheduler sets the pace there) and raises
    `ReplayFinished` once the tape is exhausted.
    """

    def __init__(
        self,
        path: str | Path,
        speed: str | float = "max",
        *,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self.path = Path(path)
        self.speed = parse_speed(speed)
        self._sleep = sleep
        self._pending: Iterator[RawSnapshot] | None = None

    async def __aiter__(self) -> AsyncIterator[RawSnapshot]:
        previous: RawSnapshot | None = None
        for snapshot in read_tape(self.path):
            if previous is not None and self.speed is not None:
                gap = (snapshot.fetched_at - previous.fetched_at).total_seconds()
                if gap > 0:
                    await self._sleep(gap / self.speed)
            previous = snapshot
            yield snapshot

    async def fetch(self) -> RawSnapshot:
        if self._pending is None:
            self._pending = read_tape(self.path)
        try:
            return next(self._pending)
        except StopIteration:
            raise ReplayFinished(f"replay of {self.path} finished") from None
