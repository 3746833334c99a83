"""Embeds. Everything shown is what the services returned for the viewer's tier: a redacted
`SignalView` simply has no velocity or book names to render."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

import discord

from access import SignalView, score_band
from engine.audit import ClassAudit
from engine.models import Bet, BetGrade, Game, Grade, Market, SignalType
from engine.price_now import PriceNow
from engine.reports import AuditReport, state_text
from services.bets import ClvRecord
from services.context import DemoInfo
from services.games import matchup
from services.odds import MarketBoard, OddsBoard
from services.odds_text import (
    BEST,
    EV_AT_FIRE_BASIS,
    MARKET_NAMES,
    NO_PRICE_NOW,
    both_sides,
    close_number_text,
    clv_text,
    entry_text,
    ev_at_fire_text,
    fair_text,
    nickname,
    point_text,
    price_line,
    quote_text,
    row_name,
    signed_points,
    verdict,
)
from storage import AlertRoute, StoredGame

COLOURS = {
    SignalType.STEAM: discord.Colour.red(),
    SignalType.DISLOCATION: discord.Colour.gold(),
    SignalType.KEY_CROSS: discord.Colour.blue(),
}
HEAT = ("·", "🔥", "🔥🔥", "🔥🔥🔥")
#: Discord's embed limits.
EMBED_FIELDS_MAX = 25
EMBED_TOTAL_MAX = 6000
FIELD_NAME_MAX = 256
FIELD_VALUE_MAX = 1024


def number(market: Market, point: float | None, price: int | None = None) -> str:
    """A number as members read it everywhere, with real minus signs (`services.odds_text`): "−3.5 (−108)",
    "183.5", "+150"; "—" for neither."""
    if price is not None:
        return quote_text(market, point, price)
    if market == Market.H2H or point is None:
        return "—"
    return point_text(market, point)


def _time(at) -> str:
    return discord.utils.format_dt(at, "f")


#: A book name column wider than this is cut: the rows must stay one line on a phone.
NAME_WIDTH = 14


def _fit(head: str, rows: Sequence[str], limit: int = FIELD_VALUE_MAX) -> str:
    """`head` and as many rows as fit in `limit` characters; the rest are counted, never cut mid-row."""
    kept: list[str] = []
    used = len(head)
    for index, row in enumerate(rows):
        left = len(rows) - index - 1
        reserve = len(f"\n… {left} more") if left else 0
        if used + 1 + len(row) + reserve > limit:
            kept.append(f"… {len(rows) - index} more")
            break
        kept.append(row)
        used += 1 + len(row)
    return "\n".join([head, *kept])


def market_field(game: Game, board: MarketBoard) -> str:
    """One market of /odds: the fair price of both sides, then each book's line (Pro) or each number with
    how many books hang it (Community), the best quote of each side starred."""
    market, consensus = board.market, board.consensus
    if consensus is None:
        return "no line yet"
    head = f"**Fair** {fair_text(game, market, consensus)} · {consensus.books} books"
    if board.lines:
        width = min(NAME_WIDTH, max(len(named.name) for named in board.lines))
        rows = [
            f"`{named.name[:width]:<{width}}` "
            + both_sides(game, market, named.line.point, named.line.price_a, named.line.price_b, board.best)
            for named in board.lines
        ]
    else:  # Community: every book's number, without the book's name
        rows = [
            f"{count.books} book{'s' if count.books > 1 else ''}: "
            + both_sides(game, market, count.point, count.price_a, count.price_b, board.best)
            for count in board.distribution
        ]
    return _fit(head, rows)


def odds_embed(board: OddsBoard, demo: DemoInfo | None = None) -> discord.Embed:
    """The board with times as Discord timestamps (each member reads them in their own zone), so the
    "as of" moves from the footer (which cannot render them) into the description."""
    game = board.game
    description = "\n".join(
        [
            f"Tip {_time(game.commence_time)} · heat {HEAT[board.heat]}",
            f"As of {_time(board.as_of)} ({age(board.as_of)})",
            f"{BEST} best price of each side · fair = no-vig consensus",
        ]
    )
    embed = discord.Embed(title=matchup(game), description=description)
    for market_board in board.markets:
        embed.add_field(name=MARKET_NAMES[market_board.market], value=market_field(game, market_board), inline=False)
    footer = "Community view, 10 minutes delayed · /upgrade for real time" if board.delayed else ""
    if text := " · ".join(filter(None, (demo_label(demo, at=board.as_of), footer))):
        embed.set_footer(text=text)
    return embed


def demo_label(demo: DemoInfo | None, at: datetime | None = None) -> str:
    """The demo label while the bot runs the demo ("Demo: real WNBA odds of 2026-08-05, replayed"), else "".

    `demo` is the context's `DemoInfo` (`ctx.demo`), passed by every caller: what is shown says whether
    it is a replay. `at` (a time as shown, i.e. shifted) picks the real day its numbers are from."""
    return "" if demo is None else demo.label(at)


def signal_title(view: SignalView, game: Game | None) -> str:
    side = game.side_label(view.market, view.side) if game else view.side.value
    return f"{view.type.value} · {MARKET_NAMES[view.market]} → {side}"


#: Discord's limits for one message's embeds.
MESSAGE_EMBEDS_MAX = 10


def short_matchup(game: Game) -> str:
    return f"{nickname(game.away_team)} @ {nickname(game.home_team)}"


def alert_title(view: SignalView, game: Game | None) -> str:
    """ "STEAM · Under 183.5 (−110) · Wings @ Mystics": type, side, the entry's number and price, the game.
    Only what the view holds (a Community view has no book, so none is named)."""
    side = game.side_label(view.market, view.side) if game else view.side.value
    entry = entry_text(view)
    where = short_matchup(game) if game else view.game_id
    return _clip(" · ".join([view.type.value, f"{side} {entry}".strip(), where]), 256)


def age(at) -> str:
    """Discord's relative timestamp ("5 minutes ago", kept current by the client)."""
    return discord.utils.format_dt(at, "R")


