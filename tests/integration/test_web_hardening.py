"""Issue #16's dashboard items over real HTTP on loopback: where a sign-in may send the browser, what a shared
cache may keep, the security headers on every answer of the server, and signing out ending the session.

Everything is asserted on the wire (status, headers, bodies), so these tests carry over unchanged to another
HTTP framework. The redirect after sign-in is judged by `land`, a model of what a browser does with a
`Location` header (the WHATWG URL standard's steps for a reference resolved against an https page), written
here independently of the code under test."""

from __future__ import annotations

import asyncio
import contextlib
import re
from urllib.parse import unquote

import httpx
import pytest
from hypothesis import example, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from tests.engine_builders import Clock
from tests.fake_discord import FakeDiscord
from tests.strategies import PROFILE
from tests.web_rig import demo_sign_in, discord_rig, session_cookie, sign_in, web_rig, web_settings
from web.redirect import safe_next

# ---------------------------------------------------------------------- a browser following Location

_C0_OR_SPACE = "".join(chr(c) for c in range(0x21))
_C0 = {chr(c) for c in range(0x20)}
_FRAGMENT_SET = _C0 | set(' "<>`')
_QUERY_SET = _C0 | set(' "#<>') | {"'"}  # the special-query set (https)
_PATH_SET = _C0 | set(' "#<>') | set("?^`{}")


def _encode(text: str, encode_set: set[str]) -> str:
    return "".join("".join(f"%{b:02X}" for b in c.encode()) if c in encode_set or ord(c) > 0x7E else c for c in text)


def land(location: str) -> str | None:
    """Where a browser on `https://stratum.test/…` goes when answered `Location: location`: the path (with
    query and fragment, serialized) on the same site, or None when it leaves the site or the value is not a
    path of it (a scheme, `//host`, `/\\host`, a relative path)."""
    s = location.strip(_C0_OR_SPACE)  # leading and trailing C0 controls and spaces are dropped,
    s = re.sub("[\t\n\r]", "", s)  # tabs and newlines anywhere
    head, has_fragment, fragment = s.partition("#")
    path, has_query, query = head.partition("?")
    path = path.replace("\\", "/")  # in an http(s) URL's path a backslash is a slash
    if not path.startswith("/") or path.startswith("//"):
        return None
    kept: list[str] = []
    segments = path[1:].split("/")
    for i, segment in enumerate(segments):
        last = i == len(segments) - 1
        if segment.lower() in ("..", ".%2e", "%2e.", "%2e%2e"):
            if kept:
                kept.pop()
            if last:
                kept.append("")
        elif segment.lower() in (".", "%2e"):
            if last:
                kept.append("")
        else:
            kept.append(_encode(segment, _PATH_SET))
    landed = "/" + "/".join(kept)
    if has_query:
        landed += "?" + _encode(query, _QUERY_SET)
    if has_fragment:
        landed += "#" + _encode(fragment, _FRAGMENT_SET)
    return landed


#: What a Location we send may hold: printable ASCII with no space, quote, backslash or bare `%`.
CANONICAL = re.compile(r"/(?![/\\])(?:[A-Za-z0-9\-._~!$&()*+,;=:@/?#]|%[0-9A-Fa-f]{2})*")


def assert_stays_on_this_site(location: str) -> None:
    assert CANONICAL.fullmatch(location), location
    assert land(location) == location, location  # the browser lands exactly there, nothing reinterpreted
    decoded = unquote(location.partition("?")[0].partition("#")[0])
    assert not re.sub("[\t\n\r]", "", decoded).startswith(("//", "/\\")), location  # nor once decoded


#: The issue's cases and their relatives: each must land on the board.
HOSTILE = [
    "/\t/evil.example/x",
    "/\r/evil.example/x",
    "/\n/evil.example/x",
    "/\r\n/evil.example/x",
    "\t//evil.example/x",
    " //evil.example/x",
    "\x00//evil.example/x",
    "//evil.example",
    "/\\evil.example",
    "\\/evil.example",
    "\\\\evil.example",
    "/\t\\evil.example",
    "https://evil.example/x",
    "https:evil.example",
    "javascript:alert(1)",
    "/%2F/evil.example",
    "/%5c/evil.example",
    "/%2e%2e//evil.example",
    "/a/..//evil.example",
    "/./\t/evil.example",
    "evil.example",
    "",
]
#: Paths of this site, followed exactly.
OURS = ["/", "/games/1?x=2", "/signals?type=STEAM&market=spread", "/me#bets", "/integrity"]

PIECES = [
    *("/", "//", "\\", "/\\", ".", "..", "?", "#", "@", ":", "&", "="),
    *("\t", "\n", "\r", " ", "\x00", "\x0b", "\x0c", "\x1f", "\x7f", "\u00a0", "\u2028", "\u3000", "\ufeff"),
    *("%09", "%0a", "%0D", "%20", "%2f", "%2F", "%5c", "%5C", "%2e", "%2E", "%252f", "%", "%zz", "%4"),
    *("evil.example", "https:", "javascript:", "games", "x"),
]
nexts = st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=3)), max_size=10).map("".join)


