"""KEY_CROSS: the consensus spread or total crosses a key number.

Keys are symmetric: a spread key of 3 is watched at +3 and -3. A cross is a move from one strict
side of the key to the other; landing on the key is not a cross until the line goes through it
(-2.5 → -3 → -3.5 is one cross, -2.5 → -3 → -2.5 is none). `sides` remembers the last strict side
per key value and is updated in place.
"""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping
from dataclasses import dataclass

from engine.models import Market

#: A point within this of a key sits on it (neither side).
KEY_TOLERANCE = 1e-9
_EPS = KEY_TOLERANCE


@dataclass(frozen=True, slots=True)
class KeyCrossHit:
    direction: int  # +1 towards side A (home/over), -1 towards side B
    key_number: float  # the first key crossed, as an unsigned number
    keys: tuple[float, ...]  # every key value crossed by this move, signed, in crossing order
    before: float
    after: float


def key_values(keys: Iterable[float], market: Market) -> tuple[float, ...]:
    values = set()
    for key in keys:
        values.add(float(key))
        if market == Market.SPREADS:
            values.add(-float(key))
    return tuple(sorted(values))


def _side(point: float, key: float) -> int:
    if point > key + _EPS:
        return 1
    if point < key - _EPS:
        return -1
    return 0


def seed_sides(point: float, values: Iterable[float], sides: MutableMapping[float, int]) -> None:
    for value in values:
        side = _side(point, value)
        if side:
            sides[value] = side


def detect_key_cross(
    market: Market,
    before: float,
    after: float,
    values: Iterable[float],
    sides: MutableMapping[float, int],
) -> KeyCrossHit | None:
    crossed = []
    for value in values:
        side = _side(after, value)
        if side == 0:
            continue
        previous = sides.get(value)
        sides[value] = side
        if previous is not None and previous != side:
            crossed.append(value)
    if not crossed:
        return None
    rising = after > before
    crossed.sort(reverse=not rising)
    if market == Market.SPREADS:
        direction = -1 if rising else 1  # home spread falling = money on the home team
    else:
        direction = 1 if rising else -1
    return KeyCrossHit(
        direction=direction,
        key_number=abs(crossed[0]),
        keys=tuple(crossed),
        before=before,
        after=after,
    )