def late_note(at, max_age_seconds: float) -> str:
    """The content of an alert posted too late to ping: how old it is, and why nobody was pinged."""
    limit = f"{max_age_seconds / 60:g} minutes" if max_age_seconds >= 60 else f"{max_age_seconds:g} seconds"
    return f"Late alert, fired {age(at)}: older than {limit}, so no ping."


def embed_size(embed: discord.Embed) -> int:
    """The characters Discord counts towards the 6000 of a message's embeds."""
    size = len(embed.title or "") + len(embed.description or "")
    size += len(embed.footer.text or "") if embed.footer else 0
    size += len(embed.author.name or "") if embed.author else 0
    return size + sum(len(f.name or "") + len(f.value or "") for f in embed.fields)


def pack_embeds(
    embeds: Sequence[discord.Embed], max_embeds: int = MESSAGE_EMBEDS_MAX, max_chars: int | None = None
) -> list[list[discord.Embed]]:
    """Embeds in order, split into messages of at most `max_embeds` and `max_chars` (default: Discord's 6000)
    characters each."""
    max_chars = EMBED_TOTAL_MAX if max_chars is None else max_chars
    messages: list[list[discord.Embed]] = []
    used = 0
    for embed in embeds:
        size = embed_size(embed)
        if not messages or len(messages[-1]) >= max_embeds or used + size > max_chars:
            messages.append([])
            used = 0
        messages[-1].append(embed)
        used += size
    return messages


def grade_text(grade: Grade, market: Market) -> str:
    """How a signal did against the close, as on its dashboard page: "Beat the close · CLV +6.97% · +1 pt",
    then the close and when it was graded."""
    said, _ = verdict(grade)
    return (
        f"{said[0].upper()}{said[1:]} · {clv_text(grade, market)}\n"
        f"Close {close_number_text(grade, market)} · graded {_time(grade.graded_at)}"
    )


def public_details(view: SignalView) -> list[tuple[str, str, bool]]:
    """What every tier sees of a signal's own numbers, as (name, value, inline): a key number's cross."""
    details = view.details or {}
    if view.type == SignalType.KEY_CROSS and "key_number" in details:
        return [("Key number", f"{details['key_number']:g} ({details['from']:+g} → {details['to']:+g})", True)]
    return []


