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
    "alerts list",
    "alerts dm",
    "bet log",
    "bet list",
    "bet delete",
    "clv",
    "export",
    "upgrade",
    "billing status",
    "mod alerts set",
    "mod alerts remove",
    "mod billing status",
    "mod billing link",
    "mod billing unlink",
    "mod billing sync",
    "mod apikey create",
    "mod apikey revoke",
    "mod apikey list",
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


def _leaves(payload: dict, prefix: str = "") -> list[str]:
    """Every runnable path of a command: itself, or its subcommands (through subcommand groups)."""
    path = f"{prefix}{payload['name']}"
    children = [o for o in payload.get("options", []) if o["type"] in (1, 2)]
    if not children:
        return [path]
    return [leaf for child in children for leaf in _leaves(child, f"{path} ")]


def _size(option: dict) -> int:
    """The characters Discord counts against a command's 4000: names, descriptions, choices, nested."""
    total = len(option["name"]) + len(option.get("description", ""))
    for choice in option.get("choices", []):
        total += len(choice["name"]) + len(str(choice["value"]))
    return total + sum(_size(child) for child in option.get("options", []))


async def test_every_command_fits_discords_limits(bot):
    payloads = [command.to_dict(bot.tree) for command in bot.tree.get_commands()]
    assert len(payloads) <= 100
    names = set()
    for payload in payloads:
        _check_option(payload)
        assert _size(payload) <= 4000, payload["name"]
        names.update(_leaves(payload))
    assert names == EXPECTED
