"""The embedded web server (aiohttp) on the bot's event loop: the Stripe webhook and the REST API.
Components add their routes before `start`; `GET /healthz` is for operators.

A malformed HTTP request (a bad request line, an invalid header, a line too long) is the client's fault,
and on a public port it comes in floods: it is logged at WARNING on one line, without a traceback
(`ProtocolErrorLogger`), instead of aiohttp's ERROR with a full traceback for each one.

Slow and idle clients are bounded (`web.header_timeout_seconds`, `web.keepalive_timeout_seconds`): each
connection's protocol sits behind `app.header_deadline.HeaderDeadline`, so its first request's line and
headers must arrive in time (else 408 and closed), and aiohttp's keep-alive timeout closes a connection
that waits longer than its bound for the next request (a later request's unfinished headers included: the
timer runs from the last answer and closes a connection still waiting for a complete request). The
listening socket is therefore opened here with the wrapped protocol factory rather than by a `TCPSite`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from app.header_deadline import HeaderDeadline
from config.settings import WebSettings

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ProtocolErrorLogger(logging.LoggerAdapter):
    """The logger handed to aiohttp's `RequestHandler` (through `AppRunner(logger=…)`), which reports a
    request it could not parse with `logger.exception("Error handling request from %s", remote,
    exc_info=<HttpProcessingError>)` from `handle_error`. Those become one WARNING line naming the
    address and what was wrong; every other exception it reports (a handler's own crash) keeps its
    ERROR and traceback."""

    def __init__(self, logger: logging.Logger) -> None:
        super().__init__(logger, {})

    def exception(self, msg: object, *args: object, exc_info: Any = True, **kwargs: Any) -> None:
        if isinstance(exc_info, HttpProcessingError):
            remote = args[0] if args else "?"
            what = " ".join(str(exc_info.message or type(exc_info).__name__).split())[:200]
            self.logger.warning("malformed HTTP request from %s: %s %s", remote, exc_info.code, what)
            return
        super().exception(msg, *args, exc_info=exc_info, **kwargs)

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        return msg, kwargs


async def healthz(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


class WebServer:
    def __init__(self, settings: WebSettings) -> None:
        self.settings = settings
        self.app = web.Application(client_max_size=1024**2)
        self.app.router.add_get("/healthz", healthz)
        self._runner: web.AppRunner | None = None
        self._listener: asyncio.Server | None = None
        self.port: int | None = None

    def add_route(self, method: str, path: str, handler: Handler) -> None:
        self.app.router.add_route(method, path, handler)

    async def start(self) -> int:
        self._runner = web.AppRunner(
            self.app,
            access_log=None,
            logger=ProtocolErrorLogger(logging.getLogger("aiohttp.server")),
            keepalive_timeout=self.settings.keepalive_timeout_seconds,
        )
        await self._runner.setup()
        http = self._runner.server
        assert http is not None  # noqa: S101 - set by setup()
        deadline = self.settings.header_timeout_seconds
        self._listener = await asyncio.get_running_loop().create_server(
            lambda: HeaderDeadline(http(), deadline), self.settings.host, self.settings.port
        )
        self.port = self._listener.sockets[0].getsockname()[1]
        log.info("web server on http://%s:%s", self.settings.host, self.port)
        return self.port

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.close()  # no new connections; the runner's cleanup closes the open ones
            self._listener = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
