"""Settings: `config.toml` defaults, overridden by `STRATUM_*` environment variables and a `.env`.

Nothing here is created at import time; `load_settings()` is called once by the app factory and the
result is passed down. Secrets are `SecretStr` and are refused in the TOML file, so they can only
come from the environment and never print in a repr or a log line.

The models' defaults are `config.toml`'s values (tests/integration/test_settings.py compares every field), so a run
without the file behaves as one with it. A file named with --config must exist and be readable TOML.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from pathlib import Path
from types import UnionType
from typing import Any, ClassVar, Literal, Union, get_args, get_origin
from urllib.parse import urlsplit

from dotenv import dotenv_values
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = PROJECT_ROOT / "config.toml"

#: Keys that hold secrets: accepted from the environment only.
SECRET_KEYS: frozenset[tuple[str, str]] = frozenset(
    {
        ("feed", "api_key"),
        ("discord", "token"),
        ("discord", "oauth_client_secret"),
        ("web", "session_secret"),
        ("stripe", "secret_key"),
        ("stripe", "webhook_secret"),
    }
)


class ConfigError(Exception):
    """A configuration value is wrong; the message names every offending key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


MarketKey = Literal["h2h", "spreads", "totals"]


class MarketBounds(_Section):
    """A market's believable quotes (engine.providers.bounds): |American price| <= max_price, and the point
    (spreads: the home team's; totals: the total) within [min_point, max_point] when set."""

    max_price: int = Field(ge=100, le=1_000_000)
    min_point: float | None = Field(None, allow_inf_nan=False)
    max_point: float | None = Field(None, allow_inf_nan=False)

    @model_validator(mode="after")
    def _ordered(self) -> MarketBounds:
        if self.min_point is not None and self.max_point is not None and self.min_point > self.max_point:
            raise ValueError(f"min_point {self.min_point} is above max_point {self.max_point}")
        return self


class SportBounds(_Section):
    """A sport's replacements for some markets' bounds (the others keep the defaults)."""

    h2h: MarketBounds | None = None
    spreads: MarketBounds | None = None
    totals: MarketBounds | None = None


class FeedBounds(_Section):
    h2h: MarketBounds = Field(default_factory=lambda: MarketBounds(max_price=100_000))
    spreads: MarketBounds = Field(default_factory=lambda: MarketBounds(max_price=10_000, min_point=-60, max_point=60))
    totals: MarketBounds = Field(default_factory=lambda: MarketBounds(max_price=10_000, min_point=100, max_point=400))
    sports: dict[str, SportBounds] = Field(
        default_factory=lambda: {
            "basketball_wnba": SportBounds(totals=MarketBounds(max_price=10_000, min_point=100, max_point=250))
        }
    )


class FeedSettings(_Section):
    base_url: str = "https://api.the-odds-api.com"
    sport: str = "basketball_nba"
    regions: str = "us"
    markets: list[MarketKey] = Field(default_factory=lambda: ["h2h", "spreads", "totals"])
    bookmakers: list[str] = Field(default_factory=list)
    timeout_seconds: float = Field(10.0, gt=0)
    max_retries: int = Field(3, ge=0, le=10)
    backoff_seconds: float = Field(1.0, ge=0)
    breaker_failures: int = Field(5, ge=1)
    breaker_cooldown_seconds: float = Field(300, ge=0)
    failure_backoff_seconds: float = Field(60, gt=0)  # after a failed poll; × the failures in a row, at most 900
    record_tape: str = ""
    api_key: SecretStr | None = None
    bounds: FeedBounds = Field(default_factory=FeedBounds)  # quotes outside them are rejected as malformed


class CadenceBand(_Section):
    within_hours: float = Field(gt=0)
    interval_seconds: float = Field(gt=0)


