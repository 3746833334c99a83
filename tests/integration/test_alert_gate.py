"""The audit decides what pings, on the real bot through the fake Discord on loopback: a refuted class is
posted for the record without the ping, saying why, and sends no DM; a server (`/mod alerts set …
minimum:`) and a member (`/alerts dm minimum:`) can raise the bar to tiered classes; and a state gates only
what fired strictly after it was reached, so a replay alerts exactly as live members were alerted.

Alerts are per move (one poll's signals on one game × market × side): a move pings when one of its signals
clears the bar, and lists a signal held back with the reason; a move whose signals are all held back is
posted without the ping, saying why; a DM lists only the signals that clear the member's bar.

The classes' states are written as the engine's commit writes them (`class_states`), on the database of
the bundled tape replayed to the morning of 2026-08-05 (tests/conftest.py). The books' prices at each poll are
set so the best price is worth taking (+5%): only the audit stands between a move and its ping here."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from types import SimpleNamespace

import pytest

from engine.alert_state import REFUTED, TIERED, UNPROVEN, ClassState
from engine.models import Market, Side, SignalType
from engine.poll_moves import move_id
from tests.bot_rig import bot_on_fake, final, price_market
from tests.fake_discord import FakeDiscord
from tests.tape_games import ATLANTA

PRO = FakeDiscord.PRO_USER_ID
MOD = FakeDiscord.MOD_USER_ID
PING = f"<@&{FakeDiscord.PRO_ROLE_ID}>"
REFUTES = "no ping: our audit refutes STEAM:spreads — lift −10.9 pts (−15.7…−6.2) over 35 graded"


@pytest.fixture
async def stack(template_db, tmp_path, monkeypatch):  # template_db: tests/conftest.py
    async with bot_on_fake(template_db, tmp_path, monkeypatch) as rig:
        rig.clock.advance(minutes=2)  # past the tape's last poll: every poll here is an instant of its own
        yield rig.fake, rig.bot, rig.clock


async def _route(fake, **options) -> tuple[int, object]:
    channel = fake.channels["steam-alerts"]
    answer = await final(
        await fake.invoke_slash("mod alerts set", {"channel": channel, "types": "all", **options}, user_id=MOD)
    )
    return channel, answer


async def _record(bot, name: str, state: str, since, tier: str = UNPROVEN, **sample) -> None:
    """A change of a class's state, as the engine's commit stores it."""
    async with bot.ctx.repos.db.transaction():
        await bot.ctx.repos.class_states.record(ClassState(name=name, state=state, tier=tier, since=since, **sample))


async def _refute_steam_spreads(bot, since) -> None:
    await _record(
        bot,
        "STEAM:spreads",
        REFUTED,
        since,
        graded=35,
        beats=11,
        null_rate=0.423,
        lift=-0.109,
        lift_low=-0.157,
        lift_high=-0.062,
    )


async def _stored(bot, kind: SignalType, market: Market, game_id: str = ATLANTA):
    return next(
        s
        for s in await bot.ctx.repos.signals.list(limit=500)
        if s.type == kind and s.market == market and s.game_id == game_id
    )


async def _poll(bot, signals) -> int:
    """What the engine's commit does for one poll: its signals and the rows they owe, in one transaction (the
    books at +110 on both sides against a 50/50 fair price at that instant: every best price is worth +5%)."""
    for at in {s.created_at for s in signals}:
        await price_market(bot.ctx.repos, ATLANTA, Market.SPREADS, at, 110, 110)
    async with bot.ctx.repos.db.transaction():
        for signal in signals:
            await bot.ctx.repos.signals.insert(signal)
        return await bot.app.fanout.on_commit(SimpleNamespace(signals=list(signals), grades=[]))


def _ids(message) -> list[str]:
    """The signal ids the message's move lists (one embed per move; each signal's field ends with its id)."""
    [embed] = message["embeds"]
    return [f["value"].rsplit("id `", 1)[1].rstrip("`") for f in embed["fields"] if f["value"].endswith("`")]


def _field(message, signal_id: str) -> str:
    [embed] = message["embeds"]
    return next(f["value"] for f in embed["fields"] if f["value"].endswith(f"id `{signal_id}`"))


def _silent(message) -> bool:
    mentions = message["allowed_mentions"]
    return (
        PING not in (message["content"] or "")
        and message["message"]["mention_roles"] == []
        and mentions.get("roles", []) == []
        and mentions.get("parse", []) == []
    )


async def _watch_with_dms(fake, **options) -> object:
    await final(await fake.invoke_slash("watch add", {"game": ATLANTA}, user_id=PRO))
    return await final(await fake.invoke_slash("alerts dm", {"enabled": "on", **options}, user_id=PRO))


async def test_a_refuted_class_is_posted_without_a_ping_says_why_and_sends_no_dm(stack):
    fake, bot, clock = stack
    channel, _ = await _route(fake)
    await _watch_with_dms(fake)
    await _refute_steam_spreads(bot, clock() - timedelta(hours=1))
    await _record(bot, "KEY_CROSS:spreads", UNPROVEN, clock() - timedelta(hours=1), graded=8, reason="too few")
    steam_base = await _stored(bot, SignalType.STEAM, Market.SPREADS)
    cross_base = await _stored(bot, SignalType.KEY_CROSS, Market.SPREADS)
    # Two moves of one poll (home and away): the refuted STEAM's own, and the unproven KEY_CROSS's.
    at = clock()
    steam = replace(steam_base, id="refuted-steam", side=Side.HOME, created_at=at)
    cross = replace(cross_base, id="unproven-cross", side=Side.AWAY, created_at=at)
    await _poll(bot, [steam, cross])

    keys = {row.key for row in await bot.ctx.repos.outbox.all()}
    steam_move, cross_move = (move_id(ATLANTA, Market.SPREADS, side, at) for side in (Side.HOME, Side.AWAY))
    assert f"move.created:{steam_move}:dm:{fake.guild_id}:{PRO}" not in keys  # no DM row at all
    assert f"move.created:{cross_move}:dm:{fake.guild_id}:{PRO}" in keys
    assert await bot.deliver_outbox() == (3, 0)  # two channel rows (two messages), one DM

    refuted, pinged = fake.channel_messages[channel]
    assert _ids(refuted) == [steam.id] and refuted["content"] == REFUTES and _silent(refuted)
    assert _ids(pinged) == [cross.id] and pinged["content"] == PING
    assert pinged["message"]["mention_roles"] == [str(FakeDiscord.PRO_ROLE_ID)]
    assert [_ids(dm) for dm in fake.dms[PRO]] == [[cross.id]]

    # Both on one side in the next poll: one move, one alert. It pings for the KEY_CROSS, and the STEAM is
    # listed for the record saying why it would not have; the DM lists only the KEY_CROSS.
    clock.advance(minutes=1)
    steam = replace(steam_base, id="refuted-steam-2", side=Side.HOME, created_at=clock())
    cross = replace(cross_base, id="unproven-cross-2", side=Side.HOME, created_at=clock())
    await _poll(bot, [steam, cross])
    assert await bot.deliver_outbox() == (2, 0)
    [both] = fake.channel_messages[channel][2:]
    assert _ids(both) == [steam.id, cross.id] and both["content"] == PING
    assert f"*{REFUTES}*" in _field(both, steam.id) and "no ping" not in _field(both, cross.id)
    assert [_ids(dm) for dm in fake.dms[PRO]][-1] == [cross.id]


async def test_a_state_gates_only_what_fired_strictly_after_it(stack):
    """The grades committed at an instant are not known to a signal of that very instant: it is gated by
    the state before. So replayed or live, the same signals ping."""
    fake, bot, clock = stack
    channel, _ = await _route(fake)
    since = clock() - timedelta(minutes=1)
    await _refute_steam_spreads(bot, since)
    base = await _stored(bot, SignalType.STEAM, Market.SPREADS)
    same_instant = replace(base, id="at-the-change", created_at=since)  # two polls: two moves
    after = replace(base, id="just-after", created_at=since + timedelta(microseconds=1))
    await _poll(bot, [same_instant])
    await _poll(bot, [after])
    assert await bot.deliver_outbox() == (2, 0)
    first, second = fake.channel_messages[channel]
    assert _ids(first) == [same_instant.id] and first["content"] == PING
    assert _ids(second) == [after.id] and second["content"] == REFUTES and _silent(second)


async def test_a_server_can_ping_only_for_tiered_classes(stack):
    fake, bot, clock = stack
    channel, answer = await _route(fake, minimum="tiered")
    assert answer.ephemeral and "only for classes holding a tier (S/A/B)" in answer.content
    [route] = await bot.ctx.repos.members.routes()
    assert route.min_state == "tiered"
    await _route(fake)  # set again without a minimum: the route keeps its bar
    [route] = await bot.ctx.repos.members.routes()
    assert route.min_state == "tiered"
    listed = await final(await fake.invoke_slash("alerts list", {}, user_id=MOD))
    assert "only for classes holding a tier" in listed.embeds[0]["description"]

    earlier = clock() - timedelta(hours=1)
    await _record(bot, "KEY_CROSS:spreads", TIERED, earlier, tier="B", graded=40, beats=28, lift=0.2)
    await _record(bot, "STEAM:spreads", UNPROVEN, earlier, graded=14, reason="too few: 14 graded, 30 needed")
    cross = await _stored(bot, SignalType.KEY_CROSS, Market.SPREADS)
    steam = await _stored(bot, SignalType.STEAM, Market.SPREADS)
    cross = replace(cross, id="tiered-cross", side=Side.HOME, created_at=clock())  # two moves: home and away
    steam = replace(steam, id="unproven-steam", side=Side.AWAY, created_at=clock())
    await _poll(bot, [cross, steam])
    assert await bot.deliver_outbox() == (2, 0)
    pinged, quiet = fake.channel_messages[channel]
    assert _ids(pinged) == [cross.id] and pinged["content"] == PING
    assert _ids(quiet) == [steam.id] and _silent(quiet)
    assert quiet["content"] == (
        "no ping: STEAM:spreads is unproven (too few: 14 graded, 30 needed), below this server's minimum (tiered)"
    )


async def test_a_member_can_take_dms_only_for_tiered_classes(stack):
    fake, bot, clock = stack
    answer = await _watch_with_dms(fake, minimum="tiered")
    assert answer.ephemeral and "only for classes holding a tier" in answer.content
    prefs = await bot.ctx.repos.members.dm_prefs(fake.guild_id, PRO)
    assert prefs.enabled and prefs.min_state == "tiered"
    earlier = clock() - timedelta(hours=1)
    await _record(bot, "KEY_CROSS:spreads", TIERED, earlier, tier="B", graded=40, beats=28, lift=0.2)
    await _record(bot, "STEAM:spreads", UNPROVEN, earlier, graded=14, reason="too few")
    cross = await _stored(bot, SignalType.KEY_CROSS, Market.SPREADS)
    steam = await _stored(bot, SignalType.STEAM, Market.SPREADS)
    cross = replace(cross, id="tiered-cross", side=Side.HOME, created_at=clock())  # one move: the DM lists
    steam = replace(steam, id="unproven-steam", side=Side.HOME, created_at=clock())  # only what clears the bar
    await _poll(bot, [cross, steam])
    assert await bot.deliver_outbox() == (1, 0)
    assert [_ids(dm) for dm in fake.dms[PRO]] == [[cross.id]]
    # Back to every class the audit does not refute (the other filters kept as they were).
    await final(await fake.invoke_slash("alerts dm", {"enabled": "on", "minimum": "unproven"}, user_id=PRO))
    assert (await bot.ctx.repos.members.dm_prefs(fake.guild_id, PRO)).min_state == "unproven"
