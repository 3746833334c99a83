"""The documentation portal in a real browser (headless Chromium): the reference draws the API's operations and
its webhooks, and the getting-started page renders, under the pages' strict policy with no violation and no
request off the server, with the dashboard on and off; and the page's JavaScript verification snippet, run in
the browser as shown, decides real deliveries as the Python ones do."""

from __future__ import annotations

import json

import pytest

from tests.browser import Browser, needs_browser
from tests.portal_rig import capture_deliveries, portal_rig, snippets, verification_cases
from web.security import CSP

pytestmark = needs_browser

DASHBOARD = pytest.mark.parametrize("dashboard", [True, False], ids=["dashboard on", "dashboard off"])

#: Runs the page's `verifyWebhook` over each case, its headers as a plain object and as a `Headers`.
HARNESS = """
const cases = arguments[0];
const done = arguments[arguments.length - 1];
const bytes = (b64) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
(async () => {
  const verdicts = [];
  for (const c of cases) {
    for (const headers of [c.headers, new Headers(c.headers)]) {
      try {
        verdicts.push({ok: true, event: JSON.stringify(await verifyWebhook(c.secret, headers, bytes(c.body)))});
      } catch (error) {
        verdicts.push({ok: false, error: String(error)});
      }
    }
  }
  done(verdicts);
})();
"""


#: The paths (operations) or event names (webhooks) Swagger UI drew under a selector.
PATHS = "return [...document.querySelectorAll(arguments[0])].map((e) => e.dataset.path);"
#: Expands the operation or webhook drawn for a path, as a click on its summary does.
OPEN = """
const path = document.querySelector(`.opblock-summary-path[data-path="${arguments[0]}"]`);
path.closest(".opblock").querySelector(".opblock-summary-control").click();
"""


@pytest.fixture
def browser():
    opened = Browser()
    yield opened
    opened.close()


async def _off_server(browser: Browser, base: str) -> list[str]:
    return [url for url in await browser.resources() if not url.startswith(base + "/")]


async def _violations_are_seen(browser: Browser) -> None:
    """The control: an inline script added to the page is refused, and the listener reports it."""
    await browser.script("const s = document.createElement('script'); s.textContent = '1'; document.body.append(s);")
    await browser.wait_for(lambda: browser.driver.execute_script("return window.__csp_violations.length > 0;"))


@DASHBOARD
async def test_the_reference_draws_the_api_and_its_webhooks_under_the_strict_policy(tmp_path, browser, dashboard):
    async with portal_rig(tmp_path, dashboard=dashboard) as rig:
        async with rig.client() as http:
            answer = await http.get("/docs")
        assert answer.headers["content-security-policy"] == CSP
        await browser.watch_csp()
        await browser.get(f"{rig.base}/docs")
        await browser.wait_for(lambda: browser.driver.find_elements("css selector", ".opblock"), within=20)
        operations = await browser.script(PATHS, ".opblock-summary-path")
        assert {"/v1/signals", "/v1/games", "/v1/webhooks"} <= set(operations)
        assert "Webhooks" in await browser.text()
        webhooks = await browser.script(PATHS, ".webhooks .opblock-summary-path")
        assert {"signal.created", "move.created", "clv.graded", "usage.anomaly"} <= set(webhooks)
        # Open an operation and a webhook: what Swagger UI draws then is under the policy too.
        for path in ("/v1/signals", "signal.created"):
            await browser.script(OPEN, path)
        await browser.wait_for(
            lambda: len(browser.driver.find_elements("css selector", ".opblock.is-open .opblock-body")) >= 2
        )
        assert await browser.csp_violations() == []
        assert await _off_server(browser, rig.base) == []
        await _violations_are_seen(browser)


@DASHBOARD
async def test_the_getting_started_page_renders_under_the_strict_policy(tmp_path, browser, dashboard):
    async with portal_rig(tmp_path, dashboard=dashboard) as rig:
        await browser.watch_csp()
        await browser.get(f"{rig.base}/docs/getting-started")
        heading = await browser.call(lambda: browser.driver.find_element("id", "verifying-a-webhook").text)
        assert heading == "Verifying a webhook"
        shown = await browser.script("return [...document.querySelectorAll('pre code')].map(c => c.textContent);")
        assert all(code in shown for code in snippets("python") + snippets("javascript"))
        assert await browser.csp_violations() == []
        assert await _off_server(browser, rig.base) == []
        await _violations_are_seen(browser)


async def test_the_javascript_verification_snippet_decides_real_deliveries_in_chromium(tmp_path, browser):
    """The page's JavaScript, run as shown in Chromium (Web Crypto, on a page of ours: loopback is a secure
    context) over the same real deliveries and altered messages as the Python snippets."""
    [code] = snippets("javascript")
    async with portal_rig(tmp_path, dashboard=False) as rig:
        captured = await capture_deliveries(rig.app)
        cases = verification_cases(captured)
        await browser.get(f"{rig.base}/docs/getting-started")
        verdicts = await browser.call(browser.driver.execute_async_script, code + HARNESS, [c.as_js() for c in cases])
    assert len(verdicts) == 2 * len(cases)
    for index, case in enumerate(cases):
        for verdict, form in zip(verdicts[2 * index : 2 * index + 2], ("object", "Headers"), strict=True):
            assert verdict["ok"] == case.genuine, (case.name, form, verdict)
            if verdict["ok"]:
                assert json.loads(verdict["event"]) == json.loads(case.body), (case.name, form)
