"""Every slash command's definition against Discord's limits (names, descriptions, options, choices)."""

from __future__ import annotations

import re

import pytest

from app.bootstrap import build_app, build_bot
from bot.client import COGS
from tests.engine_builders import settings

NAME = re.compile(r"^[-_\w]{1,32}$")
EXPECTED = {
    "odds",
    "chart",
    "heat",
    "integrity",
    "signals",
    "signal",
    "watch add",
    "watch remove",
    "watch list",
    "alerts set",
    "alerts remove",
    "alerts list",
    "alerts dm",
    "bet log",
    "bet list",
    "bet delete",
    "clv",
    "export",
    "upgrade",
    "billing status",
    "billing link",
    "billing unlink",
    "billing sync",
    "apikey create",
    "apikey revoke",
    "apikey list",
}


@pytest.fixture
async def bot(tmp_path):
    config = settings()
    app = await build_app(config, db_path=tmp_path / "bot.db", source="test")
    client = build_bot(app)
    for cog in COGS:
        await client.load_extension(cog)
    yield client
    await client.close()
    await app.close()


def _check_option(option: dict) -> None:
    assert NAME.match(option["name"]) and option["name"] == option["name"].lower(), option["name"]
    assert 1 <= len(option["description"]) <= 100, option
    assert len(option.get("choices", [])) <= 25
    for choice in option.get("choices", []):
        assert 1 <= len(choice["name"]) <= 100
    options = option.get("options", [])
    assert len(options) <= 25
    required_seen_optional = False
    for child in options:
        if child.get("required"):
            assert not required_seen_optional, f"required option after an optional one in {option['name']}"
        else:
            required_seen_optional = True
        _check_option(child)


async def test_every_command_fits_discords_limits(bot):
    payloads = [command.to_dict(bot.tree) for command in bot.tree.get_commands()]
    assert len(payloads) <= 100
    names = set()
    for payload in payloads:
        _check_option(payload)
        total = len(payload["name"]) + len(payload["description"])
        for option in payload.get("options", []):
            total += len(option["name"]) + len(option["description"])
            if option["type"] == 1:  # a subcommand
                names.add(f"{payload['name']} {option['name']}")
            for choice in option.get("choices", []):
                total += len(choice["name"]) + len(str(choice["value"]))
        assert total <= 4000, payload["name"]
        if not any(option["type"] == 1 for option in payload.get("options", [])):
            names.add(payload["name"])
    assert names == EXPECTED
