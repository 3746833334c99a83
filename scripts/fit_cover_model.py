"""Count the NBA closing-line outcomes that `engine/cover.py` needs (a developer tool, run by hand).

    python scripts/fit_cover_model.py [PATH/TO/nba_2008-2025.csv] [--holdout]

Writes `engine/data/cover_nba.json`: raw integer counts only, so the model's pooling and tilt stay in code
where they can be read and tested, and the table can be refit without touching the engine. The runtime
never reads ../shared: it reads the file this writes. Also prints the summary figures that COVER.md quotes
(SDs of the residuals and raw push rates at key numbers), all computed here from the same rows.
`--holdout` also prints the even/odd-season check behind the pooling rule's window and minimum.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import sys
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CSV = ROOT.parent / "shared" / "data" / "nba-lines-scores-2008-2025" / "nba_2008-2025.csv"
OUT = ROOT / "engine" / "data" / "cover_nba.json"
SOURCE = "Kaggle nba_2008-2025 via JDSB123/green_bier_sports_nba_model"
SCRIPT = "scripts/fit_cover_model.py"

Table = dict[float, Counter[int]]


def _half_point(text: str) -> float:
    """A line as a float that must sit on the half-point grid (the model's rows are keyed by it)."""
    value = float(text)
    if value * 2 != round(value * 2):
        raise ValueError(f"line {text!r} is not on the half-point grid")
    return value + 0.0  # normalise -0.0 to 0.0 so a pick'em has one key


def count(path: Path) -> tuple[Table, Table, dict[str, int], list[tuple[float, int]], list[tuple[float, int]]]:
    """Side-perspective spread counts, total counts, games per market, and the raw residual rows.

    Spreads are counted once from each side: (home close h, home margin m) and (away close -h, away
    margin -m), so the table is exactly symmetric and either side can look itself up by its own point.
    """
    spreads: Table = defaultdict(Counter)
    totals: Table = defaultdict(Counter)
    games = {"spreads": 0, "totals": 0}
    spread_rows: list[tuple[float, int]] = []  # (home close, home margin)
    total_rows: list[tuple[float, int]] = []  # (close total, final total)
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            home, away = int(row["score_home"]), int(row["score_away"])
            if row["spread"].strip():
                unsigned = _half_point(row["spread"])
                if row["whos_favored"] not in ("home", "away"):
                    raise ValueError(f"unexpected whos_favored {row['whos_favored']!r}")
                close = (-unsigned if row["whos_favored"] == "home" else unsigned) + 0.0
                margin = home - away
                spreads[close][margin] += 1
                spreads[-close + 0.0][-margin] += 1
                spread_rows.append((close, margin))
                games["spreads"] += 1
            if row["total"].strip():
                close_total = _half_point(row["total"])
                totals[close_total][home + away] += 1
                total_rows.append((close_total, home + away))
                games["totals"] += 1
    return spreads, totals, games, spread_rows, total_rows


def _dense(table: Table) -> list[dict[str, object]]:
    """Each close as its first outcome and the run of counts from there (zeros inside the run kept)."""
    rows: list[dict[str, object]] = []
    for close in sorted(table):
        counts = table[close]
        first, last = min(counts), max(counts)
        rows.append({"close": close, "first": first, "counts": [counts.get(k, 0) for k in range(first, last + 1)]})
    return rows


def _sd(values: list[float]) -> tuple[float, float]:
    mean = sum(values) / len(values)
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def summary(spread_rows: list[tuple[float, int]], total_rows: list[tuple[float, int]]) -> list[str]:
    """The figures COVER.md quotes, computed from the rows (never typed in by hand)."""
    lines: list[str] = []
    mean, sd = _sd([m + c for c, m in spread_rows])
    lines.append(f"spreads: {len(spread_rows)} games; home margin + home close: mean {mean:+.3f}, sd {sd:.3f}")
    mean, sd = _sd([t - c for c, t in total_rows])
    lines.append(f"totals: {len(total_rows)} games; final total - close total: mean {mean:+.3f}, sd {sd:.3f}")
    for key in (1, 2, 3, 4, 5, 6, 7, 8, 10):
        at = [(c, m) for c, m in spread_rows if abs(c) == key]
        pushes = sum(1 for c, m in at if m + c == 0)
        lines.append(f"spread close |{key}|: {len(at)} games, {pushes} pushes, push rate {pushes / len(at):.4f}")
    for key in (200, 210, 220, 230):
        at = [(c, t) for c, t in total_rows if c == key]
        pushes = sum(1 for c, t in at if t == c)
        lines.append(f"total close {key}: {len(at)} games, {pushes} pushes, push rate {pushes / len(at):.4f}")
    return lines


def _read_seasons(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def holdout(path: Path) -> list[str]:
    """Mean log-likelihood of each game's outcome under rows fitted on the other parity of seasons.

    Scores a pooling rule (window, minimum observations) on data it did not see. Outcomes a sparse row
    misses get a 1% normal floor (SD 12 spreads, 18 totals) so one zero cannot dominate the score.
    """
    sys.path.insert(0, str(ROOT))
    from engine.cover import EmpiricalCoverModel
    from engine.models import Market, Side

    rows = _read_seasons(path)
    lines: list[str] = []
    for window, min_games in ((0, 400), (2, 400), (2, 1000), (2, 2000), (2, 4000), (2, 10000)):
        scores = {"spreads": 0.0, "totals": 0.0}
        seen = {"spreads": 0, "totals": 0}
        for parity in (0, 1):
            fit_rows = [r for r in rows if int(r["season"]) % 2 == parity]
            test_rows = [r for r in rows if int(r["season"]) % 2 != parity]
            spreads: Table = defaultdict(Counter)
            totals: Table = defaultdict(Counter)
            for r in fit_rows:
                home, away = int(r["score_home"]), int(r["score_away"])
                if r["spread"].strip():
                    close = (-float(r["spread"]) if r["whos_favored"] == "home" else float(r["spread"])) + 0.0
                    spreads[close][home - away] += 1
                    spreads[-close + 0.0][away - home] += 1
                totals[float(r["total"])][home + away] += 1
            model = EmpiricalCoverModel(spreads, totals, window=window, min_games=min_games)
            for r in test_rows:
                home, away = int(r["score_home"]), int(r["score_away"])
                cases = [("totals", Market.TOTALS, Side.OVER, float(r["total"]), home + away, 18.0)]
                if r["spread"].strip():
                    close = (-float(r["spread"]) if r["whos_favored"] == "home" else float(r["spread"])) + 0.0
                    cases.append(("spreads", Market.SPREADS, Side.HOME, close, home - away, 12.0))
                for name, market, side, close, outcome, sd in cases:
                    ys, logp = model._base_row(market, side, close)
                    probs = dict(zip(ys.tolist(), (math.exp(v) for v in logp.tolist()), strict=True))
                    mu = close if market == Market.TOTALS else -close
                    floor = 0.5 * (
                        math.erf((outcome + 0.5 - mu) / sd / 2**0.5) - math.erf((outcome - 0.5 - mu) / sd / 2**0.5)
                    )
                    scores[name] += math.log(0.99 * probs.get(float(outcome), 0.0) + 0.01 * floor)
                    seen[name] += 1
        lines.append(
            f"holdout window {window} min {min_games}: spreads {scores['spreads'] / seen['spreads']:.4f}, "
            f"totals {scores['totals'] / seen['totals']:.4f} (mean log-likelihood per game, higher is better)"
        )
    return lines


def main(argv: list[str]) -> int:
    args = [a for a in argv[1:] if not a.startswith("--")]
    path = Path(args[0]) if args else DEFAULT_CSV
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    spreads, totals, games, spread_rows, total_rows = count(path)
    header = {
        "source": SOURCE,
        "file": path.name,
        "sha256": digest,
        "games": games,
        "fit_date": datetime.now(UTC).date().isoformat(),
        "script": SCRIPT,
        "spreads": "close = the side's own point, outcome = its margin; every game counted from both sides",
        "totals": "close = the closing total, outcome = final total (OT included)",
    }
    # One row per line keeps the file small and its diffs readable.
    parts = ['{"header": ' + json.dumps(header, sort_keys=True) + ","]
    for name, table in (("spreads", spreads), ("totals", totals)):
        rows = _dense(table)
        parts.append(f'"{name}": [')
        parts.append(",\n".join(json.dumps(row, separators=(",", ":")) for row in rows))
        parts.append("]" + ("," if name == "spreads" else ""))
    parts.append("}")
    text = "\n".join(parts) + "\n"
    json.loads(text)  # the hand-joined file must still be valid JSON
    OUT.write_text(text)
    print(f"wrote {OUT.relative_to(ROOT)} ({len(text.encode())} bytes), sha256 of source {digest}")
    for line in summary(spread_rows, total_rows):
        print(line)
    if "--holdout" in argv:
        for line in holdout(path):
            print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
