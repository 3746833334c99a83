"""The Discord demo: the bundled real tape replayed shifted in time, so its games tip in the near future.

The shift is pure and exact, the pacing sleeps gap / speed of wall-clock time, and end to end (the real
bot through the loopback fake Discord, `run_discord` with a token and no odds key) the demo fires alerts
to a routed Pro-only channel in wall-clock seconds, `/watch add` takes a demo game, and every footer says
it is a replay of real odds from their original date; a watchlist DM arrives, and the game closes and
grades: its signals, the member's bet and `/integrity`."""

from __future__ import annotations

import asyncio
import copy
import csv
import gzip
import io
import json
import re
from datetime import UTC, date, datetime, timedelta

from app.bootstrap import DEMO_ORIGIN, prepare_demo
from engine.models import Quota
from engine.providers.base import RawSnapshot
from engine.providers.replay import DemoClock, ReplaySource, TimeShift
from services.context import DemoInfo
from storage import Repositories
from tests.engine_builders import settings
from tests.fake_discord import FakeDiscord
from tests.tape_games import NEW_YORK

PRO = FakeDiscord.PRO_USER_ID
MOD = FakeDiscord.MOD_USER_ID
COMMUNITY = FakeDiscord.COMMUNITY_USER_ID

T0 = datetime(2026, 8, 3, 0, 0, 46, tzinfo=UTC)
OFFSET = timedelta(days=101, hours=3, minutes=7, seconds=14)


def _payload() -> list[dict]:
    return [
        {
            "id": "g1",
            "sport_key": "basketball_wnba",
            "sport_title": "WNBA",
            "commence_time": "2026-08-03T23:00:00Z",
            "home_team": "New York Liberty",
            "away_team": "Seattle Storm",
            "bookmakers": [
                {
                    "key": "fanduel",
                    "title": "FanDuel",
                    "last_update": "2026-08-02T23:59:41Z",
                    "markets": [
                        {
                            "key": "h2h",
                            "last_update": "2026-08-02T23:59:41.250+00:00",
                            "outcomes": [
                                {"name": "New York Liberty", "price": -420},
                                {"name": "Seattle Storm", "price": 310},
                            ],
                        },
                        {
                            "key": "totals",
                            "last_update": "not a time",
                            "outcomes": [{"name": "Over", "price": -110, "point": 165.5}],
                        },
                    ],
                }
            ],
        },
        {"id": "g2", "commence_time": 12345, "note": "2026-08-03T23:00:00Z"},
    ]


def test_the_time_shift_moves_every_timestamp_by_the_offset_and_nothing_else():
    data = _payload()
    before = copy.deepcopy(data)
    quota = Quota(remaining=10, used=2, last=1)
    shifted = TimeShift(OFFSET).apply(RawSnapshot(fetched_at=T0, data=data, quota=quota))
    expected = copy.deepcopy(before)
    expected[0]["commence_time"] = "2026-11-13T02:07:14Z"
    book = expected[0]["bookmakers"][0]
    book["last_update"] = "2026-11-12T03:06:55Z"
    book["markets"][0]["last_update"] = "2026-11-12T03:06:55.250000+00:00"
    assert shifted.fetched_at == T0 + OFFSET
    assert shifted.data == expected  # the unparseable "not a time", the int and the "note" key untouched
    assert shifted.quota == quota
    assert data == before  # pure: the input is not mutated
    back = TimeShift(-OFFSET).apply(shifted)
    assert back.fetched_at == T0
    assert back.data[0]["bookmakers"][0]["last_update"] == before[0]["bookmakers"][0]["last_update"]
    assert back.data[0]["commence_time"] == before[0]["commence_time"]


def _tape(tmp_path, gaps_minutes):
    path = tmp_path / "tape.jsonl.gz"
    at = T0
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        for gap in [0, *gaps_minutes]:
            at += timedelta(minutes=gap)
            handle.write(json.dumps({"committed_at": at.isoformat(), "data": _payload()}) + "\n")
    return path


