"""Sign in with Discord over real loopback HTTP: the dashboard against the fake Discord's OAuth2 endpoints.

Every test walks the browser's path (the dashboard's redirect, the fake's authorize page, the callback)
with httpx, so what is asserted is what went over the wire: the Set-Cookie headers, the redirects, the
requests the dashboard made to Discord."""

from __future__ import annotations

import json
import logging
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from itsdangerous import URLSafeTimedSerializer

from app.bootstrap import build_app, build_web
from config.settings import ConfigError, load_settings
from tests.engine_builders import Clock
from tests.fake_discord import FAKE_TOKEN, FakeDiscord, FakeMember
from tests.web_rig import SESSION_SECRET, discord_rig, session_cookie, sign_in, web_rig, web_settings

PRO = FakeDiscord.PRO_USER_ID
COMMUNITY = FakeDiscord.COMMUNITY_USER_ID


def member_lookups(fake: FakeDiscord, user_id: int) -> list[str]:
    """The dashboard's re-checks of `user_id`'s roles (with the bot's token)."""
    path = f"GET /guilds/{fake.guild_id}/members/{user_id}"
    return [auth for key, auth in fake.authorizations if key == path]


async def test_sign_in_as_pro_and_as_community_takes_the_tier_from_the_roles_by_name(template_db, tmp_path):
    async with discord_rig(template_db, tmp_path) as (rig, fake):
        async with rig.client() as http:
            start = await http.get("/auth/discord", params={"next": "/"})
            assert start.status_code == 302
            where = urlsplit(start.headers["location"])
            assert f"{where.scheme}://{where.netloc}{where.path}" == fake.oauth_authorize_url
            query = {k: v[0] for k, v in parse_qs(where.query).items()}
            assert query["response_type"] == "code" and query["client_id"] == fake.oauth_client_id
            assert query["redirect_uri"] == f"{rig.base}/auth/callback"
            assert query["scope"] == "identify guilds.members.read" and query["prompt"] == "none"
            assert len(query["state"]) >= 20

            done = await sign_in(http)
            assert done.status_code == 303 and done.headers["location"] == "/"
            board = await http.get("/")
            assert "pro-user · Pro" in board.text and "minutes delayed" not in board.text
        # the Pro role is configured by name: its name came from the server's roles, read with the bot token
        assert (f"GET /guilds/{fake.guild_id}/roles", f"Bot {FAKE_TOKEN}") in fake.authorizations

        fake.oauth_user_id = COMMUNITY
        async with rig.client() as http:
            assert (await sign_in(http)).status_code == 303
            board = await http.get("/")
            assert "community-user · Community" in board.text and "minutes delayed" in board.text


async def test_a_pro_role_configured_by_id_needs_no_role_names(template_db, tmp_path):
    async with discord_rig(template_db, tmp_path, pro_role=str(FakeDiscord.PRO_ROLE_ID)) as (rig, fake):
        async with rig.client() as http:
            assert (await sign_in(http)).status_code == 303
            assert "pro-user · Pro" in (await http.get("/")).text
        assert f"GET /guilds/{fake.guild_id}/roles" not in fake.requests


async def test_with_discord_configured_the_demo_sign_in_is_not_offered(template_db, tmp_path):
    async with discord_rig(template_db, tmp_path) as (rig, _fake), rig.client() as http:
        page = await http.get("/signin")
        assert "Sign in with Discord" in page.text and "/auth/discord" in page.text
        assert "Demo sign-in" not in page.text and "/auth/demo" not in page.text
        refused = await http.post("/auth/demo", data={"tier": "pro"})
        assert refused.status_code == 404 and session_cookie(http) is None


async def test_without_an_oauth_client_there_is_no_discord_sign_in(template_db, tmp_path):
    async with web_rig(template_db, tmp_path) as rig, rig.client() as http:
        assert (await http.get("/auth/discord")).status_code == 404
        assert (await http.get("/auth/callback", params={"code": "x", "state": "y"})).status_code == 404


