"""A deadline on each connection's first request line and headers, in front of the HTTP server's protocol.

aiohttp has no header-read timeout (neither has uvicorn): a client that connects and sends half a request,
or trickles one byte at a time, holds a socket for as long as the server's idle timeout allows, and enough
of them exhaust the file descriptors. `HeaderDeadline` wraps the server's protocol for one connection:
armed when the connection is made, it watches the incoming bytes only for the blank line that ends the
first request's headers, then steps aside (every byte goes on to the HTTP protocol unchanged, as it
arrives). If the deadline passes first it answers `408 Request Timeout` and closes the connection; the
deadline is absolute, so a trickle does not extend it.

Later requests on a kept-alive connection are the server's keep-alive timeout's to bound: aiohttp closes
a connection still waiting for a complete request that long after its last answer (`app.web`)."""

from __future__ import annotations

import asyncio
import logging

__all__ = ["REQUEST_TIMEOUT", "HeaderDeadline"]

log = logging.getLogger(__name__)

#: What a client that missed the deadline gets before the connection closes.
_MESSAGE = b"The request headers took too long.\n"
REQUEST_TIMEOUT = (
    b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Content-Length: %d\r\n\r\n%s" % (len(_MESSAGE), _MESSAGE)
)

_LINE_ENDS = b"\r\n"


class HeaderDeadline(asyncio.Protocol):
    """One connection's protocol (`inner`, the HTTP server's) behind a deadline of `seconds` for the first
    request's line and headers."""

    def __init__(self, inner: asyncio.Protocol, seconds: float) -> None:
        self._inner = inner
        self._seconds = seconds
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._started = False  # a byte other than CR/LF arrived (empty lines before a request are allowed)
        self._tail = b""  # the last bytes seen, so an end of headers split across two reads is found

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        self._timer = asyncio.get_running_loop().call_later(self._seconds, self._expire)
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self._timer is not None:
            self._watch(data)
        self._inner.data_received(data)

    def _watch(self, data: bytes) -> None:
        if not self._started:
            data = data.lstrip(_LINE_ENDS)
            if not data:
                return
            self._started = True
        seen = self._tail + data
        if b"\r\n\r\n" in seen or b"\n\n" in seen:
            self._disarm()
        else:
            self._tail = seen[-3:]

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._tail = b""

    def _expire(self) -> None:
        self._timer = None
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        log.debug("closing a connection whose request headers took over %s s", self._seconds)
        transport.write(REQUEST_TIMEOUT)
        transport.close()

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._transport = None
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()
