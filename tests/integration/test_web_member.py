"""The member's page (/me) over real HTTP on loopback: the watchlist and its limits, Pro bets and the CLV
record, CSV exports, the plan with Upgrade (Stripe Checkout through localstripe) and Manage, CSRF on
every POST; and `run_bot.py --demo`, the dashboard over the time-shifted demo with no Discord token."""

from __future__ import annotations

import asyncio
import csv
import io
import re
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
from pydantic import SecretStr

from app.bootstrap import build_app, start_web
from billing.gateway import StripeGateway
from billing.service import BillingService
from domain.billing import BillingLink
from engine.models import Bet, Market, Side
from services import bets as bet_service
from tests.backends import copy_database
from tests.fake_stripe import stripe_stack_fixture  # noqa: F401
from tests.tape_games import NEW_YORK
from tests.web_rig import WebRig, demo_sign_in, web_rig, web_settings

COMMUNITY_USER, PRO_USER = 1, 2  # the demo sign-in's members (web.routes.auth.DEMO_USERS)
PLAN = "price_pro_monthly"


def csrf_of(page: httpx.Response) -> str:
    return page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]


async def upcoming_ids(rig: WebRig) -> list[str]:
    games = await rig.app.repos.games.list(limit=1000)
    return sorted(g.game.id for g in games if g.game.commence_time > rig.now)


async def two_more_games(rig: WebRig) -> None:
    """The template has two upcoming games; a Community limit of three needs a fourth (as
    tests/integration/test_bot.py)."""
    atlanta_game = (await rig.app.repos.games.get(await atlanta(rig))).game
    async with rig.app.repos.db.transaction():
        for n in (1, 2):
            extra = replace(atlanta_game, id=f"extra{n}", commence_time=rig.now + timedelta(days=n))
            await rig.app.repos.games.upsert(extra, seen_at=rig.now)


async def watched(rig: WebRig, user_id: int) -> list[str]:
    return await rig.app.repos.members.watchlist(rig.app.settings.discord.guild_id or 0, user_id)


async def stored_bets(rig: WebRig, user_id: int):
    return await rig.app.repos.bets.for_member(rig.app.settings.discord.guild_id or 0, user_id, None)


async def atlanta(rig: WebRig) -> str:
    games = await rig.app.repos.games.list(limit=1000)
    return next(g.game.id for g in games if g.game.home_team == "Atlanta Dream" and g.game.commence_time > rig.now)


async def test_me_needs_a_sign_in_and_the_nav_links_it_when_signed_in(template_db, tmp_path):
    async with web_rig(template_db, tmp_path) as rig, rig.client() as http:
        away = await http.get("/me")
        assert away.status_code == 303 and away.headers["location"] == "/signin?next=/me"
        assert 'href="/me"' not in (await http.get("/")).text
        await demo_sign_in(http, "community")
        assert 'href="/me"' in (await http.get("/")).text
        page = await http.get("/me")
        assert page.status_code == 200 and "My page" in page.text
        assert page.headers["cache-control"] == "private, no-store"
        assert "<script>" not in page.text and " style=" not in page.text


async def test_community_watchlist_holds_three_upcoming_games_and_the_fourth_is_refused(template_db, tmp_path):
    async with web_rig(template_db, tmp_path) as rig, rig.client() as http:
        await two_more_games(rig)
        upcoming = await upcoming_ids(rig)
        assert len(upcoming) == 4, upcoming
        await demo_sign_in(http, "community")
        page = await http.get("/me")
        token = csrf_of(page)
        assert "Up to 3 upcoming games" in page.text
        for game_id in upcoming[:3]:
            assert f'value="{game_id}"' in page.text  # the select offers the upcoming games
            added = await http.post("/me/watch/add", data={"csrf": token, "game": game_id})
            assert added.status_code == 303 and added.headers["location"] == "/me?done=watched"
        assert sorted(await watched(rig, COMMUNITY_USER)) == upcoming[:3]

        fourth = await http.post("/me/watch/add", data={"csrf": token, "game": upcoming[3]})
        assert fourth.status_code == 400
        assert "Your watchlist is full (3 upcoming games)" in fourth.text
        assert sorted(await watched(rig, COMMUNITY_USER)) == upcoming[:3]  # nothing stored

        started = await http.post("/me/watch/add", data={"csrf": token, "game": NEW_YORK})
        assert started.status_code == 400 and "already tipped off" in started.text
        unknown = await http.post("/me/watch/add", data={"csrf": token, "game": "no such game"})
        assert unknown.status_code == 404 and "No game matches" in unknown.text

        removed = await http.post("/me/watch/remove", data={"csrf": token, "game": upcoming[0]})
        assert removed.status_code == 303
        assert sorted(await watched(rig, COMMUNITY_USER)) == upcoming[1:3]
        after = await http.get(removed.headers["location"])
        assert "Removed from your watchlist." in after.text


