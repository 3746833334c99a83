"""The tier rules, in one place: who sees what, and when.

Every surface (slash commands, alerts, digests, exports, charts, the REST API) asks this
module; none decides on its own whether a Community member may see a velocity or a book name.
Pure functions: the member's roles and the time come in, a decision goes out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol, TypeVar

from config.settings import DiscordSettings, TierSettings
from domain.billing import SubscriptionState
from engine.models import Close, Market, Side, Signal, SignalType
from engine.price_now import PriceNow

UPGRADE_HINT = "Upgrade to Pro with `/upgrade` to unlock it."


class Tier(StrEnum):
    COMMUNITY = "community"
    PRO = "pro"


class Feature(StrEnum):
    """Pro-only capabilities, named as members see them."""

    ALERTS = "Discord alerts"
    DIAGNOSTICS = "full signal diagnostics"
    CLV_TRACKING = "CLV tracking of your bets"
    PRESETS = "quality presets"
    EXPORT = "CSV export"
    BOOK_LINES = "per-book lines"


_PRO_ONLY = frozenset(Feature)


class UserError(Exception):
    """A problem the member can fix: shown to them (ephemeral in Discord, 4xx in the API), never logged
    as a failure."""

    status = 400


class NotFound(UserError):
    status = 404


class UpgradeRequired(UserError):
    status = 403

    def __init__(self, feature: Feature) -> None:
        name = feature.value[0].upper() + feature.value[1:]
        super().__init__(f"{name} is a Pro feature. {UPGRADE_HINT}")
        self.feature = feature


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is looking: their tier, and (for personal data) who they are."""

    tier: Tier
    user_id: int | None = None
    guild_id: int | None = None

    @property
    def is_pro(self) -> bool:
        return self.tier == Tier.PRO


def tier_for_roles(roles: Iterable[tuple[int, str]], discord: DiscordSettings) -> Tier:
    """Pro if the member holds the Pro role (configured by id or by name), else Community."""
    wanted = discord.pro_role.strip()
    for role_id, name in roles:
        if wanted == str(role_id) or wanted.casefold() == name.casefold():
            return Tier.PRO
    return Tier.COMMUNITY


def allows(tier: Tier, feature: Feature) -> bool:
    return tier == Tier.PRO or feature not in _PRO_ONLY


def require(viewer: Viewer, feature: Feature) -> None:
    if not allows(viewer.tier, feature):
        raise UpgradeRequired(feature)


def delay(tier: Tier, tiers: TierSettings) -> timedelta:
    """How old data must be before this tier sees it."""
    return timedelta(0) if tier == Tier.PRO else timedelta(seconds=tiers.community_delay_seconds)


def horizon(tier: Tier, now: datetime, tiers: TierSettings) -> datetime:
    """The newest moment this tier may see: odds, consensus and signals at or before it."""
    return now - delay(tier, tiers)


class RealTimeRequired(UserError):
    """Something only a tier without a delay may have (the dashboard's live signal feed)."""

    status = 403

    def __init__(self, late: timedelta) -> None:
        super().__init__(
            f"Signals the moment they fire are a Pro feature: Community sees them {_minutes(late.total_seconds())} "
            f"late. {UPGRADE_HINT}"
        )


def require_real_time(viewer: Viewer, tiers: TierSettings) -> None:
    """Refuse a live feed to a tier that sees signals late: what it pushes is, by definition, not delayed."""
    late = delay(viewer.tier, tiers)
    if late > timedelta(0):
        raise RealTimeRequired(late)


def seen_by(fixed_at: datetime, horizon: datetime) -> bool:
    """The one rule for every datum fixed at a moment — a signal fired, a close captured, a grade made: a
    viewer whose horizon is `horizon` (`horizon` for a tier, `api_horizon` for an API audience) sees it
    once it was fixed at or before that horizon, and not a microsecond earlier."""
    return fixed_at <= horizon