@pytest.mark.parametrize("secure", [True, False])
async def test_the_session_cookie_is_httponly_samesite_lax_and_secure_when_configured(template_db, tmp_path, secure):
    async with discord_rig(template_db, tmp_path, secure=secure) as (rig, _fake), rig.client() as http:
        # by hand: a browser (and httpx) keeps a Secure cookie away from plain http, so the state cookie is carried
        start = await http.get("/auth/discord")
        state_header = next(h for h in start.headers.get_list("set-cookie") if h.startswith("stratum_oauth_state="))
        assert "HttpOnly" in state_header and "SameSite=Lax" in state_header
        assert ("Secure" in state_header) is secure
        state_cookie = state_header.split(";", 1)[0]
        authorize = await http.get(start.headers["location"])
        callback = await http.get(authorize.headers["location"], headers={"Cookie": state_cookie})
        assert callback.status_code == 303
        header = next(h for h in callback.headers.get_list("set-cookie") if h.startswith("stratum_session="))
        attributes = [part.strip() for part in header.split(";")]
        assert "HttpOnly" in attributes and "SameSite=Lax" in attributes and "Path=/" in attributes
        assert ("Secure" in attributes) is secure


@pytest.mark.parametrize("state", ["", "not-the-state-we-gave"])
async def test_a_missing_or_wrong_state_is_refused_and_signs_nobody_in(template_db, tmp_path, state):
    async with discord_rig(template_db, tmp_path) as (rig, fake), rig.client() as http:
        start = await http.get("/auth/discord")
        authorize = await http.get(start.headers["location"])
        back = urlsplit(authorize.headers["location"])
        code = parse_qs(back.query)["code"][0]
        params = {"code": code} | ({"state": state} if state else {})
        answer = await http.get("/auth/callback", params=params)
        assert answer.status_code == 400 and "expired or did not start here" in answer.text
        assert "stratum_session" not in answer.headers.get("set-cookie", "") and session_cookie(http) is None
        assert code in fake.oauth_codes  # refused before the code was even exchanged
        # and without the state cookie (another browser: login CSRF), the right state alone does not do
        real_state = parse_qs(back.query)["state"][0]
        async with rig.client() as other:
            answer = await other.get("/auth/callback", params={"code": code, "state": real_state})
        assert answer.status_code == 400 and "stratum_session" not in answer.headers.get("set-cookie", "")


async def test_a_code_used_twice_is_refused(template_db, tmp_path):
    async with discord_rig(template_db, tmp_path) as (rig, fake):
        async with rig.client() as http:
            done = await sign_in(http)
            assert done.status_code == 303
            used = str(done.request.url)  # the callback URL, code and all
        code = parse_qs(urlsplit(used).query)["code"][0]
        async with rig.client() as attacker:  # a fresh state of their own, and the code seen in someone's history
            start = await attacker.get("/auth/discord")
            state = parse_qs(urlsplit(start.headers["location"]).query)["state"][0]
            answer = await attacker.get("/auth/callback", params={"code": code, "state": state})
            assert answer.status_code == 400 and "already used" in answer.text
            assert session_cookie(attacker) is None
        assert fake.oauth_refusals == ["invalid_grant"]


async def test_someone_who_is_not_in_the_server_is_told_to_join_first(template_db, tmp_path):
    async with discord_rig(template_db, tmp_path) as (rig, fake), rig.client() as http:
        outsider = FakeMember(1100000000000000999, "outsider")
        fake.add_user(outsider)
        fake.oauth_user_id = outsider.id
        answer = await sign_in(http)
        assert answer.status_code == 403 and "Join the server first" in answer.text
        assert session_cookie(http) is None and "Sign in" in (await http.get("/")).text


async def test_a_declined_consent_or_discord_failing_is_a_friendly_page_not_a_traceback(template_db, tmp_path):
    async with discord_rig(template_db, tmp_path) as (rig, fake):
        fake.oauth_user_id = None  # the member clicks "Cancel" at Discord
        async with rig.client() as http:
            answer = await sign_in(http)
            assert answer.status_code == 400 and "cancelled" in answer.text and session_cookie(http) is None

        fake.oauth_user_id = PRO
        for method, path in [
            ("POST", "/oauth2/token"),
            ("GET", "/users/@me"),
            ("GET", f"/guilds/{fake.guild_id}/roles"),
        ]:
            fake.fail_next(method, path, 500)
            async with rig.client() as http:
                answer = await sign_in(http)
                assert answer.status_code == 502, (path, answer.status_code)
                assert "Discord did not answer" in answer.text and "Traceback" not in answer.text
                assert session_cookie(http) is None

        fake.oauth_client_secret = "rotated in the Developer Portal"  # ours is now wrong
        async with rig.client() as http:
            answer = await sign_in(http)
            assert answer.status_code == 400 and session_cookie(http) is None
        assert "invalid_client" in fake.oauth_refusals


