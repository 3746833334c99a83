"""The CLV audit as users see it: per signal class (type × market) and per quality preset."""

from __future__ import annotations

from dataclasses import dataclass

from app.settings import Settings
from engine.audit import ClassAudit, audit_class, audit_outcomes
from engine.models import SignalType
from engine.presets import passes
from storage import Repositories


@dataclass(frozen=True, slots=True)
class AuditReport:
    classes: tuple[ClassAudit, ...]
    presets: tuple[ClassAudit, ...]
    signals_by_type: dict[str, int]

    @property
    def graded(self) -> int:
        return sum(c.graded for c in self.classes)

    def class_tiers(self) -> dict[str, str]:
        return {c.name: c.tier for c in self.classes}

    def as_dict(self) -> dict[str, object]:
        return {
            "signals_by_type": self.signals_by_type,
            "signals_total": sum(self.signals_by_type.values()),
            "graded": self.graded,
            "classes": [c.as_dict() for c in self.classes],
            "presets": [p.as_dict() for p in self.presets],
        }


async def build_audit(repos: Repositories, settings: Settings) -> AuditReport:
    rules = settings.clv.tiers
    classes = tuple(
        audit_class(f"{r.type.value}:{r.market.value}", r.graded, r.beats, r.pushes, rules)
        for r in sorted(await repos.grades.class_records(), key=lambda r: (r.type.value, r.market.value))
    )
    tiers = {c.name: c.tier for c in classes}
    graded = await repos.grades.graded_signals()
    presets = tuple(
        audit_outcomes(
            f"preset:{name}",
            ((grade.beat, grade.push) for signal, grade in graded if passes(signal, preset, tiers)),
            rules,
        )
        for name, preset in settings.presets.items()
    )
    counts = await repos.signals.count_by_type()
    return AuditReport(
        classes=classes,
        presets=presets,
        signals_by_type={kind.value: counts.get(kind, 0) for kind in SignalType},
    )


def format_audit(report: AuditReport) -> str:
    """A fixed-width table for the terminal."""
    header = f"{'class':<28} {'graded':>6} {'beats':>6} {'push':>5} {'beat %':>7}  {'Wilson 95%':<15} tier"
    lines = ["CLV audit (signals graded against the closing consensus)", header, "-" * len(header)]
    for row in (*report.classes, *report.presets):
        rate = "-" if row.rate is None else f"{100 * row.rate:6.1f}%"
        interval = f"{100 * row.interval[0]:5.1f}-{100 * row.interval[1]:5.1f}%" if row.graded else "-"
        counts = f"{row.graded:>6} {row.beats:>6} {row.pushes:>5}"
        lines.append(f"{row.name:<28} {counts} {rate:>7}  {interval:<15} {row.tier}")
    by_type = ", ".join(f"{kind} {count}" for kind, count in report.signals_by_type.items())
    lines.append(f"signals: {by_type}; graded {report.graded}")
    return "\n".join(lines)