class CadenceSettings(_Section):
    bands: list[CadenceBand] = Field(
        default_factory=lambda: [
            CadenceBand(within_hours=1, interval_seconds=60),
            CadenceBand(within_hours=3, interval_seconds=300),
            CadenceBand(within_hours=24, interval_seconds=900),
        ]
    )
    idle_interval_seconds: float = Field(3600, gt=0)
    daily_credit_budget: int = Field(500, ge=1)
    tick_seconds: float = Field(30, gt=0)

    @field_validator("bands")
    @classmethod
    def _sorted_bands(cls, bands: list[CadenceBand]) -> list[CadenceBand]:
        return sorted(bands, key=lambda b: b.within_hours)


class ConsensusSettings(_Section):
    devig: Literal["multiplicative", "power", "shin"] = "multiplicative"
    default_book_weight: float = Field(1.0, gt=0)
    sharp_books: list[str] = Field(default_factory=lambda: ["pinnacle", "circasports", "lowvig", "betonlineag"])
    book_weights: dict[str, float] = Field(
        default_factory=lambda: {
            "pinnacle": 3.0,
            "circasports": 2.0,
            "lowvig": 2.0,
            "betonlineag": 2.0,
            "fanduel": 1.2,
            "draftkings": 1.2,
            "williamhill_us": 1.0,
            "betmgm": 1.0,
            "betrivers": 0.8,
            "fanatics": 0.8,
            "bovada": 0.8,
            "betus": 0.6,
            "mybookieag": 0.5,
        }
    )
    # Books run by one operator quote the same numbers: each group counts as one book in breadth, steam
    # mover counts, consensus weight (shared among the members present) and the sharp component.
    operator_groups: list[list[str]] = Field(default_factory=lambda: [["betonlineag", "lowvig"]])

    @field_validator("operator_groups")
    @classmethod
    def _disjoint_groups(cls, groups: list[list[str]]) -> list[list[str]]:
        seen: set[str] = set()
        for group in groups:
            overlap = seen.intersection(group)
            if overlap:
                raise ValueError(f"a book belongs to two operator groups: {', '.join(sorted(overlap))}")
            seen.update(group)
        return groups

    def operator_map(self) -> dict[str, str]:
        """Book -> its operator's key (the group's first book in alphabetical order); books alone are absent."""
        return {book: min(group) for group in self.operator_groups if len(group) > 1 for book in group}

    @field_validator("book_weights")
    @classmethod
    def _positive_weights(cls, weights: dict[str, float]) -> dict[str, float]:
        bad = [book for book, w in weights.items() if w <= 0]
        if bad:
            raise ValueError(f"weights must be > 0 (got {', '.join(bad)})")
        return weights

    def weight(self, book: str) -> float:
        return self.book_weights.get(book, self.default_book_weight)


class MarketThresholds(_Section):
    spreads: float = Field(gt=0)
    totals: float = Field(gt=0)
    h2h: float = Field(gt=0, lt=1)

    def for_market(self, market: str) -> float:
        return float(getattr(self, market))


class SteamSettings(_Section):
    window_seconds: float = Field(180, gt=0)
    max_window_seconds: float = Field(1800, gt=0)  # coarser feeds (daily snapshots) fire no STEAM
    min_books: int = Field(4, ge=2)
    cooldown_seconds: float = Field(1800, ge=0)
    thresholds: MarketThresholds = Field(default_factory=lambda: MarketThresholds(spreads=0.5, totals=1.0, h2h=0.015))


class PointValue(_Section):
    spreads: float = Field(0.03, ge=0, lt=0.5)
    totals: float = Field(0.02, ge=0, lt=0.5)

    def for_market(self, market: str) -> float:
        return float(getattr(self, market))


class DislocationSettings(_Section):
    min_books: int = Field(5, ge=2)
    cooldown_seconds: float = Field(3600, ge=0)
    thresholds: MarketThresholds = Field(default_factory=lambda: MarketThresholds(spreads=1.0, totals=2.0, h2h=0.03))
    prob_per_point: PointValue = Field(default_factory=PointValue)  # /bet log's plausibility check only
    max_outlier_share: float = Field(0.25, gt=0, le=1)
    # The book's own price must beat the no-vig consensus by more than this EV per unit staked (0.5%).
    min_ev: float = Field(0.005, ge=0, lt=1)


class KeyCrossSettings(_Section):
    cooldown_seconds: float = Field(1800, ge=0)