def pro_details(view: SignalView) -> list[tuple[str, str, bool]]:
    """A signal's diagnostics (Pro; none in a redacted view), as (name, value, inline) in the order shown:
    magnitude, velocity, movers, score breakdown, then the type's own numbers and its EV at fire."""
    if view.redacted:
        return []
    details = view.details or {}
    shown: list[tuple[str, str, bool]] = []
    unit, scale = ("pp", 100.0) if view.market == Market.H2H else ("pts", 1.0)
    if view.magnitude is not None:
        shown.append(("Magnitude", f"{view.magnitude * scale:.2f} {unit}", True))
    if view.velocity is not None:
        shown.append(("Velocity", f"{view.velocity * scale:.3f} {unit}/min", True))
    if view.books:
        shown.append(("Books (first mover first)", ", ".join(view.books)[:1024], False))
    if view.breakdown:
        parts = " · ".join(f"{name.replace('_', ' ')} {value:.2f}" for name, value in view.breakdown.items())
        shown.append(("Score breakdown", parts, False))
    if view.type == SignalType.DISLOCATION and "gap" in details:
        shown.append(("Dislocation", f"gap {details['gap'] * scale:.2f} {unit} vs consensus", False))
    if ev := ev_at_fire_text(view):
        shown.append(("Value", f"{ev} {EV_AT_FIRE_BASIS}", False))
    if view.type == SignalType.STEAM and details.get("consensus_before"):
        before, after = details["consensus_before"], details["consensus_after"]
        if view.market == Market.H2H:
            move = f"{100 * before['prob_a']:.1f}% → {100 * after['prob_a']:.1f}% (home)"
        else:
            move = f"{before['point']:g} → {after['point']:g}"
        shown.append(("Consensus", f"{move} within {details['window_seconds'] / 60:.0f} min", False))
    return shown


def price_now_value(market: Market, price: PriceNow | None) -> str:
    """The "Best price now" of an alert or `/signal`: the price, its EV against the fair price, as of when."""
    if price is None:
        return NO_PRICE_NOW
    return f"{price_line(market, price)} · fair as of {age(price.at)}"


def signal_embed(
    view: SignalView,
    game: Game | None,
    demo: DemoInfo | None = None,
    grade: Grade | None = None,
    *,
    price: PriceNow | None = None,
    with_price: bool = False,
) -> discord.Embed:
    """One signal as `/signal` shows it; with its grade when the service gave one (it gives a grade only
    from the viewer's horizon on: `services.signals.signal_detail`) and, `with_price`, the best price on its
    side now (`price`, as the viewer may see it; None: none to take)."""
    embed = discord.Embed(
        title=alert_title(view, game),
        description=f"{matchup(game) if game else view.game_id} · {_time(view.created_at)} ({age(view.created_at)})",
        colour=COLOURS[view.type],
    )
    if view.score is not None:
        embed.add_field(name="Score", value=f"{view.score}/100 ({view.score_band})")
    else:
        embed.add_field(name="Score band", value=view.score_band)
    embed.add_field(name="Heat", value=HEAT[view.heat])
    if view.entry_price is not None:
        entry = number(view.market, view.entry_point, view.entry_price)
        where = f" at {view.entry_book}" if view.entry_book else ""
        embed.add_field(name="Best number", value=f"{entry}{where}")
    if with_price:
        embed.add_field(name="Best price now", value=price_now_value(view.market, price), inline=False)
    for name, value, inline in public_details(view):
        embed.add_field(name=name, value=value, inline=inline)
    if grade is not None:
        embed.add_field(name="Against the close", value=grade_text(grade, view.market), inline=False)
    if view.redacted:
        footer = f"id {view.id} · Community view: diagnostics are Pro · /upgrade"
        embed.set_footer(text=" · ".join(filter(None, (demo_label(demo, at=view.created_at), footer))))
        return embed
    for name, value, inline in pro_details(view):
        embed.add_field(name=name, value=value, inline=inline)
    embed.set_footer(text=" · ".join(filter(None, (demo_label(demo, at=view.created_at), f"id {view.id}"))))
    return embed


