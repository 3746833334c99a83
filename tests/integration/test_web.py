"""The dashboard over real HTTP on loopback: the board, the security headers, sessions and CSRF."""

from __future__ import annotations

import html

from itsdangerous import URLSafeTimedSerializer

from tests.web_rig import demo_sign_in, web_rig


async def test_the_board_lists_the_games_with_security_headers_and_no_shared_caching(template_db, tmp_path):
    async with web_rig(template_db, tmp_path) as rig, rig.client() as http:
        page = await http.get("/")
        assert page.status_code == 200
        assert "Phoenix Mercury @ Atlanta Dream" in page.text and "Dallas Wings @ Washington Mystics" in page.text
        assert "minutes delayed" in page.text  # signed out is Community, and the page says so
        headers = page.headers
        csp = headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
        assert headers["x-content-type-options"] == "nosniff" and headers["x-frame-options"] == "DENY"
        assert headers["cache-control"] == "private, no-store"
        assert "<script>" not in page.text and " style=" not in page.text  # nothing inline for the CSP to allow
        css = await http.get("/static/style.css")
        assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")


async def test_demo_sign_in_sets_a_signed_httponly_cookie_and_sign_out_needs_the_csrf_token(template_db, tmp_path):
    async with web_rig(template_db, tmp_path) as rig, rig.client() as http:
        await demo_sign_in(http, "pro")
        cookie = next(c for c in http.cookies.jar if c.name == "stratum_session")
        assert cookie.has_nonstandard_attr("HttpOnly") and cookie.get_nonstandard_attr("SameSite") == "Lax"
        board = await http.get("/")
        assert "demo Pro · Pro" in board.text and "minutes delayed" not in board.text

        refused = await http.post("/auth/signout", data={})
        assert refused.status_code == 403  # no CSRF token: still signed in
        assert "demo Pro" in (await http.get("/")).text
        token = board.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        out = await http.post("/auth/signout", data={"csrf": token})
        assert out.status_code == 303
        assert "Sign in" in (await http.get("/")).text


async def test_a_forged_or_tampered_session_cookie_is_simply_signed_out(template_db, tmp_path):
    async with web_rig(template_db, tmp_path) as rig, rig.client() as http:
        await demo_sign_in(http, "community")
        value = next(c.value for c in http.cookies.jar if c.name == "stratum_session")
        member = {"user_id": 2, "name": "x", "guild_id": 0, "tier": "pro", "checked_at": 0.0, "csrf": "c", "demo": True}
        forged = URLSafeTimedSerializer("not our secret", salt="stratum.session").dumps(member)
        middle = len(value) // 2
        tampered = value[:middle] + ("A" if value[middle] != "A" else "B") + value[middle + 1 :]
        for cookie in (forged, tampered):
            async with rig.client(cookies={"stratum_session": cookie}) as other:
                page = await other.get("/")
            assert page.status_code == 200 and "Sign in" in page.text and "· Pro" not in page.text


async def test_the_demo_sign_in_refuses_a_form_without_its_token(template_db, tmp_path):
    async with web_rig(template_db, tmp_path) as rig, rig.client() as http:
        await http.get("/signin")
        answer = await http.post("/auth/demo", data={"csrf": "guess", "tier": "pro"})
        assert answer.status_code == 403
        assert not any(c.name == "stratum_session" for c in http.cookies.jar)


async def test_a_token_in_any_script_is_refused_like_a_wrong_one_not_a_500(template_db, tmp_path):
    async with web_rig(template_db, tmp_path) as rig, rig.client() as http:
        await http.get("/signin")
        demo = await http.post("/auth/demo", data={"csrf": "jeton-é", "tier": "pro"})
        assert demo.status_code == 403 and "did not come from this site" in demo.text
        await demo_sign_in(http, "pro")
        for path, form in (("/auth/signout", {}), ("/me/watch/add", {"game": "x"})):
            refused = await http.post(path, data={**form, "csrf": "jeton-é"})
            assert refused.status_code == 403, path
            assert (
                refused.headers["content-type"].startswith("text/html")
                and "did not come from this site" in refused.text
            )
        assert "demo Pro" in (await http.get("/")).text  # still signed in: nothing changed


async def test_a_head_request_answers_as_get_does_without_the_body(template_db, tmp_path):
    async with web_rig(template_db, tmp_path) as rig, rig.client() as http:
        for path in ("/", "/signals", "/integrity", "/signin", "/static/style.css"):
            head = await http.head(path)
            assert head.status_code == 200, path
            assert (
                head.content == b"" and head.headers["content-type"] == (await http.get(path)).headers["content-type"]
            )


async def test_sign_in_comes_back_to_the_whole_address_it_was_asked_for(template_db, tmp_path):
    async with web_rig(template_db, tmp_path) as rig, rig.client() as http:
        away = await http.get("/me", params={"done": "watched", "then": "a b"})
        assert away.status_code == 303
        assert away.headers["location"] == "/signin?next=/me%3Fdone%3Dwatched%26then%3Da%2Bb"  # all of it, encoded
        page = await http.get(away.headers["location"])
        token = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        then = page.text.split('name="next" value="', 1)[1].split('"', 1)[0]
        back = await http.post("/auth/demo", data={"csrf": token, "tier": "pro", "next": html.unescape(then)})
        assert back.status_code == 303 and back.headers["location"] == "/me?done=watched&then=a+b"
