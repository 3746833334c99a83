"""The member's own page, `/me`: their watchlist, their bets and CLV record (Pro), CSV exports (Pro), and
their plan with Upgrade (Stripe Checkout) and Manage subscription (the Stripe portal).

Routes are thin and call the services the bot's cogs call (`/watch`, `/bet`, `/clv`, `/export`,
`/upgrade`, `/billing status`): the services apply the tier rules and the limits, and their refusals
(`UserError`) are shown on the page with their status (4xx), nothing stored. Every POST checks the
session's CSRF token; the exports are GETs (they change nothing) and are never cached by anyone but the
member's browser (the security middleware's `private, no-store`)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from access import UserError
from engine.models import Bet, BetGrade, Game, Market
from services import bets, downloads, watchlist
from services.games import Phase, label, matchup, phase, suggest_games
from web.context import GET, WebContext, web_context
from web.errors import member_message
from web.members import require_member, viewer
from web.redirect import see_other
from web.security import CSP
from web.session import Member, check_csrf, form_fields
from web.templating import render

#: What a redirect back to /me says (a fixed code in the address, never text a link could forge).
NOTICES = {
    "watched": "Added to your watchlist.",
    "unwatched": "Removed from your watchlist.",
    "logged": "Bet logged. It is graded against the closing line at tip-off.",
    "deleted": "Bet deleted.",
}
NOT_SET_UP = "Billing is not set up on this server yet (no Stripe key configured)."
#: The Upgrade and Manage forms answer with a redirect to Stripe, and browsers hold a redirect after a
#: form submission to the page's `form-action`: /me allows Stripe's Checkout and portal hosts too.
STRIPE_FORM_ACTION = "form-action 'self' https://checkout.stripe.com https://billing.stripe.com"
ME_CSP = CSP.replace("form-action 'self'", STRIPE_FORM_ACTION)
PRICE = re.compile(r"[+-]?\d{1,6}")
DEFAULT_DAYS = 7
BET_FIELDS = ("game", "market", "side", "line", "price", "book")
MARKETS = (("spreads", "Spread"), ("totals", "Total"), ("h2h", "Moneyline"))


@dataclass(frozen=True, slots=True)
class BetRow:
    bet: Bet
    matchup: str
    side: str
    number: str
    result: str
    deletable: bool


def _number(market: Market, point: float | None, price: int) -> str:
    """As `/bet list` writes it: "-3.5 (-110)", "221.5 (+100)", "+150"."""
    if market == Market.H2H or point is None:
        return f"{price:+d}"
    shown = f"{point:+g}" if market == Market.SPREADS else f"{point:g}"
    return f"{shown} ({price:+d})"


def _result(grade: BetGrade | None) -> str:
    if grade is None:
        return "awaiting the close"
    verdict = "beat the close" if grade.beat else "push" if grade.push else "missed the close"
    points = f"{grade.clv_points:+.1f} pts, " if grade.clv_points is not None else ""
    return f"{verdict} ({points}{100 * grade.clv_prob:+.1f} pp)"


def _bet_row(bet: Bet, game: Game | None, grade: BetGrade | None, deletable: set[int | None]) -> BetRow:
    return BetRow(
        bet=bet,
        matchup=matchup(game) if game else bet.game_id,
        side=game.side_label(bet.market, bet.side) if game else bet.side.value,
        number=_number(bet.market, bet.point, bet.price),
        result=_result(grade),
        deletable=bet.id in deletable,
    )


async def _page(
    request: Request,
    member: Member,
    *,
    status: int = 200,
    error: str | None = None,
    bet_form: dict[str, str] | None = None,
) -> Response:
    """The member's page as the services give it to them now (with `error`: a refusal, at `status`)."""
    web_ctx = web_context(request)
    ctx, who, now = web_ctx.ctx, viewer(member), web_ctx.ctx.clock()
    watched, limit = await watchlist.listing(ctx, who, now)
    upcoming = [g for g in await suggest_games(ctx, "", now, limit=100) if phase(g.game, now) == Phase.UPCOMING]
    watched_ids = {g.game.id for g in watched}
    context: dict[str, Any] = {
        "watched": [(g, phase(g.game, now) != Phase.UPCOMING) for g in watched],
        "limit": limit,
        "watch_choices": [(g.game.id, label(g, now)) for g in upcoming if g.game.id not in watched_ids],
        "bet_choices": [(g.game.id, label(g, now)) for g in upcoming],
        "markets": MARKETS,
        "bet_form": bet_form or {},
        "days": DEFAULT_DAYS,
        "max_days": ctx.settings.discord.export_max_days,
    }
    try:  # Pro: the service refuses Community with the upgrade message, shown in place of the record
        rows = await bets.member_bets(ctx, who)
        deletable = {bet.id for bet, _ in await bets.deletable_bets(ctx, who, now)}
        context["bets"] = [_bet_row(bet, game, grade, deletable) for bet, game, grade in rows]
        context["record"] = await bets.clv_record(ctx, who)
        context["bets_refused"] = None
    except UserError as exc:
        context.update(bets=[], record=None, bets_refused=member_message(exc))
    context.update(await _billing(web_ctx, member))
    notice = NOTICES.get(request.query_params.get("done", ""))
    response = render(request, "me.html", member=member, status=status, error=error, notice=notice, now=now, **context)
    response.headers["Content-Security-Policy"] = ME_CSP
    return response