#: The most signals one move's embed lists (a field each), leaving room for the head's fields; more than fit in
#: Discord's 6000 characters are counted in a last field (`MORE_RESERVE` characters kept for it).
MOVE_SIGNALS_MAX = 20
MORE_RESERVE = 60


def move_title(views: Sequence[SignalView], game: Game | None, price: PriceNow | None) -> str:
    """ "STEAM + DISLOCATION · Under 183.5 (−110) · Wings @ Mystics": the types that fired, the side with the
    best price now (or, without one, the entry its first signal fired at), the game."""
    first = views[0]
    side = game.side_label(first.market, first.side) if game else first.side.value
    if price is not None:
        entry = quote_text(first.market, price.point, price.price)
    else:
        entry = entry_text(first)
    types = " + ".join(dict.fromkeys(view.type.value for view in views))
    where = short_matchup(game) if game else first.game_id
    return _clip(" · ".join([types, f"{side} {entry}".strip(), where]), 256)


def _signal_field(view: SignalView, held: str | None = None) -> tuple[str, str]:
    """One signal of a move: its type and score, the number it fired at, why it does not ping here (`held`,
    the audit's reason), its diagnostics, its id."""
    score = f"{view.score}/100" if view.score is not None else view.score_band
    lines = []
    if view.entry_price is not None:
        where = f" at {view.entry_book}" if view.entry_book else ""
        lines.append(f"Fired at {number(view.market, view.entry_point, view.entry_price)}{where}")
    if held:
        lines.append(f"*{held}*")
    lines += [f"{name}: {value}" for name, value, _ in public_details(view) + pro_details(view)]
    lines.append(f"id `{view.id}`")
    return _clip(f"{view.type.value} · {score}", FIELD_NAME_MAX), _fit(lines[0], lines[1:])


def move_embed(
    views: Sequence[SignalView],
    game: Game | None,
    price: PriceNow | None,
    *,
    move_id: str,
    at: datetime,
    note: str | None = None,
    held: Mapping[str, str] | None = None,
    demo: DemoInfo | None = None,
) -> discord.Embed:
    """One move as one alert: headed by the move (side, the best price now and its EV against the fair price),
    then each signal that fired in it with its own diagnostics; `note` says why it does not ping, `held` (by
    signal id) why a signal of it would not have."""
    first = views[0]
    head = [f"{matchup(game) if game else first.game_id} · {_time(at)} ({age(at)})"]
    head.append(f"**Best price now** {price_now_value(first.market, price)}")
    if note:
        head.append(note)
    embed = discord.Embed(title=move_title(views, game, price), description="\n".join(head), colour=COLOURS[first.type])
    scores = [view.score for view in views if view.score is not None]
    if scores:
        top = max(scores)
        embed.add_field(name="Score", value=f"{top}/100 ({score_band(top)})")
    embed.add_field(name="Heat", value=HEAT[max(view.heat for view in views)])
    embed.add_field(name="Signals", value=str(len(views)))
    embed.set_footer(text=" · ".join(filter(None, (demo_label(demo, at=at), f"move {move_id}"))))
    shown = 0
    for view in views[:MOVE_SIGNALS_MAX]:
        name, value = _signal_field(view, (held or {}).get(view.id))
        if embed_size(embed) + len(name) + len(value) + MORE_RESERVE > EMBED_TOTAL_MAX:
            break
        embed.add_field(name=name, value=value, inline=False)
        shown += 1
    if shown < len(views):
        left = len(views) - shown
        embed.add_field(name="More", value=f"{left} more signal{'s' if left != 1 else ''} in this move", inline=False)
    return embed


def signal_line(view: SignalView, game: Game | None) -> str:
    score = f"{view.score}" if view.score is not None else view.score_band
    books = f" · {len(view.books)} books, first {view.books[0]}" if view.books else ""
    ev = f" · {ev}" if (ev := ev_at_fire_text(view)) else ""
    return (
        f"**{signal_title(view, game)}** · {score} · {HEAT[view.heat]}{books}{ev}\n"
        f"{_time(view.created_at)} · `{view.id}`"
    )


