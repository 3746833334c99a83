"""Settings: documented defaults from config.toml, STRATUM_ environment overrides, secrets only from the
environment and never printed, and bad values named at start."""

from __future__ import annotations

import logging
import os

import pytest

import config.settings as settings_module
from config.settings import PROJECT_ROOT, ConfigError, load_settings


def test_defaults_come_from_config_toml(monkeypatch):
    for name in ("STRATUM_STEAM__MIN_BOOKS", "STRATUM_FEED__API_KEY"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings(env_file=None)
    assert settings.steam.min_books == 4
    assert settings.steam.window_seconds == 180
    assert settings.steam.thresholds.spreads == 0.5
    assert settings.dislocation.thresholds.h2h == 0.03
    assert settings.key_numbers_for("basketball_nba", "spreads") == (2, 3, 4, 5, 6, 7, 8, 10)
    assert settings.consensus.weight("lowvig") == 2.0
    assert settings.consensus.weight("unknown_book") == settings.consensus.default_book_weight
    assert settings.plans["builder"].requests_per_minute == 30
    assert settings.plans["pro_infra"].monthly_soft_limit == 50_000
    assert settings.tiers.community_delay_seconds == 600
    assert [t.name for t in settings.clv.tiers] == ["S", "A", "B"]
    assert settings.feed.api_key is None


def test_environment_overrides_nested_keys(monkeypatch):
    monkeypatch.setenv("STRATUM_STEAM__MIN_BOOKS", "6")
    monkeypatch.setenv("STRATUM_FEED__SPORT", "basketball_wnba")
    monkeypatch.setenv("STRATUM_STEAM__THRESHOLDS__TOTALS", "1.5")
    settings = load_settings(env_file=None)
    assert settings.steam.min_books == 6
    assert settings.feed.sport == "basketball_wnba"
    assert settings.steam.thresholds.totals == 1.5
    assert settings.steam.thresholds.spreads == 0.5  # the rest of the section stays


def test_dotenv_file_is_read(tmp_path, monkeypatch):
    monkeypatch.delenv("STRATUM_STEAM__MIN_BOOKS", raising=False)
    env = tmp_path / ".env"
    env.write_text("STRATUM_STEAM__MIN_BOOKS=7\nSTRATUM_FEED__API_KEY=from-dotenv\n")
    settings = load_settings(env_file=env)
    assert settings.steam.min_books == 7
    assert settings.feed.api_key.get_secret_value() == "from-dotenv"


def test_secrets_never_print(monkeypatch, caplog):
    monkeypatch.setenv("STRATUM_FEED__API_KEY", "sk-very-secret")
    monkeypatch.setenv("STRATUM_DISCORD__TOKEN", "discord-secret")
    settings = load_settings(env_file=None)
    assert settings.feed.api_key.get_secret_value() == "sk-very-secret"
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("test").info("settings: %s %r", settings, settings)
    text = repr(settings) + str(settings) + settings.model_dump_json() + caplog.text
    assert "sk-very-secret" not in text and "discord-secret" not in text


def test_a_secret_in_the_config_file_is_refused(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('[feed]\nsport = "basketball_nba"\napi_key = "oops"\n')
    with pytest.raises(ConfigError, match=r"feed\.api_key .*STRATUM_FEED__API_KEY"):
        load_settings(config, env_file=None)


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ("[steam]\nmin_books = 1\n", "steam.min_books"),
        ('[consensus]\ndevig = "magic"\n', "consensus.devig"),
        ("[steam.thresholds]\nspreads = -1\ntotals = 1\nh2h = 0.01\n", "steam.thresholds.spreads"),
        (
            "[cadence]\nbands = [{ within_hours = 0, interval_seconds = 60 }]\n",
            "cadence.bands.0.within_hours",
        ),
        ("[signals]\nheat_thresholds = [3, 2, 1]\n", "signals.heat_thresholds"),
        ("[unknown_section]\nx = 1\n", "unknown_section"),
        ("[steam]\nwindow_secs = 60\n", "steam.window_secs"),
    ],
)
def test_bad_values_fail_naming_the_key(tmp_path, toml, key):
    config = tmp_path / "config.toml"
    config.write_text(toml)
    with pytest.raises(ConfigError) as caught:
        load_settings(config, env_file=None)
    assert key in str(caught.value)


