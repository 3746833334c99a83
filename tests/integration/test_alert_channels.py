"""Alert channels are Pro-only by construction, bad choice values get our own error, and a fresh signal
answers Community exactly like an unknown id — the real bot, through the fake Discord on loopback.

`/mod alerts set` refuses a channel that members who are not Pro can read (discord.py resolves the channel's
overwrites); the sender checks again before every post, gives the alert up and tells the moderators once
per channel per day when a routed channel became public."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import timedelta

import discord
import pytest

from app.bootstrap import build_app, build_bot
from engine.models import SignalType
from engine.poll_moves import move_id
from tests.backends import copy_database
from tests.engine_builders import Clock, settings
from tests.fake_discord import BOT_CHANNEL_PERMISSIONS, VIEW_CHANNEL, FakeDiscord, FakeMember, running_bot

CUT_HOUR = 12
COMMUNITY = FakeDiscord.COMMUNITY_USER_ID
PRO = FakeDiscord.PRO_USER_ID
MOD = FakeDiscord.MOD_USER_ID
COMMUNITY_ROLE_ID = 1100000000000000203
PUBLIC_REFUSAL = (
    "#general is visible to @everyone: deny View Channel for @everyone and allow it for @Pro in the channel's "
    "permissions, then run /mod alerts set again."
)


def _fake() -> FakeDiscord:
    """The default guild plus a Community role (not Pro) and a Community-role member."""
    roles = {"Pro": FakeDiscord.PRO_ROLE_ID, "Moderator": FakeDiscord.MOD_ROLE_ID, "Community": COMMUNITY_ROLE_ID}
    members = [
        FakeMember(COMMUNITY, "community-user", [COMMUNITY_ROLE_ID]),
        FakeMember(PRO, "pro-user", [FakeDiscord.PRO_ROLE_ID]),
        FakeMember(MOD, "mod-user", [FakeDiscord.MOD_ROLE_ID]),
    ]
    return FakeDiscord(roles=roles, members=members)


async def _stack(template_db, tmp_path, monkeypatch, *, mod_log: bool):
    source, now = template_db
    db = copy_database(source, tmp_path)
    config = settings()
    config.discord.guild_id = FakeDiscord.DEFAULT_GUILD_ID
    fake = _fake()
    config.discord.community_channels = [fake.channels["general"]]
    if mod_log:
        config.stripe.mod_log_channel = fake.channels["mod-log"]
    clock = Clock(now)
    app = await build_app(config, db_path=db, source="test", clock=clock)
    bot = build_bot(app)
    bot.app = app
    return fake, bot, clock, app


@pytest.fixture
async def stack(template_db, tmp_path, monkeypatch):
    fake, bot, clock, app = await _stack(template_db, tmp_path, monkeypatch, mod_log=True)
    async with fake.serve(monkeypatch), running_bot(fake, bot):
        yield fake, bot, clock
    await app.close()
    assert fake.unhandled == []


async def _final(record):
    first = await record.response()
    if first.type == 5:
        return (await record.wait_followups(1))[-1]
    return first


async def _set(fake, channel, user_id=MOD):
    return await _final(
        await fake.invoke_slash("mod alerts set", {"channel": channel, "types": "all"}, user_id=user_id)
    )


def _private(fake, *also) -> list[dict]:
    """@everyone denied View Channel, Pro and the bot allowed (and whatever else is given)."""
    return [
        fake.overwrite(fake.guild_id, deny=VIEW_CHANNEL),
        fake.overwrite(FakeDiscord.PRO_ROLE_ID, allow=VIEW_CHANNEL),
        fake.overwrite(fake.bot_role_id, allow=BOT_CHANNEL_PERMISSIONS),
        *also,
    ]


async def _overwrites(fake, bot, channel, overwrites) -> None:
    """A moderator edits the channel's permissions; wait until discord.py has the CHANNEL_UPDATE."""
    updated = asyncio.ensure_future(bot.wait_for("guild_channel_update", check=lambda _, after: after.id == channel))
    await asyncio.sleep(0)  # the waiter is registered before the event can arrive
    await fake.set_channel_overwrites(channel, overwrites)
    await asyncio.wait_for(updated, 5)
    assert {t.id for t in bot.get_channel(channel).overwrites} == {int(o["id"]) for o in overwrites}