async def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(template_db, tmp_path):
    async with web_rig(template_db, tmp_path) as rig, rig.client() as http:
        await demo_sign_in(http, "pro")
        game = await atlanta(rig)
        bet = {"game": game, "market": "h2h", "side": "home", "price": "-150"}
        for path, data in (
            ("/me/watch/add", {"game": game}),
            ("/me/bets/log", bet),
            ("/me/upgrade", {}),
            ("/me/watch/add", {"game": game, "csrf": "guessed"}),
        ):
            refused = await http.post(path, data=data)
            assert refused.status_code == 403, (path, refused.text)
        assert await watched(rig, PRO_USER) == []
        assert await stored_bets(rig, PRO_USER) == []


async def test_pro_logs_a_bet_sees_it_and_the_clv_record_then_deletes_it(template_db, tmp_path):
    async with web_rig(template_db, tmp_path) as rig, rig.client() as http:
        ctx = rig.app.ctx
        guild = ctx.settings.discord.guild_id or 0
        # A bet on New York's game placed before its close, graded at the close as the bot does it.
        async with ctx.repos.db.transaction():
            await ctx.repos.bets.insert(
                Bet(
                    None,
                    guild,
                    PRO_USER,
                    NEW_YORK,
                    Market.H2H,
                    Side.HOME,
                    None,
                    -300,
                    "fanduel",
                    datetime(2026, 8, 3, 1, tzinfo=UTC),
                )
            )
        assert len(await bet_service.grade_game(ctx, NEW_YORK, rig.now)) == 1

        await demo_sign_in(http, "pro")
        page = await http.get("/me")
        assert "Bets</dt><dd>1</dd>" in page.text and "Graded</dt><dd>1</dd>" in page.text
        assert "Seattle Storm @ New York Liberty" in page.text and "the close (" in page.text
        token = csrf_of(page)
        game = await atlanta(rig)
        # The market now, to log a bet near it (the service refuses a price far from the market).
        consensus = await ctx.repos.consensus.latest_before(game, Market.H2H, rig.now + timedelta(seconds=1))
        price = _american(consensus.side_prob(Side.HOME))
        logged = await http.post(
            "/me/bets/log",
            data={"csrf": token, "game": game, "market": "h2h", "side": "home", "price": f"{price:+d}", "book": "Test"},
        )
        assert logged.status_code == 303, logged.text
        rows = await stored_bets(rig, PRO_USER)
        assert len(rows) == 2
        new = next(bet for bet, grade in rows if bet.game_id == game)
        assert new.price == price and new.book == "Test" and new.side == Side.HOME

        page = await http.get("/me?done=logged")
        assert "Bet logged." in page.text and "Bets</dt><dd>2</dd>" in page.text
        assert f'data-bet="{new.id}"' in page.text and "awaiting the close" in page.text
        assert page.text.count('action="/me/bets/delete"') == 1  # the graded bet stays on the record

        graded_id = next(bet.id for bet, grade in rows if grade is not None)
        kept = await http.post("/me/bets/delete", data={"csrf": token, "bet": str(graded_id)})
        assert kept.status_code == 400 and "graded bets stay on your record" in kept.text
        gone = await http.post("/me/bets/delete", data={"csrf": token, "bet": str(new.id)})
        assert gone.status_code == 303
        assert [bet.id for bet, _ in await stored_bets(rig, PRO_USER)] == [graded_id]


def _american(prob: float) -> int:
    from engine.odds import probability_to_american

    return probability_to_american(prob)


