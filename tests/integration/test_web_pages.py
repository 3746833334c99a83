"""The dashboard's pages over real HTTP: the board (book names for Pro only, the delay said), a game's
page (its chart as `line_chart` draws it for the viewer, its signals, close and grades), the public
integrity page with its rendered guide, and the friendly error pages."""

from __future__ import annotations

import logging
from datetime import timedelta

from access import Tier, UserError, Viewer
from engine.alert_state import ClassState
from engine.reports import forward_text
from services import dashboard, downloads, signals
from services.odds_text import row_name
from tests.tape_games import ATLANTA, NEW_YORK
from tests.web_rig import demo_sign_in, web_rig
from web.guide import GUIDE, render_markdown
from web.routes.auth import DEMO_USERS

#: Fired 11:45:35, ten minutes before the template's last poll (11:55:27): Pro sees it, Community not yet.
FRESH_SIGNAL = "ec3f417d02be2b23a220"
PNG = b"\x89PNG\r\n\x1a\n"


async def _books(rig) -> dict[str, str]:
    titles = await rig.app.ctx.repos.books.titles()
    assert len(titles) >= 5  # the tape's books, titled by the feed
    return titles


async def test_the_community_board_names_no_book_and_says_it_is_delayed(template_db, tmp_path):
    async with web_rig(template_db, tmp_path) as rig, rig.client() as http:
        books = await _books(rig)
        for signed in (False, True):
            if signed:
                await demo_sign_in(http, "community")
            page = await http.get("/")
            assert page.status_code == 200
            html = page.text.casefold()
            for key, title in books.items():
                assert key.casefold() not in html and title.casefold() not in html, (key, title)
            assert "minutes delayed" in page.text and "books not named" in page.text
            assert "Phoenix Mercury @ Atlanta Dream" in page.text and "Dallas Wings @ Washington Mystics" in page.text
            for market in ("Spread", "Total", "Moneyline"):
                assert f"<h3>{market}</h3>" in page.text
            assert "Fair</span>" in page.text and "★" in page.text
            assert " books</th>" in page.text or " book</th>" in page.text  # each number with how many books
            assert '<time datetime="2026-08-05T23:00:00Z">' in page.text  # the tip, for time.js to localise


async def test_the_pro_board_names_every_book_in_real_time(template_db, tmp_path):
    async with web_rig(template_db, tmp_path) as rig, rig.client() as http:
        books = await _books(rig)
        await demo_sign_in(http, "pro")
        page = await http.get("/")
        assert page.status_code == 200
        named = [title for title in books.values() if f'<th scope="row">{title}</th>' in page.text]
        assert len(named) >= 5, named
        assert "minutes delayed" not in page.text
        as_of = rig.now.isoformat().replace("+00:00", "Z")
        assert f'as of <time datetime="{as_of}">' in page.text  # no delay: as of now


async def test_a_games_chart_is_line_chart_for_the_viewers_tier(template_db, tmp_path):
    async with web_rig(template_db, tmp_path) as rig, rig.client() as http:
        ctx = rig.app.ctx
        community = await http.get(f"/games/{ATLANTA}/chart/spreads.png")
        assert community.status_code == 200 and community.headers["content-type"] == "image/png"
        _, expected = await downloads.line_chart(ctx, Viewer(Tier.COMMUNITY), ATLANTA, "spreads", rig.now)
        assert community.content == expected

        await demo_sign_in(http, "pro")
        pro = await http.get(f"/games/{ATLANTA}/chart/spreads.png")
        assert pro.status_code == 200 and pro.content.startswith(PNG)
        guild = ctx.settings.discord.guild_id or 0
        _, expected_pro = await downloads.line_chart(
            ctx, Viewer(Tier.PRO, DEMO_USERS[Tier.PRO], guild), ATLANTA, "spreads", rig.now
        )
        assert pro.content == expected_pro and pro.content != community.content  # books drawn, no delay

        page = await http.get(f"/games/{ATLANTA}?market=totals")
        assert page.status_code == 200
        assert f'<img class="chart-img" src="/games/{ATLANTA}/chart/totals.png"' in page.text
        for market in ("spreads", "totals", "h2h"):
            assert f'href="/games/{ATLANTA}?market={market}"' in page.text


async def test_a_games_signals_stop_at_the_viewers_horizon(template_db, tmp_path):
    async with web_rig(template_db, tmp_path) as rig, rig.client() as http:
        community = await http.get(f"/games/{ATLANTA}")
        assert community.status_code == 200 and 'data-signal="' in community.text
        assert FRESH_SIGNAL not in community.text  # younger than the delay
        await demo_sign_in(http, "pro")
        pro = await http.get(f"/games/{ATLANTA}")
        assert f'<a href="/signals/{FRESH_SIGNAL}">' in pro.text
        assert "awaiting the close" in pro.text and "The close" not in pro.text  # not tipped yet


async def test_the_closed_game_shows_its_close_and_every_signals_grade(template_db, tmp_path):
    async with web_rig(template_db, tmp_path) as rig, rig.client() as http:
        page = await http.get(f"/games/{NEW_YORK}")
        assert page.status_code == 200
        assert "The close" in page.text and page.text.count('<tr class="close">') == 3
        assert "Liberty −7.5" in page.text  # the home spread at the close, with a real minus sign
        expected = await dashboard.game_page(rig.app.ctx, Viewer(Tier.COMMUNITY), NEW_YORK, rig.now)
        assert expected.graded == len(expected.signals) > 0
        for graded in expected.signals:
            assert f'<a href="/signals/{graded.view.id}">' in page.text
        beats = sum(1 for s in expected.signals if s.grade.beat)
        assert page.text.count(">beat the close") == beats > 0
        assert page.text.count(">missed the close") == len(expected.signals) - beats > 0
        assert "awaiting the close" not in page.text


