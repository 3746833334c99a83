"""Replaying a tape as if it were the live feed: the demo mode, backtests and end-to-end tests.

Snapshots come out in tape order with their recorded `fetched_at`, and the engine takes its time
from the data, so a replay at "max" speed gives the same signals as the live run it recorded.

The Discord demo replays the bundled tape *shifted in time* (`TimeShift`): every timestamp of each raw
snapshot moves by one offset, so the tape's games tip off in the near future and the raw payload still
goes through the one parser, exactly like a live poll. `DemoClock` is the demo's "now".
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from engine.clock import utc_now
from engine.providers.base import FeedError, RawSnapshot
from engine.providers.parse import parse_timestamp
from engine.providers.tape import read_tape

__all__ = ["DemoClock", "ReplayFinished", "ReplaySource", "TimeShift", "parse_speed"]

#: The payload keys that hold a time (The Odds API v4: an event's tip, a book's and a market's update).
TIME_FIELDS = frozenset({"commence_time", "last_update"})


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


@dataclass(frozen=True, slots=True)
class TimeShift:
    """Moves every timestamp of a raw snapshot by `offset`; nothing else changes. Pure.

    The snapshot's `fetched_at` and, anywhere in the payload, each `commence_time` and `last_update`
    string that parses as an ISO-8601 time with a zone (`parse_timestamp`): the shifted string keeps
    its style ("Z" stays "Z", fractions stay). A value that does not parse is left as it is, for the
    parser to reject exactly as it would have. The input is never mutated.
    """

    offset: timedelta

    def timestamp(self, value: str) -> str:
        stamp = parse_timestamp(value)
        if stamp is None:
            return value
        text = (stamp + self.offset).isoformat()
        return text.removesuffix("+00:00") + "Z" if value.endswith(("Z", "z")) else text

    def _walk(self, value: Any) -> Any:
        if type(value) is dict:
            return {
                key: self.timestamp(item) if key in TIME_FIELDS and type(item) is str else self._walk(item)
                for key, item in value.items()
            }
        if type(value) is list:
            return [self._walk(item) for item in value]
        return value

    def apply(self, raw: RawSnapshot) -> RawSnapshot:
        return RawSnapshot(fetched_at=raw.fetched_at + self.offset, data=self._walk(raw.data), quota=raw.quota)

    def original(self, at: datetime) -> datetime:
        """The tape's own time of a shifted time."""
        return at - self.offset


class DemoClock:
    """The demo's "now": the wall clock plus how far the replay has run ahead of it (`lead`).

    At speed 1 the lead stays at zero and this is the wall clock. At speed N the tape's time runs N times
    faster than the wall's; `reach` is told each snapshot's (shifted) time as it is replayed and the clock
    keeps up with it, so the bot's "now" and the data's time agree: delays, heat windows, watchlist
    cut-offs and alert ages mean what they mean live. It never goes back. A resumed demo starts with
    `lead = cursor - wall` (negative after a pause): its time carries on from where it stopped.
    """

    def __init__(self, wall: Callable[[], datetime] = utc_now, *, lead: timedelta = timedelta(0)) -> None:
        self._wall = wall
        self.lead = lead

    def __call__(self) -> datetime:
        return self._wall() + self.lead

    def reach(self, at: datetime) -> None:
        self.lead = max(self.lead, at - self._wall())


class ReplaySource:
    """Snapshots of a tape (see `read_tape`), paced at `speed` × real time or as fast as possible.

    Iterate it (`async for raw in source`) to get the pacing: between two snapshots it sleeps their
    time gap divided by `speed` (wall-clock seconds); "max" never sleeps. With `shift`, each snapshot
    comes out shifted (`TimeShift`); with `after` (a time on the same, shifted, scale: a resumed
    cursor) the snapshots up to it are passed over without sleeping. It is also an `OddsSource`:
    `fetch()` hands out the next snapshot without sleeping (the caller's scheduler sets the pace there)
    and raises `ReplayFinished` once the tape is exhausted.
    """

    def __init__(
        self,
        path: str | Path,
        speed: str | float = "max",
        *,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        shift: TimeShift | None = None,
        after: datetime | None = None,
    ) -> None:
        self.path = Path(path)
        self.speed = parse_speed(speed)
        self.shift = shift
        self.after = after
        self._sleep = sleep
        self._pending: Iterator[RawSnapshot] | None = None

    def _fresh(self) -> Iterator[tuple[datetime, RawSnapshot]]:
        """(shifted time, original snapshot) of each snapshot after `after`, in tape order."""
        offset = self.shift.offset if self.shift is not None else timedelta(0)
        for snapshot in read_tape(self.path):
            at = snapshot.fetched_at + offset
            if self.after is None or at > self.after:
                yield at, snapshot

    def _out(self, snapshot: RawSnapshot) -> RawSnapshot:
        return snapshot if self.shift is None else self.shift.apply(snapshot)

    async def __aiter__(self) -> AsyncIterator[RawSnapshot]:
        previous = self.after
        for at, snapshot in self._fresh():
            if previous is not None and self.speed is not None:
                gap = (at - previous).total_seconds()
                if gap > 0:
                    await self._sleep(gap / self.speed)
            previous = at
            yield self._out(snapshot)

    async def fetch(self) -> RawSnapshot:
        if self._pending is None:
            self._pending = (snapshot for _, snapshot in self._fresh())
        try:
            return self._out(next(self._pending))
        except StopIteration:
            raise ReplayFinished(f"replay of {self.path} finished") from None
