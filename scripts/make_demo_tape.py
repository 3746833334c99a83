"""Cut the bundled demo tape out of the shared WNBA five-minute tape (a developer tool, run by hand).

    python scripts/make_demo_tape.py \
        ../shared/data/oddsapi-wnba-5min-2026/wnba_odds_snapshots_2026-07-14_2026-08-08.jsonl.gz

Keeps three games that show all three signal types, every snapshot from 2026-08-03 00:00 UTC to
2026-08-06 00:30 UTC, and each game's events only until 30 minutes after its tip. Values are untouched;
each line keeps the source commit. The runtime never reads ../shared: it reads the file this writes.
"""

from __future__ import annotations

import gzip
import json
import sys
from datetime import datetime, timedelta
from pathlib import Path

GAMES = {
    "51369aa71fcd604bdf38a760b6bcc223",  # Seattle Storm @ New York Liberty, 2026-08-03 23:00Z
    "2977c51845a4f2621deca3d4a38a0ac2",  # Phoenix Mercury @ Atlanta Dream, 2026-08-05 23:00Z
    "80bb6c471358f70e96b4571c4470ac0a",  # Dallas Wings @ Washington Mystics, 2026-08-05 23:30Z
}
START = "2026-08-03T00:00:00+00:00"
END = "2026-08-06T00:30:00+00:00"
AFTER_TIP = timedelta(minutes=30)
OUT = Path(__file__).resolve().parent.parent / "engine" / "data" / "wnba_demo_tape.jsonl.gz"


def _tip(event: dict) -> datetime:
    return datetime.fromisoformat(event["commence_time"].replace("Z", "+00:00"))


def main(source: str) -> None:
    kept = 0
    with gzip.open(source, "rt", encoding="utf-8") as lines, gzip.open(OUT, "wt", encoding="utf-8") as out:
        for text in lines:
            record = json.loads(text)
            at = record["committed_at"]
            if not START <= at <= END:
                continue
            fetched = datetime.fromisoformat(at)
            events = [
                event for event in record["data"] if event.get("id") in GAMES and fetched < _tip(event) + AFTER_TIP
            ]
            if not events:
                continue
            out.write(json.dumps({"committed_at": at, "commit": record["commit"], "data": events}) + "\n")
            kept += 1
    print(f"wrote {kept} snapshots to {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main(sys.argv[1])