class SignalSettings(_Section):
    max_per_game_per_day: int = Field(12, ge=1)
    opposite_side_cooldown_seconds: float = Field(1800, ge=0)  # one side per game × market per move
    heat_window_seconds: float = Field(7200, gt=0)
    heat_thresholds: list[float] = Field(default_factory=lambda: [60, 150, 300])

    @field_validator("heat_thresholds")
    @classmethod
    def _three_ascending(cls, values: list[float]) -> list[float]:
        if len(values) != 3 or values != sorted(values):
            raise ValueError("needs three ascending numbers (heat 1, 2, 3)")
        return values


class ScoreWeights(_Section):
    magnitude: float = Field(0.30, ge=0)
    velocity: float = Field(0.20, ge=0)
    breadth: float = Field(0.25, ge=0)
    sharp: float = Field(0.15, ge=0)
    time_to_tip: float = Field(0.10, ge=0)

    @model_validator(mode="after")
    def _not_all_zero(self) -> ScoreWeights:
        if self.magnitude + self.velocity + self.breadth + self.sharp + self.time_to_tip <= 0:
            raise ValueError("at least one score weight must be > 0")
        return self


class ScoreSettings(_Section):
    weights: ScoreWeights = Field(default_factory=ScoreWeights)


class KeyNumbers(_Section):
    spreads: list[float] = Field(default_factory=list)
    totals: list[float] = Field(default_factory=list)


def _default_key_numbers() -> dict[str, KeyNumbers]:
    return {sport: KeyNumbers(spreads=[2, 3, 4, 5, 6, 7, 8, 10]) for sport in ("basketball_nba", "basketball_wnba")}


class TierRule(_Section):
    name: Literal["S", "A", "B"]  # the tiers the product promises (presets and labels rank them S > A > B)
    min_rate: float = Field(ge=0, le=1)
    min_graded: int = Field(ge=1)


class ClvSettings(_Section):
    close_max_age_seconds: float = Field(1800, gt=0)  # a close older than this before tip is no close
    null_draws: int = Field(10, ge=1, le=200)  # matched null entries per signal
    seed: int = 20260801  # the audit's random draws (null sampler, bootstrap) are deterministic
    score_buckets: list[int] = Field(default_factory=lambda: [40, 55, 70])
    fallback_sd_spreads: float = Field(11.0, gt=0)  # cover model for sports without scores here (WNBA)
    fallback_sd_totals: float = Field(15.0, gt=0)
    tiers: list[TierRule] = Field(  # at least one: the audit measures every class against the lowest bar
        min_length=1,
        default_factory=lambda: [
            TierRule(name="S", min_rate=0.58, min_graded=500),
            TierRule(name="A", min_rate=0.54, min_graded=100),
            TierRule(name="B", min_rate=0.52, min_graded=30),
        ],
    )
    # A class is refuted (never pings, never DMs) with at least this many graded and its lift interval
    # entirely below zero; a preset never rests on a class with fewer graded than `preset_min_graded`.
    refute_min_graded: int = Field(30, ge=1)
    preset_min_graded: int = Field(30, ge=0)


class PresetSettings(_Section):
    label: str
    min_score: int = Field(0, ge=0, le=100)
    min_books: int = Field(1, ge=1)
    types: list[Literal["STEAM", "DISLOCATION", "KEY_CROSS"]] = Field(default_factory=list)
    min_class_tier: Literal["", "B", "A", "S"] = ""
    # "" any class; "positive": the class's measured lift over its null is above zero;
    # "proven": the class's lift interval lies above zero.
    class_lift: Literal["", "positive", "proven"] = ""
    allow_single_book: bool = True


class TierSettings(_Section):
    community_delay_seconds: float = Field(600, ge=0)
    community_watchlist_max: int = Field(3, ge=0)
    pro_watchlist_max: int = Field(50, ge=1)


class PlanSettings(_Section):
    label: str
    requests_per_minute: int = Field(ge=1)
    webhooks: int = Field(ge=0)
    monthly_soft_limit: int = Field(0, ge=0)
    commercial_use: bool = False


