"""Signals as a viewer may see them: lists with filters and presets, one signal, heat, the audit."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import access
from access import Feature, NotFound, SignalView, Viewer
from config.settings import PresetSettings
from engine.audit import ClassAudit
from engine.models import Game, Grade, Market, Signal, SignalType
from engine.presets import passes
from engine.reports import AuditReport
from engine.scoring import heat
from services.books import book_names, named_view
from services.context import ServiceContext
from storage import StoredGame

MAX_LIST = 50
#: Games this close to now (either side) are "today's" for /heat.
TODAY = timedelta(hours=18)


def _until(ctx: ServiceContext, viewer: Viewer, now: datetime) -> datetime:
    """Exclusive upper bound for stored signals this viewer may see."""
    return access.horizon(viewer.tier, now, ctx.settings.tiers) + timedelta(microseconds=1)


def preset_names(ctx: ServiceContext) -> dict[str, str]:
    """Preset key → label, as configured."""
    return {key: preset.label for key, preset in ctx.settings.presets.items()}


def offered_presets(ctx: ServiceContext, viewer: Viewer) -> dict[str, str]:
    """The presets a picker may offer this viewer: none for Community, since presets are Pro
    (`access.allows`); a preset sent by hand still meets `recent_signals`' upgrade message."""
    return preset_names(ctx) if access.allows(viewer.tier, Feature.PRESETS) else {}


@dataclass(frozen=True, slots=True)
class FeedOptions:
    """What a signal feed may offer this viewer: the presets, a minimum-score filter, the live stream."""

    presets: dict[str, str]
    min_score: bool
    live: bool


def feed_options(ctx: ServiceContext, viewer: Viewer) -> FeedOptions:
    """The dashboard feed's Pro controls, as `access` allows them (a control sent by hand anyway meets
    the same refusal in `recent_signals` / `live_filter`)."""
    return FeedOptions(
        presets=offered_presets(ctx, viewer),
        min_score=access.allows(viewer.tier, Feature.DIAGNOSTICS),
        live=access.delay(viewer.tier, ctx.settings.tiers) == timedelta(0),
    )


async def audit(ctx: ServiceContext) -> AuditReport:
    """The audit, rebuilt only when grading has moved on (every surface and preset filter reads it); the
    cache is the context's own (`ctx.audits`), shared by the bot's and the API's contexts at the wiring."""
    return await ctx.audits.get(ctx.repos, ctx.settings)


async def preset_filter(ctx: ServiceContext, rules: PresetSettings) -> Callable[[Signal], bool]:
    """A preset as one test of a signal (`engine.presets.passes`) over the audit's class rows, which carry
    each class's alert state: every preset leaves refuted classes out."""
    classes = (await audit(ctx)).class_lifts()
    minimum = ctx.settings.clv.preset_min_graded
    return lambda signal: passes(signal, rules, classes, min_graded=minimum)


async def game_heat(ctx: ServiceContext, game_id: str, viewer: Viewer, now: datetime) -> int:
    config = ctx.settings.signals
    horizon = access.horizon(viewer.tier, now, ctx.settings.tiers)
    recent = await ctx.repos.signals.list(
        game_id=game_id, since=horizon - timedelta(seconds=config.heat_window_seconds), until=_until(ctx, viewer, now)
    )
    return heat(recent, horizon, config.heat_window_seconds, config.heat_thresholds)


@dataclass(frozen=True, slots=True)
class SignalFilter:
    """What a list of signals is narrowed to: the `/signals` command's options and the dashboard's filters.
    A minimum score filters on the exact score, a diagnostic, so it is Pro's (as are the presets)."""

    game_id: str | None = None
    kind: SignalType | None = None
    market: Market | None = None
    min_score: int | None = None
    preset: str | None = None


def _rules(ctx: ServiceContext, viewer: Viewer, wanted: SignalFilter) -> PresetSettings | None:
    """The preset's rules (None: no preset); raises the upgrade message for a Pro filter asked for by
    Community, and a clear message for an unknown preset."""
    if wanted.min_score is not None:
        access.require(viewer, Feature.DIAGNOSTICS)
    if not wanted.preset:
        return None
    access.require(viewer, Feature.PRESETS)
    rules = ctx.settings.presets.get(wanted.preset)
    if rules is None:
        raise access.UserError(
            f"Unknown preset “{wanted.preset}”. Choose one of: {', '.join(preset_names(ctx).values())}."
        )
    return rules


async def recent_signals(
    ctx: ServiceContext,
    viewer: Viewer,
    now: datetime,
    *,
    game_id: str | None = None,
    kind: SignalType | None = None,
    preset: str | None = None,
    market: Market | None = None,
    min_score: int | None = None,
    limit: int = MAX_LIST,
) -> list[SignalView]:
    """Newest first, only what the viewer may see, shaped for their tier."""
    wanted = SignalFilter(game_id=game_id, kind=kind, market=market, min_score=min_score, preset=preset)
    rules = _rules(ctx, viewer, wanted)
    signals = await ctx.repos.signals.list(
        until=_until(ctx, viewer, now),
        game_id=game_id,
        types=[kind] if kind else None,
        market=market,
        min_score=min_score,
        limit=MAX_LIST * (4 if rules else 1),
    )
    if rules is not None:
        keep = await preset_filter(ctx, rules)
        signals = [s for s in signals if keep(s)]
    return await views(ctx, signals[:limit], viewer, now)


