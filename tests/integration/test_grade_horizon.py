"""A grade and a close are data like any other (issue #16, item 2): a viewer sees a signal's grade — its
verdict, the close's point and no-vig probability, CLV, the time it was graded — and a game's close only
once they were fixed at or before the viewer's horizon (`access.visible_grade`, `access.visible_closes`).
Community's horizon is the delay before now, so in the first minutes after tip-off the close is not
theirs yet; Pro's and every API plan's horizon is now, so nothing stamped later than the clock is shown.

One test per surface, each over its real transport: the dashboard over loopback HTTP (the signal page,
the game page, the CSV exports and the bets on /me), the bot through the loopback fake Discord (`/signal`),
and the REST API over loopback HTTP (`/v1/signals/{id}`, `/v1/clv/grades`, `/v1/games/{id}`). The bundled
tape's closed game (New York) was graded at its tip; the clocks are set a few minutes after that moment.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta

from access import Tier
from engine.models import Bet, BetGrade, Close, Grade, Market, Side, Signal
from storage import Repositories
from tests.api_rig import serve_api
from tests.bot_rig import bot_on_fake, final
from tests.engine_builders import Clock, settings
from tests.fake_discord import FakeDiscord
from tests.tape_games import ATLANTA, NEW_YORK
from tests.web_rig import demo_sign_in, web_rig
from web.routes.auth import DEMO_USERS

DELAY = timedelta(seconds=settings().tiers.community_delay_seconds)
TICK = timedelta(microseconds=1)


async def _graded_pair(repos: Repositories) -> tuple[Signal, Grade]:
    """A graded signal of the closed game that Community may see a few minutes after its grade: fired
    more than the delay before it was graded."""
    rows = await repos.grades.list(limit=500)
    return next((s, g) for s, g in rows if s.game_id == NEW_YORK and s.created_at <= g.graded_at - DELAY)


def _main(page) -> str:
    return page.text.split("<main>", 1)[1].split("</main>", 1)[0]


# ---------------------------------------------------------------------- the dashboard, over HTTP


async def test_the_dashboard_shows_a_grade_and_the_close_only_past_the_viewers_horizon(template_db, tmp_path):
    clock = Clock(template_db[1])
    async with web_rig(template_db, tmp_path, clock=clock) as rig, rig.client() as http:
        signal, grade = await _graded_pair(rig.app.repos)
        closes = await rig.app.repos.closes.for_game(NEW_YORK)
        assert closes and all(c.captured_at <= grade.graded_at for c in closes)
        clock.now = grade.graded_at + DELAY / 2  # five minutes after the close was fixed and graded

        # Community: the signal is old enough, its grade is not; neither is the close on the game page.
        await demo_sign_in(http, "community")
        page = await http.get(f"/signals/{signal.id}")
        assert page.status_code == 200 and signal.id in page.text
        main = _main(page)
        assert "Against the close" not in main and "no-vig" not in main
        assert "Beat the close" not in main and "Missed the close" not in main and "Push" not in main
        game = await http.get(f"/games/{NEW_YORK}")
        assert game.status_code == 200 and f'<a href="/signals/{signal.id}">' in game.text
        assert "The close" not in game.text and '<tr class="close">' not in game.text
        assert ">beat the close" not in game.text and ">missed the close" not in game.text
        assert "awaiting the close" in game.text

        # Pro sees both at once.
        http.cookies.clear()
        await demo_sign_in(http, "pro")
        assert "Against the close" in _main(await http.get(f"/signals/{signal.id}"))
        assert '<tr class="close">' in (await http.get(f"/games/{NEW_YORK}")).text

        # Exactly the delay after the grade, Community has it too.
        clock.now = grade.graded_at + DELAY
        http.cookies.clear()
        await demo_sign_in(http, "community")
        assert "Against the close" in _main(await http.get(f"/signals/{signal.id}"))
        assert '<tr class="close">' in (await http.get(f"/games/{NEW_YORK}")).text


async def test_pro_exports_and_bets_hold_no_grade_stamped_after_now(template_db, tmp_path):
    clock = Clock(template_db[1])
    async with web_rig(template_db, tmp_path, clock=clock) as rig, rig.client() as http:
        signal, grade = await _graded_pair(rig.app.repos)
        guild, user = rig.app.settings.discord.guild_id or 0, DEMO_USERS[Tier.PRO]
        clock.now = grade.graded_at - TICK  # Pro's horizon is now: a grade made a microsecond later is not shown
        async with rig.app.repos.db.transaction():
            bet_id = await rig.app.repos.bets.insert(
                Bet(
                    None,
                    guild,
                    user,
                    NEW_YORK,
                    Market.TOTALS,
                    Side.OVER,
                    170.5,
                    -110,
                    None,
                    grade.graded_at - timedelta(hours=2),
                )
            )
            await rig.app.repos.bets.grade(
                BetGrade(bet_id, grade.graded_at, 171.5, 0.5, -1.0, -0.02, False, False, -0.05)
            )
        await demo_sign_in(http, "pro")

        answer = await http.get("/me/export/signals.csv?days=2")
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
        rows = {row["id"]: row for row in csv.DictReader(io.StringIO(answer.text))}
        assert rows[signal.id]["graded"] == "no" and rows[signal.id]["beat_close"] == ""
        assert rows[signal.id]["clv_points"] == rows[signal.id]["clv_prob"] == ""

        bets = list(csv.DictReader(io.StringIO((await http.get("/me/export/bets.csv?days=2")).text)))
        assert [(b["graded"], b["close_point"], b["beat_close"]) for b in bets] == [("no", "", "")]
        me = await http.get("/me")
        assert me.status_code == 200 and "awaiting the close" in me.text and "missed the close" not in me.text

        clock.now = grade.graded_at  # made at or before now: shown
        rows = {
            row["id"]: row
            for row in csv.DictReader(io.StringIO((await http.get("/me/export/signals.csv?days=2")).text))
        }
        assert rows[signal.id]["graded"] == "yes" and rows[signal.id]["beat_close"] in ("yes", "no", "push")
        bets = list(csv.DictReader(io.StringIO((await http.get("/me/export/bets.csv?days=2")).text)))
        assert [(b["graded"], b["close_point"]) for b in bets] == [("yes", "171.5")]


# ---------------------------------------------------------------------- the bot, through the fake Discord


def _fields(message) -> dict[str, str]:
    return {f["name"]: f["value"] for embed in message.embeds for f in embed.get("fields", [])}


async def test_the_bots_signal_shows_the_grade_only_past_the_viewers_horizon(template_db, tmp_path, monkeypatch):
    async with bot_on_fake(template_db, tmp_path, monkeypatch) as rig:
        fake, clock = rig.fake, rig.clock
        signal, grade = await _graded_pair(rig.app.repos)
        verdict = "Beat the close" if grade.beat else ("Push" if grade.push else "Missed the close")
        clock.now = grade.graded_at + DELAY / 2

        community = await final(
            await fake.invoke_slash("signal", {"id": signal.id}, user_id=FakeDiscord.COMMUNITY_USER_ID)
        )
        assert signal.id in str(community.embeds)
        assert "Against the close" not in _fields(community) and verdict not in str(community.embeds)
        pro = await final(await fake.invoke_slash("signal", {"id": signal.id}, user_id=FakeDiscord.PRO_USER_ID))
        assert verdict in _fields(pro)["Against the close"]
        assert f"<t:{int(grade.graded_at.timestamp())}" in _fields(pro)["Against the close"]

        clock.now = grade.graded_at + DELAY
        community = await final(
            await fake.invoke_slash("signal", {"id": signal.id}, user_id=FakeDiscord.COMMUNITY_USER_ID)
        )
        assert verdict in _fields(community)["Against the close"]


# ---------------------------------------------------------------------- the REST API, over HTTP


def _grade(signal_id: str, at: datetime) -> Grade:
    return Grade(signal_id, at, -4.5, 0.52, 1.0, 0.03, True, False, 1.0, 0.03, 0.04)


async def test_the_api_serves_no_grade_or_close_stamped_after_now(template_db, tmp_path):
    async for world in serve_api(template_db[0], tmp_path):
        now = world.clock()
        ungraded = [s for s in await world.repos.signals.list(game_id=ATLANTA, limit=50) if s.created_at <= now]
        shown, later = ungraded[0], ungraded[1]
        async with world.repos.db.transaction():
            assert await world.repos.grades.insert(_grade(shown.id, now))
            assert await world.repos.grades.insert(_grade(later.id, now + TICK))
            for market, at in ((Market.SPREADS, now), (Market.TOTALS, now + TICK)):
                point = -4.5 if market == Market.SPREADS else 170.5
                close = Close(
                    game_id=ATLANTA,
                    market=market,
                    captured_at=at,
                    at=at - timedelta(minutes=1),
                    point=point,
                    prob_a=0.5,
                    books=9,
                )
                assert await world.repos.closes.insert(close)

        # Every plan's horizon is now (no delay): a grade or close stamped a microsecond later is not served.
        for plan in ("builder", "pro_plain", "enterprise"):
            assert (await world.get(f"/v1/signals/{shown.id}", plan)).json()["grade"]["signal_id"] == shown.id
            response = await world.get(f"/v1/signals/{later.id}", plan)
            assert response.status_code == 200 and response.json()["grade"] is None
            listed = [item["grade"]["signal_id"] for item in (await world.get("/v1/clv/grades", plan)).json()["data"]]
            assert shown.id in listed and later.id not in listed
            game = (await world.get(f"/v1/games/{ATLANTA}", plan)).json()
            assert [c["market"] for c in game["closes"]] == ["spreads"]
