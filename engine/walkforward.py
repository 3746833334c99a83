"""The walk-forward audit: each class's audit as it stood when its grades were committed, and the alert
state it gave.

The audit a member reads (`engine.integrity.build_audit`) is computed in hindsight: every signal's null is
drawn from every game of the replay. The alert state cannot be: it gates alerts as they fire, so it may
only use what was known then. Here every graded signal is measured once, when its grade is committed
(at `graded_at`), its null drawn from the games whose closes were committed by then (`captured_at` ≤
`graded_at`) with the same sampler, seed and grader as the audit; the class's row is then recomputed
(`engine.audit.audit_sample`, game bootstrap included) and its state decided (`engine.alert_state`). A
change of state or tier is returned with `since` = that commit, and the state holds for what fires
strictly after it.

Pure: fed quotes, closes (with their game's tip) and grades in commit order. Feeding a database's rows
in the same order rebuilds exactly what the live feed built, which is how a restart resumes.
"""

from __future__ import annotations

from bisect import insort
from collections.abc import Callable, Iterable
from datetime import datetime

from config.settings import Settings
from engine.alert_state import ClassState
from engine.audit import ClassSample, audit_sample
from engine.cover import CoverModel
from engine.models import BookLine, Close, Grade, Market, Signal
from engine.null import MarketTapes, NullContext, measure_signal


class WalkForward:
    def __init__(self, settings: Settings, cover_for: Callable[[str], CoverModel]) -> None:
        clv = settings.clv
        self.rules = clv.tiers
        self.seed = clv.seed
        self.refute_min_graded = clv.refute_min_graded
        #: Below this many graded no state can change (no tier, no refutation): no audit is computed.
        self.floor = min([clv.refute_min_graded, *(rule.min_graded for rule in clv.tiers)])
        self.tapes = MarketTapes(())
        self.closes: dict[tuple[str, Market], Close] = {}
        self.tips: dict[str, datetime] = {}
        self.candidates: dict[Market, list[str]] = {market: [] for market in Market}
        self.samples: dict[str, ClassSample] = {}
        self.states: dict[str, ClassState] = {}
        self.ctx = NullContext.of(settings, self.tapes, self.closes, self.tips, cover_for)

    # what was committed ------------------------------------------------------------------------
    def add_lines(self, lines: Iterable[BookLine], *, withdrawn: bool = False) -> None:
        for line in lines:
            self.tapes.add(line, withdrawn)

    def add_close(self, close: Close, tip: datetime) -> None:
        """A market's close (committed at `close.captured_at`): from now on its game can be a null draw."""
        key = (close.game_id, close.market)
        new = key not in self.closes
        self.closes[key] = close
        self.tips[close.game_id] = tip
        if new and self.tapes.has(close.game_id, close.market):  # as the audit's: games with quotes to draw
            insort(self.candidates[close.market], close.game_id)

    def absorb(self, graded: Iterable[tuple[Signal, Grade]]) -> set[str]:
        """Measure graded signals into their classes (closes committed with them must be added first);
        returns the classes touched. Deciding is `decide`'s."""
        touched = set()
        for signal, grade in graded:
            name = signal.signal_class
            sample = self.samples.get(name)
            if sample is None:
                sample = self.samples[name] = ClassSample(name=name, kind="class")
            sample.add(*measure_signal(self.ctx, signal, grade, self.candidates[signal.market]))
            touched.add(name)
        return touched

    def decide(self, classes: Iterable[str], at: datetime) -> list[ClassState]:
        """Re-audit `classes` as they stand and return the changes of state or tier, made `at`."""
        changes = []
        for name in sorted(classes):
            sample = self.samples[name]
            if len(sample.signals) < self.floor:
                continue  # too few to tier or to refute: unproven, as every class starts
            row = audit_sample(sample, self.rules, seed=self.seed)
            state = ClassState.of(row, at, self.refute_min_graded)
            if state.changes(self.states.get(name)):
                self.states[name] = state
                changes.append(state)
        return changes

    def grade(self, graded: Iterable[tuple[Signal, Grade]], at: datetime) -> list[ClassState]:
        """The grades committed `at`: measured, and the changes they make."""
        return self.decide(self.absorb(graded), at)