async def _fresh_signal(bot, clock, name: str):
    """A signal of a poll of its own (a second later than the last), fanned out as the engine's commit does."""
    stored = await bot.ctx.repos.signals.list(limit=500)
    base = next(s for s in stored if s.type == SignalType.STEAM)
    clock.advance(seconds=1)
    fresh = replace(base, id=name, created_at=clock())
    async with bot.ctx.repos.db.transaction():
        await bot.ctx.repos.signals.insert(fresh)
        await bot.app.fanout.poll_rows([fresh], clock())
    return fresh


# ------------------------------------------------------------------ /mod alerts set


async def test_a_public_channel_is_refused_with_the_fix_and_nothing_is_stored(stack):
    fake, bot, _ = stack
    refused = await _set(fake, fake.channels["general"])
    assert refused.ephemeral and refused.content == PUBLIC_REFUSAL
    assert await bot.ctx.repos.members.routes() == []


async def test_a_pro_only_channel_is_accepted(stack):
    fake, bot, _ = stack
    channel = fake.channels["steam-alerts"]
    ok = await _set(fake, channel)
    assert ok.ephemeral and ok.content.startswith(f"<#{channel}> now receives")
    assert [r.channel_id for r in await bot.ctx.repos.members.routes()] == [channel]


async def test_a_channel_a_community_role_or_member_can_view_is_refused(stack):
    fake, bot, _ = stack
    channel = fake.channels["mod-log"]
    community_role = fake.overwrite(COMMUNITY_ROLE_ID, allow=VIEW_CHANNEL)
    await _overwrites(fake, bot, channel, _private(fake, community_role))
    refused = await _set(fake, channel)
    assert refused.content == (
        "#mod-log is visible to @Community, who are not all Pro: remove View Channel for @Community in the "
        "channel's permissions (keep it for @Pro), then run /mod alerts set again."
    )
    one_member = fake.overwrite(COMMUNITY, allow=VIEW_CHANNEL, member=True)
    await _overwrites(fake, bot, channel, _private(fake, one_member))
    refused = await _set(fake, channel)
    assert refused.content.startswith("#mod-log is visible to the member community-user, who is not Pro")
    # A Pro member's own overwrite and the moderators' role are fine.
    pro_member = fake.overwrite(PRO, allow=VIEW_CHANNEL, member=True)
    moderators = fake.overwrite(FakeDiscord.MOD_ROLE_ID, allow=VIEW_CHANNEL)
    await _overwrites(fake, bot, channel, _private(fake, pro_member, moderators))
    assert "now receives" in (await _set(fake, channel)).content
    assert [r.channel_id for r in await bot.ctx.repos.members.routes()] == [channel]


async def test_a_private_channel_the_bot_cannot_post_in_is_refused(stack):
    fake, bot, _ = stack
    channel = fake.channels["mod-log"]
    await _overwrites(fake, bot, channel, _private(fake)[:2])  # the bot's role is not let in
    refused = await _set(fake, channel)
    assert refused.content == (
        "The bot cannot post in #mod-log: allow View Channel, Send Messages and Embed Links for @Stratum in the "
        "channel's permissions, then run /mod alerts set again."
    )
    assert await bot.ctx.repos.members.routes() == []


# ------------------------------------------------------------------ the send-time re-check


