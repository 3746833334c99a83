"""uvicorn's HTTP protocol with a deadline on every request's line and headers, and the client's address in
its malformed-request warning.

uvicorn has a keep-alive timeout but no header-read timeout: a client that connects and sends half a
request, or trickles one byte at a time, holds a socket for as long as it likes (the keep-alive timer stops at
the first byte of a request), and enough of them exhaust the file descriptors. In `DeadlineHttp` a request's
headers are due `header_timeout` after its first byte (the parser's `on_message_begin`; the connection's
first request: after the connection is made) until they are complete (`on_headers_complete`); if the
deadline passes first it answers `408 Request Timeout` and closes the connection. The deadline is absolute,
so a trickle does not extend it. One timer per connection watches it, re-armed for the next instant anything
can be due, rather than a timer armed and cancelled for every request (that cost each request of a
kept-alive connection about as much as its routing). An idle kept-alive connection (no byte of a next
request) is uvicorn's keep-alive timeout's to close.

It also bounds their size, which httptools does not: a request whose target and headers exceed
`MAX_HEADER_BYTES` is refused like any malformed request (400, one warning line, the connection closed), as
aiohttp's 8 KiB line limit did — else a client could make the server hold a header of any length.

It is a subclass rather than a wrapper around the protocol because only the parser knows where one request's
headers end and the next request begins (a body may contain a blank line).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import MutableMapping
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["MAX_HEADER_BYTES", "REQUEST_TIMEOUT", "DeadlineHttp", "MalformedRequestLog", "deadline_protocol"]

log = logging.getLogger(__name__)

#: What a client that missed the deadline gets before the connection closes.
_MESSAGE = b"The request headers took too long.\n"
REQUEST_TIMEOUT = (
    b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Content-Length: %d\r\n\r\n%s" % (len(_MESSAGE), _MESSAGE)
)
#: How much earlier than its instant the loop may run a timer (its clock's resolution, at most).
_EARLY = 0.01
#: The most a request's target and header names and values may hold together.
MAX_HEADER_BYTES = 16 * 1024
#: uvicorn's warning for a request its parser refused (`httptools_impl`).
_INVALID_REQUEST = "Invalid HTTP request received."


class MalformedRequestLog(logging.LoggerAdapter):
    """uvicorn's connection logger with the client's address in the malformed-request warning, so an operator
    sees who sends them: "malformed HTTP request from 203.0.113.9: 400 Invalid HTTP request received."
    (one WARNING line, no traceback: a malformed request is the client's fault and comes in floods)."""

    def __init__(self, logger: logging.Logger, client: tuple[str, int] | None) -> None:
        super().__init__(logger, {})
        self.client = client[0] if client else "?"

    @property
    def level(self) -> int:  # uvicorn reads its logger's level to decide on trace lines
        return self.logger.level

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        if msg == _INVALID_REQUEST:
            return f"malformed HTTP request from {self.client}: 400 {msg}", kwargs
        return msg, kwargs


class DeadlineHttp(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline of `header_timeout` seconds on each request's headers."""

    def __init__(self, *args: Any, header_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timeout = header_timeout
        self._deadline: asyncio.TimerHandle | None = None
        self._pending_since: float | None = None  # when the headers now awaited began (None: none awaited)
        self._header_bytes = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.logger = MalformedRequestLog(logging.getLogger("uvicorn.error"), self.client)  # type: ignore[assignment]
        self._pending_since = self.loop.time()  # the first request's headers are due from the connection
        self._deadline = self.loop.call_later(self._header_timeout, self._check)

    def on_message_begin(self) -> None:
        if self._pending_since is None:  # the connection's first request keeps its deadline from connect
            self._pending_since = self.loop.time()
        self._header_bytes = 0
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value))
        super().on_header(name, value)

    def _count(self, size: int) -> None:
        """Raised from a parser callback, the error ends the parse: uvicorn answers 400 and warns once."""
        self._header_bytes += size
        if self._header_bytes > MAX_HEADER_BYTES:
            raise ValueError(f"request headers over {MAX_HEADER_BYTES} bytes")

    def on_headers_complete(self) -> None:
        self._pending_since = None
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        super().connection_lost(exc)

    def _check(self) -> None:
        """Expire the awaited headers if their deadline has passed, else watch again when anything can be due."""
        self._deadline = None
        if self.transport.is_closing():
            return
        now, since = self.loop.time(), self._pending_since
        if since is not None and now >= since + self._header_timeout - _EARLY:
            log.debug("closing a connection whose request headers took over %s s", self._header_timeout)
            self.transport.write(REQUEST_TIMEOUT)
            self.transport.close()
            return
        due = since + self._header_timeout if since is not None else now + self._header_timeout
        self._deadline = self.loop.call_at(due, self._check)


def deadline_protocol(header_timeout: float) -> Any:
    """The protocol factory uvicorn calls per connection (its `http` setting takes a callable)."""

    def make(**kwargs: Any) -> asyncio.Protocol:
        return DeadlineHttp(header_timeout=header_timeout, **kwargs)

    return make
