"""Kill -9 tests of the one outbox, with real processes: `run_bot.py` with a Discord token (pointed at the
loopback fake Discord) and loopback webhook receivers on 127.0.0.1.

1. The process holds 1,000 owed deliveries (webhooks and Discord messages mixed), is SIGKILLed mid-delivery
   and restarted: every delivery arrives, and a repeat carries the same id (webhook-id, Discord nonce).
2. The process is SIGKILLed right after a snapshot's transaction committed, before anything was published or
   sent: after the restart every signal's webhook arrives.

Both finish in seconds; `PRAGMA integrity_check` is ok afterwards. On SQLite and on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import signal
from collections import defaultdict

from tests.crash import Receivers, app_with_webhooks, child_env, launch, query, stop, until
from tests.crash import integrity as _integrity
from tests.fake_discord import FakeDiscord

WEBHOOK_ROWS = 600
DISCORD_ROWS = 400
ENDPOINTS = 10


def _discord_marks(fake: FakeDiscord) -> dict[str, set[str]]:
    """Marker in the text → the nonces it arrived with."""
    marks: dict[str, set[str]] = defaultdict(set)
    for messages in list(fake.channel_messages.values()):
        for message in messages:
            content = message.get("content") or ""
            if content.startswith("owed #"):
                marks[content].add(str(message.get("nonce")))
    return marks


async def test_a_kill_mid_delivery_loses_nothing_and_repeats_carry_the_same_id(db_url, fake):
    receivers = Receivers()
    port = await receivers.start()
    db = db_url
    endpoints = [f"e{n}" for n in range(ENDPOINTS)]
    app, key, now = await app_with_webhooks(
        db, port, endpoints, ["usage.anomaly"], plan="enterprise", webhooks_override=50
    )
    for n in range(WEBHOOK_ROWS // ENDPOINTS):
        await app.webhooks.publish("usage.anomaly", {"n": n}, now, key_id=key.id)
    channels = list(fake.channels.values())
    async with app.repos.db.transaction():
        for n in range(DISCORD_ROWS):
            await app.repos.outbox.enqueue_post("test.owed", str(n), channels[n % len(channels)], f"owed #{n}", now)
    assert await app.repos.outbox.count_pending() == WEBHOOK_ROWS + DISCORD_ROWS
    await app.close()

    def arrived() -> int:
        return len({i for _, i, _ in receivers.seen}) + len(_discord_marks(fake))

    process = await launch(db, child_env(fake))
    try:
        await until(lambda: arrived() >= 250, 30, "the first deliveries")
        process.send_signal(signal.SIGKILL)  # mid-delivery
        await process.wait()
        assert arrived() < WEBHOOK_ROWS + DISCORD_ROWS, "everything went out before the kill; the test proves nothing"
        process = await launch(db, child_env(fake))
        await until(lambda: arrived() >= WEBHOOK_ROWS + DISCORD_ROWS, 40, "every owed delivery after the restart")
    finally:
        await stop(process)
        await receivers.stop()

    bodies: dict[str, set[bytes]] = defaultdict(set)
    for _, msg_id, body in receivers.seen:
        bodies[msg_id].add(body)
    assert len(bodies) == WEBHOOK_ROWS
    assert all(len(b) == 1 for b in bodies.values())  # a repeat is the same message under the same webhook-id
    marks = _discord_marks(fake)
    assert len(marks) == DISCORD_ROWS
    assert all(len(nonces) == 1 for nonces in marks.values())  # a repeat carries the same nonce
    check, pending = _integrity(db)
    assert check == "ok" and pending == 0


async def test_a_kill_between_a_polls_commit_and_its_fan_out_loses_nothing(db_url, fake):
    receivers = Receivers()
    port = await receivers.start()
    db = db_url
    app, _, _ = await app_with_webhooks(db, port, ["s0", "s1"], ["signal.created"])
    await app.close()

    process = await launch(db, child_env(fake, {"CRASH_AFTER_SIGNAL_COMMIT": "1"}), ["--demo-speed", "max"])
    await asyncio.wait_for(process.wait(), 40)
    assert process.returncode == -signal.SIGKILL
    committed = {row[0] for row in query(db, "SELECT id FROM signals")}
    owed = query(db, "SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL")[0][0]
    assert committed and owed == 2 * len(committed)  # the rows committed with their signals
    assert receivers.seen == []  # killed before anything was sent

    process = await launch(db, child_env(fake), ["--demo-speed", "max"])
    try:

        def done() -> bool:
            total = query(db, "SELECT COUNT(*) FROM signals")[0][0]
            feed_done = query(db, "SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL")[0][0] == 0
            return feed_done and len({i for _, i, _ in receivers.seen}) == 2 * total

        await until(done, 40, "every signal's webhook")
    finally:
        await stop(process)
        await receivers.stop()
    signal_ids = {row[0] for row in query(db, "SELECT id FROM signals")}
    received = defaultdict(set)
    for path, _, body in receivers.seen:
        received[path].add(json.loads(body)["data"]["id"])
    assert committed <= signal_ids
    assert received == {"/s0": signal_ids, "/s1": signal_ids}
    check, pending = _integrity(db)
    assert check == "ok" and pending == 0