def can_see(signal: Signal, tier: Tier, now: datetime, tiers: TierSettings) -> bool:
    return seen_by(signal.created_at, horizon(tier, now, tiers))


class _Graded(Protocol):
    @property
    def graded_at(self) -> datetime: ...


GradeT = TypeVar("GradeT", bound=_Graded)


def visible_grade(grade: GradeT | None, horizon: datetime) -> GradeT | None:
    """A grade (a signal's or a bet's) as a viewer with this horizon may have it: None — "awaiting the
    close" — until it was made at or before the horizon. A grade is data like any other: its verdict,
    close, CLV and time would tell Community the closing consensus before the delay has passed."""
    return grade if grade is not None and seen_by(grade.graded_at, horizon) else None


def visible_closes(closes: Iterable[Close], horizon: datetime) -> list[Close]:
    """The closes a viewer with this horizon may see: those captured at or before it (a close is the
    consensus at tip-off, so Community sees it only once the delay has passed since then)."""
    return [close for close in closes if seen_by(close.captured_at, horizon)]


def watchlist_limit(tier: Tier, tiers: TierSettings) -> int:
    return tiers.pro_watchlist_max if tier == Tier.PRO else tiers.community_watchlist_max


def score_band(score: int) -> str:
    if score >= 70:
        return "high"
    if score >= 45:
        return "medium"
    return "low"


@dataclass(frozen=True, slots=True)
class SignalView:
    """A signal as one tier may see it. Redacted fields are None (never an empty stand-in that could be
    mistaken for data). Community keeps type, game, market, side, time, score band and heat; it loses
    the exact score and its breakdown, velocity, magnitude, and every book name."""

    id: str
    type: SignalType
    game_id: str
    market: Market
    side: Side
    created_at: datetime
    commence_time: datetime
    score_band: str
    heat: int
    redacted: bool
    score: int | None = None
    breakdown: dict[str, float] | None = None
    books: tuple[str, ...] | None = None
    velocity: float | None = None
    magnitude: float | None = None
    entry_book: str | None = None
    entry_point: float | None = None
    entry_price: int | None = None
    consensus_point: float | None = None
    consensus_prob: float | None = None
    details: dict[str, Any] | None = None
    entry_prob: float | None = None  # the entry's no-vig probability: full views only
    ev_at_fire: float | None = None  # the entry's EV against the no-vig consensus when it fired: full views only


#: Detail keys that never reveal a book or a speed, so Community may keep them.
_PUBLIC_DETAILS = frozenset({"key_number", "keys_crossed", "from", "to", "unit"})


def view_signal(signal: Signal, tier: Tier, heat: int = 0) -> SignalView:
    """The one place a signal is shaped for a tier."""
    base = {
        "id": signal.id,
        "type": signal.type,
        "game_id": signal.game_id,
        "market": signal.market,
        "side": signal.side,
        "created_at": signal.created_at,
        "commence_time": signal.commence_time,
        "score_band": score_band(signal.score),
        "heat": heat,
    }
    if tier == Tier.PRO:
        return SignalView(
            **base,
            redacted=False,
            score=signal.score,
            breakdown=signal.breakdown.as_dict(),
            books=signal.books,
            velocity=signal.velocity,
            magnitude=signal.magnitude,
            entry_book=signal.entry.book,
            entry_point=signal.entry.point,
            entry_price=signal.entry.price,
            consensus_point=signal.consensus_point,
            consensus_prob=signal.consensus_prob,
            details=dict(signal.details),
            entry_prob=signal.entry.prob,
            ev_at_fire=signal.ev_at_fire,
        )
    details = {key: value for key, value in signal.details.items() if key in _PUBLIC_DETAILS}
    return SignalView(
        **base,
        redacted=True,
        entry_point=signal.entry.point,
        entry_price=signal.entry.price,
        consensus_point=signal.consensus_point,
        details=details or None,
    )


def view_price(price: PriceNow | None, tier: Tier) -> PriceNow | None:
    """The best price now as `tier` may see it: the number, the price and its EV against the fair price for
    everyone (the fair price is on the Community board too), the book only for Pro (like every book name)."""
    if price is None or tier == Tier.PRO:
        return price
    return replace(price, book=None)