@dataclass(frozen=True, slots=True)
class LiveFilter:
    """One live stream's filters, checked once when it opens (`live_filter`): which published signals it
    wants. Pure, so the publisher of an audience asks it for every open stream without another query."""

    wanted: SignalFilter
    rules: PresetSettings | None = None
    min_graded: int = 0  # `clv.preset_min_graded`

    @property
    def needs_audit(self) -> bool:
        """Every preset reads the class rows: each leaves refuted classes out (`engine.presets.passes`)."""
        return self.rules is not None

    def admits(self, signal: Signal, classes: Mapping[str, ClassAudit]) -> bool:
        """As `recent_signals` would list it: the feed's filters, then the preset (with the audit's
        class lifts when the preset asks for them: `live_classes`)."""
        w = self.wanted
        return (
            (w.game_id is None or signal.game_id == w.game_id)
            and (w.kind is None or signal.type == w.kind)
            and (w.market is None or signal.market == w.market)
            and (w.min_score is None or signal.score >= w.min_score)
            and (self.rules is None or passes(signal, self.rules, classes, min_graded=self.min_graded))
        )


def live_filter(ctx: ServiceContext, viewer: Viewer, wanted: SignalFilter) -> LiveFilter:
    """The live feed is real time, so only a tier without a delay may have it (`access.require_real_time`:
    the upgrade refusal); a Pro filter asked for by Community and an unknown preset are refused as in
    `recent_signals`."""
    access.require_real_time(viewer, ctx.settings.tiers)
    return LiveFilter(wanted, _rules(ctx, viewer, wanted), ctx.settings.clv.preset_min_graded)


async def live_views(
    ctx: ServiceContext, tier: access.Tier, now: datetime, signals: list[Signal]
) -> list[tuple[Signal, SignalView]]:
    """Signals just published on the bus (`engine.events.SIGNAL_CREATED`), each with its view as everyone
    of `tier` sees it: the view depends on the tier alone, so it is shaped once per signal for every open
    stream of that audience (each stream's filters then pick from it: `LiveFilter.admits`). A signal the
    tier may not see yet is never shaped."""
    shown = [s for s in signals if access.can_see(s, tier, now, ctx.settings.tiers)]
    return list(zip(shown, await views(ctx, shown, Viewer(tier), now), strict=True))


async def live_classes(ctx: ServiceContext, filters: Iterable[LiveFilter]) -> dict[str, ClassAudit]:
    """The audit's class lifts, read (once per published batch) only when some stream's preset needs them."""
    return (await audit(ctx)).class_lifts() if any(f.needs_audit for f in filters) else {}


async def with_games(ctx: ServiceContext, shown: list[SignalView]) -> list[tuple[SignalView, Game | None]]:
    """Each view with its game (None when the game is not stored)."""
    games: dict[str, Game | None] = {}
    for game_id in dict.fromkeys(view.game_id for view in shown):
        stored = await ctx.repos.games.get(game_id)
        games[game_id] = stored.game if stored is not None else None
    return [(view, games[view.game_id]) for view in shown]


async def views(ctx: ServiceContext, signals: list[Signal], viewer: Viewer, now: datetime) -> list[SignalView]:
    """The signals as the viewer sees them in Discord: shaped for the tier, with the heat of now, and the
    books (Pro only) under their display names. The API keeps keys: it uses `access.view_signal_for`."""
    heats: dict[str, int] = {}
    for game_id in dict.fromkeys(s.game_id for s in signals):
        heats[game_id] = await game_heat(ctx, game_id, viewer, now)
    shaped = [access.view_signal(s, viewer.tier, heats[s.game_id]) for s in signals]
    if all(v.books is None and v.entry_book is None for v in shaped):
        return shaped
    names = await book_names(ctx)
    return [named_view(v, names) for v in shaped]


async def one_signal(ctx: ServiceContext, signal_id: str, viewer: Viewer, now: datetime) -> SignalView:
    """One signal by id, shaped for the viewer. A signal the viewer may not see yet (younger than the
    Community delay) is answered exactly like an unknown id, so the answer never confirms it exists."""
    text = (signal_id or "").strip()
    signal = await ctx.repos.signals.get(text) if 0 < len(text) <= 64 else None
    if signal is None or not access.can_see(signal, viewer.tier, now, ctx.settings.tiers):
        raise NotFound(f"No signal with id “{text[:64]}”.")
    return (await views(ctx, [signal], viewer, now))[0]


