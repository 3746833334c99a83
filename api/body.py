"""Request bodies from strangers, read within bounds before anything parses them.

Not FastAPI's body parsing: it reads the whole body and hands it to `json.loads` before any dependency runs,
so a body nested 100,000 deep would cost a deep recursion, and a bad body would be answered before the key is
checked. Here the body is read after authentication (a dependency of the caller), at most `BODY_MAX` bytes,
and its nesting depth is checked on what was read before anything is parsed (`domain.jsonbounds`)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from api.errors import BodyTooLarge, InvalidParameter
from domain.jsonbounds import JsonRefused, json_depth_exceeds, loads_bounded

__all__ = ["BODY_MAX", "read_json"]

#: The API's request bodies are small JSON objects (a webhook endpoint: a URL and a few event names).
BODY_MAX = 64 * 1024


async def read_json(request: Request, example: str, max_bytes: int = BODY_MAX) -> Any:
    """The request's JSON body, within bounds: at most `max_bytes + 1` read, the nesting depth checked on what
    was read first (so a body nested 100,000 deep is a 400 after one bounded read, never a deep recursion),
    then the size (413)."""
    data = b""
    async for chunk in request.stream():
        data += chunk
        if len(data) > max_bytes:
            data = data[: max_bytes + 1]
            break
    if json_depth_exceeds(data):
        raise InvalidParameter("body", f"The body is nested too deeply; send a JSON object: {example}.")
    if len(data) > max_bytes:
        raise BodyTooLarge(f"The body is larger than {max_bytes} bytes.")
    try:
        return loads_bounded(data)
    except JsonRefused:
        raise InvalidParameter("body", f"Send a JSON object: {example}.") from None