async def test_an_unknown_game_or_market_is_a_friendly_page_not_a_500(template_db, tmp_path):
    async with web_rig(template_db, tmp_path) as rig, rig.client() as http:
        missing = await http.get("/games/no-such-game")
        assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")
        assert "No game with id" in missing.text and "Back to the board" in missing.text
        assert missing.headers["cache-control"] == "private, no-store"  # the security headers too
        chart = await http.get("/games/no-such-game/chart/spreads.png")
        assert chart.status_code == 404 and chart.headers["content-type"].startswith("text/html")
        market = await http.get(f"/games/{ATLANTA}?market=corners")
        assert market.status_code == 400 and "Market must be spreads, totals or h2h." in market.text
        nowhere = await http.get("/no/such/page")
        assert nowhere.status_code == 404 and "There is no page here" in nowhere.text
        wrong = await http.post("/")
        assert wrong.status_code == 405 and "<h1>Not allowed here</h1>" in wrong.text


async def test_an_unexpected_error_is_logged_and_answered_with_an_apology(template_db, tmp_path, monkeypatch, caplog):
    async def broken(*args, **kwargs):
        raise RuntimeError("secret internals")

    async def refused(*args, **kwargs):
        raise UserError("Nothing to see for that game.")

    async with web_rig(template_db, tmp_path) as rig, rig.client() as http:
        monkeypatch.setattr(dashboard, "game_page", broken)
        with caplog.at_level(logging.ERROR, logger="web.errors"):
            page = await http.get(f"/games/{ATLANTA}")
        assert page.status_code == 500 and "Something went wrong" in page.text
        assert "secret internals" not in page.text and "Traceback" not in page.text
        assert any("secret internals" in (r.exc_text or str(r.exc_info)) for r in caplog.records)
        monkeypatch.setattr(dashboard, "game_page", refused)
        page = await http.get(f"/games/{ATLANTA}")
        assert page.status_code == 400 and "Nothing to see for that game." in page.text


async def test_the_integrity_page_is_public_with_its_table_chart_and_guide(template_db, tmp_path):
    async with web_rig(template_db, tmp_path) as rig, rig.client() as http:
        since = rig.now - timedelta(hours=30)  # a state the engine's commit stored, with its sample
        async with rig.app.repos.db.transaction():
            await rig.app.repos.class_states.record(
                ClassState("STEAM:spreads", "refuted", "unproven", since, 35, 11, 0.423, -0.109, -0.157, -0.062)
            )
        page = await http.get("/integrity")
        assert page.status_code == 200 and "Sign in" in page.text  # no sign-in needed
        report = await signals.audit(rig.app.ctx)
        assert page.text.count('<tr class="audit-row') == len(report.classes) > 0
        for row in report.classes:
            shown = row_name(row.name)
            assert f'<th scope="row">{shown}</th>' in page.text
            verdict = row.tier + (f" — {row.reason}" if row.reason else "")
            assert verdict in page.text.split(f'<th scope="row">{shown}</th>', 1)[1].split("</tr>", 1)[0]
        assert {r.name.split(":")[0] for r in report.rows("class")} >= {"STEAM", "DISLOCATION", "KEY_CROSS"}
        assert "unproven —" in page.text and "Wilson 95%" in page.text and "Lift (interval)" in page.text
        # Beside the whole record: each class's alert state, since when, and its record since then.
        assert "<th>Alert state</th><th>Since then</th>" in page.text
        steam = page.text.split('<th scope="row">STEAM:spreads</th>', 1)[1].split("</tr>", 1)[0]
        assert f"refuted since {since:%Y-%m-%d %H:%M} UTC — lift −10.9 pts (−15.7…−6.2) over 35 graded" in steam
        [steam_row] = [r for r in report.classes if r.name == "STEAM:spreads"]
        assert steam_row.alert_state == "refuted" and steam_row.forward is not None
        assert forward_text(steam_row.forward) in steam
        assert '<img class="chart-img" src="/integrity.png"' in page.text
        guide = '<h1 id="signal-integrity--clv-audit-guide">Signal Integrity &amp; CLV Audit Guide</h1>'
        assert guide in page.text  # the guide, rendered
        assert "<table>" in page.text.split('<section class="guide">', 1)[1]  # its tables too
        chart = await http.get("/integrity.png")
        assert chart.status_code == 200 and chart.content.startswith(PNG)
        _, expected = await downloads.integrity_chart(rig.app.ctx)
        assert chart.content == expected
        assert '<a href="/integrity">Integrity</a>' in page.text


def test_the_guide_is_in_the_repository_and_its_markup_is_escaped():
    assert GUIDE.is_file()
    html = render_markdown('# Title\n\n<script>alert("x")</script>\n\n[x](javascript:alert(1)) <b>bold</b>\n')
    assert '<h1 id="title">Title</h1>' in html  # rendered, with its anchor (services.documents)
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<b>" not in html and "&lt;b&gt;" in html
    assert 'href="javascript:' not in html
