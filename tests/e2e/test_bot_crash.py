"""Kill -9 of the bot with alerts owed: `run_bot.py` with a Discord token (the demo: the bundled tape replayed
at full speed through the live path) in a child process, against the loopback fake Discord listening in the
test process, with every signal type routed to the Pro-only channel. The bot is SIGKILLed when some of its
alert messages arrived and not all, and restarted: it resumes the tape from its cursor and the outbox from its
pending rows. Afterwards every alert row is sent, every signal is in the channel, and a message that arrived
twice is the same message under the same nonce (the row id the bot sends with ``enforce_nonce``)."""

from __future__ import annotations

import json
import re
import signal
from collections import defaultdict
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from bot.delivery import nonce
from engine.models import SignalType
from storage import Repositories
from tests.crash import child_env, integrity, launch, query, stop, until
from tests.fake_discord import FakeDiscord

FOOTER_ID = re.compile(r"id (\S+)$")


@pytest.fixture
async def fake():
    discord = FakeDiscord()
    await discord.start()
    try:
        yield discord
    finally:
        await discord.stop()


def _alerts(fake: FakeDiscord, channel: int) -> list[tuple[str, tuple[str, ...]]]:
    """(nonce, the signal ids of its embeds) of every alert message that arrived in `channel`."""
    out = []
    for record in list(fake.channel_messages.get(channel, [])):
        ids = tuple(FOOTER_ID.search(e["footer"]["text"]).group(1) for e in record.get("embeds") or [])
        out.append((str(record.get("nonce")), ids))
    return out


async def test_a_kill_with_alerts_owed_loses_none_and_repeats_carry_the_same_nonce(tmp_path, fake):
    db = tmp_path / "stratum.db"
    channel = fake.channels["steam-alerts"]
    repos = await Repositories.open(db)
    async with repos.db.transaction():
        await repos.members.set_route(fake.guild_id, channel, list(SignalType), fake.MOD_USER_ID, datetime.now(UTC))
    await repos.close()
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

    rows = query(db, "SELECT id, msg_id, payload, sent_at, failed_at FROM outbox WHERE kind = 'alert'")
    signals = {row[0] for row in query(db, "SELECT id FROM signals")}
    assert rows and all(sent is not None and failed is None for *_, sent, failed in rows)
    row_nonces = {nonce(SimpleNamespace(msg_id=msg_id)) for _, msg_id, *_ in rows}
    arrived = _alerts(fake, channel)
    assert before < len(arrived)
    by_nonce: dict[str, set[tuple[str, ...]]] = defaultdict(set)
    for message_nonce, ids in arrived:
        by_nonce[message_nonce].add(ids)
    assert set(by_nonce) <= row_nonces  # every message is an outbox row's
    assert all(len(variants) == 1 for variants in by_nonce.values())  # a repeat is the same message
    posted: dict[str, set[str]] = defaultdict(set)  # signal id -> the nonces it was posted under
    for message_nonce, (ids,) in by_nonce.items():
        for signal_id in ids:
            posted[signal_id].add(message_nonce)
    repeats = len(arrived) - len(by_nonce)
    assert repeats <= before  # only a message sent before the kill may arrive twice
    routed = {sid for _, _, payload, *_ in rows for sid in json.loads(payload)["signal_ids"]}
    assert routed == set(posted)  # every alert owed arrived
    assert all(len(n) == 1 for n in posted.values())  # and under one nonce only
    assert routed <= signals
    check, pending = integrity(db)
    assert check == "ok" and pending == 0
