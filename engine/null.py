"""The matched null: what a random entry under the same rule would have done.

For every graded signal, `null_draws` entries are drawn from the same replay: the same market, the
same time to tip (so a random entry faces the same amount of market still to come), a random game
with a usable close, a random side, the best number across the books (the entry rule of STEAM and
KEY_CROSS; for a DISLOCATION, whose entry is one book's quote, this is the stricter baseline: a
member who shops lines gets it with no signal at all) and the same grader. The opposite side of the
signal at its own instant is graded by the type's own rule (a DISLOCATION: the same book's other
side). Draws are seeded per signal, so a signal's null does not change when other signals are added.

Pure: the caller hands in every stored quote (`MarketTapes`) and the closes.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from config.settings import Settings
from engine.audit import Trial, stable_seed
from engine.clv import Ungradable, close_usable, clv_points, entry_value
from engine.cover import CoverModel
from engine.models import MARKET_SIDES, BookLine, Close, Entry, Grade, Market, Side, Signal, SignalType
from engine.odds import devig
from engine.signals import best_entry, entry_for

#: Attempts per wanted draw before giving up on a signal's null (e.g. a time to tip no other game reaches).
ATTEMPTS_PER_DRAW = 20


class MarketTapes:
    """Every game's quotes per market, to read any market as it stood at any instant."""

    def __init__(self, timeline: Iterable[tuple[BookLine, bool]]) -> None:
        self._events: dict[tuple[str, Market], list[tuple[BookLine, bool]]] = {}
        for line, withdrawn in timeline:
            self._events.setdefault((line.game_id, line.market), []).append((line, withdrawn))
        self._times: dict[tuple[str, Market], list[datetime]] = {}
        for key, events in self._events.items():
            events.sort(key=lambda item: item[0].observed_at)
            self._times[key] = [line.observed_at for line, _ in events]
        self._memo: dict[tuple[str, Market, int], dict[str, BookLine]] = {}

    def add(self, line: BookLine, withdrawn: bool = False) -> None:
        """One more quote, as the walk-forward audit learns them commit by commit (in time order; an
        earlier one is put in its place and the market's memo dropped)."""
        key = (line.game_id, line.market)
        events = self._events.setdefault(key, [])
        times = self._times.setdefault(key, [])
        if times and line.observed_at < times[-1]:
            at = bisect_right(times, line.observed_at)
            events.insert(at, (line, withdrawn))
            times.insert(at, line.observed_at)
            self._memo = {k: v for k, v in self._memo.items() if k[:2] != key}
            return
        events.append((line, withdrawn))
        times.append(line.observed_at)

    def has(self, game_id: str, market: Market) -> bool:
        return bool(self._times.get((game_id, market)))

    def games(self, market: Market) -> list[str]:
        return sorted(game for game, m in self._events if m == market)

    def lines_at(self, game_id: str, market: Market, at: datetime) -> dict[str, BookLine]:
        """Each book's line as it stood at `at` (observed at or before it; withdrawn books left out)."""
        key = (game_id, market)
        times = self._times.get(key)
        if not times:
            return {}
        count = bisect_right(times, at)
        memo_key = (game_id, market, count)
        cached = self._memo.get(memo_key)
        if cached is not None:
            return cached
        lines: dict[str, BookLine] = {}
        for line, withdrawn in self._events[key][:count]:
            if withdrawn:
                lines.pop(line.book, None)
            else:
                lines[line.book] = line
        self._memo[memo_key] = lines
        return lines


@dataclass(frozen=True, slots=True)
class NullContext:
    tapes: MarketTapes
    closes: Mapping[tuple[str, Market], Close]
    tips: Mapping[str, datetime]  # scheduled tip per game
    cover_for: Callable[[str], CoverModel]  # game id -> its sport's cover model
    max_age: timedelta
    draws: int
    seed: int
    devig_method: str = "multiplicative"

    @classmethod
    def of(
        cls,
        settings: Settings,
        tapes: MarketTapes,
        closes: Mapping[tuple[str, Market], Close],
        tips: Mapping[str, datetime],
        cover_for: Callable[[str], CoverModel],
    ) -> NullContext:
        """The null as configured (`clv.close_max_age_seconds`, `null_draws`, `seed`; `consensus.devig`): one
        configuration for the hindsight audit and the walk-forward one."""
        clv = settings.clv
        return cls(
            tapes=tapes,
            closes=closes,
            tips=tips,
            cover_for=cover_for,
            max_age=timedelta(seconds=clv.close_max_age_seconds),
            draws=clv.null_draws,
            seed=clv.seed,
            devig_method=settings.consensus.devig,
        )


