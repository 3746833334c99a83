"""The embedded web server (aiohttp) on the bot's event loop: the Stripe webhook now, the REST API later.
Components add their routes before `start`; `GET /healthz` is for operators."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from config.settings import WebSettings

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def healthz(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


class WebServer:
    def __init__(self, settings: WebSettings) -> None:
        self.settings = settings
        self.app = web.Application(client_max_size=1024**2)
        self.app.router.add_get("/healthz", healthz)
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    def add_route(self, method: str, path: str, handler: Handler) -> None:
        self.app.router.add_route(method, path, handler)

    async def start(self) -> int:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.settings.host, self.settings.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        log.info("web server on http://%s:%s", self.settings.host, self.port)
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
