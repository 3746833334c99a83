"""A real browser for the dashboard tests: Debian's headless Chromium through chromium-driver (Selenium).

Selenium's calls block, and the dashboard under test runs on the test's own event loop, so every call
goes through `asyncio.to_thread` (`Browser`): the server keeps answering while the browser waits.
`.ci/run` installs the `chromium` and `chromium-driver` packages; a machine without them skips these
tests with the reason (never silently passes them)."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
needs_browser = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="Debian's chromium and chromium-driver are not installed (.ci/run installs them)",
)


class Browser:
    """One headless Chromium window, driven from async tests."""

    def __init__(self, *, width: int = 1280, height: int = 900) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM or ""
        for flag in (
            "--headless=new",
            "--no-sandbox",  # root in a container
            "--disable-dev-shm-usage",
            "--disable-gpu",
            "--no-first-run",
            "--disable-extensions",
            f"--window-size={width},{height}",
        ):
            options.add_argument(flag)
        self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        self.driver.set_page_load_timeout(30)

    async def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.to_thread(fn, *args)

    async def get(self, url: str) -> None:
        await self.call(self.driver.get, url)

    async def source(self) -> str:
        return await self.call(lambda: self.driver.page_source)

    async def text(self) -> str:
        return await self.call(lambda: self.driver.find_element("tag name", "body").text)

    async def url(self) -> str:
        return await self.call(lambda: self.driver.current_url)

    async def click(self, css: str) -> None:
        await self.call(lambda: self.driver.find_element("css selector", css).click())

    async def script(self, code: str, *args: Any) -> Any:
        return await self.call(self.driver.execute_script, code, *args)

    async def screenshot(self, path: str) -> None:
        await self.call(self.driver.save_screenshot, path)

    async def cookies(self) -> dict[str, str]:
        return {c["name"]: c["value"] for c in await self.call(self.driver.get_cookies)}

    async def resources(self) -> list[str]:
        """Every URL the page fetched (documents, images, scripts, styles, XHR, event streams)."""
        return await self.script(
            "return performance.getEntriesByType('resource').map(e => e.name).concat([location.href]);"
        )

    async def watch_csp(self) -> None:
        """From the next page on, keep every Content-Security-Policy violation the page reports (installed
        through DevTools before any of the page's own scripts runs, so an early one is not missed)."""
        listener = (
            "window.__csp_violations = [];"
            "document.addEventListener('securitypolicyviolation', (e) => window.__csp_violations.push("
            "`${e.effectiveDirective} blocked ${e.blockedURI || 'inline'} at ${e.sourceFile}:${e.lineNumber}`));"
        )
        await self.call(self.driver.execute_cdp_cmd, "Page.addScriptToEvaluateOnNewDocument", {"source": listener})

    async def csp_violations(self) -> list[str]:
        """The violations the current page reported since it loaded (`watch_csp` first)."""
        return await self.script("return window.__csp_violations;")

    async def wait_for(self, predicate: Callable[[], Any], within: float = 10.0) -> Any:
        """Poll `predicate` (run in the driver's thread) until it is true; an element the page replaced
        while it was read (a navigation under way) counts as not yet."""
        from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException

        deadline = asyncio.get_running_loop().time() + within
        while True:
            try:
                value = await self.call(predicate)
            except (StaleElementReferenceException, NoSuchElementException):
                value = None
            if value:
                return value
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError("the page never got there")
            await asyncio.sleep(0.1)

    def close(self) -> None:
        self.driver.quit()
