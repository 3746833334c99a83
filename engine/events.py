"""The in-process event bus: the engine publishes, surfaces (Discord, webhooks, ...) subscribe.

As in freqtrade's RPC manager, each subscriber runs in its own try/except: a broken surface is
logged and skipped, and neither the engine nor the other subscribers notice. Events are published
only after what they describe is committed to the database, so a subscriber can always read it back.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from engine.models import Close, Grade, Signal

log = logging.getLogger(__name__)

SIGNAL_CREATED = "signal.created"
CLV_GRADED = "clv.graded"
GAME_CLOSED = "game.closed"

Handler = Callable[[Any], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class GradedSignal:
    """The payload of `clv.graded`: the signal and its grade together."""

    signal: Signal
    grade: Grade


class EventBus:
    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = defaultdict(list)

    def subscribe(self, topic: str, handler: Handler) -> None:
        self._handlers[topic].append(handler)

    def unsubscribe(self, topic: str, handler: Handler) -> None:
        if handler in self._handlers.get(topic, []):
            self._handlers[topic].remove(handler)

    async def publish(self, topic: str, payload: Any) -> int:
        """Deliver to every subscriber; returns how many failed (each failure is logged, never raised)."""
        failures = 0
        for handler in list(self._handlers.get(topic, ())):
            try:
                await handler(payload)
            except Exception:
                failures += 1
                log.exception("subscriber %r failed on %s", getattr(handler, "__qualname__", handler), topic)
        return failures


@dataclass(frozen=True, slots=True)
class ClosedGame:
    """The payload of `game.closed`: a game reached tip-off and these are its closing consensus lines."""

    game_id: str
    closes: tuple[Close, ...]
