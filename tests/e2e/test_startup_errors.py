"""Bad start-up input is one line on stderr that names the setting or the fix, exit code 2, no traceback,
and nothing written: the real `run_bot.py` in a child process for each (a config file that is missing, a
folder, not UTF-8 or not TOML; environment values that do not parse or validate; an unknown log level), and
the bot against the loopback fake Discord refusing its token or a privileged intent."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.crash import LAUNCHER, ROOT, child_env
from tests.fake_discord import INTENT_GUILD_MEMBERS, FakeDiscord


def _environment(extra: dict[str, str]) -> dict[str, str]:
    """No STRATUM_ setting of the developer's, the worktree's code first on the path, then `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRATUM_")}
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


#: A log record on stderr (app.cli's logging format), e.g. discord.py's start-up warnings.
LOG_RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) \S+: ")


def _one_error_line(returncode: int, stderr: str, *, after_logs: bool = False) -> str:
    """The one stderr line of a refused start (exit code 2, no traceback). `after_logs`: the bot had started
    (its log records of the start may come first); the error is still one line, and the last."""
    assert "Traceback" not in stderr, stderr
    lines = stderr.strip().splitlines()
    if after_logs:
        assert not any(LOG_RECORD.match(line) for line in lines[-1:]), stderr
        lines = [line for line in lines if not LOG_RECORD.match(line)]
    assert len(lines) == 1, stderr
    assert returncode == 2, stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def _write(path: Path, content: bytes) -> str:
    path.write_bytes(content)
    return str(path)


CASES = {
    "a missing config file": (lambda tmp: ["--config", str(tmp / "nope.toml")], {}, ["nope.toml", "not found"]),
    "a missing config file, creating an API key": (
        lambda tmp: ["apikey", "create", "--plan", "builder", "--owner", "acme", "--config", str(tmp / "nope.toml")],
        {},
        ["nope.toml", "not found"],
    ),
    "a folder as config file": (lambda tmp: ["--config", str(tmp)], {}, ["folder"]),
    "a config file not in UTF-8": (
        lambda tmp: ["--config", _write(tmp / "latin1.toml", b'[discord]\npro_role = "Pr\xf6"\n')],
        {},
        ["latin1.toml", "UTF-8"],
    ),
    "a config file not in TOML": (
        lambda tmp: ["--config", _write(tmp / "broken.toml", b"[steam\nmin_books = 4\n")],
        {},
        ["broken.toml", "not valid TOML"],
    ),
    "a list in the environment that is not JSON": (
        lambda tmp: [],
        {"STRATUM_CADENCE__BANDS": "notjson"},
        ["STRATUM_CADENCE__BANDS", "JSON"],
    ),
    "no CLV tiers": (lambda tmp: [], {"STRATUM_CLV__TIERS": "[]"}, ["clv.tiers"]),
    "two bad values": (
        lambda tmp: [],
        {"STRATUM_STEAM__MIN_BOOKS": "many", "STRATUM_CONSENSUS__DEVIG": "magic"},
        ["steam.min_books", "consensus.devig"],
    ),
    "an unknown log level": (lambda tmp: ["--log-level", "bogus"], {}, ["--log-level", "bogus"]),
    "a CLV tier the product does not have": (
        lambda tmp: [],
        {"STRATUM_CLV__TIERS": '[{"name": "Z", "min_rate": 0.5, "min_graded": 10}]'},
        ["clv.tiers"],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_start_up_input_is_one_line_and_exit_code_2(tmp_path, case):
    make_args, env, named = CASES[case]
    db = tmp_path / "x.db"
    result = subprocess.run(  # noqa: S603 (our own entry point, fixed arguments)
        [sys.executable, str(ROOT / "run_bot.py"), *make_args(tmp_path), "--db", str(db)],
        cwd=tmp_path,
        env=_environment(env),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    line = _one_error_line(result.returncode, result.stderr)
    for word in named:
        assert word in line, line
    assert not db.exists()  # refused before anything was written


async def _run_bot(fake: FakeDiscord, tmp_path: Path, env: dict[str, str] | None = None) -> tuple[int, str]:
    """`run_bot.py` with a Discord token (the demo) against the fake; (exit code, stderr)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        LAUNCHER,
        "--db",
        str(tmp_path / "stratum.db"),
        cwd=str(tmp_path),
        env=child_env(fake, env),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, stderr = await asyncio.wait_for(process.communicate(), 120)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return process.returncode, stderr.decode(errors="replace")


async def test_a_token_discord_refuses_is_one_line_naming_the_setting(tmp_path, fake):
    returncode, stderr = await _run_bot(fake, tmp_path, {"STRATUM_DISCORD__TOKEN": "not-the-bot-token"})
    line = _one_error_line(returncode, stderr, after_logs=True)
    assert line.startswith("error: Discord refused the bot token (STRATUM_DISCORD__TOKEN)")
    assert "not-the-bot-token" not in stderr  # a secret is never printed
    assert fake.identify_payloads == []  # it stopped at the login


async def test_a_privileged_intent_switched_off_is_one_line_naming_the_switch(tmp_path, fake):
    fake.disabled_intents = INTENT_GUILD_MEMBERS
    returncode, stderr = await _run_bot(fake, tmp_path)
    line = _one_error_line(returncode, stderr, after_logs=True)
    assert "Server Members Intent" in line
    assert "Developer Portal" in line and "Privileged Gateway Intents" in line
    assert len(fake.identify_payloads) == 1  # it asked once, and did not retry in a loop


def test_a_setting_checked_only_when_its_part_starts_is_one_line_too(tmp_path):
    """Sign in with Discord's settings are checked when the dashboard is built (after the database opened):
    half of them set is still one line naming the missing one, not a traceback from inside the start."""
    result = subprocess.run(  # noqa: S603 (our own entry point, fixed arguments)
        [sys.executable, str(ROOT / "run_bot.py"), "--demo", "--port", "0", "--db", str(tmp_path / "x.db")],
        cwd=tmp_path,
        env=_environment({"STRATUM_DISCORD__OAUTH_CLIENT_ID": "123"}),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    line = _one_error_line(result.returncode, result.stderr, after_logs=True)
    assert "STRATUM_DISCORD__OAUTH_CLIENT_SECRET" in line