async def test_pacing_at_speed_n_sleeps_gap_over_n_and_a_resume_skips_without_sleeping(tmp_path):
    tape = _tape(tmp_path, [5, 5, 10])
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    shift = TimeShift(OFFSET)
    got = [raw async for raw in ReplaySource(tape, 30, sleep=sleep, shift=shift)]
    assert sleeps == [10.0, 10.0, 20.0]  # 300 s / 30, 300 s / 30, 600 s / 30
    assert [raw.fetched_at for raw in got] == [T0 + OFFSET + timedelta(minutes=m) for m in (0, 5, 10, 20)]
    assert got[0].data[0]["commence_time"] == "2026-11-13T02:07:14Z"

    sleeps.clear()
    cursor = T0 + OFFSET + timedelta(minutes=5)
    resumed = [raw async for raw in ReplaySource(tape, 30, sleep=sleep, shift=shift, after=cursor)]
    assert [raw.fetched_at for raw in resumed] == [cursor + timedelta(minutes=5), cursor + timedelta(minutes=15)]
    assert sleeps == [10.0, 20.0]  # nothing for the snapshots already replayed; the gap from the cursor on


def test_the_demo_clock_keeps_up_with_the_replay_and_never_goes_back():
    wall = [datetime(2026, 11, 12, 3, 0, tzinfo=UTC)]
    clock = DemoClock(lambda: wall[0])
    assert clock() == wall[0]
    clock.reach(wall[0] + timedelta(hours=1))  # speed N: the tape's time runs ahead
    assert clock() == wall[0] + timedelta(hours=1)
    wall[0] += timedelta(seconds=10)
    assert clock() == wall[0] + timedelta(hours=1)
    clock.reach(wall[0])  # an older snapshot does not move it back
    assert clock() == wall[0] + timedelta(hours=1)
    paused = DemoClock(lambda: wall[0], lead=-timedelta(days=2))  # a resumed demo carries on from its cursor
    assert paused() == wall[0] - timedelta(days=2)


def test_the_label_names_the_real_date():
    info = DemoInfo(original_date=date(2026, 8, 3), offset=OFFSET)
    assert info.label() == "Demo: real WNBA odds of 2026-08-03, replayed"
    assert info.label(datetime(2026, 8, 5, 18, tzinfo=UTC) + OFFSET) == "Demo: real WNBA odds of 2026-08-05, replayed"


async def test_the_demo_offset_is_stored_once_and_a_restart_resumes_with_it(db_url):
    db = db_url
    now = datetime(2026, 11, 12, 3, 0, 0, 500000, tzinfo=UTC)
    first = await prepare_demo(db, wall=lambda: now)
    assert first.resume_after is None
    assert first.info.original_date == date(2026, 8, 3)
    assert first.shift.offset == datetime(2026, 11, 12, 3, 0, tzinfo=UTC) - datetime(2026, 8, 3, 0, 0, 46, tzinfo=UTC)
    later = now + timedelta(days=3)
    again = await prepare_demo(db, wall=lambda: later)
    assert again.shift == first.shift  # the database holds shifted data: the offset stays
    repos = await Repositories.open(db)
    try:
        assert await repos.cursors.get(DEMO_ORIGIN) == datetime(2026, 11, 12, 3, 0, tzinfo=UTC)
    finally:
        await repos.close()


async def _final(record):
    first = await record.response()
    if first.type == 5:
        return (await record.wait_followups(1))[-1]
    return first


def _footer(answer) -> str:
    return answer.embeds[0]["footer"]["text"]


