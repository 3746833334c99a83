"""A class's alert state: what the audit lets a class (type × market) do to members' phones.

- **tiered** (S/A/B): the class holds a tier by the audit's tier rule (`engine.audit.decide_tier`); it pings.
- **refuted**: at least `clv.refute_min_graded` graded and its lift interval lies entirely below zero. It
  is still detected, stored, graded and shown (so it can redeem itself), but it never pings a role and
  never sends a DM, and its messages say why.
- **unproven**: neither: too little evidence either way. It pings unless a server (`/mod alerts set …
  minimum: tiered`) or a member (`/alerts dm minimum: tiered`) raised the bar.

A state holds from its `since` on, and only grades committed at `since` can make it: the state at an
instant is the last change made *strictly* before it, so an alert is gated only by grades known before it
fired (`state_before`), on a replay exactly as live.

Pure: the rule, the ordering of the bars, and the words members read.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

TIERED = "tiered"
UNPROVEN = "unproven"
REFUTED = "refuted"
STATES = (TIERED, UNPROVEN, REFUTED)
#: Bars a server or a member may set: "unproven" (every class that is not refuted) or "tiered".
MINIMUMS = (UNPROVEN, TIERED)
DEFAULT_MINIMUM = UNPROVEN
_ORDER = {REFUTED: 0, UNPROVEN: 1, TIERED: 2}


class AuditRow(Protocol):
    """What the rule reads of a class's audit row (`engine.audit.ClassAudit`)."""

    name: str
    graded: int
    beats: int
    null_rate: float | None
    lift: float | None
    lift_low: float | None
    lift_high: float | None
    tier: str
    reason: str


def decide_state(graded: int, tier: str, lift_high: float | None, refute_min_graded: int) -> str:
    """tiered if the row holds a tier; refuted if `graded` ≥ the minimum and the whole lift interval is
    below zero; unproven otherwise."""
    if tier != UNPROVEN:
        return TIERED
    if graded >= refute_min_graded and lift_high is not None and lift_high < 0:
        return REFUTED
    return UNPROVEN


def meets(state: str, minimum: str) -> bool:
    """Whether a class in `state` clears a bar (`minimum` of `MINIMUMS`); a refuted class clears none."""
    return state != REFUTED and _ORDER[state] >= _ORDER[minimum]


def parse_minimum(text: str) -> str:
    """ "unproven" or "tiered" (any case); ValueError with the choices otherwise."""
    value = text.strip().casefold()
    if value not in MINIMUMS:
        raise ValueError(f"the minimum is one of {', '.join(MINIMUMS)}, not {text!r}")
    return value


def _points(value: float) -> str:
    return f"{100 * value:+.1f}".replace("-", "−")


def label_of(state: str, tier: str) -> str:
    """ "tiered B", "unproven", "refuted": how a state is named wherever it is shown."""
    return f"{TIERED} {tier}" if state == TIERED else state


def lift_text(lift: float, low: float | None, high: float | None) -> str:
    """ "lift −10.9 pts (−15.7…−6.2)" (the interval where there is one)."""
    text = f"lift {_points(lift)} pts"
    if low is not None and high is not None:
        text += f" ({_points(low)}…{_points(high)})"
    return text


@dataclass(frozen=True, slots=True)
class ClassState:
    """A class's alert state from `since` on, with the sample it rested on (what the audit said then)."""

    name: str
    state: str
    tier: str
    since: datetime | None  # None: the class has no recorded change (unproven from the start)
    graded: int = 0
    beats: int = 0
    null_rate: float | None = None
    lift: float | None = None
    lift_low: float | None = None
    lift_high: float | None = None
    reason: str = ""

    @classmethod
    def of(cls, row: AuditRow, since: datetime | None, refute_min_graded: int) -> ClassState:
        state = decide_state(row.graded, row.tier, row.lift_high, refute_min_graded)
        return cls(
            name=row.name,
            state=state,
            tier=row.tier,
            since=since,
            graded=row.graded,
            beats=row.beats,
            null_rate=row.null_rate,
            lift=row.lift,
            lift_low=row.lift_low,
            lift_high=row.lift_high,
            reason=row.reason if state == UNPROVEN else "",
        )

    @property
    def label(self) -> str:
        """ "tiered B", "unproven", "refuted"."""
        return label_of(self.state, self.tier)

    def evidence(self) -> str:
        """ "lift −10.9 pts (−15.7…−6.2) over 35 graded" (or as much of it as is known)."""
        if self.lift is None:
            return f"{self.graded} graded, no null to compare with"
        return f"{lift_text(self.lift, self.lift_low, self.lift_high)} over {self.graded} graded"

    def why(self) -> str:
        """Why the class is in its state, in one line."""
        if self.state == UNPROVEN and self.reason:
            return self.reason
        return self.evidence()

    def changes(self, previous: ClassState | None) -> bool:
        """A new record is stored when the alert state or the tier changes (not for a grown sample)."""
        before_state = previous.state if previous is not None else UNPROVEN
        before_tier = previous.tier if previous is not None else UNPROVEN
        return (self.state, self.tier) != (before_state, before_tier)


def initial(name: str) -> ClassState:
    """A class before any change: unproven, with nothing graded."""
    return ClassState(name=name, state=UNPROVEN, tier=UNPROVEN, since=None, reason="nothing graded yet")


def state_before(history: Iterable[ClassState], at: datetime) -> dict[str, ClassState]:
    """Each class's state at instant `at`: its last change made strictly before `at` (grades committed at
    `at` itself do not gate what fired at `at`)."""
    current: dict[str, ClassState] = {}
    for change in history:
        if change.since is None or change.since >= at:
            continue
        held = current.get(change.name)
        if held is None or held.since is None or held.since <= change.since:
            current[change.name] = change
    return current


def no_ping_reason(signal_class: str, state: ClassState | None, minimum: str, *, whose: str) -> str | None:
    """Why an alert of `signal_class` goes out without a ping (and, for DMs, is not sent), or None.

    `whose` names the bar: "this server's" or "your". A refuted class never pings, whatever the bar.
    """
    held = state or initial(signal_class)
    if held.state == REFUTED:
        return f"no ping: our audit refutes {signal_class} — {held.evidence()}"
    if not meets(held.state, minimum):
        return f"no ping: {signal_class} is {held.label} ({held.why()}), below {whose} minimum ({minimum})"
    return None
