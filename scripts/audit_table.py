"""Print a `--summary-json` audit as a Markdown table (how docs/signal-integrity.md's tables are made).

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


def table(summary: dict, kinds: set[str]) -> str:
    lines = [
        "| class | graded | beat % | null % | lift (95%) | opposite % | CLV% | W-L-P | tier |",
        "|---|---:|---:|---:|---|---:|---:|---|---|",
    ]
    for row in summary["classes"]:
        if row["kind"] not in kinds:
            continue
        lift = _pct(row["lift"], True)
        if row["lift_low"] is not None:
            lift += f" ({_pct(row['lift_low'], True)}…{_pct(row['lift_high'], True)})"
        record = row["record"]
        wlp = f"{record['wins']}-{record['losses']}-{record['pushes']}" if record else "–"
        verdict = row["tier"] if not row["reason"] else f"unproven: {row['reason']}"
        lines.append(
            f"| {row['class']} | {row['graded']} | {_pct(row['beat_rate'])} | {_pct(row['null_rate'])} | {lift} | "
            f"{_pct(row['opposite_rate'])} | {_pct(row['mean_clv'], True)} | {wlp} | {verdict} |"
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
