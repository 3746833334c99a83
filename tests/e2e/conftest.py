"""Fixtures of the end-to-end tier."""

from __future__ import annotations

import pytest

from tests.fake_discord import FakeDiscord


@pytest.fixture
async def fake():
    """The loopback fake Discord, started, for a bot run as a child process (`tests.crash.child_env`)."""
    discord = FakeDiscord()
    await discord.start()
    try:
        yield discord
    finally:
        await discord.stop()