#: The database a new install uses: a SQLite file in the working directory.
DEFAULT_STORAGE_URL = "sqlite:///stratum.db"


class StorageSettings(_Section):
    # A secret: a PostgreSQL URL may carry the database password (it is then accepted from the environment
    # only, see _SecretFreeToml). `location` is the value to open; print only storage.url's masked form.
    url: SecretStr = SecretStr(DEFAULT_STORAGE_URL)
    path: str | None = None  # before #18: a SQLite file path, still read (the same as url = "sqlite:///PATH")
    retention_days: int = Field(120, ge=1)
    pool_size: int = Field(5, ge=1)
    max_overflow: int = Field(5, ge=0)
    pool_timeout_seconds: float = Field(10.0, gt=0)
    connect_timeout_seconds: float = Field(10.0, gt=0)
    statement_timeout_ms: int = Field(30_000, ge=0)
    busy_timeout_ms: int = Field(5000, ge=0)

    @property
    def location(self) -> str:
        """The database to open: `url`, or an old config's `path` where `url` is not set to something else."""
        url = self.url.get_secret_value()
        if self.path and ("url" not in self.model_fields_set or url == DEFAULT_STORAGE_URL):
            return self.path
        return url


class ReplaySettings(_Section):
    speed: str = "max"

    @field_validator("speed")
    @classmethod
    def _speed(cls, value: str) -> str:
        if value != "max":
            try:
                if float(value) <= 0:
                    raise ValueError
            except ValueError:
                raise ValueError('must be "max" or a positive number') from None
        return value


class DiscordSettings(_Section):
    token: SecretStr | None = None
    guild_id: int | None = None  # sync slash commands to this guild (instant); None = global
    pro_role: str = "Pro"  # role name or id that makes a member Pro
    community_channels: list[int] = Field(default_factory=list)  # delayed, redacted digests go here
    digest_interval_seconds: float = Field(300, gt=0)
    signals_page_size: int = Field(5, ge=1, le=10)
    export_max_days: int = Field(90, ge=1)
    # With a token but no odds key the bot runs the demo: the bundled real tape replayed shifted in time
    # (its first snapshot lands "now"), at this multiple of real time (30: a 5-minute gap takes 10 s), or
    # "max" (no pacing: the whole tape in seconds). `run_bot.py --demo-speed N` overrides it.
    demo_replay_speed: str = "30"
    operators_channel: int | None = None  # API usage anomalies are posted here
    alert_ping_max_age_seconds: float = Field(300, ge=0)  # older alerts are posted without the role ping
    # Sign-in with Discord on the dashboard (OAuth2 authorization code): the application's client id and
    # secret; its redirect URL is <web.public_url>/auth/callback (add it in the Developer Portal).
    oauth_client_id: str = ""
    oauth_client_secret: SecretStr | None = None
    api_base: str = "https://discord.com/api/v10"  # Discord's REST API (the fake Discord's in tests)
    oauth_authorize_url: str = "https://discord.com/oauth2/authorize"

    @field_validator("demo_replay_speed", mode="before")
    @classmethod
    def _demo_speed(cls, value: object) -> str:
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or value.strip().lower() != "max":
            try:
                if not 0 < float(value) < float("inf"):  # type: ignore[arg-type]
                    raise ValueError
            except (TypeError, ValueError):
                raise ValueError('must be "max" or a positive number (a multiple of real time)') from None
        return value.strip()  # type: ignore[union-attr]


class StripeSettings(_Section):
    secret_key: SecretStr | None = None
    webhook_secret: SecretStr | None = None
    api_base: str = ""  # empty: Stripe's own; a local Stripe server (localstripe, stripe-mock) for tests
    pro_price: str = ""  # the Pro subscription's price (or plan) id; empty: any subscription counts
    success_url: str = "https://discord.com/channels/@me"
    cancel_url: str = "https://discord.com/channels/@me"
    portal_return_url: str = "https://discord.com/channels/@me"
    grace_days: float = Field(3, ge=0)  # past_due keeps Pro this long
    webhook_tolerance_seconds: int = Field(300, ge=1)  # signed timestamps further off (past or future) are refused
    # A stored event whose handling failed this many times is parked (dead-lettered): no more retries,
    # shown in /billing status (moderators) and posted to the mod-log. Stripe being down does not park.
    event_max_attempts: int = Field(10, ge=1)
    reconcile_minutes: float = Field(30, gt=0)
    mod_log_channel: int | None = None  # moderator actions and reconcile reports are posted here
    manage_unlinked: bool = False  # True: reconcile also removes Pro from members with no Stripe link
    api_prices: dict[str, str] = Field(default_factory=dict)  # API plan -> Stripe price: a subscription issues a key


