"""The cover model: P(win), P(push), P(lose) of a spread or total bet at any point, given the close.

A bet or signal is often entered at a different number than the market closes at (we took -2.5, it
closed -3.5). Grading it against the close needs the chance that the side wins, pushes or loses *at the
entry number* when the market's final opinion is "this side at the close number has no-vig probability
p". Prices alone cannot say that: the answer depends on how much of the outcome distribution sits on each
integer between the two numbers, and on the integers themselves (pushes).

So each model holds a base distribution of the side's integer "score" y given the close:

* spreads: y = the side's margin X (its points minus the opponent's); the side wins at its own point e
  iff X + e > 0, pushes iff X + e == 0;
* over: y = the final total T; wins at e iff T > e;
* under: y = -T; wins at e iff T < e.

In every case the side wins iff y > L, pushes iff y == L and loses iff y < L, with the line L = -e for
spreads and the under and L = e for the over. The base distribution is then exponentially tilted,
P'(y) ∝ P(y)·exp(θ·(y - L_close)), with θ solved so that P'(win)/(P'(win)+P'(lose)) at the close equals
the close's no-vig probability. The tilt moves probability smoothly along the integers but never moves it
off them, so push mass stays where the data (or the discretised normal) puts it; θ = 0 when the base
distribution already agrees with the market.

`EmpiricalCoverModel` builds the base from the bundled NBA counts (`engine/data/cover_nba.json`, see
`engine/data/COVER.md` for the source, the pooling rule and the measured figures); `NormalCoverModel` is
the parametric fallback for sports without a score history here (WNBA). H2H has no points, so it is not
handled here: moneyline CLV is decimal × close no-vig probability − 1, computed elsewhere.
"""

from __future__ import annotations

import json
import math
from bisect import bisect_left, bisect_right
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any, Protocol

import numpy as np

from config.settings import Settings
from engine.models import Market, Side, is_side_a

#: The bundled NBA table, next to this module.
DATA_FILE = "cover_nba.json"
NBA_SPORT_KEY = "basketball_nba"

#: Pooling rule of the empirical model (COVER.md explains the choice): closes within `WINDOW` points of
#: the target, same fractional part, widened a whole point at a time until at least `MIN_GAMES`
#: observations are in the row.
WINDOW = 2
MIN_GAMES = 4000

#: The discretised normal is cut at this many SDs each side of its mean (mass beyond is < 1e-32).
_NORMAL_SPAN_SD = 12.0
#: Tilt solver: tolerance on the log-odds at the close, iteration cap, largest Newton step in θ per point.
_TILT_TOL = 1e-12
_TILT_MAX_ITER = 200
_TILT_MAX_STEP = 1.0
#: Caches are cleared when they reach this size, so a long-running process cannot grow them without bound.
_CACHE_MAX = 65536


@dataclass(frozen=True, slots=True)
class Outcome:
    """Probabilities of one bet's three results. They sum to 1."""

    win: float
    push: float
    lose: float

    def expected_value(self, decimal_odds: float) -> float:
        """Expected profit per unit staked at `decimal_odds`: a push refunds the stake, so it adds nothing."""
        return self.win * (decimal_odds - 1.0) - self.lose


class CoverModel(Protocol):
    """Anything that turns (entry point, close point, close no-vig probability) into an `Outcome`."""

    name: str

    def outcome(
        self, market: Market, side: Side, entry_point: float, close_point: float, close_prob: float
    ) -> Outcome: ...


# A base row: the sorted integer scores y with positive probability, and log P(y) (unnormalised is fine).
_Row = tuple[np.ndarray, np.ndarray]
# A tilted row ready for lookups: the scores as a list, and the cumulative probabilities (cum[0] == 0).
_Tilted = tuple[list[int], list[float]]


def _line(market: Market, side: Side, point: float) -> float:
    """The side's line L: it wins iff y > L. See the module docstring for why each sign."""
    if market == Market.TOTALS and side == Side.OVER:
        return point
    return -point


