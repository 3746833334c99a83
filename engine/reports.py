"""The CLV audit as users see it: one table of classes (type × market), presets and score buckets.

Every surface (the CLI, `--summary-json`, `/integrity`, `GET /v1/clv/summary`) shows this same
report; `engine.integrity` builds it from the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.alert_state import label_of, lift_text
from engine.audit import ClassAudit, ForwardRecord


@dataclass(frozen=True, slots=True)
class AuditReport:
    """`classes` holds every row: kind "class" first, then "preset", then "score"."""

    classes: tuple[ClassAudit, ...]
    signals_by_type: dict[str, int]
    close_source: str = "closing consensus (last pre-tip snapshot)"
    method: dict[str, object] = field(default_factory=dict)

    @property
    def graded(self) -> int:
        return sum(c.graded for c in self.classes if c.kind == "class")

    @property
    def ungraded(self) -> int:
        return sum(c.ungraded for c in self.classes if c.kind == "class")

    def rows(self, kind: str) -> tuple[ClassAudit, ...]:
        return tuple(c for c in self.classes if c.kind == kind)

    def class_tiers(self) -> dict[str, str]:
        return {c.name: c.tier for c in self.rows("class")}

    def class_lifts(self) -> dict[str, ClassAudit]:
        return {c.name: c for c in self.rows("class")}

    def as_dict(self) -> dict[str, object]:
        return {
            "close_source": self.close_source,
            "signals_by_type": self.signals_by_type,
            "signals_total": sum(self.signals_by_type.values()),
            "graded": self.graded,
            "ungraded": self.ungraded,
            "method": self.method,
            "classes": [c.as_dict() for c in self.classes],
        }


def _pct(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{100 * value:+.1f}" if signed else f"{100 * value:.1f}"


def forward_text(record: ForwardRecord) -> str:
    """ "12 graded, 41.7% beat, null 45.0%, lift −3.3 pts (−20.0…+10.0)" (or "none graded yet")."""
    if not record.graded:
        return "none graded yet"
    parts = [f"{record.graded} graded", f"{100 * (record.beat_rate or 0.0):.1f}% beat"]
    if record.null_rate is not None:
        parts.append(f"null {100 * record.null_rate:.1f}%")
    if record.lift is not None:
        parts.append(lift_text(record.lift, record.lift_low, record.lift_high))
    return ", ".join(parts)


def state_label(row: ClassAudit) -> str | None:
    """A class row's alert state, since when and why; None for preset and score rows.

    "refuted since 2026-08-05 23:35 UTC — lift −10.0 pts (−14.2…−6.9) over 35 graded"."""
    if row.alert_state is None:
        return None
    label = label_of(row.alert_state, row.tier)
    when = f" since {row.state_since:%Y-%m-%d %H:%M} UTC" if row.state_since is not None else " from the start"
    return f"{label}{when}" + (f" — {row.state_reason}" if row.state_reason else "")


def state_text(row: ClassAudit) -> str | None:
    """`state_label` and the class's record since then: "… · since then: 12 graded, 41.7% beat, …"."""
    label = state_label(row)
    if label is None:
        return None
    since = forward_text(row.forward) if row.forward is not None else "none graded yet"
    return f"{label} · since then: {since}"


def format_audit(report: AuditReport) -> str:
    """A fixed-width table for the terminal."""
    header = (
        f"{'class':<26} {'graded':>6} {'beats':>5} {'push':>4} {'beat%':>6} {'null%':>6} "
        f"{'lift':>6} {'lift 95%':>13} {'opp%':>6} {'CLV%':>6}  tier / reason"
    )
    lines = [
        "CLV audit: entries at the price a member could take (vig included) against the no-vig close",
        f"close: {report.close_source}",
        header,
        "-" * len(header),
    ]
    for row in report.classes:
        interval = "-" if row.lift_low is None else f"{_pct(row.lift_low, True)}..{_pct(row.lift_high, True)}"
        verdict = row.tier if not row.reason else f"{row.tier}: {row.reason}"
        lines.append(
            f"{row.name:<26} {row.graded:>6} {row.beats:>5} {row.pushes:>4} {_pct(row.rate):>6} "
            f"{_pct(row.null_rate):>6} {_pct(row.lift, True):>6} {interval:>13} {_pct(row.opposite_rate):>6} "
            f"{_pct(row.mean_clv, True):>6}  {verdict}"
        )
        if row.record is not None:
            wins, losses, pushes = row.record
            lines.append(f"{'':<26} against the result: {wins}-{losses}-{pushes} (W-L-P)")
        state = state_text(row)
        if state is not None:
            lines.append(f"{'':<26} alert state: {state}")
    by_type = ", ".join(f"{kind} {count}" for kind, count in report.signals_by_type.items())
    lines.append(f"signals: {by_type}; graded {report.graded}; ungraded (no close) {report.ungraded}")
    return "\n".join(lines)