@hsettings(PROFILE, max_examples=2000)
@given(then=nexts)
@example(then="/\t/evil.example/x")
def test_a_next_is_followed_only_to_a_path_of_this_site_exactly_as_a_browser_reads_it(then):
    followed = safe_next(then)
    assert_stays_on_this_site(followed)
    assert safe_next(followed) == followed  # the sign-in page's form and the OAuth state cookie carry it on
    resolved = land(then)
    if resolved is None or resolved.startswith("//"):
        assert followed == "/"  # a browser would have left the site (or landed on `//host`): the board instead


@hsettings(PROFILE, max_examples=300)
@given(
    segments=st.lists(st.from_regex(r"[A-Za-z0-9_~-][A-Za-z0-9._~-]{0,8}", fullmatch=True), max_size=4),
    query=st.none() | st.from_regex(r"[a-z]{1,5}=[A-Za-z0-9_.-]{0,6}(&[a-z]{1,5}=[0-9]{0,3})?", fullmatch=True),
)
def test_a_plain_path_of_this_site_is_followed_unchanged(segments, query):
    then = "/" + "/".join(segments) + (f"?{query}" if query is not None else "")
    assert safe_next(then) == then


@pytest.fixture
async def demo_site(template_db, tmp_path):
    async with web_rig(template_db, tmp_path) as rig:
        yield rig


async def _demo_redirect(rig, then: str) -> httpx.Response:
    """The demo sign-in's form posted with `next` (its double-submit token is any value, twice)."""
    async with rig.client(cookies={"stratum_signin": "t" * 32}) as http:
        return await http.post("/auth/demo", data={"csrf": "t" * 32, "tier": "pro", "next": then})


@hsettings(PROFILE, max_examples=150)
@given(then=nexts)
@example(then="/\t/evil.example/x")
async def test_the_demo_sign_in_redirects_only_to_a_path_of_this_site(demo_site, then):
    answer = await _demo_redirect(demo_site, then)
    assert answer.status_code == 303
    assert_stays_on_this_site(answer.headers["location"])


@pytest.mark.parametrize("then", HOSTILE + OURS)
async def test_after_the_demo_sign_in_a_hostile_next_lands_on_the_board(demo_site, then):
    answer = await _demo_redirect(demo_site, then)
    assert answer.status_code == 303
    assert answer.headers["location"] == (then if then in OURS else "/")


async def test_after_sign_in_with_discord_a_hostile_next_lands_on_the_board(template_db, tmp_path):
    async with discord_rig(template_db, tmp_path) as (rig, _fake):
        for then in HOSTILE + OURS:
            async with rig.client() as http:
                done = await sign_in(http, then)  # `next` goes out percent-encoded: `/%09/evil.example/x`
                assert done.status_code == 303, then
                assert done.headers["location"] == (then if then in OURS else "/"), then


# ---------------------------------------------------------------------- what a shared cache may keep


async def test_only_real_static_files_are_publicly_cacheable(template_db, tmp_path):
    async with web_rig(template_db, tmp_path) as rig, rig.client() as http:
        await demo_sign_in(http, "pro")
        for path in ["/static/", "/static/..%2fx", "/static/%2e%2e/app.py", "/static", "/static/no-such.css"]:
            answer = await http.get(path)
            assert answer.status_code >= 400, path
            if path != "/static/no-such.css":  # (a missing file is a bare 404)
                assert "demo Pro" in answer.text, path  # a page rendered for this member ...
            assert answer.headers["cache-control"] == "private, no-store", path  # ... is theirs alone
            assert "Cookie" in answer.headers.get("vary", ""), path
        css = await http.get("/static/style.css")
        assert css.status_code == 200 and css.headers["cache-control"] == "public, max-age=3600"
        assert "demo Pro" not in css.text


# ---------------------------------------------------------------------- security headers on every answer

#: Paths that only look like the API's, Stripe's, the health check's or the static files': dashboard 404 pages.
LOOK_ALIKES = [
    *("/stripe-x", "/stripex", "/stripe.json", "/healthzx", "/healthz.json", "/healthz-"),
    *("/v1x", "/v10/signals", "/v1.json", "/v1-docs", "/V1/signals", "/staticx", "/static-x/style.css"),
]
#: The machines' endpoints (the API, Stripe's, the health check) and 404s under their prefixes.
MACHINE = ["/healthz", "/healthz/", "/v1", "/v1/signals", "/v1/openapi.json", "/v1/nope", "/stripe/webhook"]


def assert_framing_and_sniffing_refused(answer: httpx.Response) -> None:
    path = answer.request.url.raw_path.decode()
    assert "frame-ancestors 'none'" in answer.headers.get("content-security-policy", ""), path
    assert answer.headers.get("x-frame-options") == "DENY", path
    assert answer.headers.get("x-content-type-options") == "nosniff", path
    assert answer.headers.get("referrer-policy") in ("same-origin", "no-referrer"), path
    assert "no-store" in answer.headers.get("cache-control", ""), path