def _check(market: Market, side: Side, entry_point: float, close_point: float, close_prob: float) -> None:
    if market == Market.H2H:
        raise ValueError("the cover model has no points for h2h: use decimal × close no-vig probability − 1")
    is_side_a(market, side)  # raises ValueError if the side is not of this market
    if not (math.isfinite(entry_point) and math.isfinite(close_point)):
        raise ValueError(f"points must be finite, got entry {entry_point}, close {close_point}")
    if not 0.0 < close_prob < 1.0:
        raise ValueError(f"close_prob must be strictly between 0 and 1, got {close_prob}")


def solve_tilt(ys: np.ndarray, logp: np.ndarray, line: float, prob: float) -> float:
    """θ such that the tilted distribution gives P(y > line) / (P(y > line) + P(y < line)) == prob.

    The log-odds f(θ) = log Σ_win P·e^{θd} − log Σ_lose P·e^{θd} (d = y − line) is strictly increasing
    (its derivative is the tilted mean of d over the wins minus that over the losses, > 0), so a Newton
    iteration kept inside a bisection bracket converges from θ = 0. Sums are taken in log space so a
    steep tilt cannot overflow.
    """
    lose_end = int(np.searchsorted(ys, line, "left"))
    win_start = int(np.searchsorted(ys, line, "right"))
    if lose_end == 0 or win_start == len(ys):
        raise ValueError(f"the base distribution has no mass on one side of the line {line}: cannot tilt it")
    d_win = ys[win_start:] - line
    d_lose = ys[:lose_end] - line
    lp_win = logp[win_start:]
    lp_lose = logp[:lose_end]
    target = math.log(prob) - math.log1p(-prob)

    theta, lo, hi = 0.0, -math.inf, math.inf
    for _ in range(_TILT_MAX_ITER):
        a = lp_win + theta * d_win
        b = lp_lose + theta * d_lose
        ma, mb = float(a.max()), float(b.max())
        ea, eb = np.exp(a - ma), np.exp(b - mb)
        sa, sb = float(ea.sum()), float(eb.sum())
        value = (ma + math.log(sa)) - (mb + math.log(sb)) - target
        if abs(value) < _TILT_TOL:
            return theta
        if value > 0:
            hi = theta
        else:
            lo = theta
        slope = float(ea @ d_win) / sa - float(eb @ d_lose) / sb
        step = -value / slope
        step = max(-_TILT_MAX_STEP, min(_TILT_MAX_STEP, step))
        candidate = theta + step
        if not lo < candidate < hi:
            candidate = (lo + hi) / 2  # Newton overshot the bracket: both ends are finite here
        if candidate == theta:  # the bracket has collapsed to one float
            return theta
        theta = candidate
    raise RuntimeError(f"tilt did not converge for line {line}, prob {prob}")


def _tilt(row: _Row, line: float, prob: float) -> _Tilted:
    """The tilted row as cumulative probabilities, for O(log n) lookups at any entry line."""
    ys, logp = row
    theta = solve_tilt(ys, logp, line, prob)
    a = logp + theta * (ys - line)
    weights = np.exp(a - a.max())
    cum = np.concatenate(([0.0], np.cumsum(weights)))
    cum /= cum[-1]
    return [int(y) for y in ys], [float(c) for c in cum]


def _lookup(tilted: _Tilted, line: float) -> Outcome:
    ys, cum = tilted
    lose_end = bisect_left(ys, line)
    win_start = bisect_right(ys, line)
    lose = cum[lose_end]
    push = cum[win_start] - lose
    return Outcome(win=1.0 - cum[win_start], push=push, lose=lose)


class _TiltedModel:
    """Shared machinery: validation, the two caches, and the lookup. Subclasses supply `_base_row`."""

    name: str

    def __init__(self) -> None:
        self._rows: dict[tuple[Market, Side, float], _Row] = {}
        self._tilted: dict[tuple[Market, Side, float, float], _Tilted] = {}

    def _base_row(self, market: Market, side: Side, close_point: float) -> _Row:
        raise NotImplementedError

    def _row_key(self, close_point: float) -> float:
        return close_point

    def outcome(self, market: Market, side: Side, entry_point: float, close_point: float, close_prob: float) -> Outcome:
        """Win/push/lose at `entry_point`, with the model tilted to price `close_point` at `close_prob`.

        Points are the side's own (away +3.5 is +3.5; home -3.5 is -3.5; totals are the total).
        """
        tilt_key = (market, side, close_point, close_prob)
        tilted = self._tilted.get(tilt_key)
        if tilted is None:
            _check(market, side, entry_point, close_point, close_prob)
            row_key = (market, side, self._row_key(close_point))
            row = self._rows.get(row_key)
            if row is None:
                row = self._base_row(market, side, row_key[2])
                if len(self._rows) >= _CACHE_MAX:
                    self._rows.clear()
                self._rows[row_key] = row
            tilted = _tilt(row, _line(market, side, close_point), close_prob)
            if len(self._tilted) >= _CACHE_MAX:
                self._tilted.clear()
            self._tilted[tilt_key] = tilted
        elif not math.isfinite(entry_point):
            raise ValueError(f"entry point must be finite, got {entry_point}")
        return _lookup(tilted, _line(market, side, entry_point))