async def _billing(web_ctx, member: Member) -> dict[str, Any]:
    """The plan as `/billing status` tells it, or why it cannot be told."""
    service = web_ctx.billing
    if service is None:
        return {"billing": None, "billing_note": NOT_SET_UP}
    try:
        info = await service.status(member.guild_id, member.user_id)
    except UserError as exc:  # Stripe not answering
        return {"billing": None, "billing_note": str(exc)}
    return {"billing": info, "billing_note": None}


def _back(done: str) -> Response:
    return see_other(f"/me?done={done}")


router = APIRouter(include_in_schema=False)


@router.api_route("/me", methods=GET)
async def me_page(request: Request) -> Response:
    member = await require_member(request)
    return await _page(request, member)


async def _form(request: Request, member: Member) -> dict[str, str]:
    await check_csrf(request, member)
    return await form_fields(request)


Action = Callable[[WebContext, Member, dict[str, str]], Awaitable[Response]]


async def _act(request: Request, action: Action, *, keep_bet_form: bool = False) -> Response:
    """One /me form: the member and their CSRF token checked, the service called; its refusal is shown on
    the page with its status (the bet form as typed), success redirects (back to /me, or to Stripe)."""
    member = await require_member(request)
    form = await _form(request, member)
    try:
        done = await action(web_context(request), member, form)
    except UserError as exc:
        kept = {key: form.get(key, "")[:100] for key in BET_FIELDS} if keep_bet_form else None
        return await _page(request, member, status=exc.status, error=member_message(exc), bet_form=kept)
    return done


async def _watch_add(web_ctx: WebContext, member: Member, form: dict[str, str]) -> Response:
    await watchlist.add(web_ctx.ctx, viewer(member), form.get("game", ""), web_ctx.ctx.clock())
    return _back("watched")


async def _watch_remove(web_ctx: WebContext, member: Member, form: dict[str, str]) -> Response:
    await watchlist.remove(web_ctx.ctx, viewer(member), form.get("game", ""), web_ctx.ctx.clock())
    return _back("unwatched")


def parse_price(text: str) -> int:
    """The form's price as the integer `/bet log` takes (Discord's integer option); the service checks it."""
    value = text.strip().replace("−", "-")
    if not PRICE.fullmatch(value):
        raise UserError(f"The price must be American odds like -110 or +150, not “{value[:20]}”.")
    return int(value)


async def _bet_log(web_ctx: WebContext, member: Member, form: dict[str, str]) -> Response:
    await bets.log_bet(
        web_ctx.ctx,
        viewer(member),
        game=form.get("game", ""),
        market=form.get("market", ""),
        side=form.get("side", ""),
        line=form.get("line") or None,
        price=parse_price(form.get("price", "")),
        book=form.get("book") or None,
        now=web_ctx.ctx.clock(),
    )
    return _back("logged")


async def _bet_delete(web_ctx: WebContext, member: Member, form: dict[str, str]) -> Response:
    await bets.delete_bet(web_ctx.ctx, viewer(member), form.get("bet", ""), web_ctx.ctx.clock())
    return _back("deleted")


async def _upgrade(web_ctx: WebContext, member: Member, _form: dict[str, str]) -> Response:
    """`/upgrade`: a private Stripe Checkout session for this member, and off to it."""
    if web_ctx.billing is None:
        raise UserError(NOT_SET_UP)
    return see_other(await web_ctx.billing.upgrade_link(viewer(member)))


async def _manage(web_ctx: WebContext, member: Member, _form: dict[str, str]) -> Response:
    """`/billing status` → Manage subscription: the member's Stripe customer portal."""
    if web_ctx.billing is None:
        raise UserError(NOT_SET_UP)
    url = await web_ctx.billing.portal_link(member.guild_id, member.user_id)
    if url is None:
        raise UserError("You have no subscription to manage yet: Upgrade to Pro opens Stripe Checkout.")
    return see_other(url)


@router.post("/me/watch/add")
async def watch_add(request: Request) -> Response:
    return await _act(request, _watch_add)


@router.post("/me/watch/remove")
async def watch_remove(request: Request) -> Response:
    return await _act(request, _watch_remove)


@router.post("/me/bets/log")
async def bet_log(request: Request) -> Response:
    return await _act(request, _bet_log, keep_bet_form=True)


@router.post("/me/bets/delete")
async def bet_delete(request: Request) -> Response:
    return await _act(request, _bet_delete)


@router.post("/me/upgrade")
async def upgrade(request: Request) -> Response:
    return await _act(request, _upgrade)


@router.post("/me/manage")
async def manage(request: Request) -> Response:
    return await _act(request, _manage)


def parse_days(text: str | None) -> int:
    if text is None or text == "":
        return DEFAULT_DAYS
    value = text.strip()
    if not value.isdigit() or len(value) > 6:
        raise UserError(f"Days must be a whole number, not “{value[:20]}”.")
    return int(value)


async def _export(request: Request, what: str) -> Response:
    """`/export signals|bets [days]` as a download (Pro; Community gets the upgrade message, 403)."""
    member = await require_member(request)
    web_ctx = web_context(request)
    try:
        days = parse_days(request.query_params.get("days"))
        if what == "signals":
            name, data = await downloads.export_signals(web_ctx.ctx, viewer(member), days, web_ctx.ctx.clock())
        else:
            name, data = await downloads.export_bets(web_ctx.ctx, viewer(member), days, web_ctx.ctx.clock())
    except UserError as exc:
        return await _page(request, member, status=exc.status, error=member_message(exc))
    return Response(data, media_type="text/csv", headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.api_route("/me/export/signals.csv", methods=GET)
async def export_signals(request: Request) -> Response:
    return await _export(request, "signals")


@router.api_route("/me/export/bets.csv", methods=GET)
async def export_bets(request: Request) -> Response:
    return await _export(request, "bets")
