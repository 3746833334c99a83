"""JSON from strangers, parsed only within bounds: the size is capped by whoever reads the body, the depth
here, before `json.loads` ever sees it.

Why a scan first: `json.loads` recurses once per nesting level, so a 100 kB body of `[` costs a deep
recursion and ends in `RecursionError` (a 500 wherever it is not caught, and slow either way). Counting
brackets outside strings is linear, stops at the first level too deep, and needs no recursion at all.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["MAX_DEPTH", "JsonRefused", "json_depth_exceeds", "loads_bounded"]

#: Deeper than any body we accept (a Stripe event nests about 6 levels, a webhook request 2).
MAX_DEPTH = 64

#: A string literal, or an unterminated one running to the end (a truncated prefix), so that brackets
#: inside strings are not counted. Written as the "unrolled loop" (no nested quantifier): linear time.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\Z)', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


class JsonRefused(ValueError):
    """A body that is not JSON within the bounds; `reason` says which, for the client's error message."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def json_depth_exceeds(data: bytes, max_depth: int = MAX_DEPTH) -> bool:
    """Whether the text nests arrays/objects deeper than `max_depth` (also on a prefix of a body: a prefix
    already too deep means the whole is)."""
    brackets = _STRING.sub(b"", data).translate(None, _NOT_BRACKETS)
    depth = 0
    for byte in brackets:
        if byte in b"[{":
            depth += 1
            if depth > max_depth:
                return True
        else:
            depth -= 1
    return False


def loads_bounded(data: bytes, max_depth: int = MAX_DEPTH) -> Any:
    """`json.loads` for a body already capped in size, refusing (JsonRefused) anything nested too deep or
    not JSON (including invalid UTF-8)."""
    if json_depth_exceeds(data, max_depth):
        raise JsonRefused(f"nested deeper than {max_depth} levels")
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        raise JsonRefused("not valid JSON") from None