def signals_page_embed(
    views: Sequence[SignalView],
    games: dict[str, Game],
    page: int,
    pages: int,
    title: str,
    delayed: bool,
    demo: DemoInfo | None = None,
) -> discord.Embed:
    embed = discord.Embed(title=title)
    if not views:
        embed.description = "No signals match."
    for view in views:
        game = games.get(view.game_id)
        embed.add_field(name=matchup(game) if game else view.game_id, value=signal_line(view, game), inline=False)
    footer = f"Page {page + 1}/{max(pages, 1)}"
    if delayed:
        footer += " · Community view, 10 minutes delayed"
    label = demo_label(demo, at=views[0].created_at if views else None)
    embed.set_footer(text=" · ".join(filter(None, (label, footer))))
    return embed


def heat_embed(ranked: Sequence[tuple[StoredGame, int]], demo: DemoInfo | None = None) -> discord.Embed:
    embed = discord.Embed(title="Heat board")
    lines = [f"{HEAT[heat]} {matchup(g.game)} · {_time(g.game.commence_time)}" for g, heat in ranked]
    embed.description = "\n".join(lines)[:4000] or "No games today."
    if label := demo_label(demo, at=ranked[0][0].game.commence_time if ranked else None):
        embed.set_footer(text=label)
    return embed


def watchlist_embed(games: Sequence[StoredGame], limit: int) -> discord.Embed:
    embed = discord.Embed(title="Your watchlist")
    if not games:
        embed.description = "Empty. Add a game with `/watch add`."
    else:
        embed.description = "\n".join(
            f"{matchup(g.game)} · {_time(g.game.commence_time)}{' (started)' if g.status != 'scheduled' else ''}"
            for g in games
        )
    embed.set_footer(text=f"Up to {limit} upcoming games")
    return embed


def ping_bar(minimum: str) -> str:
    """What a bar (`/mod alerts set … minimum:`, `/alerts dm minimum:`) lets through, in words."""
    if minimum == "tiered":
        return "only for classes holding a tier (S/A/B) in our audit"
    return "for every class our audit does not refute"


def routes_embed(routes: Sequence[AlertRoute]) -> discord.Embed:
    embed = discord.Embed(title="Alert routes")
    embed.description = (
        "\n".join(
            f"<#{r.channel_id}> · {', '.join(sorted(t.value for t in r.types))} · pings {ping_bar(r.min_state)}"
            for r in routes
        )
        or "No channel receives alerts yet. Use `/mod alerts set`."
    )
    return embed


def bets_embed(rows: Sequence[tuple[Bet, Game | None, BetGrade | None]]) -> discord.Embed:
    embed = discord.Embed(title="Your bets")
    lines = []
    for bet, game, grade in rows[:20]:
        side = game.side_label(bet.market, bet.side) if game else bet.side.value
        head = (
            f"`#{bet.id}` {matchup(game) if game else bet.game_id} · {side} {number(bet.market, bet.point, bet.price)}"
        )
        if grade is None:
            tail = "awaiting the close"
        else:
            verdict = "beat the close" if grade.beat else "push" if grade.push else "missed the close"
            points = f"{grade.clv_points:+.1f} pts, " if grade.clv_points is not None else ""
            tail = f"{verdict} ({points}{100 * grade.clv_prob:+.1f} pp)"
        lines.append(f"{head} · {tail}")
    embed.description = "\n".join(lines)[:4000] or "No bets yet. Log one with `/bet log`."
    return embed


