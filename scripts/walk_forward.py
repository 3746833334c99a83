"""The walk-forward table of docs/signal-integrity.md: alert states earned on the first half of a tape, tested
on the second.

    python scripts/walk_forward.py TAPE [--closes FILE] [--db PATH]

The tape is replayed through the engine as `run_bot.py --replay` does (into a fresh temporary database, or
into `--db`), so every class's alert state is judged walk-forward as its grades are committed. The split is
the tip of the middle game: half the games have tipped before it. Each class's state at the split is what
gated its alerts then (earned from the grades committed before it); its test is the audit of its signals
fired from the split on — graded, beside the same matched null, tiered on their own. A tier that is a
claim about the signals to come shows a later lift interval above zero; pooled rows add the classes of one
state together.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from config.settings import load_settings
from engine.audit import ClassAudit
from engine.events import EventBus
from engine.integrity import SplitRow, split_audit
from engine.providers.closes import ExternalCloses
from engine.providers.tape import read_tape
from engine.service import EngineService
from storage import Repositories


def _pct(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "–"
    return f"{100 * value:+.1f}" if signed else f"{100 * value:.1f}"


def _lift(row: ClassAudit) -> str:
    text = _pct(row.lift, True)
    if row.lift_low is not None and row.lift_high is not None:
        text += f" ({_pct(row.lift_low, True)}…{_pct(row.lift_high, True)})"
    return text


def _state(row: SplitRow) -> str:
    state = row.state
    if state.since is None:
        return f"{state.state} from the start"
    return f"{state.label} since {state.since:%m-%d %H:%M}: {state.evidence()}"


def _pool(pool: SplitRow, rows: list[SplitRow]) -> str:
    members = [row.name for row in rows if row.state.state == pool.state.state]
    return ", ".join(members) if members else "no class"


def table(rows: list[SplitRow], pooled: list[SplitRow]) -> str:
    lines = [
        "| class | state at the split (first half) | graded before | graded after | beat % | null % | "
        "lift (95%) | on the second half alone |",
        "|---|---|---:|---:|---:|---:|---|---|",
    ]
    for row in [*rows, *pooled]:
        second = row.second
        verdict = second.tier if not second.reason else f"unproven: {second.reason}"
        name, state = (row.name, _state(row)) if row in rows else (f"**{row.name}**", _pool(row, rows))
        lines.append(
            f"| {name} | {state} | {row.first_graded} | {second.graded} | {_pct(second.rate)} | "
            f"{_pct(second.null_rate)} | {_lift(second)} | {verdict} |"
        )
    return "\n".join(lines)


async def run(tape: Path, closes_path: Path | None, db: Path) -> str:
    settings = load_settings(env_file=None)
    closes = ExternalCloses.load(closes_path) if closes_path else None
    repos = await Repositories.open(db)
    try:
        service = await EngineService.restore(settings, repos, EventBus(), source=f"replay:{tape.name}", closes=closes)
        for raw in read_tape(tape):
            await service.process(raw)
        if closes is not None:
            open_tips = [g.scheduled_tip for g in service.engine.open_games()]
            if open_tips:
                await service.close_due(max(open_tips))
        games = sorted(await repos.games.list(limit=1_000_000), key=lambda g: (g.scheduled_tip, g.game.id))
        if len(games) < 2:
            return f"{tape.name}: {len(games)} game(s), nothing to split"
        split = games[len(games) // 2].scheduled_tip
        rows, pooled = await split_audit(repos, settings, split)
    finally:
        await repos.close()
    head = (
        f"{tape.name}: {len(games)} games, {games[0].scheduled_tip:%Y-%m-%d} to {games[-1].scheduled_tip:%Y-%m-%d}; "
        f"split at {split:%Y-%m-%d %H:%M} UTC (the tip of game {len(games) // 2 + 1}: "
        f"{len(games) // 2} games tipped before it)"
    )
    return f"{head}\n\n{table(rows, pooled)}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("tape", type=Path)
    parser.add_argument("--closes", type=Path, help="grade against an external closes file (as run_bot.py)")
    parser.add_argument("--db", type=Path, help="replay into this database (default: a temporary one)")
    args = parser.parse_args()
    for path in (args.tape, args.closes):
        if path is not None and not path.exists():
            parser.error(f"no such file: {path}")
    if args.db is not None:
        print(asyncio.run(run(args.tape, args.closes, args.db)))
        return
    with tempfile.TemporaryDirectory() as folder:
        print(asyncio.run(run(args.tape, args.closes, Path(folder) / "walk_forward.db")))


if __name__ == "__main__":
    main()