async def test_bad_bet_input_is_a_400_with_the_message_and_nothing_is_stored(template_db, tmp_path):
    async with web_rig(template_db, tmp_path) as rig, rig.client() as http:
        await demo_sign_in(http, "pro")
        token = csrf_of(await http.get("/me"))
        game = await atlanta(rig)
        base = {"csrf": token, "game": game, "market": "h2h", "side": "home", "price": "-150"}
        cases = [
            ({"price": "-50"}, "is impossible"),
            ({"price": "lots"}, "The price must be American odds"),
            ({"price": ""}, "The price must be American odds"),
            ({"market": "parlay"}, "Market must be spreads, totals or h2h."),
            ({"side": "sideways"}, "Side must be"),
            ({"market": "spreads", "line": "abc"}, "The line must be a number"),
            ({"market": "totals", "side": "over", "line": "9999"}, "is not a real line"),
            ({"line": "-3.5"}, "A moneyline bet has no line"),
            ({"game": NEW_YORK}, "already tipped off"),
            ({"book": "x" * 41}, "The book name is too long"),
        ]
        for change, message in cases:
            answer = await http.post("/me/bets/log", data={**base, **change})
            assert answer.status_code == 400, (change, answer.status_code)
            assert message in answer.text, (change, answer.text[:300])
            assert 'role="alert"' in answer.text
        kept = await http.post("/me/bets/log", data={**base, "price": "-50", "book": "Kept"})
        assert 'value="Kept"' in kept.text  # the form comes back as typed, to fix
        assert await stored_bets(rig, PRO_USER) == []


async def test_community_gets_the_upgrade_message_for_bets_and_a_403_for_exports(template_db, tmp_path):
    async with web_rig(template_db, tmp_path) as rig, rig.client() as http:
        await demo_sign_in(http, "community")
        page = await http.get("/me")
        assert "CLV tracking of your bets is a Pro feature. Upgrade to Pro on My page" in page.text
        assert "/upgrade`" not in page.text  # the bot's command is no way to upgrade on the web
        token = csrf_of(page)
        game = await atlanta(rig)
        refused = await http.post(
            "/me/bets/log", data={"csrf": token, "game": game, "market": "h2h", "side": "home", "price": "-150"}
        )
        assert refused.status_code == 403 and "is a Pro feature" in refused.text
        assert await stored_bets(rig, COMMUNITY_USER) == []
        for what in ("signals", "bets"):
            answer = await http.get(f"/me/export/{what}.csv?days=7")
            assert answer.status_code == 403, what
            assert answer.headers["content-type"].startswith("text/html") and "is a Pro feature" in answer.text
            assert "on My page (/me)" in answer.text and "/upgrade`" not in answer.text
            assert "content-disposition" not in answer.headers


async def test_pro_exports_signals_and_bets_as_csv_attachments(template_db, tmp_path):
    async with web_rig(template_db, tmp_path) as rig, rig.client() as http:
        await demo_sign_in(http, "pro")
        answer = await http.get("/me/export/signals.csv?days=7")
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/csv")
        disposition = answer.headers["content-disposition"]
        assert disposition.startswith("attachment;") and 'filename="stratum-signals-20260805-7d.csv"' in disposition
        assert answer.headers["cache-control"] == "private, no-store"
        rows = list(csv.DictReader(io.StringIO(answer.text)))
        assert rows and "created_at" in rows[0] and "type" in rows[0], answer.text[:300]
        empty = await http.get("/me/export/bets.csv")  # default 7 days; no bets yet: the header only
        assert empty.status_code == 200 and empty.text.count("\n") == 1 and "price" in empty.text
        for days in ("0", "abc", "100000"):
            bad = await http.get(f"/me/export/signals.csv?days={days}")
            assert bad.status_code == 400, days
            assert "content-disposition" not in bad.headers
        assert (await http.get("/me/export/other.csv")).status_code == 404


async def test_upgrade_and_manage_without_billing_say_it_is_not_set_up(template_db, tmp_path):
    async with web_rig(template_db, tmp_path) as rig, rig.client() as http:
        await demo_sign_in(http, "community")
        page = await http.get("/me")
        assert "Billing is not set up on this server" in page.text
        token = csrf_of(page)
        for path in ("/me/upgrade", "/me/manage"):
            answer = await http.post(path, data={"csrf": token})
            assert answer.status_code == 400 and "Billing is not set up on this server" in answer.text, path


class NoRoles:
    """The RoleManager billing asks of Discord: the dashboard alone has no bot (nobody's roles change here)."""

    def has_pro(self, guild_id: int, user_id: int) -> bool | None:
        return False

    def pro_members(self, guild_id: int) -> list[int]:
        return []

    async def set_pro(self, guild_id: int, user_id: int, pro: bool, reason: str) -> None:
        raise AssertionError("the dashboard never changes roles")


