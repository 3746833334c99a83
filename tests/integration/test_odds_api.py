"""OddsApiClient over httpx.MockTransport: params, quota, retries, errors, breaker, key hygiene."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from config.settings import FeedSettings
from engine.models import Quota
from engine.providers.base import (
    FeedAuthError,
    FeedDataError,
    FeedTemporaryError,
    FeedUnavailable,
    OddsSource,
)
from engine.providers.odds_api import CircuitBreaker, OddsApiClient, parse_quota
from engine.providers.tape import TapeRecorder, read_tape

KEY = "sekrit-0123456789abcdef"
T0 = datetime(2025, 1, 15, 18, 0, tzinfo=UTC)
EVENTS = [
    {
        "id": "abc",
        "sport_key": "basketball_nba",
        "commence_time": "2025-01-16T00:10:00Z",
        "home_team": "Boston Celtics",
        "away_team": "Miami Heat",
        "bookmakers": [],
    }
]


class FakeClock:
    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Sleeps:
    def __init__(self, clock: FakeClock | None = None) -> None:
        self.calls: list[float] = []
        self.clock = clock

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        if self.clock is not None:
            self.clock.advance(seconds)


Handler = Callable[[httpx.Request], httpx.Response]


def scripted(*responses: httpx.Response | Exception) -> tuple[Handler, list[httpx.Request]]:
    """A handler that plays `responses` in order (an exception is raised instead of answering)."""
    seen: list[httpx.Request] = []
    queue = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        item = queue.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    return handler, seen


def ok(body: Any = EVENTS, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(200, json=body, headers=headers or {})


def make(
    handler: Handler,
    *,
    feed: FeedSettings | None = None,
    clock: FakeClock | None = None,
    sleeps: Sleeps | None = None,
    **kwargs: Any,
) -> tuple[OddsApiClient, FakeClock, Sleeps]:
    clock = clock or FakeClock()
    sleeps = sleeps or Sleeps()
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    client = OddsApiClient(
        http,
        feed or FeedSettings(),
        KEY,
        clock=clock,
        sleep=sleeps,
        rng=lambda: 0.5,
        **kwargs,
    )
    return client, clock, sleeps


async def test_success_exact_params_and_quota() -> None:
    handler, seen = scripted(
        ok(headers={"x-requests-remaining": "19496.0", "x-requests-used": "504", "x-requests-last": "3"})
    )
    client, _, sleeps = make(handler)
    assert isinstance(client, OddsSource)
    raw = await client.fetch()
    assert raw.data == EVENTS
    assert raw.fetched_at == T0
    assert raw.quota == Quota(remaining=19496, used=504, last=3)
    assert client.last_quota == raw.quota
    assert sleeps.calls == []

    (request,) = seen
    assert request.method == "GET"
    assert request.url.scheme == "https"
    assert request.url.host == "api.the-odds-api.com"
    assert request.url.path == "/v4/sports/basketball_nba/odds"
    assert dict(request.url.params) == {
        "apiKey": KEY,
        "regions": "us",
        "markets": "h2h,spreads,totals",
        "oddsFormat": "american",
        "dateFormat": "iso",
    }
    assert client.cost_per_poll == 3


async def test_bookmakers_param_and_custom_sport() -> None:
    handler, seen = scripted(ok())
    feed = FeedSettings(
        base_url="http://odds.test/",
        sport="basketball_wnba",
        regions="us,us2",
        markets=["spreads", "totals"],
        bookmakers=["pinnacle", "draftkings"],
    )
    client, _, _ = make(handler, feed=feed)
    await client.fetch()
    url = seen[0].url
    assert str(url).startswith("http://odds.test/v4/sports/basketball_wnba/odds?")
    assert url.params["markets"] == "spreads,totals"
    assert url.params["bookmakers"] == "pinnacle,draftkings"
    assert url.params["regions"] == "us,us2"
    assert client.cost_per_poll == 4


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"x-requests-remaining": "abc", "x-requests-used": ""}, None),
        ({"x-requests-remaining": "499.0"}, Quota(remaining=499)),
        ({"x-requests-used": " 12 ", "x-requests-last": "nan"}, Quota(used=12)),
    ],
)
def test_parse_quota_tolerates_missing_and_garbage(headers: dict[str, str], expected: Quota | None) -> None:
    assert parse_quota(httpx.Headers(headers)) == expected


async def test_timeout_then_success_backs_off() -> None:
    handler, seen = scripted(httpx.ReadTimeout("slow"), httpx.ConnectError("refused"), ok())
    client, _, sleeps = make(handler, feed=FeedSettings(backoff_seconds=2.0))
    raw = await client.fetch()
    assert raw.data == EVENTS
    assert len(seen) == 3
    # 2 × 2^attempt, plus rng 0.5 × 10% jitter
    assert sleeps.calls == pytest.approx([2.1, 4.2])


async def test_timeout_setting_is_sent_with_each_request() -> None:
    handler, seen = scripted(ok())
    client, _, _ = make(handler, feed=FeedSettings(timeout_seconds=4.5))
    await client.fetch()
    assert seen[0].extensions["timeout"] == {"connect": 4.5, "read": 4.5, "write": 4.5, "pool": 4.5}


async def test_429_retry_after_is_honoured() -> None:
    handler, seen = scripted(httpx.Response(429, headers={"Retry-After": "7"}), ok())
    client, _, sleeps = make(handler)
    await client.fetch()
    assert sleeps.calls == [7.0]
    assert len(seen) == 2


async def test_503_retry_after_as_an_http_date_is_honoured_and_later_waits_back_off() -> None:
    when = "Wed, 15 Jan 2025 18:00:12 GMT"  # 12 s after the client's clock (T0)
    handler, seen = scripted(httpx.Response(503, headers={"Retry-After": when}), httpx.Response(500), ok())
    client, _, sleeps = make(handler, feed=FeedSettings(backoff_seconds=1.0))
    await client.fetch()
    # the second wait is the backoff of attempt 2 (1 × 2¹ plus rng 0.5 × 10%): Retry-After does not reset it
    assert sleeps.calls == pytest.approx([12.0, 2.1])
    assert len(seen) == 3


async def test_retry_after_is_read_only_on_429_and_503() -> None:
    handler, _ = scripted(httpx.Response(500, headers={"Retry-After": "30"}), ok())
    client, _, sleeps = make(handler, feed=FeedSettings(backoff_seconds=1.0))
    await client.fetch()
    assert sleeps.calls == pytest.approx([1.05])


async def test_each_retry_logs_one_warning_naming_the_attempt_and_the_wait(caplog: pytest.LogCaptureFixture) -> None:
    handler, _ = scripted(httpx.ConnectTimeout("slow"), httpx.Response(429, headers={"Retry-After": "3"}), ok())
    client, _, _ = make(handler, feed=FeedSettings(max_retries=3, backoff_seconds=2.0, timeout_seconds=4.5))
    with caplog.at_level(logging.WARNING, logger="engine.providers.odds_api"):
        await client.fetch()
    assert [r.getMessage() for r in caplog.records if r.name == "engine.providers.odds_api"] == [
        f"GET {client.url} attempt 1/4: timed out after 4.5s (ConnectTimeout); retrying in 2.1s",
        f"GET {client.url} attempt 2/4: HTTP 429; retrying in 3.0s",
    ]
    assert all(r.levelno == logging.WARNING for r in caplog.records if r.name == "engine.providers.odds_api")


async def test_429_without_retry_after_uses_backoff() -> None:
    handler, _ = scripted(httpx.Response(429), ok())
    client, _, sleeps = make(handler, feed=FeedSettings(backoff_seconds=1.0))
    await client.fetch()
    assert sleeps.calls == pytest.approx([1.05])


async def test_429_with_a_long_retry_after_is_not_slept_through() -> None:
    handler, seen = scripted(httpx.Response(429, headers={"Retry-After": "600"}))
    client, _, sleeps = make(handler)
    with pytest.raises(FeedTemporaryError) as info:
        await client.fetch()
    assert info.value.retry_after == 600.0
    assert info.value.status == 429
    assert sleeps.calls == [] and len(seen) == 1


async def test_500s_exhaust_retries() -> None:
    handler, seen = scripted(*[httpx.Response(500) for _ in range(4)])
    client, _, sleeps = make(handler, feed=FeedSettings(max_retries=3, backoff_seconds=1.0))
    with pytest.raises(FeedTemporaryError, match="after 4 attempts: HTTP 500") as info:
        await client.fetch()
    assert info.value.status == 500
    assert len(seen) == 4
    assert sleeps.calls == pytest.approx([1.05, 2.1, 4.2])


async def test_no_retries_configured() -> None:
    handler, seen = scripted(httpx.Response(502))
    client, _, sleeps = make(handler, feed=FeedSettings(max_retries=0))
    with pytest.raises(FeedTemporaryError):
        await client.fetch()
    assert len(seen) == 1 and sleeps.calls == []


@pytest.mark.parametrize("status", [401, 403])
async def test_auth_errors_are_not_retried(status: int) -> None:
    body = {"message": "API key is not valid", "error_code": "INVALID_KEY"}
    handler, seen = scripted(httpx.Response(status, json=body))
    client, _, sleeps = make(handler)
    with pytest.raises(FeedAuthError, match="INVALID_KEY") as info:
        await client.fetch()
    assert info.value.status == status
    assert len(seen) == 1 and sleeps.calls == []
    assert KEY not in str(info.value)


async def test_other_4xx_is_temporary_without_retry() -> None:
    handler, seen = scripted(httpx.Response(422, json={"message": "Invalid markets"}))
    client, _, sleeps = make(handler)
    with pytest.raises(FeedTemporaryError, match="HTTP 422") as info:
        await client.fetch()
    assert info.value.status == 422
    assert len(seen) == 1 and sleeps.calls == []


@pytest.mark.parametrize(
    ("response", "match"),
    [
        (httpx.Response(200, content=b"<html>oops</html>"), "not JSON"),
        (httpx.Response(200, content=b"\xff\xfe\x00garbage"), "not JSON"),
        (httpx.Response(200, json={"message": "hello"}), "JSON dict, not the event array"),
        (httpx.Response(200, content=b"null"), "NoneType, not the event array"),
    ],
)
async def test_body_not_an_event_array(response: httpx.Response, match: str) -> None:
    handler, _ = scripted(response)
    client, _, sleeps = make(handler)
    with pytest.raises(FeedDataError, match=match):
        await client.fetch()
    assert sleeps.calls == []


async def test_circuit_breaker_opens_then_half_opens() -> None:
    feed = FeedSettings(max_retries=0, breaker_failures=3, breaker_cooldown_seconds=300)
    handler, seen = scripted(*[httpx.Response(503) for _ in range(4)], ok(), ok())
    client, clock, _ = make(handler, feed=feed)

    for _ in range(3):
        with pytest.raises(FeedTemporaryError):
            await client.fetch()
    assert client.breaker.state == CircuitBreaker.OPEN
    assert len(seen) == 3

    clock.advance(299)
    with pytest.raises(FeedUnavailable) as info:
        await client.fetch()
    assert info.value.retry_in == pytest.approx(1.0)
    assert len(seen) == 3  # failed fast, no request

    clock.advance(1)
    assert client.breaker.state == CircuitBreaker.HALF_OPEN
    with pytest.raises(FeedTemporaryError):  # the trial fails: open for another cooldown
        await client.fetch()
    assert len(seen) == 4
    assert client.breaker.state == CircuitBreaker.OPEN
    clock.advance(150)
    with pytest.raises(FeedUnavailable):
        await client.fetch()
    assert len(seen) == 4

    clock.advance(150)
    raw = await client.fetch()  # the trial succeeds: closed again
    assert raw.data == EVENTS
    assert client.breaker.state == CircuitBreaker.CLOSED
    assert client.breaker.consecutive_failures == 0
    await client.fetch()
    assert len(seen) == 6


async def test_success_resets_the_failure_count() -> None:
    feed = FeedSettings(max_retries=0, breaker_failures=2)
    handler, _ = scripted(httpx.Response(500), ok(), httpx.Response(500), ok())
    client, _, _ = make(handler, feed=feed)
    with pytest.raises(FeedTemporaryError):
        await client.fetch()
    await client.fetch()
    with pytest.raises(FeedTemporaryError):
        await client.fetch()
    assert client.breaker.state == CircuitBreaker.CLOSED
    await client.fetch()


def test_breaker_half_open_allows_a_single_trial() -> None:
    now = [0.0]
    breaker = CircuitBreaker(1, 10, clock=lambda: now[0])
    breaker.before_call()
    breaker.record_failure()
    assert breaker.state == CircuitBreaker.OPEN
    now[0] = 10.0
    breaker.before_call()  # the trial
    with pytest.raises(FeedUnavailable, match="in flight"):
        breaker.before_call()  # a second caller while the trial runs
    breaker.release()  # the trial was cancelled
    breaker.before_call()
    breaker.record_success()
    assert breaker.state == CircuitBreaker.CLOSED


async def test_key_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    handler, _ = scripted(
        httpx.ReadTimeout(f"timeout for https://x/?apiKey={KEY}"),
        httpx.Response(500),
        ok(),
        httpx.Response(401, text=f"bad key {KEY}"),
    )
    client, _, _ = make(handler)
    with caplog.at_level(logging.DEBUG):
        await client.fetch()
        with pytest.raises(FeedAuthError) as info:
            await client.fetch()
    assert KEY not in str(info.value)
    assert caplog.records, "expected retry warnings and httpx request logs"
    assert any("retrying" in r.getMessage() for r in caplog.records)
    assert any(r.name == "httpx" for r in caplog.records)  # httpx logs each URL at INFO...
    for record in caplog.records:
        assert KEY not in record.getMessage()  # ...with the key redacted
    assert KEY not in caplog.text
    assert KEY not in repr(client.__dict__.get("url"))


async def test_successful_fetches_are_recorded(tmp_path: Path) -> None:
    handler, _ = scripted(ok(headers={"x-requests-remaining": "10"}), httpx.Response(500), ok(body=[]))
    recorder = TapeRecorder(tmp_path / "tape.jsonl")
    clock = FakeClock()
    client, _, _ = make(handler, feed=FeedSettings(max_retries=0), clock=clock, recorder=recorder)
    await client.fetch()
    clock.advance(60)
    with pytest.raises(FeedTemporaryError):
        await client.fetch()
    clock.advance(60)
    await client.fetch()
    recorder.close()
    lines = (tmp_path / "tape.jsonl").read_text().splitlines()
    assert [json.loads(line)["fetched_at"] for line in lines] == [
        "2025-01-15T18:00:00+00:00",
        "2025-01-15T18:02:00+00:00",
    ]
    replayed = list(read_tape(tmp_path / "tape.jsonl"))
    assert [r.data for r in replayed] == [EVENTS, []]
    assert replayed[0].quota == Quota(remaining=10)


def test_empty_key_refused() -> None:
    http = httpx.AsyncClient(transport=httpx.MockTransport(lambda r: ok()))
    with pytest.raises(ValueError, match="key"):
        OddsApiClient(http, FeedSettings(), "")