class ApiSettings(_Section):
    # The Odds API's terms forbid passing its data on: per-book raw odds (GET /v1/games/{id}/odds and
    # /odds/history, per-book fields in webhooks) are served only where the operator's licence allows it.
    # Derived data (consensus, signals, CLV) is always served.
    redistribute_raw_odds: bool = False
    # Requests without a valid key, per client address (IPv6: per /64) and UTC minute; over it, 429 with
    # Retry-After before any key lookup. Valid keys are never counted here.
    unauthenticated_per_minute: int = Field(60, ge=1)
    # The response cache (api.cache.ResponseCache): answers by operation, parsed parameters, audience and
    # data version. Each entry costs its body, its key and a fixed overhead against the byte budget, and
    # the number of entries is capped too, so a flood of distinct valid queries cannot grow memory past
    # these bounds. 0 entries turns the cache off.
    response_cache_max_bytes: int = Field(32 * 1024 * 1024, ge=0)
    response_cache_max_entries: int = Field(10_000, ge=0)


class WebSettings(_Section):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    allow_loopback_webhooks: bool = False  # development only: http:// webhook URLs to this machine
    # The dashboard (web/): server-rendered pages over the same services and tier rules as the bot.
    dashboard: bool = True
    public_url: str = ""  # e.g. https://stratum.example.com; empty: http://<host>:<port> (loopback development)
    session_secret: SecretStr | None = None  # signs session cookies; None: a random one per process
    session_max_age_seconds: int = Field(7 * 24 * 3600, ge=60)
    tier_recheck_seconds: int = Field(600, ge=0)  # a signed-in member's roles are read again after this
    cookie_secure: bool = True  # Secure cookies; False only for plain-http loopback development
    # A "demo Community / demo Pro" sign-in instead of Discord's: only with no OAuth client configured and
    # the server bound to loopback (the demo on a developer's machine), never on a public address.
    demo_sign_in: bool = True
    # Pro's live feed (/signals/live, server-sent events): a member's open streams beyond this close their
    # oldest with a final `closed` event; past the server's total a new stream gets 503 with Retry-After.
    live_streams_per_member: int = Field(3, ge=1)
    live_streams_max: int = Field(500, ge=1)
    # Slow or idle clients (app.web): a connection must deliver its first request's line and headers within
    # header_timeout_seconds of connecting, and a kept-alive connection waiting for its next request is
    # closed after keepalive_timeout_seconds (which also bounds a later request's headers).
    header_timeout_seconds: float = Field(10.0, gt=0)
    keepalive_timeout_seconds: float = Field(15.0, gt=0)


def _default_plans() -> dict[str, PlanSettings]:
    return {
        "builder": PlanSettings(label="Builder", requests_per_minute=30, webhooks=1),
        "pro_infra": PlanSettings(
            label="Pro Infra", requests_per_minute=120, webhooks=5, monthly_soft_limit=50_000, commercial_use=True
        ),
        "enterprise": PlanSettings(label="Enterprise", requests_per_minute=600, webhooks=25, commercial_use=True),
    }


def _default_presets() -> dict[str, PresetSettings]:
    return {
        "high_confidence": PresetSettings(label="High Confidence", min_score=55, class_lift="proven"),
        "low_noise": PresetSettings(
            label="Low Noise", min_score=40, min_books=3, allow_single_book=False, class_lift="positive"
        ),
    }


