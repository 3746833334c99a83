"""The dashboard in a real browser (headless Chromium): signing in and out, what Community's browser
receives (the DOM and every response it fetched), a phone's width, and the README's screenshots."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace

import httpx
import pytest
from aiohttp import web

from app.bootstrap import BUNDLED_TAPE
from engine.events import SIGNAL_CREATED
from engine.providers.tape import read_tape
from tests.browser import Browser, needs_browser
from tests.engine_builders import Clock
from tests.paths import ROOT
from tests.web_rig import discord_rig, web_rig

pytestmark = needs_browser

SCREENSHOTS = ROOT / "docs" / "screenshots"


@pytest.fixture
def browser():
    opened = Browser()
    yield opened
    opened.close()


async def _demo_sign_in(browser: Browser, base: str, tier: str) -> None:
    await browser.get(f"{base}/signin")
    await browser.click(f"button[name=tier][value={tier}]")
    await browser.wait_for(lambda: "Sign out" in browser.driver.page_source)


async def _book_names(rig) -> set[str]:
    titles = await rig.app.repos.books.titles()
    return {name for pair in titles.items() for name in pair}


async def _everything_fetched(browser: Browser, base: str) -> list[str]:
    """The page's DOM and the body of every same-site response it fetched, fetched again with its cookies."""
    bodies = [await browser.source()]
    cookies = await browser.cookies()
    async with httpx.AsyncClient(cookies=cookies) as http:
        for url in await browser.resources():
            if url.startswith(base) and not url.endswith("/live"):
                answer = await http.get(url)
                bodies.append(answer.content.decode("utf-8", "replace"))
    return bodies


async def test_a_member_signs_in_and_out_in_the_browser(template_db, tmp_path, browser):
    async with web_rig(template_db, tmp_path) as rig:
        await browser.get(f"{rig.base}/")
        assert "Sign in" in await browser.text()
        await browser.click("a.button[href='/signin']")
        await browser.click("button[name=tier][value=pro]")
        await browser.wait_for(lambda: "demo Pro" in browser.driver.find_element("tag name", "header").text)
        assert "minutes delayed" not in await browser.text()
        assert "stratum_session" in await browser.cookies()
        await browser.click("header form button[type=submit]")
        await browser.wait_for(lambda: "Sign in" in browser.driver.find_element("tag name", "header").text)
        assert "stratum_session" not in await browser.cookies()


@pytest.mark.parametrize("tier", ["signed out", "community"])
async def test_community_receives_no_book_name_in_the_dom_or_any_response(template_db, tmp_path, browser, tier):
    async with web_rig(template_db, tmp_path) as rig:
        if tier == "community":
            await _demo_sign_in(browser, rig.base, "community")
        await browser.get(f"{rig.base}/")
        assert "minutes delayed" in await browser.text()  # said on the page
        names = await _book_names(rig)
        assert names, "the template database holds the feed's book titles"
        for body in await _everything_fetched(browser, rig.base):
            found = [name for name in names if name.casefold() in body.casefold()]
            assert not found, found


async def test_pro_sees_the_books_the_community_scan_looks_for(template_db, tmp_path, browser):
    """The control of the scan above: the same page for Pro names the books, so the scan can see a leak."""
    async with web_rig(template_db, tmp_path) as rig:
        await _demo_sign_in(browser, rig.base, "pro")
        await browser.get(f"{rig.base}/")
        source = (await browser.source()).casefold()
        assert any(name.casefold() in source for name in await _book_names(rig))


async def test_the_integrity_page_needs_no_sign_in(template_db, tmp_path, browser):
    async with web_rig(template_db, tmp_path) as rig:
        await browser.get(f"{rig.base}/integrity")
        text = await browser.text()
        assert "Sign in" in text and "unproven" in text
        loaded = await browser.script(
            "const img = document.querySelector('img[src=\"/integrity.png\"]');"
            "return img !== null && img.complete && img.naturalWidth > 0;"
        )
        assert loaded, "the audit chart is shown"


async def test_community_cannot_reach_a_pro_page_by_url(template_db, tmp_path, browser):
    async with web_rig(template_db, tmp_path) as rig:
        await _demo_sign_in(browser, rig.base, "community")
        for path in ("/me/export/signals.csv?days=7", "/me/export/bets.csv?days=7"):
            await browser.get(f"{rig.base}{path}")
            text = await browser.text()
            assert "Pro feature" in text, (path, text[:200])
            assert "id,created_at" not in text


async def test_a_cross_site_form_is_refused(template_db, tmp_path, browser):
    """A page elsewhere posting to the dashboard with the member's cookie but without the session's token."""
    evil = web.Application()

    async def page(_request: web.Request) -> web.Response:
        return web.Response(text=FORGED.format(base=rig.base), content_type="text/html")

    evil.router.add_get("/", page)
    runner = web.AppRunner(evil)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with web_rig(template_db, tmp_path) as rig:
            await _demo_sign_in(browser, rig.base, "pro")
            before = await rig.app.repos.members.watchlist(rig.app.settings.discord.guild_id or 0, 2)
            await browser.get(f"http://127.0.0.1:{port}/")
            await browser.click("button")
            await browser.wait_for(lambda: browser.driver.current_url.startswith(rig.base))
            assert "did not come from this site" in await browser.text()
            after = await rig.app.repos.members.watchlist(rig.app.settings.discord.guild_id or 0, 2)
            assert after == before
    finally:
        await runner.cleanup()


FORGED = """<!doctype html><form method="post" action="{base}/me/watch/add">
<input type="hidden" name="game" value="2977c51845a4f2621deca3d4a38a0ac2">
<button type="submit">Win a prize</button></form>"""