def _entry(
    kind: SignalType,
    lines: Mapping[str, BookLine],
    market: Market,
    side: Side,
    rng: random.Random,
    book: str | None,
    method: str,
) -> Entry | None:
    if not lines:
        return None
    if kind == SignalType.DISLOCATION:
        chosen = book if book is not None else rng.choice(sorted(lines))
        line = lines.get(chosen)
        if line is None:
            return None
        return entry_for(line, devig(line.price_a, line.price_b, method), side)  # type: ignore[arg-type]
    probs = {b: devig(line.price_a, line.price_b, method) for b, line in lines.items()}  # type: ignore[arg-type]
    return best_entry(lines, probs, market, side)


def grade_entry_trial(
    ctx: NullContext, game_id: str, market: Market, side: Side, entry: Entry, at: datetime
) -> Trial | None:
    """Grade an entry taken at `at` by the signals' own rules; None when the close cannot grade it."""
    close = ctx.closes.get((game_id, market))
    tip = ctx.tips.get(game_id)
    if close is None or tip is None or close_usable(close, at, tip, ctx.max_age) is not None:
        return None
    try:
        value = entry_value(market, side, entry.point, entry.price, close, ctx.cover_for(game_id))
    except Ungradable:
        return None
    return Trial(
        game_id=game_id,
        beat=value.beat,
        push=value.is_push,
        clv=value.ev,
        clv_points=clv_points(market, side, entry.point, close.side_point(side)),
    )


def null_trials(ctx: NullContext, signal: Signal, candidates: Sequence[str]) -> list[Trial]:
    """`ctx.draws` matched random entries for one signal (fewer if the replay cannot supply them)."""
    rng = random.Random(stable_seed(ctx.seed, signal.id))  # noqa: S311 - a seeded statistical draw, not a secret
    to_tip = signal.commence_time - signal.created_at
    found: list[Trial] = []
    for _ in range(ctx.draws * ATTEMPTS_PER_DRAW):
        if len(found) >= ctx.draws or not candidates:
            break
        game_id = rng.choice(candidates)
        tip = ctx.tips.get(game_id)
        if tip is None:
            continue
        at = tip - to_tip
        side = rng.choice(MARKET_SIDES[signal.market])
        lines = ctx.tapes.lines_at(game_id, signal.market, at)
        # Every type's null takes the best number across the books: for a DISLOCATION that is stricter than a
        # random book's quote, because any member who shops lines gets it without a signal.
        entry = _entry(SignalType.STEAM, lines, signal.market, side, rng, None, ctx.devig_method)
        if entry is None:
            continue
        trial = grade_entry_trial(ctx, game_id, signal.market, side, entry, at)
        if trial is not None:
            found.append(trial)
    return found


def measure_signal(
    ctx: NullContext, signal: Signal, grade: Grade, candidates: Sequence[str]
) -> tuple[Trial, list[Trial], Trial | None]:
    """One graded signal as both audits measure it: its own trial, its null draws and its opposite side."""
    own = Trial(game_id=signal.game_id, beat=grade.beat, push=grade.push, clv=grade.clv_ev, clv_points=grade.clv_points)
    return own, null_trials(ctx, signal, candidates), opposite_trial(ctx, signal)


def opposite_trial(ctx: NullContext, signal: Signal) -> Trial | None:
    """The other side of the same market at the signal's own instant, by the same entry rule."""
    first, second = MARKET_SIDES[signal.market]
    side = second if signal.side == first else first
    lines = ctx.tapes.lines_at(signal.game_id, signal.market, signal.created_at)
    book = signal.entry.book if signal.type == SignalType.DISLOCATION else None
    entry = _entry(signal.type, lines, signal.market, side, random.Random(0), book, ctx.devig_method)  # noqa: S311
    if entry is None:
        return None
    return grade_entry_trial(ctx, signal.game_id, signal.market, side, entry, signal.created_at)