class DeliverySettings(_Section):
    """The one outbox's retry policy and worker (every delivery: Discord messages and partner webhooks)."""

    retry_base_seconds: float = Field(5.0, gt=0)  # the n-th retry waits up to base × 2^n (full jitter) ...
    retry_cap_seconds: float = Field(3600.0, gt=0)  # ... at most this; a larger Retry-After wins (capped too)
    give_up_hours: float = Field(24.0, gt=0)  # still failing after this: given up (a webhook endpoint disabled)
    discord_max_attempts: int = Field(12, ge=0)  # Discord messages give up after this many attempts (0: age only)
    webhook_max_attempts: int = Field(0, ge=0)  # webhooks: 0 = the age alone decides
    concurrency: int = Field(16, ge=1)  # targets served side by side per queue (one at a time per target)
    poll_seconds: float = Field(1.0, gt=0)  # sweep for retries coming due (new rows wake the worker at once)
    webhook_timeout_seconds: float = Field(10.0, gt=0)


class AlertSettings(_Section):
    """What a Discord alert (a move) does beyond being posted."""

    # A move whose best price now is already negative expected value by more than this (a fraction: 0.01 is
    # 1%) against the fair price goes out without the Pro ping (channels) or notification (DMs), saying so.
    max_negative_ev: float = Field(0.01, ge=0, le=1)