async def test_the_access_token_is_in_no_url_redirect_log_or_cookie(template_db, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []

    async def on_request(request: httpx.Request) -> None:
        seen.append(str(request.url))

    async def on_response(response: httpx.Response) -> None:
        seen.append(response.headers.get("location", ""))
        seen.extend(response.headers.get_list("set-cookie"))

    async with discord_rig(template_db, tmp_path) as (rig, fake):
        async with rig.client(event_hooks={"request": [on_request], "response": [on_response]}) as http:
            assert (await sign_in(http, "/?page=1")).status_code == 303
            board = await http.get("/")
            assert "pro-user · Pro" in board.text
            cookie = session_cookie(http)
        (token,) = fake.oauth_tokens
        secret = fake.oauth_client_secret
        assert cookie is not None
        data = URLSafeTimedSerializer(SESSION_SECRET, salt="stratum.session").loads(cookie)
        assert set(data) == {"user_id", "name", "guild_id", "tier", "checked_at", "csrf", "demo", "session"}
        assert token not in json.dumps(data) and token not in cookie and token not in board.text
        assert seen and not any(token in url for url in seen) and not any(secret in url for url in seen)
        assert not any(token in url for url in fake.urls)  # the dashboard sent it only in a header
        bearer = [key for key, auth in fake.authorizations if auth == f"Bearer {token}"]
        assert bearer == ["GET /users/@me", f"GET /users/@me/guilds/{fake.guild_id}/member"]
        codes = [parse_qs(urlsplit(url).query).get("code", [""])[0] for url in seen]
        code = next(c for c in codes if c)
        base = rig.base
    records = [(r.name, r.getMessage()) for r in caplog.records]
    assert any("signed in to the dashboard" in m for _, m in records)  # the flow was logged (DEBUG and up) ...
    for name, message in records:  # ... without the token, the client secret or (but in the browser's) the code
        assert token not in message and secret not in message
        browser = name.startswith(("httpx", "httpcore")) and base in message  # this test's own client, whose
        assert browser or code not in message  # callback URL carries the code by design of OAuth


async def test_sign_out_needs_the_csrf_token(template_db, tmp_path):
    async with discord_rig(template_db, tmp_path) as (rig, _fake), rig.client() as http:
        await sign_in(http)
        board = await http.get("/")
        assert "pro-user · Pro" in board.text
        assert (await http.post("/auth/signout", data={})).status_code == 403
        assert (await http.post("/auth/signout", data={"csrf": "a guess"})).status_code == 403
        assert "pro-user" in (await http.get("/")).text
        token = board.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        out = await http.post("/auth/signout", data={"csrf": token})
        assert out.status_code == 303 and session_cookie(http) is None
        assert "pro-user" not in (await http.get("/")).text


async def test_the_tier_is_read_again_after_the_recheck_interval(template_db, tmp_path):
    clock = Clock(template_db[1])
    async with discord_rig(template_db, tmp_path, clock=clock) as (rig, fake), rig.client() as http:
        interval = rig.app.settings.web.tier_recheck_seconds
        await sign_in(http)
        fake.member(PRO).role_ids.remove(FakeDiscord.PRO_ROLE_ID)  # the subscription lapsed: billing took the role
        clock.advance(seconds=interval - 1)
        assert "pro-user · Pro" in (await http.get("/")).text  # not yet: the cookie's check is recent
        assert member_lookups(fake, PRO) == []

        clock.advance(seconds=2)
        page = await http.get("/")
        assert "pro-user · Community" in page.text and "minutes delayed" in page.text
        assert member_lookups(fake, PRO) == [f"Bot {FAKE_TOKEN}"]  # the bot's token, not the member's
        assert any(h.startswith("stratum_session=") for h in page.headers.get_list("set-cookie"))
        assert "pro-user · Community" in (await http.get("/")).text
        assert len(member_lookups(fake, PRO)) == 1  # the refreshed cookie carries the new check

        fake.member(PRO).role_ids.append(FakeDiscord.PRO_ROLE_ID)  # renewed
        clock.advance(seconds=interval + 1)
        assert "pro-user · Pro" in (await http.get("/")).text


async def test_a_member_who_left_the_server_is_signed_out_at_the_recheck(template_db, tmp_path):
    clock = Clock(template_db[1])
    async with discord_rig(template_db, tmp_path, clock=clock) as (rig, fake), rig.client() as http:
        await sign_in(http)
        del fake.members[PRO]
        clock.advance(seconds=rig.app.settings.web.tier_recheck_seconds + 1)
        page = await http.get("/")
        assert "pro-user" not in page.text and "Sign in" in page.text
        assert session_cookie(http) is None  # the cookie was cleared, not just ignored


async def test_discord_down_at_the_recheck_keeps_the_last_tier_and_never_raises_it(template_db, tmp_path):
    clock = Clock(template_db[1])
    async with discord_rig(template_db, tmp_path, clock=clock) as (rig, fake):
        pro, community = rig.client(), rig.client()
        async with pro, community:
            await sign_in(pro)
            fake.oauth_user_id = COMMUNITY
            await sign_in(community)
            fake.member(PRO).role_ids.clear()
            fake.member(COMMUNITY).role_ids.append(FakeDiscord.PRO_ROLE_ID)
            clock.advance(seconds=rig.app.settings.web.tier_recheck_seconds + 1)
            members = f"/guilds/{fake.guild_id}/members/"
            fake.fail_next("GET", members, 503)
            fake.fail_next("GET", members, 503)
            kept = await pro.get("/")
            assert "pro-user · Pro" in kept.text  # the last check's tier until Discord answers
            assert not any(h.startswith("stratum_session=") for h in kept.headers.get_list("set-cookie"))
            assert "community-user · Community" in (await community.get("/")).text  # never upgraded unchecked
            assert len(member_lookups(fake, PRO)) == 1
            assert "pro-user · Pro" in (await pro.get("/")).text
            assert len(member_lookups(fake, PRO)) == 1  # not hammering Discord on every page meanwhile

            clock.advance(seconds=31)  # Discord is back
            assert "pro-user · Community" in (await pro.get("/")).text
            assert "community-user · Pro" in (await community.get("/")).text


@pytest.mark.parametrize(
    ("then", "lands"),
    [
        ("//evil.example", "/"),
        ("https://evil.example/x", "/"),
        ("/\\evil.example", "/"),
        ("/games/1?x=2", "/games/1?x=2"),
    ],
)
async def test_after_sign_in_only_a_path_on_this_site_is_followed(template_db, tmp_path, then, lands):
    async with discord_rig(template_db, tmp_path) as (rig, _fake), rig.client() as http:
        done = await sign_in(http, then)
        assert done.status_code == 303 and done.headers["location"] == lands


async def test_an_oauth_client_needs_its_secret_the_server_and_the_bot_token(db_url):
    config = web_settings()
    config.discord.oauth_client_id = "123"
    app = await build_app(config, db_path=db_url, source="test")
    try:
        with pytest.raises(ConfigError, match="OAUTH_CLIENT_SECRET"):
            build_web(app)
    finally:
        await app.close()


def test_the_oauth_client_secret_and_session_secret_are_refused_in_the_toml_file(tmp_path):
    for section, key in [("discord", "oauth_client_secret"), ("web", "session_secret")]:
        path = tmp_path / f"{key}.toml"
        path.write_text(f'[{section}]\n{key} = "leaked"\n', encoding="utf-8")
        with pytest.raises(ConfigError, match=f"STRATUM_{section.upper()}__{key.upper()}"):
            load_settings(path, env_file=None)


async def test_the_redirect_url_is_the_public_one_and_the_fake_holds_discord_to_its_rules(template_db, tmp_path):
    async with discord_rig(template_db, tmp_path) as (rig, fake):
        rig.app.settings.web.public_url = "https://stratum.example.com/"
        async with rig.client() as http:
            start = await http.get("/auth/discord")
            query = parse_qs(urlsplit(start.headers["location"]).query)
            assert query["redirect_uri"] == ["https://stratum.example.com/auth/callback"]
            refused = await http.get(start.headers["location"])  # not registered in the Developer Portal
            assert refused.status_code == 400 and fake.oauth_refusals == ["redirect_uri not registered"]

            registered = f"{rig.base}/auth/callback"
            authorize = await http.get(
                fake.oauth_authorize_url,
                params={
                    "response_type": "code",
                    "client_id": fake.oauth_client_id,
                    "redirect_uri": registered,
                    "scope": "identify guilds.members.read",
                    "state": "s",
                },
            )
            code = parse_qs(urlsplit(authorize.headers["location"]).query)["code"][0]
            token = await http.post(
                f"{fake.api_base}/oauth2/token",
                data={"grant_type": "authorization_code", "code": code, "redirect_uri": "https://elsewhere.example/cb"},
                auth=(fake.oauth_client_id, fake.oauth_client_secret),
            )
            assert token.status_code == 400 and token.json()["error"] == "invalid_grant"
            assert code not in fake.oauth_codes  # spent by the failed attempt
