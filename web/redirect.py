"""Where the browser may be sent after sign-in: only to a path of this site, written so nothing reinterprets it.

An open redirect is a phishing tool, and the check has to be made on what the browser will do with the
value, not on the raw text: a browser drops leading and trailing control characters and spaces, removes
tabs and newlines anywhere, reads `\\` as `/` in an http(s) path and resolves `..` (`%2e%2e` too), so
`/<TAB>/evil.example` or `/a/..//evil.example` would take it to another host, or to `//evil.example` on
this one, from where any later `next` would. `safe_next` therefore resolves the candidate as a browser
resolves a reference against `https://this-site/`, keeps it only if the result is a path starting with
one `/` followed by neither `/` nor `\\` (even once percent-decoded), and returns it serialized in the
plainest form: printable ASCII, every other character percent-encoded. That form is a fixed point for a
browser and for `safe_next` itself, and `see_other` puts it in `Location` exactly (an HTTP library's own
URL normalisation never gets a say). Anything else becomes `/`, the board.
"""

from __future__ import annotations

import re
import string
from urllib.parse import unquote

from starlette.responses import Response

HOME = "/"
#: A longer `next` is not one of ours (and would overflow the OAuth state cookie).
MAX_LENGTH = 2000

_C0_OR_SPACE = "".join(chr(c) for c in range(0x21))
_DROPPED = str.maketrans("", "", "\t\n\r")  # a browser removes these anywhere in a URL
#: Characters written as they are: ones no browser and no URL library percent-encodes or decodes in a
#: path or query. Everything else (quotes, spaces, `\\`, `<>`, non-ASCII, controls) is percent-encoded.
_PLAIN = frozenset(string.ascii_letters + string.digits + "-._~!$&()*+,;=:@")
_PERCENT = re.compile(r"%[0-9A-Fa-f]{2}")
_SINGLE_DOT = {".", "%2e"}
_DOUBLE_DOT = {"..", ".%2e", "%2e.", "%2e%2e"}


def safe_next(then: object) -> str:
    """`then` as the path of this site a browser would go to, serialized plainly; `/` if it would leave."""
    if not isinstance(then, str) or len(then) > MAX_LENGTH:
        return HOME
    seen = then.strip(_C0_OR_SPACE).translate(_DROPPED)
    head, has_fragment, fragment = seen.partition("#")
    path, has_query, query = head.partition("?")
    path = path.replace("\\", "/")
    if not path.startswith("/") or path.startswith("//"):
        return HOME  # a scheme, a host (`//host`, `/\host`) or a relative path
    try:
        resolved = _resolve(path)
        if has_query:
            resolved += "?" + _plain(query, also="/?")
        if has_fragment:
            resolved += "#" + _plain(fragment, also="/?")
    except UnicodeEncodeError:  # a lone surrogate: never a path we wrote
        return HOME
    decoded = unquote(resolved.partition("?")[0].partition("#")[0]).translate(_DROPPED)
    if resolved.startswith("//") or decoded.startswith(("//", "/\\")):
        return HOME  # `//host` on this site, or one decoding step away from another host
    return resolved


def _resolve(path: str) -> str:
    """The path with its dot segments resolved the browser's way and each segment written plainly."""
    kept: list[str] = []
    segments = path[1:].split("/")
    for i, segment in enumerate(segments):
        last = i == len(segments) - 1
        if segment.lower() in _DOUBLE_DOT:
            if kept:
                kept.pop()
            if last:
                kept.append("")
        elif segment.lower() in _SINGLE_DOT:
            if last:
                kept.append("")
        else:
            kept.append(_plain(segment))
    return "/" + "/".join(kept)


def _plain(text: str, also: str = "") -> str:
    """`text` with every character outside `_PLAIN` (and `also`) percent-encoded as UTF-8; an existing
    `%XX` escape is kept as it is, a `%` that starts none becomes `%25`."""
    out: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "%" and _PERCENT.match(text, i):
            out.append(text[i : i + 3])
            i += 3
            continue
        out.append(c if c in _PLAIN or c in also else "".join(f"%{b:02X}" for b in c.encode("utf-8")))
        i += 1
    return "".join(out)


def see_other(location: str) -> Response:
    """A 303 whose `Location` is exactly `location` (a `safe_next` value, or a path of ours): no URL library
    gets to normalise it (yarl's normalisation once turned `/<TAB>/evil.example` into `//evil.example`, and
    Starlette's `RedirectResponse` would quote it)."""
    return Response(status_code=303, headers={"Location": location})