async def test_the_demo_runs_live_through_the_bot(db_url, monkeypatch):
    """`run_bot.py` with a token and no odds key at demo speed 3000 (three days of tape in ~90 s)."""
    from app.cli import run_discord

    monkeypatch.setenv("STRATUM_DISCORD__TOKEN", "fake-token")
    monkeypatch.delenv("STRATUM_FEED__API_KEY", raising=False)
    config = settings()
    config.discord.guild_id = FakeDiscord.DEFAULT_GUILD_ID
    config.discord.demo_replay_speed = "3000"
    db = db_url
    fake = FakeDiscord()
    channel = fake.channels["steam-alerts"]
    started = datetime.now(UTC)
    stop = asyncio.Event()
    async with fake.serve(monkeypatch):
        task = asyncio.create_task(run_discord(config, db, stop))
        try:
            await fake.wait_until(lambda: "odds" in fake.commands and fake.connected, within=10)
            await asyncio.sleep(2.5)  # discord.py's guild_ready_timeout before READY (2 s by default)
            routed = await _final(
                await fake.invoke_slash("mod alerts set", {"channel": channel, "types": "all"}, user_id=MOD)
            )
            assert "now receives" in routed.content
            watched = await _final(await fake.invoke_slash("watch add", {"game": NEW_YORK}, user_id=PRO))
            assert watched.content == "Watching Seattle Storm @ New York Liberty.", watched.content

            dm = await _final(await fake.invoke_slash("alerts dm", {"enabled": "on"}, user_id=PRO))
            assert dm.content.startswith("You will get a DM"), dm.content
            bet = await _final(
                await fake.invoke_slash(
                    "bet log", {"game": NEW_YORK, "market": "h2h", "side": "home", "price": -400}, user_id=PRO
                )
            )
            assert bet.content.startswith("Logged bet #1"), bet.content

            [alert] = await fake.wait_for_messages(channel, 1, within=25)
            assert alert["embeds"], alert
            assert alert["embeds"][0]["footer"]["text"].startswith("Demo: real WNBA odds of 2026-08-0"), alert
            [watch_dm] = await fake.wait_for_dms(PRO, 1, within=25)  # a later signal of the watched game
            assert watch_dm["embeds"][0]["footer"]["text"].startswith("Demo: real WNBA odds of 2026-08-03"), watch_dm

            odds = await _final(await fake.invoke_slash("odds", {"game": NEW_YORK}, user_id=PRO))
            assert _footer(odds).startswith("Demo: real WNBA odds of 2026-08-0")
            assert _footer(odds).endswith(", replayed") and "As of <t:" in odds.embeds[0]["description"]
            listed = await _final(await fake.invoke_slash("signals", {}, user_id=PRO))
            assert listed.embeds[0]["fields"], "the demo's signals are listed"
            assert _footer(listed).startswith("Demo: real WNBA odds of 2026-08-0")
            assert "replayed" in _footer(listed)
            heat = await _final(await fake.invoke_slash("heat", {}, user_id=COMMUNITY))
            assert _footer(heat).startswith("Demo: real WNBA odds of 2026-08-0")
            assert "replayed" in _footer(heat)

            # New York tips 23 h into the tape (~28 s at this speed): its close grades signals and the bet.
            async def graded() -> bool:
                answer = await _final(await fake.invoke_slash("bet list", {}, user_id=PRO))
                return "awaiting the close" not in answer.embeds[0]["description"]

            heats: list[str] = []  # the Pro heat board as the demo goes (one wall second is ~50 tape minutes)
            deadline = asyncio.get_running_loop().time() + 60
            while not await graded():
                assert asyncio.get_running_loop().time() < deadline, "the demo game never closed"
                board = await _final(await fake.invoke_slash("heat", {}, user_id=PRO))
                heats += [line for line in board.embeds[0]["description"].splitlines() if "🔥" in line]
                await asyncio.sleep(0.5)
            audit = await _final(await fake.invoke_slash("integrity", {}, user_id=COMMUNITY))
            exported = await _final(await fake.invoke_slash("export", {"what": "signals", "days": 1}, user_id=PRO))
            rows = list(csv.DictReader(io.StringIO(exported.attachments[0].data.decode())))
            assert rows and all(row["created_at"] >= f"{started:%Y-%m-%d}" for row in rows), rows[:2]
            bets_csv = await _final(await fake.invoke_slash("export", {"what": "bets", "days": 1}, user_id=PRO))
            [bet_row] = list(csv.DictReader(io.StringIO(bets_csv.attachments[0].data.decode())))
            assert bet_row["price"] == "-400", bet_row
            assert heats, "heat moves with the demo's signals: some /heat showed a hot game"
            counted = re.search(r"^(\d+) graded · ", audit.embeds[0]["description"], re.MULTILINE)
            assert counted is not None and int(counted.group(1)) > 0, audit.embeds[0]["description"]
        finally:
            stop.set()
            assert await asyncio.wait_for(task, 20) == 0
    repos = await Repositories.open(db)
    try:
        signals = await repos.signals.since(started - timedelta(minutes=1))
        assert signals, "signals carry the shifted (current) time, not 2026-08"
        assert all(s.created_at >= started - timedelta(seconds=5) for s in signals)
    finally:
        await repos.close()
    assert fake.unhandled == []
