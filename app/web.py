"""The web server: uvicorn serving the one ASGI app (`app.asgi`) as a task on the running event loop.

In one-process mode the bot, the engine's jobs and the HTTP side share one loop, as before: `WebServer.start`
runs `uvicorn.Server.serve()` as a task and returns once the socket listens (port 0 picks a free one), and
`stop` asks it to finish: the app's drain hooks run first (`app.asgi.Lifespan.drain`: the live streams end),
then open requests get `SHUTDOWN_GRACE_SECONDS`. uvicorn's own signal handling is off here: the process that
embeds the server owns SIGINT/SIGTERM.

Slow and idle clients are bounded (`web.header_timeout_seconds`, `web.keepalive_timeout_seconds`): uvicorn's
keep-alive timeout closes an idle connection, and `app.header_deadline.DeadlineHttp` (uvicorn's httptools
protocol with a deadline on every request's headers) closes one whose request never completes its headers.
A malformed request is one WARNING line naming the client (`MalformedRequestLog`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable, Iterator

import uvicorn
from starlette.types import ASGIApp

from app.header_deadline import deadline_protocol
from config.settings import WebSettings

log = logging.getLogger(__name__)

#: How long `stop` lets open requests finish before their connections are closed.
SHUTDOWN_GRACE_SECONDS = 5


class _EmbeddedServer(uvicorn.Server):
    """uvicorn's server without its signal handlers (the embedding process, the bot, owns its signals) and
    with the app's drain hooks run as its shutdown begins, before it waits for the open requests."""

    def __init__(self, config: uvicorn.Config, drain: Callable[[], Awaitable[None]] | None) -> None:
        super().__init__(config)
        self._drain = drain

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self._drain is not None:
            await self._drain()
        await super().shutdown(sockets)


async def _serve(server: uvicorn.Server, sock: socket.socket) -> None:
    """uvicorn's `serve`, with its `sys.exit` on a failed startup turned into an error of this task: a
    SystemExit from a task would end the whole process (the bot with it)."""
    try:
        await server.serve(sockets=[sock])
    except SystemExit as exc:
        raise RuntimeError(f"the web server stopped at startup (uvicorn exit {exc.code})") from None
    finally:
        sock.close()


class WebServer:
    """`asgi` served on `settings.host:settings.port` until `stop`; `drain` runs as the shutdown begins (the
    app's `Lifespan.drain`, when it has one)."""

    def __init__(
        self, settings: WebSettings, asgi: ASGIApp, *, drain: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        self.settings = settings
        self.app = asgi
        self.drain = drain
        self.port: int | None = None
        self._server: _EmbeddedServer | None = None
        self._task: asyncio.Task[None] | None = None

    def config(self) -> uvicorn.Config:
        return uvicorn.Config(
            self.app,
            host=self.settings.host,
            port=self.settings.port,
            http=deadline_protocol(self.settings.header_timeout_seconds),
            lifespan="on",
            log_config=None,  # the process's logging, as configured by the command line
            access_log=False,
            server_header=False,
            proxy_headers=False,  # X-Forwarded-For is anyone's to write: the peer address is the client
            timeout_keep_alive=self.settings.keepalive_timeout_seconds,  # type: ignore[arg-type]
            timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS,
        )

    def _listen(self) -> socket.socket:
        """The listening socket, opened here so a taken port is an `OSError` for the caller (uvicorn itself
        would `sys.exit` from inside the task). Made with the address's own protocol (`IPPROTO_TCP`), not
        `socket.create_server`'s 0: asyncio sets `TCP_NODELAY` only on connections of a socket that says it is
        TCP, and without it every answer written in two parts (uvicorn's head, then its body) waits ~40 ms
        for the client's delayed ACK."""
        host, port = self.settings.host, self.settings.port
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
            sock.listen(2048)
        except OSError:
            sock.close()
            raise
        sock.setblocking(False)
        return sock

    async def start(self) -> int:
        sock = self._listen()
        server = _EmbeddedServer(self.config(), self.drain)
        self._server = server
        self._task = asyncio.create_task(_serve(server, sock), name="web server")
        while not server.started:
            if self._task.done():  # the bind or the app's startup failed: say why, here
                self._server, task, self._task = None, self._task, None
                task.result()
                raise RuntimeError(f"the web server on {self.settings.host}:{self.settings.port} did not start")
            await asyncio.sleep(0.01)
        self.port = server.servers[0].sockets[0].getsockname()[1]
        log.info("web server on http://%s:%s", self.settings.host, self.port)
        return self.port

    async def stop(self) -> None:
        server, task = self._server, self._task
        self._server = self._task = None
        self.port = None
        if server is None or task is None:
            return
        server.should_exit = True
        await task
