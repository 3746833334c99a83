"""The documentation portal over real HTTP on loopback: `/docs` and `/docs/getting-started` are pages with the
pages' security headers whether or not the dashboard is served, nothing in them is inline or off the server,
every asset they name is served, the getting-started page is the Markdown file rendered, and the Python
verification snippets it shows decide real deliveries from the app correctly."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import pytest

from api.portal import GETTING_STARTED, OPENAPI_URL
from services.documents import document_html
from tests.portal_rig import capture_deliveries, portal_rig, snippets, verification_cases
from web.security import CSP, MACHINE_HEADERS

PAGES = ("/docs", "/docs/getting-started")
DASHBOARD = pytest.mark.parametrize("dashboard", [True, False], ids=["dashboard on", "dashboard off"])


class Markup(HTMLParser):
    """What a page's HTML asks the browser to run, style or fetch."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []  # every script src, stylesheet/icon href and img src
        self.inline: list[str] = []  # inline scripts, <style>, style= and on…= attributes
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        self.inline += [f"<{tag} {name}=…>" for name, _ in attrs if name == "style" or name.startswith("on")]
        if tag == "style":
            self.inline.append("<style>")
        if tag == "script":
            self._in_script = True
            if not named.get("src"):
                self.inline.append("<script> without src")
        for name in ("src", "href") if tag in ("script", "link", "img") else ():
            if named.get(name):
                self.urls.append(named[name] or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline.append(f"script text {data.strip()[:40]!r}")


def _page_headers(headers) -> None:
    assert headers["content-security-policy"] == CSP
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"


@DASHBOARD
async def test_the_portal_pages_are_pages_whether_or_not_the_dashboard_is_served(tmp_path, dashboard):
    async with portal_rig(tmp_path, dashboard=dashboard) as rig, rig.client() as http:
        for path in PAGES:
            answer = await http.get(path)
            assert answer.status_code == 200, (path, answer.text[:200])
            assert answer.headers["content-type"].startswith("text/html")
            _page_headers(answer.headers)
            assert answer.headers["cache-control"] == "private, no-store"
        asset = await http.get("/docs/static/portal.js")
        assert asset.status_code == 200
        _page_headers(asset.headers)
        assert asset.headers["cache-control"] == "public, max-age=3600"
        missing = await http.get("/docs/static/nope.js")
        assert missing.status_code == 404
        _page_headers(missing.headers)
        assert missing.headers["cache-control"] == "private, no-store"
        # The machines' paths keep theirs, and only /docs itself (at a / boundary) is the portal's.
        machine = await http.get("/healthz")
        assert machine.headers["content-security-policy"] == MACHINE_HEADERS["Content-Security-Policy"]
        if not dashboard:
            for path in ("/", "/docsx"):
                other = await http.get(path)
                assert other.headers["content-security-policy"] == MACHINE_HEADERS["Content-Security-Policy"], path


async def test_nothing_in_the_portal_is_inline_or_off_the_server_and_every_asset_is_served(tmp_path):
    async with portal_rig(tmp_path, dashboard=False) as rig, rig.client() as http:
        fetched = set()
        for path in PAGES:
            markup = Markup()
            markup.feed((await http.get(path)).text)
            assert markup.inline == [], (path, markup.inline)
            assert markup.urls, path
            for url in markup.urls:
                assert url.startswith("/") and not url.startswith("//"), (path, url)
                fetched.add(url)
        for url in sorted(fetched):
            answer = await http.get(url)
            assert answer.status_code == 200, url
            assert answer.content, url
        kinds = {(await http.get(url)).headers["content-type"].split(";")[0] for url in fetched}
        assert {"text/javascript", "text/css", "image/png"} <= kinds


async def test_the_reference_starts_swagger_ui_from_a_file_over_the_served_document(tmp_path):
    async with portal_rig(tmp_path, dashboard=False) as rig, rig.client() as http:
        page = (await http.get("/docs")).text
        assert 'src="/docs/static/swagger-ui/swagger-ui-bundle.js"' in page
        assert 'src="/docs/static/portal.js"' in page
        assert f'data-openapi-url="{OPENAPI_URL}"' in page
        initialiser = (await http.get("/docs/static/portal.js")).text
        assert "root.dataset.openapiUrl" in initialiser and "validatorUrl: null" in initialiser
        # The document it loads (served by the API) is there, with its operations and its webhooks.
        document = await http.get(OPENAPI_URL)
        assert document.status_code == 200, document.text[:200]
        spec = document.json()
        assert spec["openapi"].startswith("3.1")
        assert "/v1/signals" in spec["paths"]
        assert {"signal.created", "move.created", "clv.graded", "usage.anomaly"} <= set(spec["webhooks"])


async def test_the_getting_started_page_is_the_markdown_file_rendered(tmp_path):
    guide = document_html(GETTING_STARTED)
    assert guide is not None and 'id="verifying-a-webhook"' in guide
    async with portal_rig(tmp_path, dashboard=False) as rig, rig.client() as http:
        page = (await http.get("/docs/getting-started")).text
    assert guide in page


async def test_each_portal_page_links_the_others_and_the_document(tmp_path):
    async with portal_rig(tmp_path, dashboard=False) as rig, rig.client() as http:
        for path in PAGES:
            page = (await http.get(path)).text
            header = page[page.index("<header") : page.index("</header>")]
            for target in (*PAGES, OPENAPI_URL):
                assert f'<a href="{target}"' in header, (path, target)


async def test_the_dashboard_links_the_portal(tmp_path):
    async with portal_rig(tmp_path, dashboard=True) as rig, rig.client() as http:
        board = await http.get("/")
    assert board.status_code == 200
    assert 'href="/docs"' in board.text


def _verdict(verify, case) -> bool:
    """Whether the snippet accepted the message: it returns the event, or raises."""
    try:
        event = verify(case.secret, case.headers, case.body)
    except Exception:
        return False
    assert event == json.loads(case.body), case.name  # accepted: and it hands back the event itself
    return True


async def test_the_python_verification_snippets_decide_real_deliveries(tmp_path):
    """Each Python snippet of the page, run as shown, over real deliveries from the app to a loopback receiver
    (one signed by one secret, one during a rotation by two) and the same messages altered."""
    shown = snippets("python")
    assert len(shown) == 2, "the Standard Webhooks library and the standard library alone"
    async with portal_rig(tmp_path, dashboard=False) as rig:
        captured = await capture_deliveries(rig.app)
    cases = verification_cases(captured)
    assert {c.genuine for c in cases} == {True, False}
    for code in shown:
        namespace: dict = {}
        exec(compile(code, str(GETTING_STARTED), "exec"), namespace)  # noqa: S102 - the page's own snippet
        verdicts = {case.name: _verdict(namespace["verify"], case) for case in cases}
        assert verdicts == {case.name: case.genuine for case in cases}, code.splitlines()[0]
