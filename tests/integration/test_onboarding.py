"""A server that adds the bot gets the set-up steps: in its system channel when the bot may post there, else
in its owner's DM — one outbox row per server, so a rejoin does not post them twice. The real bot, through
the fake Discord on loopback: a GUILD_CREATE for a new server after READY is what Discord sends on invite."""

from __future__ import annotations

import asyncio

import discord
import pytest

from app.bootstrap import build_app, build_bot
from services import onboarding
from tests.backends import copy_database
from tests.engine_builders import Clock, settings
from tests.fake_discord import FakeDiscord, FakeMember, running_bot

NEW_GUILD = 1200000000000000001
OWNER = FakeMember(1200000000000000099, "new-owner")
WELCOME, CHAT = 1200000000000000401, 1200000000000000402
SEND = discord.Permissions(send_messages=True).value


@pytest.fixture
async def stack(template_db, tmp_path, monkeypatch):
    source, now = template_db
    db = copy_database(source, tmp_path)
    config = settings()
    config.discord.guild_id = FakeDiscord.DEFAULT_GUILD_ID
    fake = FakeDiscord()
    app = await build_app(config, db_path=db, source="test", clock=Clock(now))
    bot = build_bot(app)
    queued: list[bool] = []
    real = onboarding.queue_welcome

    async def spy(*args, **kwargs):
        queued.append(await real(*args, **kwargs))
        return queued[-1]

    monkeypatch.setattr(onboarding, "queue_welcome", spy)
    async with fake.serve(monkeypatch), running_bot(fake, bot):
        yield fake, bot, queued
    await app.close()
    assert fake.unhandled == []


async def _until(predicate, within: float = 5.0) -> None:
    """Poll the bot's side (the fake is not told when discord.py's cache or our handlers change)."""
    async with asyncio.timeout(within):
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def _join(fake, bot, queued, *, system_channel: str | None, overwrites=None) -> None:
    calls = len(queued)
    await fake.join_guild(
        NEW_GUILD,
        owner=OWNER,
        channels={"welcome": WELCOME, "chat": CHAT},
        system_channel=system_channel,
        overwrites=overwrites,
    )
    await _until(lambda: len(queued) > calls)  # on_guild_join has run and written (or found) its row


def _assert_steps(text: str) -> None:
    assert text.startswith("**Thanks for adding Stratum.**")
    for step in ("**Pro**", "`discord.pro_role`", "private text channel", "Pro diagnostics", "/mod alerts set"):
        assert step in text, step
    assert "/mod billing link" in text and "/help" in text
    assert len(text) <= 2000


async def test_the_set_up_steps_go_to_the_system_channel_once(stack):
    fake, bot, queued = stack
    await _join(fake, bot, queued, system_channel="welcome")
    assert queued == [True]
    row = await bot.ctx.repos.outbox.by_key(f"guild.joined:{NEW_GUILD}:guild:{NEW_GUILD}")
    assert row is not None and row.pending and row.kind == "guild_post"  # owed before it is sent: a crash keeps it
    assert await bot.deliver_outbox() == (1, 0)
    [post] = fake.channel_messages[WELCOME]
    _assert_steps(post["content"])
    assert post["allowed_mentions"] == {"parse": []}
    assert post["nonce"] and post["message"]["guild_id"] == str(NEW_GUILD)
    assert OWNER.id not in fake.dms and CHAT not in fake.channel_messages
    # Removed and invited again: the row is the same, nothing is posted twice.
    await fake.dispatch("GUILD_DELETE", {"id": str(NEW_GUILD)})
    await _until(lambda: bot.get_guild(NEW_GUILD) is None)
    await _join(fake, bot, queued, system_channel="welcome")
    assert queued == [True, False]
    assert await bot.deliver_outbox() == (0, 0)
    assert len(fake.channel_messages[WELCOME]) == 1


async def test_without_a_system_channel_the_owner_gets_them_by_dm(stack):
    fake, bot, queued = stack
    await _join(fake, bot, queued, system_channel=None)
    assert await bot.deliver_outbox() == (1, 0)
    [dm] = fake.dms[OWNER.id]
    _assert_steps(dm["content"])
    assert WELCOME not in fake.channel_messages and CHAT not in fake.channel_messages


async def test_a_system_channel_the_bot_cannot_post_in_falls_back_to_the_owner(stack):
    fake, bot, queued = stack
    locked = {"welcome": [FakeDiscord.overwrite(NEW_GUILD, deny=SEND)]}  # @everyone (and so the bot) may not post
    await _join(fake, bot, queued, system_channel="welcome", overwrites=locked)
    assert await bot.deliver_outbox() == (1, 0)
    assert WELCOME not in fake.channel_messages
    [dm] = fake.dms[OWNER.id]
    _assert_steps(dm["content"])


def test_the_steps_name_the_configured_role_and_the_stripe_step_only_with_billing():
    config = settings()
    config.discord.pro_role = "Sharps"
    text = onboarding.welcome_text(config)
    assert "role named **Sharps**" in text and "@Sharps" in text
    assert ("Stripe billing is not configured" in text) == (config.stripe.secret_key is None)