async def signal_detail(
    ctx: ServiceContext, signal_id: str, viewer: Viewer, now: datetime
) -> tuple[SignalView, Game | None, Grade | None]:
    """One signal for its page: `one_signal`'s view (an unseeable one is an unknown id), its game, and its
    CLV grade once graded. The close is consensus, no book's, so every tier sees whether the signal beat
    it — but, like any data, only from the viewer's horizon on (`access.visible_grade`): Community learns
    the close the delay after tip-off, not before."""
    view = await one_signal(ctx, signal_id, viewer, now)
    stored = await ctx.repos.games.get(view.game_id)
    horizon = access.horizon(viewer.tier, now, ctx.settings.tiers)
    grade = access.visible_grade(await ctx.repos.grades.get(view.id), horizon)
    return view, stored.game if stored is not None else None, grade


async def suggest_signals(
    ctx: ServiceContext, viewer: Viewer, now: datetime, typed: str = ""
) -> list[tuple[SignalView, Game | None]]:
    """The `/signal` picker's signals: exactly what `/signals` shows this viewer (their tier's delay and
    redaction, newest first), with a visible signal whose full id was typed in front; each with its game.
    A Community member is never offered a signal younger than the delay, nor a book name."""
    views = await recent_signals(ctx, viewer, now)
    text = typed.strip()
    if text and all(view.id != text for view in views):
        with contextlib.suppress(NotFound):  # not visible to them: answered as for an unknown id
            views.insert(0, await one_signal(ctx, text, viewer, now))
    games: dict[str, Game | None] = {}
    for game_id in {view.game_id for view in views}:
        stored = await ctx.repos.games.get(game_id)
        games[game_id] = stored.game if stored is not None else None
    return [(view, games[view.game_id]) for view in views]


async def heat_board(ctx: ServiceContext, viewer: Viewer, now: datetime) -> list[tuple[StoredGame, int]]:
    """Today's games ranked by heat (hottest first, then soonest tip); the latest slate when none is today."""
    games = await ctx.repos.games.list(since=now - TODAY, until=now + TODAY, limit=200)
    if not games:
        everything = await ctx.repos.games.list(limit=1000)
        games = sorted(everything, key=lambda g: abs((g.game.commence_time - now).total_seconds()))[:15]
    ranked = [(g, await game_heat(ctx, g.game.id, viewer, now)) for g in games]
    ranked.sort(key=lambda item: (-item[1], item[0].game.commence_time))
    return ranked


# ---------------------------------------------------------------------- the REST API's audiences

#: Rows scanned per query when a preset (a Python predicate) filters signals after SQL.
PRESET_BATCH = 200


async def api_signals(
    ctx: ServiceContext,
    audience: access.ApiAudience,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    game_id: str | None = None,
    kind: SignalType | None = None,
    market: Market | None = None,
    preset: str | None = None,
    min_score: int | None = None,
    limit: int = MAX_LIST,
    before: tuple[datetime, str] | None = None,
) -> list[SignalView]:
    """Signals newest first by (created_at, id), strictly older than the keyset cursor `before`, as the
    API audience sees them; up to `limit` rows (ask one more to learn whether another page exists).

    A preset is narrowed in SQL where it can be (types, minimum score); `passes` stays its one definition.
    The audience's delay (none for every API plan) bounds what is visible."""
    if since is not None and until is not None and until <= since:
        raise access.UserError("“until” must be later than “since”.")
    rules = None
    types = [kind] if kind else None
    if preset:
        rules = ctx.settings.presets.get(preset)
        if rules is None:
            raise access.UserError(f"Unknown preset “{preset}”. Choose one of: {', '.join(preset_names(ctx))}.")
        min_score = max(min_score or 0, rules.min_score)
        if rules.types:
            types = [t for t in (types or [SignalType(v) for v in rules.types]) if t.value in rules.types]
            if not types:
                return []
    if audience.delay:
        bound = ctx.clock() - audience.delay + timedelta(microseconds=1)
        until = bound if until is None else min(until, bound)
    keep = await preset_filter(ctx, rules) if rules is not None else None
    batch = limit if rules is None else max(PRESET_BATCH, limit)
    found: list[Signal] = []
    while len(found) < limit:
        rows = await ctx.repos.signals.list(
            since=since,
            until=until,
            game_id=game_id,
            types=types,
            market=market,
            min_score=min_score,
            limit=batch,
            before=before,
        )
        found.extend(s for s in rows if keep is None or keep(s))
        if len(rows) < batch:
            break
        before = (rows[-1].created_at, rows[-1].id)
    return [access.view_signal_for(s, audience) for s in found[:limit]]


async def api_signal(
    ctx: ServiceContext, audience: access.ApiAudience, signal_id: str
) -> tuple[SignalView, Grade | None]:
    """One signal as the API audience sees it, with its CLV grade once graded at or before the audience's
    horizon (`access.visible_grade`)."""
    text = signal_id or ""
    now = ctx.clock()
    signal = await ctx.repos.signals.get(text) if 0 < len(text) <= 200 else None
    if signal is None or not access.api_can_see(signal, audience, now):
        raise NotFound(f"No signal with id “{text[:200]}”.")
    grade = access.visible_grade(await ctx.repos.grades.get(signal.id), access.api_horizon(audience, now))
    return access.view_signal_for(signal, audience), grade
