"""Print a `--summary-json` audit as a Markdown table (how docs/signal-integrity.md's tables are made).

Beside each class's whole record: its alert state (walk-forward, docs/signal-integrity.md §7) with the
instant it was reached, and its record since then (the signals fired after that instant, graded).

python scripts/audit_table.py out.json [--kinds class,preset,score]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def _pct(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "–"
    return f"{100 * value:+.1f}" if signed else f"{100 * value:.1f}"


def _lift(row: dict) -> str:
    lift = _pct(row["lift"], True)
    if row["lift_low"] is not None:
        lift += f" ({_pct(row['lift_low'], True)}…{_pct(row['lift_high'], True)})"
    return lift


def _state(row: dict) -> str:
    """ "refuted since 2026-08-05 23:35" / "tiered B since …" / "unproven from the start"; – for non-classes."""
    state = row.get("alert_state")
    if state is None:
        return "–"
    label = f"tiered {row['tier']}" if state == "tiered" else state
    since = row.get("state_since")
    return f"{label} since {since[:16].replace('T', ' ')}" if since else f"{label} from the start"


def _since_then(row: dict) -> str:
    """The forward record: "12: 41.7 vs 45.0, −3.3 (−20.0…+10.0)" (graded: beat % vs null %, lift)."""
    forward = row.get("forward")
    if forward is None:
        return "–"
    if not forward["graded"]:
        return "0"
    return f"{forward['graded']}: {_pct(forward['beat_rate'])} vs {_pct(forward['null_rate'])}, {_lift(forward)}"


def table(summary: dict, kinds: set[str]) -> str:
    lines = [
        "| class | graded | beat % | null % | lift (95%) | opposite % | CLV% | W-L-P | tier | alert state | "
        "since then: graded: beat % vs null %, lift (95%) |",
        "|---|---:|---:|---:|---|---:|---:|---|---|---|---|",
    ]
    for row in summary["classes"]:
        if row["kind"] not in kinds:
            continue
        record = row["record"]
        wlp = f"{record['wins']}-{record['losses']}-{record['pushes']}" if record else "–"
        verdict = row["tier"] if not row["reason"] else f"unproven: {row['reason']}"
        lines.append(
            f"| {row['class']} | {row['graded']} | {_pct(row['beat_rate'])} | {_pct(row['null_rate'])} | "
            f"{_lift(row)} | {_pct(row['opposite_rate'])} | {_pct(row['mean_clv'], True)} | {wlp} | {verdict} | "
            f"{_state(row)} | {_since_then(row)} |"
        )
    lines.append("")
    lines.append(
        f"Graded {summary['graded']}, ungraded (no close) {summary['ungraded']}; close: {summary['close_source']}."
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("summary", type=Path)
    parser.add_argument("--kinds", default="class,preset,score")
    args = parser.parse_args()
    print(table(json.loads(args.summary.read_text(encoding="utf-8")), set(args.kinds.split(","))))


if __name__ == "__main__":
    main()
