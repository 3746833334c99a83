"""Slow and idle clients over raw loopback sockets: a request whose line and headers do not arrive in time
is cut off (408, then closed), an idle kept-alive connection is closed after its bound, and a normal
client — even one that pauses between requests on one connection — is served as usual.

The bounds are the server's settings (`web.header_timeout_seconds`, `web.keepalive_timeout_seconds`), set
short here; every check allows a generous margin, since a loaded machine may close late, never early.
"""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from app.asgi import finish, root_app
from app.web import WebServer
from config.settings import WebSettings

HEADER_SECONDS = 1.0
KEEPALIVE_SECONDS = 3.0
MARGIN = 6.0  # generous: the bound is what is promised, the margin is the machine's load

REQUEST = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slow-client-test\r\n\r\n"


@asynccontextmanager
async def server() -> AsyncIterator[int]:
    settings = WebSettings(
        host="127.0.0.1",
        port=0,
        header_timeout_seconds=HEADER_SECONDS,
        keepalive_timeout_seconds=KEEPALIVE_SECONDS,
    )
    web = WebServer(settings, finish(root_app()[0], pages=False))  # /healthz and what every answer shares
    port = await web.start()
    try:
        yield port
    finally:
        await web.stop()


async def until_closed(reader: asyncio.StreamReader, seconds: float) -> bytes:
    """Everything the server sends until it closes the connection; fails if it is still open after `seconds`."""
    try:
        return await asyncio.wait_for(reader.read(), seconds)
    except ConnectionResetError:
        return b""
    except TimeoutError:
        pytest.fail(f"the server still held the connection after {seconds:.0f} s")


def assert_cut_off(answer: bytes) -> None:
    """Closed with a 408 (or, had the write raced the close, with nothing): never a served request."""
    assert answer == b"" or re.match(rb"HTTP/1\.1 408 ", answer), answer[:100]


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    status = int(head.split(b" ", 2)[1])
    length = int(re.search(rb"(?i)\r\ncontent-length: *([0-9]+)", head).group(1))
    return status, await asyncio.wait_for(reader.readexactly(length), 10)


@pytest.mark.parametrize(
    "sent",
    [b"", b"GET /heal", b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"],
    ids=["nothing", "half-a-request-line", "headers-without-their-end"],
)
async def test_a_request_whose_headers_never_finish_is_cut_off(sent: bytes):
    async with server() as port:
        connections = [await asyncio.open_connection("127.0.0.1", port) for _ in range(5)]
        for _, writer in connections:
            writer.write(sent)
            await writer.drain()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + HEADER_SECONDS + MARGIN
        for reader, writer in connections:  # all of them, not just the first: idle sockets do not pile up
            assert_cut_off(await until_closed(reader, max(0.1, deadline - loop.time())))
            writer.close()


async def test_a_trickle_of_header_bytes_does_not_extend_the_deadline():
    """Slowloris: one byte at a time, each well inside any per-read timeout, never finishing the headers."""
    async with server() as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        closed = asyncio.ensure_future(until_closed(reader, HEADER_SECONDS + MARGIN))
        trickle = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-Padding: " + b"a" * 200
        try:
            for byte in trickle:
                if closed.done():
                    break
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(0.1)
        except ConnectionError:
            pass  # the server closed it mid-trickle: what is wanted
        assert_cut_off(await closed)
        writer.close()


async def test_a_normal_client_is_served_and_an_idle_keep_alive_connection_is_closed_after_its_bound():
    async with server() as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        # The first request in two parts a moment apart, inside the header bound: served.
        writer.write(REQUEST[:20])
        await writer.drain()
        await asyncio.sleep(HEADER_SECONDS / 4)
        writer.write(REQUEST[20:])
        await writer.drain()
        assert await read_response(reader) == (200, b'{"status": "ok"}')
        # A pause longer than the header bound (but inside the keep-alive one) between two requests on the
        # same connection: the header deadline was the first request's, so the second is served too.
        await asyncio.sleep(HEADER_SECONDS * 1.5)
        writer.write(REQUEST)
        await writer.drain()
        assert await read_response(reader) == (200, b'{"status": "ok"}')
        # Then nothing: the idle connection is closed after the keep-alive bound, without an answer.
        assert await until_closed(reader, KEEPALIVE_SECONDS + MARGIN) == b""
        writer.close()


async def test_a_later_request_left_unfinished_on_a_kept_alive_connection_is_closed_too():
    async with server() as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(REQUEST)
        await writer.drain()
        assert (await read_response(reader))[0] == 200
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127")  # and never the rest
        await writer.drain()
        assert_cut_off(await until_closed(reader, KEEPALIVE_SECONDS + MARGIN))
        writer.close()


async def test_every_connection_sends_without_delay():
    """The server's end of each connection has TCP_NODELAY: an answer written in two parts (head, then body)
    goes out at once instead of waiting for the client's delayed ACK (~40 ms a request on keep-alive)."""
    settings = WebSettings(host="127.0.0.1", port=0)
    web = WebServer(settings, finish(root_app()[0], pages=False))
    port = await web.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(REQUEST)
        assert (await read_response(reader))[0] == 200
        assert web._server is not None
        served = [c.transport.get_extra_info("socket") for c in web._server.server_state.connections]
        assert served and all(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for s in served)
        writer.close()
        await writer.wait_closed()
    finally:
        await web.stop()