def clv_embed(record: ClvRecord) -> discord.Embed:
    embed = discord.Embed(title="Your CLV record")
    embed.add_field(name="Bets", value=str(record.bets))
    embed.add_field(name="Graded", value=str(record.graded))
    rate = "—" if record.rate is None else f"{100 * record.rate:.1f}%"
    embed.add_field(name="Beat the close", value=f"{record.beats} ({rate}), {record.pushes} pushes")
    if record.avg_clv_points is not None:
        embed.add_field(name="Average CLV (points)", value=f"{record.avg_clv_points:+.2f}")
    if record.avg_clv_ev is not None:
        embed.add_field(name="Average CLV% (your price at the no-vig close)", value=f"{100 * record.avg_clv_ev:+.2f}%")
    if record.avg_clv_prob is not None:
        embed.add_field(name="Average CLV (probability)", value=f"{100 * record.avg_clv_prob:+.2f} pp")
    return embed


INTEGRITY_TITLE = "Signal integrity: every signal graded against the close"
INTEGRITY_GUIDE = "docs/signal-integrity.md"
#: Which audit rows `/integrity` lists, most wanted first: score buckets are the first to go.
INTEGRITY_PRIORITY = ("class", "preset", "score")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _rate(value: float) -> str:
    return f"{100 * value:.1f}%"


def _tier_rules_line(method: dict[str, object]) -> str:
    """The tier rules line ("Tiers: S > 58% over ≥ 500 · …") from `method["tiers"]`, if the audit states them."""
    rules = method.get("tiers") if isinstance(method, dict) else None
    if not isinstance(rules, list):
        return ""
    parts = [
        f"{rule['name']} > {100 * rule['min_rate']:.0f}% over ≥ {rule['min_graded']}"
        for rule in rules
        if isinstance(rule, dict) and {"name", "min_rate", "min_graded"} <= set(rule)
    ]
    return "Tiers: " + " · ".join(parts) + " graded, with lift" if parts else ""


def integrity_row_value(row: ClassAudit) -> str:
    """One audit row as an embed field value (≤ 1024 characters)."""
    if not row.graded:
        value = "not graded yet"
        if row.ungraded:
            value += f" ({row.ungraded} waiting for a close)"
        return value
    low, high = row.interval
    first = f"{row.graded} graded · {_rate(row.beats / row.graded)} beat (Wilson {100 * low:.1f}–{_rate(high)})"
    if row.pushes:
        first += f" · {row.pushes} push{'es' if row.pushes != 1 else ''}"
    if row.ungraded:
        first += f" · {row.ungraded} ungraded"
    second = [f"null {_rate(row.null_rate)}" if row.null_rate is not None else "no null yet"]
    if row.lift is not None:
        lift = f"lift {signed_points(row.lift)} pts"
        if row.lift_low is not None and row.lift_high is not None:
            lift += f" ({signed_points(row.lift_low)}…{signed_points(row.lift_high)})"
        second.append(lift)
    if row.opposite_rate is not None:
        second.append(f"opp {_rate(row.opposite_rate)}")
    lines = [first, " · ".join(second)]
    if row.record is not None:
        wins, losses, pushes = row.record
        lines.append(f"against the result {wins}-{losses}-{pushes} (W-L-P)")
    verdict = f"**{row.tier}**" + (f" — {row.reason}" if row.reason else "")
    lines.append(verdict)
    state = state_text(row)
    if state is not None:
        lines.append(f"Alert state: {state}")
    return _clip("\n".join(lines), FIELD_VALUE_MAX)