async def test_every_answer_carries_the_security_headers_look_alike_paths_included(template_db, tmp_path):
    async with web_rig(template_db, tmp_path) as rig, rig.client() as http:
        for path in LOOK_ALIKES:
            answer = await http.get(path)
            assert answer.status_code == 404 and "text/html" in answer.headers["content-type"], path
            assert "There is no page here" in answer.text, path  # the dashboard's page, not a bare 404
            assert_framing_and_sniffing_refused(answer)
            assert "script-src 'self'" in answer.headers["content-security-policy"]
        for path in MACHINE:
            answer = await http.get(path)
            assert answer.status_code in (200, 401, 404, 405), path
            assert_framing_and_sniffing_refused(answer)
            assert "default-src 'none'" in answer.headers["content-security-policy"], path  # no page to run
        assert_framing_and_sniffing_refused(await http.post("/stripe/webhook", content=b"{}"))


async def test_without_the_dashboard_the_api_health_and_404s_still_carry_them(template_db, tmp_path):
    config = web_settings()
    config.web.dashboard = False
    async with web_rig(template_db, tmp_path, config) as rig, rig.client() as http:
        for path in [*MACHINE, *LOOK_ALIKES, "/", "/signin"]:
            answer = await http.get(path)
            assert answer.status_code in (200, 401, 404, 405), path
            assert_framing_and_sniffing_refused(answer)


# ---------------------------------------------------------------------- signing out ends the session


async def _opens_me(rig, cookie: str) -> bool:
    """Whether a browser holding only this session cookie is signed in (`/me` answers, not the sign-in)."""
    async with rig.client(cookies={"stratum_session": cookie}) as other:
        answer = await other.get("/me")
    assert answer.status_code in (200, 303), answer.status_code
    return answer.status_code == 200


def _csrf(page: httpx.Response) -> str:
    return page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]


async def test_a_cookie_copied_before_the_demo_sign_out_is_signed_out_after_it(template_db, tmp_path):
    async with web_rig(template_db, tmp_path) as rig, rig.client() as http:
        await demo_sign_in(http, "pro")
        copied = session_cookie(http)
        assert copied is not None and await _opens_me(rig, copied)
        out = await http.post("/auth/signout", data={"csrf": _csrf(await http.get("/me"))})
        assert out.status_code == 303
        assert not await _opens_me(rig, copied)  # the copy was ended on the server, not just in this browser
        assert "Sign in" in (await http.get("/")).text

        await demo_sign_in(http, "pro")  # signing in again is a new session, the old copy stays ended
        assert await _opens_me(rig, session_cookie(http)) and not await _opens_me(rig, copied)


async def test_a_cookie_copied_before_signing_out_of_discord_is_signed_out_after_it(template_db, tmp_path):
    async with discord_rig(template_db, tmp_path) as (rig, _fake), rig.client() as laptop, rig.client() as phone:
        await sign_in(laptop)
        await sign_in(phone)
        copied = session_cookie(laptop)
        assert copied is not None and await _opens_me(rig, copied)
        out = await laptop.post("/auth/signout", data={"csrf": _csrf(await laptop.get("/me"))})
        assert out.status_code == 303
        assert not await _opens_me(rig, copied)
        assert await _opens_me(rig, session_cookie(phone))  # signing out of one browser ends that one only


async def test_a_tier_change_at_the_role_recheck_ends_the_older_cookies(template_db, tmp_path):
    clock = Clock(template_db[1])
    async with discord_rig(template_db, tmp_path, clock=clock) as (rig, fake), rig.client() as http:
        interval = rig.app.settings.web.tier_recheck_seconds
        await sign_in(http)
        first = session_cookie(http)
        assert first is not None

        clock.advance(seconds=interval + 1)  # a re-check that finds the same tier keeps the session
        assert "pro-user · Pro" in (await http.get("/")).text
        assert await _opens_me(rig, first)

        fake.member(FakeDiscord.PRO_USER_ID).role_ids.remove(FakeDiscord.PRO_ROLE_ID)  # the subscription lapsed
        clock.advance(seconds=interval + 1)
        assert "pro-user · Community" in (await http.get("/")).text
        assert await _opens_me(rig, session_cookie(http))  # this browser carries on, as Community
        assert not await _opens_me(rig, first)  # the Pro cookie copied before is ended


async def test_a_live_stream_opened_before_sign_out_ends_at_its_next_heartbeat(template_db, tmp_path, monkeypatch):
    from web.routes import signals as signal_routes

    monkeypatch.setattr(signal_routes, "HEARTBEAT_SECONDS", 0.2)
    async with web_rig(template_db, tmp_path) as rig, rig.client(timeout=30) as http:
        await demo_sign_in(http, "pro")
        copied = session_cookie(http)
        async with (
            rig.client(cookies={"stratum_session": copied}, timeout=30) as other,
            other.stream("GET", "/signals/live") as live,
        ):
            assert live.status_code == 200
            await http.post("/auth/signout", data={"csrf": _csrf(await http.get("/me"))})
            seen: list[str] = []

            async def read_to_the_end() -> None:
                seen.extend([line async for line in live.aiter_lines()])

            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(read_to_the_end(), 10)  # heartbeats every 0.2 s: ended long before
    assert "event: closed" in seen, seen[-5:]
    assert any("You signed out" in line for line in seen)
