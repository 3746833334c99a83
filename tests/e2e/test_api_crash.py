"""Kill -9 of the API process during the fan-out of real engine signals: `run_bot.py --replay <bundled tape>
--serve` in a child process, with Pro Infra webhook endpoints on loopback receivers in the test process
subscribed to `signal.created`, `move.created` and `clv.graded`. The process is SIGKILLed twice: in the middle
of the replay (signals committed with their rows, the tape not over) and in the middle of the deliveries once
it serves;
each time it is restarted on the same database and resumes (the tape from its cursor, the outbox from its
pending rows). Afterwards every signal, every move (whole: all its signals, under the id computed from them)
and every grade arrived at every endpoint under exactly one `webhook-id`, a repeat is the same message,
nothing is pending and `PRAGMA integrity_check` is ok. On SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import signal
from collections import defaultdict
from datetime import datetime

from app.bootstrap import BUNDLED_TAPE
from engine.models import Market, Side
from engine.poll_moves import move_id
from engine.providers.tape import read_tape
from storage.codec import to_db
from tests.crash import Receivers, app_with_webhooks, child_env, integrity, launch, query, stop, until

ENDPOINTS = 4
EVENTS = ["signal.created", "move.created", "clv.graded"]


async def test_kills_during_a_replays_fan_out_lose_nothing_and_repeats_carry_the_same_webhook_id(db_url):
    receivers = Receivers(delay=0.005)
    port = await receivers.start()
    db = db_url
    app, _, _ = await app_with_webhooks(db, port, [f"e{n}" for n in range(ENDPOINTS)], EVENTS)
    await app.close()
    last = to_db(list(read_tape(BUNDLED_TAPE))[-1].fetched_at)
    args = ["--replay", str(BUNDLED_TAPE), "--speed", "max", "--quiet", "--serve"]
    env = child_env(None)

    def signals() -> int:
        return query(db, "SELECT COUNT(*) FROM signals")[0][0]

    def cursor() -> str | None:
        rows = query(
            db, "SELECT cursor FROM feed_state WHERE source = :source", {"source": f"replay:{BUNDLED_TAPE.name}"}
        )
        return rows[0][0] if rows else None

    process = await launch(db, env, args)
    try:
        await until(lambda: signals() >= 10, 30, "the first signals")
        process.send_signal(signal.SIGKILL)  # mid-replay
        await process.wait()
        assert (cursor() or "") < last, "the replay was over before the kill; the test proves nothing"
        assert receivers.seen == []  # the worker starts once the replay is done

        process = await launch(db, env, args)
        await until(lambda: len(receivers.seen) >= 100, 30, "the first deliveries")
        process.send_signal(signal.SIGKILL)  # mid-delivery
        await process.wait()
        assert cursor() == last
        assert integrity(db)[1] > 0, "everything went out before the kill; the test proves nothing"

        process = await launch(db, env, args)
        await until(lambda: integrity(db)[1] == 0, 30, "every owed delivery after the restart")
    finally:
        await stop(process)
        await receivers.stop()

    signal_ids = {row[0] for row in query(db, "SELECT id FROM signals")}
    moves: dict[str, set[str]] = defaultdict(set)
    for sid, game, market, side, created in query(db, "SELECT id, game_id, market, side, created_at FROM signals"):
        moves[move_id(game, Market(market), Side(side), datetime.fromisoformat(created))].add(sid)
    graded_ids = {row[0] for row in query(db, "SELECT signal_id FROM grades")}
    assert signal_ids and graded_ids
    bodies: dict[str, set[bytes]] = defaultdict(set)
    ids: dict[tuple[str, str, str], set[str]] = defaultdict(set)  # (endpoint, type, signal) -> webhook-ids
    for path, msg_id, body in receivers.seen:
        bodies[msg_id].add(body)
        event = json.loads(body)
        data = event["data"]
        subject = data["signal"]["id"] if event["type"] == "clv.graded" else data["id"]
        ids[path, event["type"], subject].add(msg_id)
        if event["type"] == "move.created":  # the whole move, never split
            assert {s["id"] for s in data["signals"]} == moves[data["id"]]
    assert all(len(b) == 1 for b in bodies.values())  # a repeat is the same message under the same webhook-id
    assert all(len(i) == 1 for i in ids.values())  # one event, one webhook-id
    for n in range(ENDPOINTS):
        assert {s for (p, t, s) in ids if p == f"/e{n}" and t == "signal.created"} == signal_ids
        assert {s for (p, t, s) in ids if p == f"/e{n}" and t == "clv.graded"} == graded_ids
        assert {s for (p, t, s) in ids if p == f"/e{n}" and t == "move.created"} == set(moves)
    sent = query(db, "SELECT COUNT(*) FROM outbox WHERE kind = 'webhook' AND sent_at IS NOT NULL")[0][0]
    assert sent == len(bodies) == ENDPOINTS * (len(signal_ids) + len(moves) + len(graded_ids))
    check, pending = integrity(db)
    assert check == "ok" and pending == 0