async def test_a_routed_channel_made_public_gets_no_pro_alert_and_the_moderators_are_told_once(stack):
    fake, bot, clock = stack
    channel, mod_log = fake.channels["steam-alerts"], fake.channels["mod-log"]
    assert "now receives" in (await _set(fake, channel)).content
    await _overwrites(fake, bot, channel, [])  # someone reset the channel's permissions: public again

    first = await _fresh_signal(bot, clock, "public-1")
    second = await _fresh_signal(bot, clock, "public-2")
    assert await bot.deliver_outbox() == (1, 2)  # the notice sent; both alerts given up
    assert fake.channel_messages.get(channel, []) == []
    [notice] = fake.channel_messages[mod_log]
    assert notice["content"].startswith("Pro alerts for #steam-alerts were not posted: #steam-alerts is visible")
    assert "deny View Channel for @everyone and allow it for @Pro" in notice["content"]
    assert notice["allowed_mentions"].get("parse", []) == []
    for signal in (first, second):
        move = move_id(signal.game_id, signal.market, signal.side, signal.created_at)
        row = await bot.ctx.repos.outbox.by_key(f"move.created:{move}:channel:{channel}")
        assert row.failed_at is not None and row.sent_at is None
        assert "not Pro-only any more" in row.last_error and "@everyone" in row.last_error
    # Later the same day: given up again, no second notice.
    clock.advance(hours=2)
    await _fresh_signal(bot, clock, "public-3")
    assert await bot.deliver_outbox() == (0, 1)
    assert len(fake.channel_messages[mod_log]) == 1
    # The next day: told again.
    clock.advance(days=1)
    await _fresh_signal(bot, clock, "public-4")
    assert await bot.deliver_outbox() == (1, 1)
    assert len(fake.channel_messages[mod_log]) == 2
    # Fixed: the next alert goes out, with the Pro diagnostics.
    await _overwrites(fake, bot, channel, _private(fake))
    fixed = await _fresh_signal(bot, clock, "private-again")
    assert await bot.deliver_outbox() == (1, 0)
    [alert] = fake.channel_messages[channel]
    assert (await bot.ctx.repos.books.titles())[fixed.books[0]] in json.dumps(
        alert["embeds"]
    ) and "Velocity" in json.dumps(alert["embeds"])


async def test_without_a_mod_log_the_notice_goes_to_the_system_channel(template_db, tmp_path, monkeypatch):
    fake, bot, clock, app = await _stack(template_db, tmp_path, monkeypatch, mod_log=False)
    general = fake.channels["general"]
    monkeypatch.setattr(discord.Guild, "system_channel", property(lambda guild: guild.get_channel(general)))
    async with fake.serve(monkeypatch), running_bot(fake, bot):
        channel = fake.channels["steam-alerts"]
        assert "now receives" in (await _set(fake, channel)).content
        allowed = fake.overwrite(COMMUNITY_ROLE_ID, allow=VIEW_CHANNEL)
        await _overwrites(fake, bot, channel, _private(fake, allowed))  # Community let in
        await _fresh_signal(bot, clock, "community-let-in")
        assert await bot.deliver_outbox() == (1, 1)
        assert fake.channel_messages.get(channel, []) == []
        [notice] = fake.channel_messages[general]
        assert "#steam-alerts is visible to @Community" in notice["content"]
    await app.close()


# ------------------------------------------------------------------ bad choices, fresh ids


async def test_a_forged_choice_value_gets_our_own_error_naming_the_choices(stack):
    fake, _, _ = stack
    forged = await _final(await fake.invoke_slash("alerts dm", {"enabled": "bogus"}, user_id=PRO))
    assert forged.ephemeral
    assert forged.content == "“bogus” is not a valid choice for “enabled”. Choose one of: on, off."
    assert "Failed to convert" not in forged.content
    market = await _final(await fake.invoke_slash("chart", {"game": "x", "market": "spreadz"}, user_id=PRO))
    assert market.ephemeral
    assert market.content == "“spreadz” is not a valid choice for “market”. Choose one of: Spread, Total, Moneyline."


async def test_community_gets_the_same_answer_for_a_fresh_and_an_unknown_signal(stack):
    fake, bot, clock = stack
    stored = await bot.ctx.repos.signals.list(limit=500)
    old = next(s for s in stored if s.created_at <= clock() - timedelta(minutes=10))
    fresh = replace(old, id="fresh-signal", created_at=clock() - timedelta(minutes=2))
    async with bot.ctx.repos.db.transaction():
        await bot.ctx.repos.signals.insert(fresh)
    seen = await _final(await fake.invoke_slash("signal", {"id": "fresh-signal"}, user_id=COMMUNITY))
    unknown = await _final(await fake.invoke_slash("signal", {"id": "nosuch-signa"}, user_id=COMMUNITY))
    assert seen.ephemeral and unknown.ephemeral
    assert seen.content == "No signal with id “fresh-signal”."
    assert unknown.content == "No signal with id “nosuch-signa”."
    assert (seen.embeds, seen.components, seen.flags) == (unknown.embeds, unknown.components, unknown.flags)
    # Pro sees it at once.
    pro = await _final(await fake.invoke_slash("signal", {"id": "fresh-signal"}, user_id=PRO))
    assert "fresh-signal" in json.dumps(pro.embeds)
