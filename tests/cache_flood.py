"""A flood of distinct valid API requests against the real server, measured in this process with
tracemalloc; run as a child process by `test_api.test_a_flood_of_distinct_valid_paths_stays_inside_the_cache_budget`
so nothing else of the test session is in the measure.

`python -m tests.cache_flood DB MAX_BYTES MAX_ENTRIES REQUESTS` serves the API over loopback on a fresh
database at DB (a SQLite path or a database URL: tests.backends) with the response cache bounded as given,
sends REQUESTS distinct valid `GET /v1/signals` requests of up to 3.9 KB each (a long percent-encoded `game`
filter, a long cursor, every other filter spelled out) over one kept-alive raw socket, every fourth one a
re-spelling of the one before (the same query percent-encoded differently), and prints one JSON line: how
much traced memory the flood left behind, the cache's own accounting (bytes, entries, hits, misses) and what
was sent.
"""

from __future__ import annotations

import asyncio
import gc
import json
import re
import sys
import tracemalloc
from datetime import UTC, datetime
from typing import Any

from api.params import encode_cursor
from services.keys import create_key
from storage import Repositories
from tests.api_rig import api_server
from tests.engine_builders import Clock, settings

NOW = datetime(2026, 8, 5, 23, 20, tzinfo=UTC)
WARM_UP = 300  # requests before the baseline: first-use allocations (imports, the parser's caches) settle


def _encoded(text: str) -> str:
    """Every character percent-encoded: the longest way to spell a value (3 bytes a character)."""
    return "".join(f"%{b:02X}" for b in text.encode())


def flood_path(i: int, respell: bool = False) -> str:
    """The i-th distinct valid query (about 3.6 KB raw); `respell` writes the same query differently."""
    game = f"game-{i:08d}-" + "g" * 180  # at most 200 characters
    cursor = encode_cursor("signals", ["2026-08-05T18:00:00+00:00", f"sig-{i:08d}-" + "s" * 680])
    params = {
        "game": game,
        "cursor": cursor,
        "since": "2026-08-01T00:00:00Z",
        "until": "2026-08-09T00:00:00Z",
        "type": "STEAM",
        "market": "spreads",
        "min_score": "1",
        "limit": "7",
    }
    if respell:
        params["since"] = "2026-07-31T20:00:00-04:00"  # the same instant
        return "/v1/signals?" + "&".join(f"{k}={v}" for k, v in reversed(params.items()))
    return "/v1/signals?" + "&".join(f"{_encoded(k)}={_encoded(v)}" for k, v in params.items())


async def _get(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str, token: str) -> int:
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\r\n".encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    match = re.search(rb"(?i)\r\ncontent-length: *([0-9]+)", head)
    await reader.readexactly(int(match.group(1)) if match else 0)
    return int(head.split(b" ", 2)[1])


def _traced() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


async def flood(db: str, max_bytes: int, max_entries: int, requests: int) -> dict[str, Any]:
    config = settings()
    config.web.port = 0
    config.api.response_cache_max_bytes = max_bytes
    config.api.response_cache_max_entries = max_entries
    repos = await Repositories.open(db)
    _, token = await create_key(repos, config, owner="flood", plan="pro_infra", now=NOW, rpm_override=10**9)
    server, _, api = await api_server(config, repos, Clock(NOW))
    port = server.port
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    sent = 0
    try:
        tracemalloc.start(1)
        for i in range(WARM_UP):
            assert await _get(reader, writer, flood_path(-1 - i), token) == 200
        baseline = _traced()
        for i in range(requests):
            path = flood_path(i - 1, respell=True) if i % 4 == 3 else flood_path(i)
            status = await _get(reader, writer, path, token)
            assert status == 200, (status, path[:200])
            sent += len(path)
        grown = _traced() - baseline
        tracemalloc.stop()
    finally:
        writer.close()
        await server.stop()
        await repos.close()
    cache = api.responses
    return {
        "grown": grown,
        "cache_bytes": cache.size,
        "cache_entries": len(cache),
        "hits": cache.hits,
        "misses": cache.misses,
        "path_bytes": sent,
    }


if __name__ == "__main__":
    db, max_bytes, max_entries, requests = sys.argv[1:5]
    result = asyncio.run(flood(db, int(max_bytes), int(max_entries), int(requests)))
    print(json.dumps(result))