class BetSettings(_Section):
    """What a logged bet must look like to count (services/bets.py): a price a book could quote, a
    number near the market at the moment it is logged."""

    min_price: int = Field(-10000, le=-100)
    max_price: int = Field(10000, ge=100)
    max_points_from_market: float = Field(1.5, ge=0)  # spreads/totals: the side's consensus number
    max_prob_from_market: float = Field(0.05, gt=0, lt=1)  # the price's implied vs the side's no-vig consensus


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="STRATUM_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="forbid",
    )
    config_path: ClassVar[Path | None] = None  # None: no file, the built-in defaults (equal to config.toml's)

    feed: FeedSettings = Field(default_factory=FeedSettings)
    cadence: CadenceSettings = Field(default_factory=CadenceSettings)
    consensus: ConsensusSettings = Field(default_factory=ConsensusSettings)
    steam: SteamSettings = Field(default_factory=SteamSettings)
    dislocation: DislocationSettings = Field(default_factory=DislocationSettings)
    key_cross: KeyCrossSettings = Field(default_factory=KeyCrossSettings)
    signals: SignalSettings = Field(default_factory=SignalSettings)
    score: ScoreSettings = Field(default_factory=ScoreSettings)
    key_numbers: dict[str, KeyNumbers] = Field(default_factory=_default_key_numbers)
    clv: ClvSettings = Field(default_factory=ClvSettings)
    bets: BetSettings = Field(default_factory=BetSettings)
    presets: dict[str, PresetSettings] = Field(default_factory=_default_presets)
    tiers: TierSettings = Field(default_factory=TierSettings)
    plans: dict[str, PlanSettings] = Field(default_factory=_default_plans)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    replay: ReplaySettings = Field(default_factory=ReplaySettings)
    discord: DiscordSettings = Field(default_factory=DiscordSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    delivery: DeliverySettings = Field(default_factory=DeliverySettings)
    stripe: StripeSettings = Field(default_factory=StripeSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_path = getattr(settings_cls, "config_path", None)
        return (init_settings, env_settings, dotenv_settings, _SecretFreeToml(settings_cls, toml_path))

    def key_numbers_for(self, sport: str, market: str) -> tuple[float, ...]:
        numbers = self.key_numbers.get(sport)
        if numbers is None or market not in ("spreads", "totals"):
            return ()
        return tuple(getattr(numbers, market))


class _SecretFreeToml(InitSettingsSource):
    """The TOML file as a settings source, refusing any secret so secrets stay in the environment."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path | None) -> None:
        data = _read_toml(path) if path is not None else {}
        for section, key in SECRET_KEYS:
            table = data.get(section)
            if isinstance(table, dict) and key in table:
                raise ConfigError(
                    f"{path}: {section}.{key} is a secret and is read only from the environment "
                    f"(STRATUM_{section.upper()}__{key.upper()})"
                )
        storage = data.get("storage")
        for key in ("url", "path"):
            value = storage.get(key) if isinstance(storage, dict) else None
            if isinstance(value, str) and _has_password(value):
                raise ConfigError(
                    f"{path}: storage.{key} holds a database password, which is read only from the environment: "
                    "set the whole URL as STRATUM_STORAGE__URL"
                )
        super().__init__(settings_cls, data)


def _has_password(url: str) -> bool:
    """Whether a database URL carries a password (``scheme://user:password@host/...``)."""
    try:
        return bool(urlsplit(url).password)
    except ValueError:
        return ":" in url.partition("://")[2].partition("@")[0] and "@" in url


def _read_toml(path: Path) -> dict[str, Any]:
    """The config file's tables. A file that is missing, a folder, unreadable, not UTF-8 or not TOML is a
    `ConfigError` naming it: the operator's settings are never silently replaced by the defaults."""
    if path.is_dir():
        raise ConfigError(f"{path} is a folder, not a config file: name a TOML file (like config.toml)")
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path} is not UTF-8 text (byte {exc.start}): save it as UTF-8") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def load_settings(config_path: Path | str | None = None, env_file: Path | str | None = ".env") -> Settings:
    """Build the settings, turning every configuration fault into one one-line `ConfigError` that names the
    key, the variable or the file.

    `config_path` names the file (it must exist); None reads the project's own `config.toml` (next to the
    code, whatever the working directory), or, when there is none (an installed package), the built-in
    defaults, which equal it. `.env` is read from the working directory."""
    if config_path:
        path: Path | None = Path(config_path)
    else:
        path = DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else None
    settings_cls = type(
        "Settings",
        (Settings,),
        {"model_config": {**Settings.model_config, "env_file": env_file}, "config_path": path},
    )
    try:
        return settings_cls()
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            key = ".".join(str(part) for part in error["loc"]) or "(root)"
            problems.append(f"{key}: {' '.join(error['msg'].split())}")
        raise ConfigError("invalid configuration: " + "; ".join(problems)) from None
    except SettingsError as exc:
        raise ConfigError(_environment_error(exc, env_file)) from None


def _environment_error(exc: SettingsError, env_file: Path | str | None) -> str:
    """pydantic-settings could not decode an environment value (a list or table that is not JSON). Its
    message names the section only; this names the variable."""
    section = re.search(r'field "(\w+)"', str(exc))
    if section is None:
        return f"the environment: {exc}"
    prefix = f"STRATUM_{section.group(1).upper()}"
    variables = {**(dotenv_values(env_file) if env_file and Path(env_file).is_file() else {}), **os.environ}
    bad = sorted(
        name.upper()
        for name, value in variables.items()
        if (name.upper() == prefix or name.upper().startswith(prefix + "__"))
        and _takes_json(name[len("STRATUM_") :].lower().split("__"))
        and not _is_json(value)
    )
    if not bad:
        return f"the environment: {exc}"
    example = """STRATUM_FEED__MARKETS='["h2h", "spreads"]'"""
    return f"{', '.join(bad)}: not valid JSON (a list or table set in the environment is JSON, e.g. {example})"


def _takes_json(keys: list[str]) -> bool:
    """Whether the setting at `keys` (under `Settings`) is a list or a table: given as JSON in the environment."""
    annotation: Any = Settings
    for key in keys:
        model = _model_in(annotation)
        if model is not None:
            field = model.model_fields.get(key)
            if field is None:
                return False
            annotation = field.annotation
        elif get_origin(annotation) is dict:
            annotation = get_args(annotation)[1]
        else:
            return False
    return _model_in(annotation) is not None or get_origin(annotation) in (list, dict)


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model class of `annotation`, also inside `X | None`."""
    options = get_args(annotation) if get_origin(annotation) in (Union, UnionType) else (annotation,)
    return next((o for o in options if isinstance(o, type) and issubclass(o, BaseModel)), None)


def _is_json(value: str | None) -> bool:
    try:
        json.loads(value or "")
    except ValueError:
        return False
    return True