def _half_point_grid(point: float) -> float:
    """The nearest half point. Ties (quarter points) go to the even count of half points, i.e. Python's
    round(), which is symmetric about 0, so home -3.25 and away +3.25 still use mirrored rows."""
    return round(point * 2) / 2 + 0.0


Counts = Mapping[float, Mapping[int, int]]


class EmpiricalCoverModel(_TiltedModel):
    """The NBA model: base distributions pooled from real (close, outcome) counts, then tilted.

    `spreads` maps the side's own closing point to counts of the side's margin (pass both orientations
    of every game, as the bundled table does, to keep home and away symmetric); `totals` maps the closing
    total to counts of the final total. Closes must be on the half-point grid.

    The row for a close c pools every close c_i with the same fractional part (c_i − c is a whole number)
    within `window` points, widening a whole point at a time (both sides at once) until it holds at least
    `min_games` observations or the table runs out. Each observation is shifted by that whole number so
    its expectation lines up with c (spreads: X + (c_i − c); totals: T − (c_i − c)): integer shifts keep
    the integer (push) mass real. A close beyond the data's range just widens further, borrowing the shape
    of the nearest closes; a close off the half-point grid uses the nearest half point's row (the tilt
    still prices the exact close).

    A basketball game cannot end level, so unless `allow_ties` is set the spread rows drop margin 0 and
    renormalise: the raw data never has it, only a shifted neighbour can land there, and keeping it would
    invent push mass at a pick'em.
    """

    def __init__(
        self,
        spreads: Counts,
        totals: Counts,
        *,
        window: int = WINDOW,
        min_games: int = MIN_GAMES,
        name: str = "nba-empirical",
        allow_ties: bool = False,
        header: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if window < 0 or min_games < 1:
            raise ValueError("window must be >= 0 and min_games >= 1")
        self.name = name
        self.window = window
        self.min_games = min_games
        self.allow_ties = allow_ties
        self.header: Mapping[str, Any] = dict(header or {})
        self._tables = {Market.SPREADS: self._freeze(spreads), Market.TOTALS: self._freeze(totals)}

    @staticmethod
    def _freeze(table: Counts) -> dict[float, dict[int, int]]:
        frozen: dict[float, dict[int, int]] = {}
        for close, counts in table.items():
            key = float(close) + 0.0
            if key * 2 != round(key * 2):
                raise ValueError(f"close {close} is not on the half-point grid")
            row = {int(y): int(n) for y, n in counts.items() if n}
            if any(n < 0 for n in row.values()):
                raise ValueError(f"negative count at close {close}")
            if row:
                frozen[key] = row
        return frozen

    def _row_key(self, close_point: float) -> float:
        return _half_point_grid(close_point)

    def _base_row(self, market: Market, side: Side, close_point: float) -> _Row:
        table = self._tables[market]
        candidates = sorted(
            (abs(c - close_point), c) for c in table if float(c - close_point).is_integer()
        )  # same fractional part as the target, nearest first
        pooled: dict[int, int] = {}
        games = 0
        last_distance = None
        for distance, close in candidates:
            if distance > self.window and games >= self.min_games and distance != last_distance:
                break
            shift = int(close - close_point)
            if market == Market.TOTALS:
                shift = -shift
            for y, n in table[close].items():
                pooled[y + shift] = pooled.get(y + shift, 0) + n
                games += n
            last_distance = distance
        if market == Market.SPREADS and not self.allow_ties:
            pooled.pop(0, None)
        if not pooled:
            raise ValueError(f"no {market} data for a close of {close_point}")
        if market == Market.TOTALS and side == Side.UNDER:
            pooled = {-y: n for y, n in pooled.items()}
        ys = np.array(sorted(pooled), dtype=np.float64)
        counts = np.array([pooled[int(y)] for y in ys], dtype=np.float64)
        return ys, np.log(counts / counts.sum())

    @classmethod
    def from_json(cls, text: str, **kwargs: Any) -> EmpiricalCoverModel:
        """Build from the text `scripts/fit_cover_model.py` writes (rows of dense counts from `first`)."""
        payload = json.loads(text)
        tables: dict[str, dict[float, dict[int, int]]] = {}
        for market in ("spreads", "totals"):
            tables[market] = {
                float(row["close"]): {row["first"] + i: n for i, n in enumerate(row["counts"]) if n}
                for row in payload[market]
            }
        return cls(tables["spreads"], tables["totals"], header=payload.get("header"), **kwargs)


def _normal_mass(lo: float, hi: float) -> float:
    """P(lo < Z < hi) for a standard normal, via erfc on the side of 0 where it keeps its precision."""
    if lo >= 0:
        return 0.5 * (math.erfc(lo / math.sqrt(2)) - math.erfc(hi / math.sqrt(2)))
    if hi <= 0:
        return 0.5 * (math.erfc(-hi / math.sqrt(2)) - math.erfc(-lo / math.sqrt(2)))
    return 0.5 * (math.erf(hi / math.sqrt(2)) - math.erf(lo / math.sqrt(2)))


class NormalCoverModel(_TiltedModel):
    """Parametric fallback: y discretised from a normal, P(y = k) = Φ((k+½−μ)/σ) − Φ((k−½−μ)/σ), then tilted.

    μ = −close (spreads, the side's margin), close (over) or −close (under, y = −T). Used where we have no
    score history (WNBA); the SDs come from configuration.
    """

    def __init__(self, sd_spreads: float, sd_totals: float) -> None:
        super().__init__()
        if not (sd_spreads > 0 and sd_totals > 0):
            raise ValueError("standard deviations must be positive")
        self.sd_spreads = float(sd_spreads)
        self.sd_totals = float(sd_totals)
        self.name = f"normal(sd_spreads={self.sd_spreads:g}, sd_totals={self.sd_totals:g})"

    def _base_row(self, market: Market, side: Side, close_point: float) -> _Row:
        sd = self.sd_spreads if market == Market.SPREADS else self.sd_totals
        mu = close_point if (market == Market.TOTALS and side == Side.OVER) else -close_point
        first = math.floor(mu - _NORMAL_SPAN_SD * sd)
        last = math.ceil(mu + _NORMAL_SPAN_SD * sd)
        ys, masses = [], []
        for k in range(first, last + 1):
            mass = _normal_mass((k - 0.5 - mu) / sd, (k + 0.5 - mu) / sd)
            if mass > 0:
                ys.append(k)
                masses.append(mass)
        return np.array(ys, dtype=np.float64), np.log(np.array(masses))


@lru_cache(maxsize=1)
def load_nba_model() -> EmpiricalCoverModel:
    """The bundled NBA model (read once per process)."""
    text = (resources.files("engine") / "data" / DATA_FILE).read_text(encoding="utf-8")
    return EmpiricalCoverModel.from_json(text)


@lru_cache(maxsize=32)
def _normal_model(sd_spreads: float, sd_totals: float) -> NormalCoverModel:
    return NormalCoverModel(sd_spreads, sd_totals)


def cover_model_for(sport_key: str, *, sd_spreads: float, sd_totals: float) -> CoverModel:
    """The empirical model for the NBA, where we have the scores; the normal fallback for anything else."""
    if sport_key == NBA_SPORT_KEY:
        return load_nba_model()
    return _normal_model(float(sd_spreads), float(sd_totals))


def cover_model_of(settings: Settings, sport_key: str) -> CoverModel:
    """The cover model a sport's spreads and totals are priced with (the fitted NBA one, else the normal
    fallback with the configured SDs): the engine, its restart and the audits all ask this."""
    clv = settings.clv
    return cover_model_for(sport_key, sd_spreads=clv.fallback_sd_spreads, sd_totals=clv.fallback_sd_totals)
