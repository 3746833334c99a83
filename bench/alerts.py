"""First Discord alert of a poll: from the commit of the poll's transaction to the message at Discord.

    python bench/alerts.py [--rounds 20]

The real bot (discord.py) runs against the loopback fake Discord of the test suite with the app's one
outbox worker running, as in production, over a real SQLite file holding the bundled tape up to the
morning of 2026-08-05, with one alert channel routed for every signal type. Each round commits one new
signal with its outbox rows in one transaction, exactly as the engine's commit hook writes them, and
times from the end of that transaction to the fake Discord having the channel message. p50/p90/max are
printed; nothing is asserted about time.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.bootstrap import BUNDLED_TAPE, build_app, build_bot
from engine.providers.tape import read_tape
from tests.engine_builders import Clock, settings
from tests.fake_discord import FakeDiscord, running_bot

CUT = datetime(2026, 8, 5, 12, 0, tzinfo=UTC)


async def main(rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        config = settings()
        config.discord.guild_id = FakeDiscord.DEFAULT_GUILD_ID
        snapshots = [raw for raw in read_tape(BUNDLED_TAPE) if raw.fetched_at <= CUT]
        clock = Clock(snapshots[-1].fetched_at)
        app = await build_app(config, db_path=db, source="bench", clock=clock)
        for raw in snapshots:
            await app.service.process(raw)
        bot = build_bot(app)
        fake = FakeDiscord()
        patch = pytest.MonkeyPatch()
        latencies: list[float] = []
        try:
            async with fake.serve(patch), running_bot(fake, bot):
                channel = fake.channels["steam-alerts"]
                await fake.invoke_slash(
                    "mod alerts set", {"channel": channel, "types": "all"}, user_id=FakeDiscord.MOD_USER_ID
                )
                await asyncio.sleep(0.5)
                await app.start()  # the outbox worker (and the scheduler), as run_bot.py starts them
                base = (await app.repos.signals.list(limit=1))[0]
                for n in range(rounds):
                    clock.advance(seconds=1)  # a poll of its own: one move, one alert
                    fresh = replace(base, id=f"bench-{n}", created_at=clock())
                    before = len(fake.channel_messages.get(channel, []))
                    async with app.repos.db.transaction():  # what the engine's commit writes for a new signal
                        await app.repos.signals.insert(fresh)
                        await app.fanout.poll_rows([fresh], clock())
                    committed = time.perf_counter()
                    while len(fake.channel_messages.get(channel, [])) <= before:
                        if time.perf_counter() - committed > 10:
                            break
                        await asyncio.sleep(0.0005)
                    latencies.append((time.perf_counter() - committed) * 1000)
                    await asyncio.sleep(0.05)
        finally:
            patch.undo()
            await app.close()
    ordered = sorted(latencies)
    print(f"first Discord alert after the commit, {rounds} rounds (real bot, loopback fake Discord):")
    print(
        f"  p50 {statistics.median(ordered):.1f} ms, p90 {ordered[int(0.9 * (len(ordered) - 1))]:.1f} ms, "
        f"max {ordered[-1]:.1f} ms"
    )


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    asyncio.run(main(min(parser.parse_args().rounds, 200)))