async def test_the_readme_screenshots_are_taken_from_the_running_board(template_db, tmp_path, browser):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    async with web_rig(template_db, tmp_path) as rig:
        await _demo_sign_in(browser, rig.base, "pro")
        for name, path in (("board.png", "/"), ("game.png", "/games/2977c51845a4f2621deca3d4a38a0ac2")):
            await browser.get(f"{rig.base}{path}")
            await browser.wait_for(
                lambda: browser.driver.execute_script(
                    "return [...document.images].every(img => img.complete && img.naturalWidth > 0);"
                )
            )
            shot = SCREENSHOTS / name
            await browser.screenshot(str(shot))
            assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


async def test_pro_sees_a_new_signal_of_the_live_engine_appear_without_a_reload(template_db, tmp_path, browser):
    """The bundled tape goes on past the template's moment through `EngineService.process`, as live polls do;
    the first signal it fires shows up in Pro's open feed by itself."""
    clock = Clock(template_db[1])
    later = [raw for raw in read_tape(BUNDLED_TAPE) if raw.fetched_at > template_db[1]]
    async with web_rig(template_db, tmp_path, clock=clock) as rig:
        await _demo_sign_in(browser, rig.base, "pro")
        await browser.get(f"{rig.base}/signals")
        await browser.script("window.stillThisPage = true;")  # a reload would drop it
        fired = None
        for raw in later:
            clock.now = raw.fetched_at
            tick = await rig.app.service.process(raw)
            if tick.signals:
                fired = tick.signals[0]
                break
        assert fired is not None, "the tape fires a signal after the template's moment"
        await browser.wait_for(
            lambda: browser.driver.find_elements("css selector", f'[data-signal="{fired.id}"]'), within=15
        )
        assert await browser.script("return window.stillThisPage === true;")


async def test_a_feed_closed_for_a_newer_stream_says_why_and_stays_closed(template_db, tmp_path, browser):
    """The member opens `web.live_streams_per_member` (3) more live streams elsewhere: the page's own, the
    oldest, gets the final `closed` event, and `live.js` shows its reason instead of reconnecting."""
    async with web_rig(template_db, tmp_path) as rig, contextlib.AsyncExitStack() as streams:
        await _demo_sign_in(browser, rig.base, "pro")
        await browser.get(f"{rig.base}/signals")
        stored = await rig.app.repos.signals.list(limit=1)
        proof = replace(stored[0], id="the-page-is-live", created_at=rig.now)
        async with rig.app.repos.db.transaction():
            await rig.app.repos.signals.insert(proof)
        for _ in range(50):  # the page's stream is open once a published signal reaches it
            await rig.app.bus.publish(SIGNAL_CREATED, proof)
            if await browser.script("return !!document.querySelector('[data-signal=\"the-page-is-live\"]');"):
                break
            await asyncio.sleep(0.2)
        http = await streams.enter_async_context(
            httpx.AsyncClient(base_url=rig.base, cookies=await browser.cookies(), timeout=30)
        )
        opened = [await streams.enter_async_context(http.stream("GET", "/signals/live")) for _ in range(3)]
        assert all(live.status_code == 200 for live in opened)
        status = await browser.wait_for(
            lambda: "live streams open" in (text := browser.driver.find_element("id", "live-status").text) and text
        )
        assert "Reload" in status
        # No reconnect (it would close the oldest of the other three) past the stream's retry of 5 s.
        lines = opened[0].aiter_lines()
        with pytest.raises(TimeoutError):
            while not (await asyncio.wait_for(anext(lines), 7)).startswith("event:"):
                pass
        assert "offline" in await browser.script("return document.getElementById('live-status').className;")


async def test_community_gets_no_live_stream_by_url(template_db, tmp_path, browser):
    async with web_rig(template_db, tmp_path) as rig:
        await _demo_sign_in(browser, rig.base, "community")
        await browser.get(f"{rig.base}/signals")
        assert "minutes delayed" in await browser.text()
        await browser.get(f"{rig.base}/signals/live")
        assert "Pro" in await browser.text() and "event:" not in await browser.source()


async def test_sign_in_with_discord_through_the_fake_discord_and_out_again(template_db, tmp_path, browser):
    async with discord_rig(template_db, tmp_path) as (rig, fake):
        await browser.get(f"{rig.base}/signin")
        assert "Demo Pro" not in await browser.text()  # Discord is configured: no demo sign-in
        await browser.click("a[href^='/auth/discord']")
        await browser.wait_for(lambda: "Sign out" in browser.driver.find_element("tag name", "header").text)
        assert (await browser.url()).startswith(rig.base) and any(
            "oauth2/token" in call for call, _ in fake.authorizations
        )
        header = await browser.call(lambda: browser.driver.find_element("tag name", "header").text)
        assert "Pro" in header
        assert not any("access_token" in url or "code=" in url for url in await browser.resources())
        await browser.click("header form button[type=submit]")
        await browser.wait_for(lambda: "Sign in" in browser.driver.find_element("tag name", "header").text)


async def test_the_board_the_feed_and_a_game_page_fit_a_phone(template_db, tmp_path):
    phone = Browser(width=390, height=844)
    try:
        async with web_rig(template_db, tmp_path) as rig:
            await _demo_sign_in(phone, rig.base, "pro")
            for path in ("/", "/signals", "/games/2977c51845a4f2621deca3d4a38a0ac2"):
                await phone.get(f"{rig.base}{path}")
                width = await phone.script("return document.documentElement.scrollWidth;")
                viewport = await phone.script("return window.innerWidth;")
                assert width <= viewport, f"{path} scrolls sideways on a phone: {width} > {viewport}"
    finally:
        phone.close()