def visible_signals(signals: Iterable[Signal], tier: Tier, now: datetime, tiers: TierSettings) -> list[Signal]:
    return [signal for signal in signals if can_see(signal, tier, now, tiers)]


# ---------------------------------------------------------------------- billing → tier

PRO_STATUSES = frozenset({"active", "trialing"})


@dataclass(frozen=True, slots=True)
class BillingDecision:
    """What a member's role should be, and why (shown to moderators in `/mod billing status`)."""

    tier: Tier
    reason: str
    subscription_id: str | None = None
    grace_ends: datetime | None = None

    @property
    def in_grace(self) -> bool:
        return self.grace_ends is not None


def billing_tier(
    subscriptions: Iterable[SubscriptionState], now: datetime, grace: timedelta, pro_price: str = ""
) -> BillingDecision:
    """active/trialing → Pro; past_due → Pro until the grace period runs out; anything else → Community.
    Only subscriptions to the Pro price count (when one is configured). Decided from the subscriptions'
    current state, never from the order webhooks arrived in."""
    relevant = [s for s in subscriptions if not pro_price or pro_price in s.price_ids]
    for sub in sorted(relevant, key=lambda s: s.id):
        if sub.status in PRO_STATUSES:
            return BillingDecision(Tier.PRO, f"subscription {sub.id} is {sub.status}", sub.id)
    grace_ends = None
    for sub in sorted(relevant, key=lambda s: s.id):
        if sub.status == "past_due":
            since = sub.past_due_since or now
            ends = since + grace
            if now < ends:
                return BillingDecision(
                    Tier.PRO, f"subscription {sub.id} is past due; Pro until {ends:%Y-%m-%d %H:%M} UTC", sub.id, ends
                )
            grace_ends = ends
    if grace_ends is not None:
        return BillingDecision(Tier.COMMUNITY, f"past due and the grace period ended {grace_ends:%Y-%m-%d %H:%M} UTC")
    if relevant:
        statuses = ", ".join(sorted({s.status for s in relevant}))
        return BillingDecision(Tier.COMMUNITY, f"no active subscription ({statuses})")
    return BillingDecision(Tier.COMMUNITY, "no subscription")


# ---------------------------------------------------------------------- API plans


@dataclass(frozen=True, slots=True)
class PlanLimits:
    plan: str
    label: str
    requests_per_minute: int
    webhooks: int
    monthly_soft_limit: int  # 0 = none
    commercial_use: bool
    dedicated_queue: bool  # Enterprise: its own webhook delivery queue


def plan_limits(key: Any, plans: dict[str, Any]) -> PlanLimits:
    """A key's limits: its plan's, with an Enterprise key's own overrides on top."""
    plan = plans[key.plan]
    return PlanLimits(
        plan=key.plan,
        label=plan.label,
        requests_per_minute=key.rpm_override or plan.requests_per_minute,
        webhooks=key.webhooks_override if key.webhooks_override is not None else plan.webhooks,
        monthly_soft_limit=key.monthly_override if key.monthly_override is not None else plan.monthly_soft_limit,
        commercial_use=plan.commercial_use,
        dedicated_queue=key.plan == "enterprise",
    )


# ---------------------------------------------------------------------- API audiences


class RawOddsNotLicensed(UserError):
    """Per-book raw odds asked for where the operator's data licence does not allow passing them on."""

    status = 403
    code = "raw_odds_not_licensed"

    def __init__(self) -> None:
        super().__init__(
            "Per-book odds are not available: this operator's licence with its odds provider does not allow "
            "redistributing per-book odds. Consensus, signals (with their entry) and CLV are always served."
        )


