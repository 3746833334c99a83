"""Kill -9 of the bot with alerts owed: `run_bot.py` with a Discord token (the demo: the bundled tape replayed
at full speed through the live path) in a child process, against the loopback fake Discord listening in the
test process, with every signal type routed to the Pro-only channel.

1. The bot is SIGKILLed when some of its alert messages arrived and not all, and restarted: it resumes the
   tape from its cursor and the outbox from its pending rows.
2. The bot is SIGKILLed half-way through the fan-out of a poll with two moves or more (the first move's row
   written, the snapshot's transaction not committed), and restarted: the poll is replayed and its moves are
   written again under the same ids.

Afterwards, in both: every alert row is sent; each is one move (one poll's signals on one game × market ×
side), the whole of it — a move is never split between rows nor written twice — and its key carries the
move's id computed from its signals; every message is one embed, one row's, and a message that arrived twice
is the same message under the same nonce (the row's id, sent with ``enforce_nonce``). On SQLite and on
PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import re
import signal
from collections import defaultdict
from datetime import UTC, datetime
from types import SimpleNamespace

from bot.delivery import nonce
from engine.models import Market, Side, SignalType
from engine.poll_moves import move_id
from storage import Repositories
from tests.crash import child_env, integrity, launch, query, stop, until
from tests.fake_discord import FakeDiscord

FIELD_ID = re.compile(r"id `([^`]+)`$")


def _alerts(fake: FakeDiscord, channel: int) -> list[tuple[str, int, tuple[str, ...]]]:
    """(nonce, embeds, the signal ids its move lists) of every alert message that arrived in `channel`."""
    out = []
    for record in list(fake.channel_messages.get(channel, [])):
        embeds = record.get("embeds") or []
        ids = tuple(m.group(1) for e in embeds for f in e.get("fields", []) if (m := FIELD_ID.search(f["value"])))
        out.append((str(record.get("nonce")), len(embeds), ids))
    return out


async def _route_everything(db, fake: FakeDiscord) -> int:
    channel = fake.channels["steam-alerts"]
    repos = await Repositories.open(db)
    async with repos.db.transaction():
        await repos.members.set_route(fake.guild_id, channel, list(SignalType), fake.MOD_USER_ID, datetime.now(UTC))
    await repos.close()
    return channel


def _polls(db) -> dict[str, set[str]]:
    """Every move of the stored signals: its id → its signals' ids."""
    moves: dict[str, set[str]] = defaultdict(set)
    for sid, game, market, side, created in query(db, "SELECT id, game_id, market, side, created_at FROM signals"):
        at = datetime.fromisoformat(created)
        moves[move_id(game, Market(market), Side(side), at)].add(sid)
    return moves


def _check_moves(db, fake: FakeDiscord, channel: int, before: int) -> dict[str, set[str]]:
    """The invariants of both tests (see the module docstring); returns the alert rows' moves."""
    rows = query(db, "SELECT key, msg_id, payload, sent_at, failed_at FROM outbox WHERE kind = 'alert'")
    assert rows and all(sent is not None and failed is None for *_, sent, failed in rows)
    moves = _polls(db)
    routed: dict[str, set[str]] = {}
    for key, _, payload, *_ in rows:
        data = json.loads(payload)
        assert key == f"move.created:{data['move_id']}:channel:{channel}"
        assert data["move_id"] not in routed  # one row per move and channel
        routed[data["move_id"]] = set(data["signal_ids"])
        assert routed[data["move_id"]] == moves[data["move_id"]]  # the whole move: never split
    row_nonces = {nonce(SimpleNamespace(msg_id=msg_id)) for _, msg_id, *_ in rows}
    arrived = _alerts(fake, channel)
    assert before < len(arrived)
    assert all(count == 1 for _, count, _ in arrived)  # one embed per move
    by_nonce: dict[str, set[tuple[str, ...]]] = defaultdict(set)
    for message_nonce, _, ids in arrived:
        by_nonce[message_nonce].add(ids)
    assert set(by_nonce) == row_nonces  # every row arrived, every message is a row's
    assert all(len(variants) == 1 for variants in by_nonce.values())  # a repeat is the same message
    posted: dict[str, set[str]] = defaultdict(set)  # signal id -> the nonces it was posted under
    for message_nonce, (ids,) in by_nonce.items():
        for signal_id in ids:
            posted[signal_id].add(message_nonce)
    assert len(arrived) - len(by_nonce) <= before  # only a message sent before the kill may arrive twice
    assert {sid for ids in routed.values() for sid in ids} == set(posted)  # every alert owed arrived
    assert all(len(n) == 1 for n in posted.values())  # and under one nonce only
    check, pending = integrity(db)
    assert check == "ok" and pending == 0
    return routed


async def test_a_kill_with_alerts_owed_loses_none_and_repeats_carry_the_same_nonce(db_url, tmp_path, fake):
    db = db_url
    channel = await _route_everything(db, fake)
    log = tmp_path / "bot.log"
    args = ["--demo-speed", "max"]

    def tape_over() -> int:
        return log.read_text(errors="replace").count("the demo tape is over")

    process = await launch(db, child_env(fake), args, log=log)
    try:
        await until(lambda: len(_alerts(fake, channel)) >= 5, 30, "the first alert messages")
        process.send_signal(signal.SIGKILL)  # mid-delivery
        await process.wait()
        before = len(_alerts(fake, channel))
        owed = query(db, "SELECT COUNT(*) FROM outbox WHERE kind = 'alert' AND sent_at IS NULL")[0][0]
        assert owed, "every alert went out before the kill; the test proves nothing"
        ended = tape_over()
        process = await launch(db, child_env(fake), args, log=log)
        await until(lambda: tape_over() > ended, 60, "the end of the demo tape after the restart")
        await until(lambda: integrity(db)[1] == 0, 30, "every owed row sent")
    finally:
        await stop(process)
    _check_moves(db, fake, channel, before)


async def test_a_kill_half_way_through_a_polls_fan_out_neither_splits_nor_doubles_a_move(db_url, tmp_path, fake):
    db = db_url
    channel = await _route_everything(db, fake)
    log = tmp_path / "bot.log"
    args = ["--demo-speed", "max"]

    def tape_over() -> int:
        return log.read_text(errors="replace").count("the demo tape is over")

    process = await launch(db, child_env(fake, {"CRASH_MID_FANOUT": "1"}), args, log=log)
    await asyncio.wait_for(process.wait(), 60)  # it kills itself inside the first fan-out of two moves or more
    assert process.returncode == -signal.SIGKILL
    committed = {row[0] for row in query(db, "SELECT id FROM signals")}  # polls committed before the kill
    assert committed, "killed before any poll committed; the test proves less"
    before = len(_alerts(fake, channel))
    ended = tape_over()
    process = await launch(db, child_env(fake), args, log=log)
    try:
        await until(lambda: tape_over() > ended, 60, "the end of the demo tape after the restart")
        await until(lambda: integrity(db)[1] == 0, 30, "every owed row sent")
    finally:
        await stop(process)
    routed = _check_moves(db, fake, channel, before)
    # The poll that was killed half-way, replayed after the restart: its moves (two or more), each written once,
    # whole (checked above for every row).
    fresh = [(created, sid) for sid, created in query(db, "SELECT id, created_at FROM signals") if sid not in committed]
    killed_at = datetime.fromisoformat(min(fresh)[0])
    killed = {m for m, ids in _polls(db).items() if any(sid in ids for at, sid in fresh if at == min(fresh)[0])}
    assert len(killed) >= 2 and killed <= set(routed), killed_at