def test_malformed_toml_is_a_config_error(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text("[steam\nmin_books = 4\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(config, env_file=None)


def _differences(documented: object, built_in: object, path: str = "") -> list[str]:
    """Every leaf where the two differ, as "path: documented != built-in" (dicts by key, lists by index)."""
    if isinstance(documented, dict) and isinstance(built_in, dict):
        return [
            line
            for key in sorted(documented.keys() | built_in.keys(), key=str)
            for line in _differences(documented.get(key, "(absent)"), built_in.get(key, "(absent)"), f"{path}.{key}")
        ]
    if isinstance(documented, list) and isinstance(built_in, list) and len(documented) == len(built_in):
        pairs = enumerate(zip(documented, built_in, strict=True))
        return [line for i, (a, b) in pairs for line in _differences(a, b, f"{path}[{i}]")]
    return [] if documented == built_in else [f"{path[1:]}: {documented!r} != {built_in!r}"]


def test_the_code_defaults_equal_config_toml(tmp_path, monkeypatch):
    """One set of defaults: config.toml's values are the code's, field by field (plans, detector settings,
    every section), so a run without the file (an installed package, another folder) behaves the same."""
    for name in [n for n in os.environ if n.upper().startswith("STRATUM_")]:
        monkeypatch.delenv(name)
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    documented = load_settings(PROJECT_ROOT / "config.toml", env_file=None)
    built_in = load_settings(empty, env_file=None)
    assert documented.plans and documented.consensus.book_weights and documented.key_numbers
    assert _differences(documented.model_dump(), built_in.model_dump()) == []


def test_without_a_config_file_the_built_in_defaults_apply(monkeypatch, tmp_path):
    """No --config and no config.toml next to the code (an installed package): no error, the same values."""
    for name in [n for n in os.environ if n.upper().startswith("STRATUM_")]:
        monkeypatch.delenv(name)
    monkeypatch.setattr(settings_module, "DEFAULT_CONFIG", tmp_path / "absent.toml")
    monkeypatch.chdir(tmp_path)
    documented = load_settings(PROJECT_ROOT / "config.toml", env_file=None)
    assert load_settings(env_file=None).model_dump() == documented.model_dump()


def _no_stratum_env(monkeypatch) -> None:
    for name in [n for n in os.environ if n.upper().startswith("STRATUM_")]:
        monkeypatch.delenv(name)


def test_storage_url_defaults_to_the_sqlite_file_and_comes_from_the_environment(monkeypatch):
    _no_stratum_env(monkeypatch)
    assert load_settings(env_file=None).storage.location == "sqlite:///stratum.db"
    url = "postgresql+psycopg://stratum:hunter2-not-real@127.0.0.1/stratum"
    monkeypatch.setenv("STRATUM_STORAGE__URL", url)
    settings = load_settings(env_file=None)
    assert settings.storage.location == url
    # Like the other secrets, the URL (it may hold the database password) never prints.
    assert "hunter2-not-real" not in repr(settings) + str(settings) + settings.model_dump_json()


def test_an_old_config_with_storage_path_still_names_the_same_file(tmp_path, monkeypatch):
    _no_stratum_env(monkeypatch)
    config = tmp_path / "old.toml"
    config.write_text('[storage]\npath = "data/old.db"\nretention_days = 30\n')
    settings = load_settings(config, env_file=None)
    assert settings.storage.location == "data/old.db"
    monkeypatch.setenv("STRATUM_STORAGE__URL", "sqlite:///other.db")  # the environment overrides the file
    assert load_settings(config, env_file=None).storage.location == "sqlite:///other.db"


def test_a_database_password_in_the_config_file_is_refused(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('[storage]\nurl = "postgresql+psycopg://stratum:hunter2-not-real@db.internal/stratum"\n')
    with pytest.raises(ConfigError, match=r"storage\.url .*STRATUM_STORAGE__URL") as caught:
        load_settings(config, env_file=None)
    assert "hunter2-not-real" not in str(caught.value)


def test_the_pool_settings_reach_the_database_layer_with_its_defaults(monkeypatch):
    """`[storage]`'s pool sizes and timeouts become `storage.db.PoolSettings`, and the two agree on defaults."""
    from app.bootstrap import pool_settings
    from storage.db import PoolSettings

    _no_stratum_env(monkeypatch)
    assert pool_settings(load_settings(env_file=None).storage) == PoolSettings()
    monkeypatch.setenv("STRATUM_STORAGE__POOL_SIZE", "12")
    monkeypatch.setenv("STRATUM_STORAGE__STATEMENT_TIMEOUT_MS", "1500")
    pool = pool_settings(load_settings(env_file=None).storage)
    assert (pool.pool_size, pool.statement_timeout_ms, pool.busy_timeout_ms) == (12, 1500, 5000)
    monkeypatch.setenv("STRATUM_STORAGE__POOL_SIZE", "0")
    with pytest.raises(ConfigError, match=r"storage\.pool_size"):
        load_settings(env_file=None)