def integrity_embed(report: AuditReport, *, image: str | None = None) -> discord.Embed:
    """The audit as one embed: a field per class and preset (score buckets if room), within Discord's limits.

    `image` names an attached file (e.g. "integrity.png") to show as the embed's image.
    """
    method = report.method if isinstance(report.method, dict) else {}
    guide = method.get("guide_url") or method.get("guide")
    description = "\n".join(
        line
        for line in (
            "Each signal is entered at the price a member could take (vig included) and graded against the "
            "no-vig close, beside a matched null (random games, same time to tip, random side, same entry rule). "
            "A tier needs the promised beat rate **and** a lift interval above zero.",
            _tier_rules_line(report.method),
            f"{report.graded} graded · {report.ungraded} waiting for a close",
            f"Guide: {guide if isinstance(guide, str) and guide else INTEGRITY_GUIDE}",
        )
        if line
    )
    footer = _clip(f"Close: {report.close_source}", 2048)
    embed = discord.Embed(title=INTEGRITY_TITLE, description=description)
    embed.set_footer(text=footer)
    if image:
        embed.set_image(url=f"attachment://{image}")

    if not report.classes:
        embed.add_field(name="No graded signals yet", value="Signals are graded when their game closes.", inline=False)
        return embed

    # Choose rows by priority (graded classes, presets, ungraded classes, score buckets), then show them in
    # the report's order; whatever does not fit is counted in a last field.
    order = {row.name: index for index, row in enumerate(report.classes)}
    wanted = sorted(
        (row for row in report.classes if row.kind in INTEGRITY_PRIORITY),
        key=lambda r: (
            INTEGRITY_PRIORITY.index(r.kind) + (0.5 if r.kind == "class" and not r.graded else 0),
            order[r.name],
        ),
    )
    fields = [(_clip(row_name(row.name), FIELD_NAME_MAX), integrity_row_value(row), row) for row in wanted]
    note_name = "Not shown here"
    note_reserve = len(note_name) + 120
    used = len(INTEGRITY_TITLE) + len(description) + len(footer)
    chosen: list[tuple[str, str, ClassAudit]] = []
    for index, (name, value, row) in enumerate(fields):
        last = index == len(fields) - 1
        room_fields = EMBED_FIELDS_MAX - len(chosen) - (0 if last else 1)
        room_chars = EMBED_TOTAL_MAX - used - len(name) - len(value) - (0 if last else note_reserve)
        if room_fields < 1 or room_chars < 0:
            break
        chosen.append((name, value, row))
        used += len(name) + len(value)
    for name, value, _ in sorted(chosen, key=lambda item: order[item[2].name]):
        embed.add_field(name=name, value=value, inline=False)
    left_out = len(fields) - len(chosen)
    if left_out:
        embed.add_field(
            name=note_name,
            value=f"{left_out} more row{'s' if left_out != 1 else ''} (score buckets are left out first): "
            "the full audit is GET /v1/clv/summary.",
            inline=False,
        )
    return embed


def link_view(label: str, url: str) -> discord.ui.View:
    view = discord.ui.View()
    view.add_item(discord.ui.Button(label=label, url=url, style=discord.ButtonStyle.link))
    return view


def sync_line(result) -> str:
    verb = {"added": "Pro role added", "removed": "Pro role removed"}.get(result.change, "role unchanged")
    return f"{verb} — should be {result.decision.tier.value}: {result.decision.reason}."


def billing_embed(name: str, info, *, moderator_view: bool) -> discord.Embed:
    decision = info.decision
    embed = discord.Embed(title=f"Billing · {name}")
    embed.add_field(name="Plan", value="Pro" if decision.tier.value == "pro" else "Community")
    subs = info.subscriptions
    status = ", ".join(f"{s.status}" for s in subs) or "no subscription"
    embed.add_field(name="Status", value=status)
    if info.renewal is not None:
        embed.add_field(name="Renews", value=discord.utils.format_dt(info.renewal, "D"))
    if decision.grace_ends is not None:
        embed.add_field(name="Grace until", value=discord.utils.format_dt(decision.grace_ends, "f"))
    if moderator_view:
        embed.add_field(name="Customer", value=info.link.customer_id if info.link else "not linked", inline=False)
        embed.add_field(
            name="Subscriptions", value="\n".join(f"{s.id}: {s.status}" for s in subs) or "none", inline=False
        )
        has = {True: "has Pro", False: "no Pro role", None: "not in this server"}[info.has_pro]
        embed.add_field(name="Should be", value=f"{decision.tier.value} ({decision.reason}); now {has}", inline=False)
        parked = info.newest_parked
        if parked is not None:
            reason = (parked.last_error or "no error recorded")[:200]
            embed.add_field(
                name="Parked Stripe events",
                value=f"{info.parked_events}, newest {parked.id} ({reason})",
                inline=False,
            )
    elif info.link is None:
        embed.description = "No subscription yet. `/upgrade` opens a private Stripe Checkout link."
    return embed