@asynccontextmanager
async def billing_rig(template, tmp_path, stripe_stack):
    path, now = template
    db = copy_database(path, tmp_path)
    config = web_settings()
    config.stripe.secret_key = SecretStr("sk_test_12345")
    config.stripe.api_base = stripe_stack.base_url
    config.stripe.pro_price = PLAN
    app = await build_app(config, db_path=db, source="test", clock=lambda: now)
    app.billing = BillingService(app.ctx, StripeGateway(config.stripe), NoRoles())
    server = await start_web(app)
    try:
        yield WebRig(app, f"http://127.0.0.1:{server.port}", now)
    finally:
        await app.close()


async def test_upgrade_redirects_to_stripe_checkout_for_this_member(template_db, tmp_path, stripe_stack):
    await stripe_stack.make_pro_plan(plan_id=PLAN)
    async with billing_rig(template_db, tmp_path, stripe_stack) as rig, rig.client() as http:
        await demo_sign_in(http, "community")
        page = await http.get("/me")
        assert "Plan</dt><dd>Community</dd>" in page.text and "no subscription" in page.text
        assert "https://checkout.stripe.com" in page.headers["content-security-policy"]  # the redirect may leave
        answer = await http.post("/me/upgrade", data={"csrf": csrf_of(page)})
        assert answer.status_code == 303, answer.text
        assert answer.headers["location"].startswith("https://checkout.stripe.test/")
        params = stripe_stack.checkout_sessions[-1]
        assert params["client_reference_id"] == str(COMMUNITY_USER) and params["line_items"][0]["price"] == PLAN
        manage = await http.post("/me/manage", data={"csrf": csrf_of(page)})
        assert manage.status_code == 400 and "no subscription to manage yet" in manage.text

        # A member with a Stripe customer (a moderator's /mod billing link): Manage opens their portal.
        customer = await stripe_stack.make_customer(email="member@example.test")
        await stripe_stack.subscribe(customer, PLAN)
        async with rig.app.repos.db.transaction():
            await rig.app.repos.billing.link(BillingLink(0, PRO_USER, customer, PRO_USER, rig.now))
        async with rig.client() as pro:
            await demo_sign_in(pro, "pro")
            page = await pro.get("/me")
            assert "Plan</dt><dd>Pro</dd>" in page.text and "active" in page.text and "Renews" in page.text
            assert 'action="/me/upgrade"' not in page.text
            portal = await pro.post("/me/manage", data={"csrf": csrf_of(page)})
            assert portal.status_code == 303 and portal.headers["location"].startswith("https://billing.stripe.test/")


async def test_run_demo_serves_the_dashboard_over_the_time_shifted_replay(db_url, monkeypatch, capsys):
    """`run_bot.py --demo`: no Discord token, no odds key; the printed address answers, the demo sign-in
    works, the board lists the replay's games tipping after now, labelled a replay."""
    from app.cli import run_demo

    monkeypatch.delenv("STRATUM_DISCORD__TOKEN", raising=False)
    monkeypatch.delenv("STRATUM_FEED__API_KEY", raising=False)
    config = web_settings()
    config.web.port = 0
    config.web.cookie_secure = True  # the demo turns it off itself: plain http on loopback
    config.discord.demo_replay_speed = "30"
    stop = asyncio.Event()
    started = datetime.now(UTC)
    task = asyncio.create_task(run_demo(config, db_url, stop))
    try:
        url = None
        for _ in range(200):
            found = re.search(
                r"Dashboard: (http://127\.0\.0\.1:\d+/) — sign in with the demo sign-in", capsys.readouterr().out
            )
            if found:
                url = found.group(1)
                break
            assert not task.done(), task.result()
            await asyncio.sleep(0.05)
        assert url is not None, "the address is printed"
        async with httpx.AsyncClient(base_url=url, follow_redirects=False) as http:
            for _ in range(100):  # the first snapshot lands at once
                board = await http.get("/")
                if "game" in board.text and 'data-game="' in board.text:
                    break
                await asyncio.sleep(0.05)
            assert board.status_code == 200
            assert "Demo: real WNBA odds of 2026-08-0" in board.text and "replayed" in board.text
            tips = [
                datetime.fromisoformat(t.replace("Z", "+00:00"))
                for t in re.findall(r'tip <time datetime="([^"]+)"', board.text)
            ]
            assert tips and all(started < tip < started + timedelta(days=4) for tip in tips), tips
            await demo_sign_in(http, "pro")
            page = await http.get("/me")
            assert page.status_code == 200 and "Demo: real WNBA odds" in page.text
            assert 'href="/me"' in (await http.get("/")).text
    finally:
        stop.set()
        assert await asyncio.wait_for(task, 20) == 0
