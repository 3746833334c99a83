"""A *move*: the signals of one poll on the same game × market × side, alerted as one.

One market event often trips several detectors at once (a STEAM, a DISLOCATION at each book left behind, a
KEY_CROSS): four embeds for one thing a member can act on. So alerts and DMs go out per move, headed by the
move and listing each signal that fired in it. (Not `engine.state.Move`, which is one book's line moving.)

A move's id is a hash of what defines it — game, market, side and the poll's time — never of anything
that could differ between two runs: a replay, a re-fan-out after a crash or the catch-up after an upgrade
computes the same id, so the outbox key ``move.created:<move>:<target>`` is the same and the row is written
once. The signals in a move are kept in one fixed order (type, then id) for the same reason.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from engine.models import Market, Side, Signal, SignalType

__all__ = ["PollMove", "group_moves", "move_id"]

#: The order signals are listed in a move: the market's own move first, then its key number, then the books
#: left behind.
TYPE_ORDER = {SignalType.STEAM: 0, SignalType.KEY_CROSS: 1, SignalType.DISLOCATION: 2}


def move_id(game_id: str, market: Market, side: Side, at: datetime) -> str:
    """``mv_`` and 20 hex digits of SHA-256 over game, market, side and the poll's time (UTC, microseconds)."""
    stamp = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    text = "\x1f".join((game_id, Market(market).value, Side(side).value, stamp))
    return "mv_" + hashlib.sha256(text.encode()).hexdigest()[:20]


@dataclass(frozen=True, slots=True)
class PollMove:
    """One poll's signals on one game × market × side (at least one), in `TYPE_ORDER` then by id."""

    id: str
    game_id: str
    market: Market
    side: Side
    at: datetime  # the poll's time: every signal's `created_at`
    signals: tuple[Signal, ...]

    @property
    def types(self) -> tuple[SignalType, ...]:
        """The signal types that fired, each once, in listing order."""
        return tuple(dict.fromkeys(s.type for s in self.signals))

    @property
    def score(self) -> int:
        """The move's score: its strongest signal's."""
        return max(s.score for s in self.signals)

    def only(self, signals: Iterable[Signal]) -> PollMove:
        """The same move (same id) listing only `signals` of it: what one target (a channel routed for some
        types, a member filtering by type and score) is sent."""
        kept = {s.id for s in signals}
        return replace(self, signals=tuple(s for s in self.signals if s.id in kept))


def _order(signal: Signal) -> tuple[int, str]:
    return TYPE_ORDER.get(signal.type, len(TYPE_ORDER)), signal.id


def group_moves(signals: Iterable[Signal]) -> list[PollMove]:
    """The moves of `signals`: grouped by (game, market, side, created_at), in the order each move's first
    signal comes; one signal id counts once."""
    groups: dict[tuple[str, Market, Side, datetime], dict[str, Signal]] = {}
    for signal in signals:
        key = (signal.game_id, signal.market, signal.side, signal.created_at)
        groups.setdefault(key, {}).setdefault(signal.id, signal)
    return [
        PollMove(
            id=move_id(game_id, market, side, at),
            game_id=game_id,
            market=market,
            side=side,
            at=at,
            signals=tuple(sorted(members.values(), key=_order)),
        )
        for (game_id, market, side, at), members in groups.items()
    ]