@dataclass(frozen=True, slots=True)
class ApiAudience:
    """What an API key of one plan may see (the REST API's counterpart of `Tier`).

    The rule, for every configured plan (Builder, Pro Infra, Enterprise): signals in real time (no delay)
    with full diagnostics — exact score and breakdown, velocity, magnitude, book names, details and the
    entry (book, point, price, probability). Plans differ in limits (`plan_limits`), not in what a
    response holds. Per-book raw odds (each book's lines and their history) are the provider's raw data:
    served only when the operator's licence allows it (`[api] redistribute_raw_odds`). Derived data —
    consensus, signals with their entry, closes and CLV — is always served.
    """

    plan: str
    tier: Tier = Tier.PRO  # the signal view every plan gets: full diagnostics
    delay: timedelta = timedelta(0)
    raw_odds: bool = False

    @property
    def cache_key(self) -> tuple[object, ...]:
        """What a cached response depends on: equal audiences may share one."""
        return (self.tier, self.delay, self.raw_odds)


def api_audience(plan: str, redistribute_raw_odds: bool) -> ApiAudience:
    """The audience of an API key's plan (see `ApiAudience` for the rule)."""
    return ApiAudience(plan=plan, tier=Tier.PRO, delay=timedelta(0), raw_odds=bool(redistribute_raw_odds))


def require_raw_odds(audience: ApiAudience) -> None:
    if not audience.raw_odds:
        raise RawOddsNotLicensed()


def view_signal_for(signal: Signal, audience: ApiAudience) -> SignalView:
    """A signal as an API audience sees it: the same shaping as `view_signal` for the audience's tier."""
    return view_signal(signal, audience.tier)


def api_horizon(audience: ApiAudience, now: datetime) -> datetime:
    """The newest moment an API audience may see (its plan's delay before now: none for every plan), the
    counterpart of `horizon` for `seen_by`, `visible_grade` and `visible_closes`."""
    return now - audience.delay


def api_can_see(signal: Signal, audience: ApiAudience, now: datetime) -> bool:
    return seen_by(signal.created_at, api_horizon(audience, now))


# ---------------------------------------------------------------------- the commands of a tier (/help)


@dataclass(frozen=True, slots=True)
class CommandHelp:
    """One line of `/help`: how to call it, what it does for this tier, and the command paths it stands for
    (the test checks them against the synced commands, so /help names every command and no stale one)."""

    usage: str
    text: str
    paths: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class HelpSheet:
    """What `/help` shows one member: their tier's commands, what Pro adds (Community only) and, for
    moderators, the /mod commands."""

    tier: Tier
    commands: tuple[CommandHelp, ...]
    pro_adds: str | None
    moderator_commands: tuple[CommandHelp, ...]


@dataclass(frozen=True, slots=True)
class _Entry:
    usage: str
    paths: tuple[str, ...]
    pro: str | None  # the text for Pro; None: not shown to Pro
    community: str | None  # the text for Community; None: a Pro feature (`feature`) or not shown
    feature: Feature | None = None
    community_usage: str | None = None  # when Community calls it with fewer options


def _minutes(seconds: float) -> str:
    minutes = round(seconds / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}" if seconds >= 60 else f"{int(seconds)} seconds"


