"""Who is signed in to the dashboard: a signed, HttpOnly, SameSite=Lax session cookie, and CSRF tokens.

The cookie holds no token of Discord's, only who the member is, the tier their roles gave at the last
check, a per-session CSRF secret and the id of its session on the server; it is signed (itsdangerous,
HMAC-SHA1 over a derived key) so it cannot be forged, and dated so it expires. A cookie counts only while
its session is open on the server (`services.web_sessions`): signing out ends every copy of it. The tier
is re-read from the member's roles after `web.tier_recheck_seconds` (`web.auth`), so a lapsed Pro does
not keep Pro for the cookie's lifetime.

Every state-changing request (POST) must carry the session's CSRF token in its form (`csrf`) or an
`X-CSRF-Token` header: a cross-site form cannot read it, so it cannot forge the request.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import asdict, dataclass, replace
from datetime import datetime

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from access import Tier, Viewer
from web.redirect import safe_next

COOKIE = "stratum_session"
#: The pre-sign-in cookie that carries the OAuth `state` (and where to go afterwards).
STATE_COOKIE = "stratum_oauth_state"
STATE_PATH = "/auth"
STATE_MAX_AGE = 600
CSRF_FIELD = "csrf"
CSRF_HEADER = "X-CSRF-Token"


@dataclass(frozen=True, slots=True)
class Member:
    """A signed-in member: who, in which server, the tier their roles gave when last checked."""

    user_id: int
    name: str
    guild_id: int
    tier: Tier
    checked_at: float  # unix seconds of the last role check
    csrf: str
    demo: bool = False  # signed in with the loopback demo sign-in, not Discord
    session: str = ""  # the session on the server (`services.web_sessions`); "" in an older cookie: signed out

    @property
    def viewer(self) -> Viewer:
        return Viewer(tier=self.tier, user_id=self.user_id, guild_id=self.guild_id)


class Sessions:
    """Signs and reads the session cookie. One per web app (its secret, its lifetime, its Secure flag)."""

    def __init__(self, secret: str, *, max_age_seconds: int, secure: bool) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt="stratum.session")
        self._state = URLSafeTimedSerializer(secret, salt="stratum.oauth-state")
        self.max_age = max_age_seconds
        self.secure = secure

    def read(self, request: Request) -> Member | None:
        raw = request.cookies.get(COOKIE)
        if not raw:
            return None
        try:
            data = self._serializer.loads(raw, max_age=self.max_age)
            data["tier"] = Tier(data["tier"])
            return Member(**data)
        except (BadSignature, KeyError, TypeError, ValueError):
            return None  # forged, expired or from an older shape: simply signed out

    def write(self, response: Response, member: Member) -> None:
        data = asdict(member)
        data["tier"] = member.tier.value
        response.set_cookie(
            COOKIE,
            self._serializer.dumps(data),
            max_age=self.max_age,
            httponly=True,
            secure=self.secure,
            samesite="Lax",  # type: ignore[arg-type]  # written as given: browsers and the tests read `Lax`
            path="/",
        )

    def clear(self, response: Response) -> None:
        response.delete_cookie(COOKIE, path="/")

    def rechecked(self, member: Member, tier: Tier, at: datetime, session: str) -> Member:
        return replace(member, tier=tier, checked_at=at.timestamp(), session=session)

    # ------------------------------------------------------------------ OAuth state (before sign-in)
    def new_state(self, response: Response, then: str) -> str:
        """A random `state` for Discord's authorize URL, remembered in a short-lived signed cookie."""
        state = secrets.token_urlsafe(24)
        response.set_cookie(
            STATE_COOKIE,
            self._state.dumps({"state": state, "then": then}),
            max_age=STATE_MAX_AGE,
            httponly=True,
            secure=self.secure,
            samesite="Lax",  # type: ignore[arg-type]
            path=STATE_PATH,
        )
        return state

    def take_state(self, request: Request, state: str) -> str | None:
        """Where to go after sign-in if `state` is the one this browser was given (and not expired). The
        cookie is single use: whatever the callback answers carries `forget_state`."""
        raw = request.cookies.get(STATE_COOKIE)
        if not raw or not state:
            return None
        try:
            data = self._state.loads(raw, max_age=STATE_MAX_AGE)
        except BadSignature:
            return None
        if not same_secret(str(data.get("state", "")), state):
            return None
        return safe_next(data.get("then"))

    def forget_state(self, response: Response) -> None:
        response.delete_cookie(STATE_COOKIE, path=STATE_PATH)


def same_secret(sent: str, expected: str) -> bool:
    """A constant-time comparison of what the browser sent with what it was given; any text may be sent
    (`hmac.compare_digest` refuses non-ASCII `str`, which would be a 500), so it compares UTF-8 bytes."""
    return hmac.compare_digest(sent.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass"))


def new_csrf() -> str:
    return secrets.token_urlsafe(24)


#: What a state-changing request without its token is told (403).
FORGED = "This form has expired or did not come from this site. Reload and try again."
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _content_type(request: Request) -> str:
    """The request body's media type, without its parameters."""
    return request.headers.get("content-type", "").partition(";")[0].strip().lower()


async def form_fields(request: Request) -> dict[str, str]:
    """The request's form (urlencoded or multipart) as text fields, the first of a repeated one; a file is
    no field of ours, a body of another type an empty form (the handler refuses what is missing, in its own
    words). A multipart body that cannot be read is Starlette's 400, which says why."""
    if _content_type(request) not in FORM_TYPES:
        return {}
    form = await request.form()
    fields: dict[str, str] = {}
    for key, value in form.multi_items():
        if isinstance(value, str):
            fields.setdefault(key, value)
    return fields


async def check_csrf(request: Request, member: Member | None) -> None:
    """Refuse (403) a state-changing request without the session's CSRF token."""
    sent = request.headers.get(CSRF_HEADER, "")
    if not sent:
        sent = (await form_fields(request)).get(CSRF_FIELD, "")
    if member is None or not sent or not same_secret(sent, member.csrf):
        raise HTTPException(403, FORGED)