#: Member commands. `{delay}`, `{community_watch}` and `{pro_watch}` are filled from the tier settings.
_MEMBER_COMMANDS = (
    _Entry(
        "/odds game",
        ("odds",),
        "consensus and every book's line for the three markets, in real time",
        "consensus and each book's number, {delay} delayed, without book names",
    ),
    _Entry(
        "/chart game market",
        ("chart",),
        "the line's movement with every book, signals and your bets marked",
        "the consensus line's movement with signals marked, {delay} delayed",
    ),
    _Entry(
        "/signals [game] [type] [preset]",
        ("signals",),
        "recent signals with full diagnostics; High Confidence / Low Noise presets",
        "recent signals, {delay} delayed, with their score band",
        community_usage="/signals [game] [type]",
    ),
    _Entry(
        "/signal id",
        ("signal",),
        "one signal: books in the order they moved, velocity, magnitude, score breakdown",
        "one signal, {delay} delayed, without books or diagnostics",
    ),
    _Entry("/heat", ("heat",), "today's games ranked by signal heat", "today's games ranked by signal heat"),
    _Entry(
        "/watch add|remove|list",
        ("watch add", "watch remove", "watch list"),
        "your watchlist: up to {pro_watch} upcoming games",
        "your watchlist: up to {community_watch} upcoming games",
    ),
    _Entry(
        "/alerts dm enabled [types] [min_score]",
        ("alerts dm",),
        "DMs for signals on your watchlist games, filtered by type and score",
        None,
        Feature.ALERTS,
    ),
    _Entry(
        "/alerts list",
        ("alerts list",),
        "which channels receive the Pro alerts",
        "which channels receive the Pro alerts",
    ),
    _Entry(
        "/bet log|list|delete, /clv",
        ("bet log", "bet list", "bet delete", "clv"),
        "log your bets; each is graded against the closing line (CLV)",
        None,
        Feature.CLV_TRACKING,
    ),
    _Entry("/export signals|bets [days]", ("export",), "a CSV of signals or your bets", None, Feature.EXPORT),
    _Entry(
        "/integrity",
        ("integrity",),
        "the public CLV audit of every signal class",
        "the public CLV audit of every signal class",
    ),
    _Entry("/billing status", ("billing status",), "your plan and subscription", "your plan and subscription"),
    _Entry("/upgrade", ("upgrade",), None, "get Pro: a private Stripe Checkout link"),
    _Entry("/help", ("help",), "this list", "this list"),
)

#: The /mod commands: moderators (Manage Server) see them, whatever their own tier.
_MODERATOR_COMMANDS = (
    CommandHelp(
        "/mod alerts set channel types",
        "route STEAM / DISLOCATION / KEY_CROSS alerts to a Pro-only channel",
        ("mod alerts set",),
    ),
    CommandHelp("/mod alerts remove channel", "stop alerts in a channel", ("mod alerts remove",)),
    CommandHelp(
        "/mod billing link|unlink member",
        "link a member to a Stripe customer, or remove the link (Manage Roles)",
        ("mod billing link", "mod billing unlink"),
    ),
    CommandHelp(
        "/mod billing sync [member], /mod billing status member",
        "re-check Pro roles against Stripe; a member's billing and why (Manage Roles)",
        ("mod billing sync", "mod billing status"),
    ),
    CommandHelp(
        "/mod apikey create|revoke|list",
        "REST API keys for members (the key goes by DM)",
        ("mod apikey create", "mod apikey revoke", "mod apikey list"),
    ),
)


def help_sheet(tier: Tier, tiers: TierSettings, *, moderator: bool) -> HelpSheet:
    """The commands `tier` has (and, for a moderator, the /mod ones), worded with the tier's own limits:
    the one place that decides what `/help` lists, read from the rules above (`allows`, `delay`,
    `watchlist_limit`)."""
    values = {
        "delay": _minutes(delay(Tier.COMMUNITY, tiers).total_seconds()),
        "community_watch": watchlist_limit(Tier.COMMUNITY, tiers),
        "pro_watch": watchlist_limit(Tier.PRO, tiers),
    }
    lines = []
    for entry in _MEMBER_COMMANDS:
        if entry.feature is not None and not allows(tier, entry.feature):
            continue
        text = entry.pro if tier == Tier.PRO else entry.community
        usage = entry.usage if tier == Tier.PRO else entry.community_usage or entry.usage
        if text is not None:
            lines.append(CommandHelp(usage, text.format(**values), entry.paths))
    pro_adds = None
    missing = [feature.value for feature in Feature if not allows(tier, feature)]
    if missing:
        pro_adds = (
            f"Pro adds real-time odds and signals (Community sees them {values['delay']} late), a "
            f"{values['pro_watch']}-game watchlist, {', '.join(missing)}: `/upgrade`."
        )
    return HelpSheet(tier, tuple(lines), pro_adds, _MODERATOR_COMMANDS if moderator else ())
