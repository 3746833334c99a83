"""The REST API over real HTTP on loopback, on a real SQLite file holding the bundled tape replayed up to
2026-08-05 23:15Z (New York and Atlanta closed and graded, Washington still to tip).

Every response any test receives goes through `DocumentChecker` (tests/api_rig.py): its body is parsed by the pydantic
model the route declares (the contract the OpenAPI document is generated from) and must be exactly what
that model writes back; its status, headers and query parameters are checked against the generated
document; `test_every_operation_matches_the_document` makes sure each operation is exercised at least once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from access import plan_limits
from api.params import encode_cursor
from api.ratelimit import RateLimiter
from api.schemas import ClvSummary
from api.usage import (
    UsageRecorder,
    error_spike,
    is_error,
    minute_key,
    month_range,
    rate_spike_threshold,
    soft_limit_thresholds,
    usage_warning,
)
from engine.integrity import build_audit
from engine.models import Market, SignalType
from engine.presets import passes
from services.keys import revoke
from storage import Repositories
from tests.api_rig import START, World, replay_to_cut, serve_api
from tests.backends import Backend
from tests.engine_builders import Clock, settings
from tests.paths import ROOT
from tests.tape_games import ATLANTA, NEW_YORK, WASHINGTON

log = logging.getLogger(__name__)


@pytest.fixture(scope="session")
def template_db(backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The tape replayed once per session and backend; each test gets its own copy of the database."""
    path = backend.fresh(tmp_path_factory.mktemp("api"), "template.db")
    asyncio.run(replay_to_cut(path))
    return path


@pytest.fixture
async def world(template_db: Path, tmp_path: Path) -> AsyncIterator[World]:
    async for w in serve_api(template_db, tmp_path):
        yield w


async def all_pages(world: World, path: str, key: str = "pro", **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(500):
        query = dict(params, **({"cursor": cursor} if cursor else {}))
        response = await world.get(path, key, **query)
        assert response.status_code == 200, response.text
        body = response.json()
        assert len(body["data"]) <= int(params.get("limit", 50))
        items.extend(body["data"])
        cursor = body["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("pagination did not end")


# ---------------------------------------------------------------------- authentication


async def test_auth_failures_are_401_with_no_data(world: World):
    cases = [
        {},
        {"Authorization": "Token " + world.keys["pro"]},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer not-a-key"},
        {"Authorization": "Bearer strat_deadbeef_" + "x" * 32},
        world.auth("revoked"),
    ]
    for headers in cases:
        for path in ("/v1/signals", f"/v1/games/{ATLANTA}", "/v1/usage", "/v1/webhooks", "/v1/nope"):
            response = await world.client.get(path, headers=headers)
            assert response.status_code == 401, (headers, path)
            body = response.json()
            assert set(body) == {"error"} and body["error"]["code"] == "unauthorized"
            assert "data" not in response.text and "X-RateLimit-Limit" not in response.headers
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
    # Nothing was counted against any key.
    for key_id in world.key_ids.values():
        assert await world.repos.api.usage_since(key_id, "2000") == []
    # The document and the health check need no key.
    assert (await world.client.get("/v1/openapi.json")).status_code == 200
    assert (await world.client.get("/healthz")).json() == {"status": "ok"}


# ---------------------------------------------------------------------- rate limits


async def _burst(world: World, key: str, n: int) -> list[httpx.Response]:
    return [await world.get("/v1/games", key, limit=1) for _ in range(n)]


@pytest.mark.parametrize(("key", "limit"), [("builder", 30), ("pro_plain", 120)])
async def test_each_plan_has_its_requests_per_minute(world: World, key: str, limit: int):
    responses = await _burst(world, key, limit)
    for i, response in enumerate(responses, start=1):
        assert response.status_code == 200
        assert response.headers["X-RateLimit-Limit"] == str(limit)
        assert response.headers["X-RateLimit-Remaining"] == str(limit - i)
        assert 0 < int(response.headers["X-RateLimit-Reset"]) <= 55  # the clock stands 5 s into the minute
    over = await world.get("/v1/games", key, limit=1)
    assert over.status_code == 429
    assert over.json()["error"]["code"] == "rate_limited" and "data" not in over.json()
    assert over.headers["Retry-After"] == over.headers["X-RateLimit-Reset"] == "55"
    assert over.headers["X-RateLimit-Remaining"] == "0" and over.headers["X-RateLimit-Limit"] == str(limit)
    # The refused request is not counted as usage.
    await world.api.usage.flush()  # counted in memory, written in batches
    rows = await world.repos.api.usage_since(world.key_ids[key], "2000")
    assert rows == [(minute_key(START), limit, 0)]
    # The next minute starts a fresh window.
    world.clock.advance(seconds=55)
    again = await world.get("/v1/games", key, limit=1)
    assert again.status_code == 200
    assert again.headers["X-RateLimit-Remaining"] == str(limit - 1) and again.headers["X-RateLimit-Reset"] == "60"
    # Errors also carry the headers.
    bad = await world.get("/v1/signals", key, min_score="high")
    assert bad.status_code == 400 and bad.headers["X-RateLimit-Remaining"] == str(limit - 2)


async def test_unauthenticated_floods_get_429_per_address_while_valid_keys_are_unaffected(world: World, monkeypatch):
    world.ctx.settings.api.unauthenticated_per_minute = 20
    assert (await world.get("/v1/games", limit=1)).status_code == 200  # a key in use
    lookups: list[str] = []
    real_lookup = world.repos.api.key_by_hash

    async def counting(digest: str) -> Any:
        lookups.append(digest)
        return await real_lookup(digest)

    monkeypatch.setattr(world.repos.api, "key_by_hash", counting)
    answers = []
    for n in range(2000):
        headers = {"Authorization": f"Bearer strat_{n:08x}_" + "x" * 32} if n % 4 else {}
        answers.append(await world.client.get("/v1/games", headers=headers))
        if n % 100 == 0:  # a valid key keeps working all along, from the same address
            ok = await world.get("/v1/games", limit=1)
            assert ok.status_code == 200 and "Retry-After" not in ok.headers
    assert [a.status_code for a in answers[:20]] == [401] * 20
    assert {a.status_code for a in answers[20:]} == {429}
    refused = answers[-1]
    assert refused.json()["error"]["code"] == "rate_limited"
    assert refused.headers["Retry-After"] == refused.headers["X-RateLimit-Reset"] == "55"
    assert refused.headers["X-RateLimit-Limit"] == "20" and refused.headers["X-RateLimit-Remaining"] == "0"
    # Only the allowed attempts reached the database; the 1,980 refused ones cost a dictionary read.
    assert len(lookups) == 15  # the 20 allowed, less the 5 without any key
    # The next minute, the address may try again.
    world.clock.advance(seconds=55)
    assert (await world.client.get("/v1/games")).status_code == 401


@pytest.mark.parametrize(
    "raw",
    [
        b"GET /v1/signals HTTP/1.1\r\nHost: x\r\nBad Header Line\r\n\r\n",  # a header without a colon
        b"GET /v1/\x00signals HTTP/1.1\r\nHost: x\r\n\r\n",  # a control byte in the target
        b"GET /v1/signals HTTP/9.Z\r\nHost: x\r\n\r\n",  # no such version
        b"GET /v1/signals HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 20_000 + b"\r\n\r\n",  # a line too long
    ],
    ids=["header-without-colon", "control-byte", "bad-version", "line-too-long"],
)
async def test_a_malformed_http_request_is_one_warning_line_without_a_traceback(world: World, caplog, raw: bytes):
    url = httpx.URL(str(world.client.base_url))
    with caplog.at_level(logging.DEBUG, logger="uvicorn"):
        reader, writer = await asyncio.open_connection(url.host, url.port)
        writer.write(raw)
        await writer.drain()
        answer = await reader.read()  # the server answers 400 and closes
        writer.close()
        await writer.wait_closed()
    assert re.match(rb"HTTP/1\.[01] 400 ", answer), answer[:100]
    records = [r for r in caplog.records if r.name.startswith("uvicorn") and r.levelno >= logging.WARNING]
    assert len(records) == 1, [r.getMessage() for r in records]
    [record] = records
    assert record.levelno == logging.WARNING and record.exc_info is None and record.exc_text is None
    line = record.getMessage()
    assert "\n" not in line and line.startswith("malformed HTTP request from 127.0.0.1: 400")
    assert "Traceback" not in caplog.text
    # The server is fine afterwards.
    assert (await world.get("/v1/games", limit=1)).status_code == 200


def test_client_addresses_are_bucketed_without_meeting_key_ids():
    from api.deps import client_address

    assert client_address("203.0.113.7") == "addr:203.0.113.7"
    assert client_address("::ffff:203.0.113.7") == "addr:203.0.113.7"
    assert client_address("2001:db8:1:2:3:4:5:6") == client_address("2001:db8:1:2::9")
    assert client_address("2001:db8:1:2::9") == "addr:2001:db8:1:2::/64"


def test_limiter_windows_follow_the_injected_clock():
    clock = Clock(datetime(2026, 8, 5, 12, 0, 59, 500_000, tzinfo=UTC))
    limiter = RateLimiter(clock)
    first = limiter.hit("k", 2)
    assert (first.allowed, first.remaining, first.reset) == (True, 1, 1)
    assert limiter.hit("k", 2).allowed and not limiter.hit("k", 2).allowed
    assert limiter.hit("other", 2).allowed  # keys are independent
    assert limiter.peek("k", 2).remaining == 0
    clock.advance(seconds=0.5)
    assert limiter.hit("k", 2).remaining == 1
    assert not limiter.hit("zero", 0).allowed
    assert limiter.hit("k", 2).headers() == {
        "X-RateLimit-Limit": "2",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": "60",
    }


# ---------------------------------------------------------------------- usage and anomalies


async def test_monthly_soft_limit_warns_and_records_each_level_once(world: World):
    key_id = world.key_ids["tiny"]  # monthly_override = 5
    warnings = []
    for _ in range(7):
        response = await world.get("/v1/games", "tiny", limit=1)
        assert response.status_code == 200  # the soft limit never refuses
        warnings.append(response.headers.get("X-Usage-Warning"))
    assert warnings[:5] == [None] * 5
    assert "6 of 5" in warnings[5] and "7 of 5" in warnings[6]
    kinds = [a["kind"] for a in await world.repos.api.anomalies(key_id)]
    assert sorted(kinds) == ["soft_limit_100", "soft_limit_80"]
    assert [(k, kind) for k, kind, _ in world.anomalies] == [(key_id, "soft_limit_80"), (key_id, "soft_limit_100")]
    assert "4 of 5" in world.anomalies[0][2]

    body = (await world.get("/v1/usage", "tiny")).json()
    assert body["usage"]["this_month"] == 8 and body["usage"]["monthly_remaining"] == 0
    assert body["usage"]["over_soft_limit"] is True
    assert {a["kind"] for a in body["anomalies"]} == {"soft_limit_80", "soft_limit_100"}

    # A restarted recorder (fresh memory, same database) does not raise them again.
    await world.api.usage.flush()
    restarted = UsageRecorder(world.repos, lambda *a: pytest.fail("no new anomaly expected"))
    key = await world.repos.api.key(key_id)
    outcome = await restarted.record(key, plan_limits(key, world.ctx.settings.plans), 200, world.clock())
    assert outcome is not None and outcome.month_requests == 9 and outcome.anomalies == ()

    # A new month starts from zero.
    world.clock.now = datetime(2026, 9, 1, 0, 0, 30, tzinfo=UTC)
    response = await world.get("/v1/games", "tiny", limit=1)
    assert "X-Usage-Warning" not in response.headers
    assert (await world.get("/v1/usage", "tiny")).json()["usage"]["this_month"] == 2
    assert len(world.anomalies) == 2


async def test_rate_spike_against_the_key_baseline(world: World):
    key_id = world.key_ids["pro_plain"]
    async with world.repos.db.transaction():  # an hour at 2 requests a minute
        for minutes_ago in range(1, 61):
            for _ in range(2):
                await world.repos.api.count_request(key_id, minute_key(START - timedelta(minutes=minutes_ago)), False)
    responses = await _burst(world, "pro_plain", 32)  # max(3 × 2, 2 + 30) = 32: not over yet
    assert all(r.status_code == 200 for r in responses) and world.anomalies == []
    await _burst(world, "pro_plain", 10)
    assert [kind for _, kind, _ in world.anomalies] == ["rate_spike"]
    assert "33 requests" in world.anomalies[0][2] and "baseline of 2.0" in world.anomalies[0][2]
    assert [a["kind"] for a in await world.repos.api.anomalies(key_id)] == ["rate_spike"]


async def test_error_spike_and_usage_counts(world: World):
    for _ in range(11):
        assert (await world.get("/v1/signals", "pro_plain", limit=0)).status_code == 400
    for _ in range(8):
        assert (await world.get("/v1/games", "pro_plain", limit=1)).status_code == 200
    assert world.anomalies == []  # 19 requests: not enough to judge
    await world.get("/v1/games", "pro_plain", limit=1)
    assert [kind for _, kind, _ in world.anomalies] == ["error_spike"]
    assert "11 of 20" in world.anomalies[0][2]
    await world.client.get("/v1/usage")  # a 401: counted nowhere
    body = (await world.get("/v1/usage", "pro_plain")).json()
    assert body["usage"]["this_minute"] == {"requests": 21, "errors": 11}
    assert body["usage"]["today"] == 21 and body["usage"]["this_month"] == 21
    assert body["key"] == {"id": world.key_ids["pro_plain"], "owner": "owner-pro_plain", "plan": "pro_infra"}
    assert body["plan"] == {
        "plan": "pro_infra",
        "label": "Pro Infra",
        "requests_per_minute": 120,
        "webhooks": 5,
        "monthly_soft_limit": 50000,
        "commercial_use": True,
        "dedicated_queue": False,
    }
    assert body["usage"]["monthly_remaining"] == 50000 - 21 and body["rate_limit"]["remaining"] == 120 - 21
    assert [a["kind"] for a in body["anomalies"]] == ["error_spike"]
    builder = (await world.get("/v1/usage", "builder")).json()
    assert builder["plan"]["commercial_use"] is False and builder["plan"]["requests_per_minute"] == 30
    assert builder["usage"]["monthly_remaining"] is None and builder["usage"]["this_minute"]["requests"] == 1
    assert (await world.get("/v1/usage", "enterprise")).json()["plan"]["dedicated_queue"] is True


def test_usage_rules():
    assert [is_error(s) for s in (200, 204, 400, 401, 403, 404, 429, 500)] == [
        False,
        False,
        True,
        False,
        True,
        True,
        False,
        True,
    ]
    assert soft_limit_thresholds(5) == {"soft_limit_80": 4, "soft_limit_100": 5}
    assert soft_limit_thresholds(0) == {}
    assert usage_warning(5, 5) is None and usage_warning(6, 5) and usage_warning(10**6, 0) is None
    assert rate_spike_threshold([5] * 9 + [0] * 51) is None  # 9 active minutes: too little history
    assert rate_spike_threshold([60] * 60) == 180 and rate_spike_threshold([1] * 60) == 31
    assert not error_spike(19, 19) and not error_spike(20, 10) and error_spike(20, 11)
    assert month_range(datetime(2026, 12, 31, 23, 59, tzinfo=UTC)) == ("2026-12", "2027-01")
    assert minute_key(datetime(2026, 8, 5, 23, 20, 59, tzinfo=UTC)) == "2026-08-05T23:20"


# ---------------------------------------------------------------------- data: pagination and filters


async def test_signal_pages_have_no_duplicates_or_skips_even_with_new_rows(world: World):
    stored = await world.repos.signals.list(limit=10_000)
    assert len(stored) > 20
    first = await world.get("/v1/signals", limit=7)
    # A new signal arriving between two pages is newer than the cursor: it neither shifts nor repeats rows.
    async with world.repos.db.transaction():
        await world.repos.signals.insert(replace(stored[0], id="brand-new", created_at=START))
    ids = [s["id"] for s in first.json()["data"]]
    ids += [s["id"] for s in await all_pages(world, "/v1/signals", limit=7, cursor=first.json()["next_cursor"])]
    assert ids == [s.id for s in stored]
    # Newest first, by (created_at, id).
    again = await all_pages(world, "/v1/signals", limit=200)
    assert [s["id"] for s in again] == ["brand-new", *ids]


@pytest.mark.parametrize(
    ("path", "limit"),
    [
        ("/v1/games", 1),
        ("/v1/clv/grades", 9),
        (f"/v1/games/{ATLANTA}/odds/history", 97),
        (f"/v1/games/{WASHINGTON}/consensus", 53),
    ],
)
async def test_every_list_pages_cleanly(world: World, path: str, limit: int):
    paged = await all_pages(world, path, limit=limit)
    whole = await all_pages(world, path, limit=200)
    assert paged == whole and len(paged) > limit
    if path == "/v1/games":
        assert [g["id"] for g in paged] == [NEW_YORK, ATLANTA, WASHINGTON]
    if path.endswith("/odds/history"):
        assert len(paged) == len(await world.repos.quotes.history(ATLANTA))
        keys = [(line["observed_at"], line["market"], line["book"]) for line in paged]
        assert keys == sorted(set(keys))
    if path.endswith("/consensus"):
        assert len(paged) == len(await world.repos.consensus.history(WASHINGTON))
    if path == "/v1/clv/grades":
        graded = await world.repos.grades.list(limit=10_000)
        assert [g["grade"]["signal_id"] for g in paged] == [grade.signal_id for _, grade in graded]


async def test_signal_filters(world: World):
    stored = await world.repos.signals.list(limit=10_000)

    async def ids(**params: Any) -> list[str]:
        return [s["id"] for s in await all_pages(world, "/v1/signals", limit=200, **params)]

    for kind in SignalType:
        assert await ids(type=kind.value) == [s.id for s in stored if s.type == kind]
    for game in (ATLANTA, WASHINGTON, NEW_YORK):
        assert await ids(game=game) == [s.id for s in stored if s.game_id == game]
    for market in Market:
        assert await ids(market=market.value) == [s.id for s in stored if s.market == market]
    assert await ids(min_score=50) == [s.id for s in stored if s.score >= 50]
    assert await ids(game="no-such-game") == []
    middle = sorted(s.created_at for s in stored)[len(stored) // 3 : 2 * len(stored) // 3]
    since, until = middle[0], middle[-1]
    expected = [s.id for s in stored if since <= s.created_at < until]
    assert expected and await ids(since=since.isoformat(), until=until.isoformat()) == expected
    eastern = since.astimezone(timezone(timedelta(hours=-5))).isoformat()  # any offset, the same instant
    assert await ids(since=eastern) == [s.id for s in stored if s.created_at >= since]
    # Presets filter on the audit's class lifts (`class_lift`), as the server does. No class of the template
    # has the 30 graded a preset must rest on (tests/integration/test_alert_state.py): lift that floor to see
    # them filter.
    world.ctx.settings.clv.preset_min_graded = 0
    classes = (await build_audit(world.repos, world.ctx.settings)).class_lifts()
    for name, preset in world.ctx.settings.presets.items():
        wanted = [s.id for s in stored if passes(s, preset, classes, min_graded=0)]
        assert await ids(preset=name) == wanted
        small_pages = [s["id"] for s in await all_pages(world, "/v1/signals", limit=3, preset=name)]
        assert small_pages == wanted
    low_noise = world.ctx.settings.presets["low_noise"]
    assert await ids(preset="low_noise", type="STEAM", min_score=60) == [
        s.id
        for s in stored
        if passes(s, low_noise, classes, min_graded=0) and s.type == SignalType.STEAM and s.score >= 60
    ]


async def test_games_odds_consensus_and_signal_detail(world: World):
    games = (await world.get("/v1/games", date="2026-08-05")).json()["data"]
    assert [g["id"] for g in games] == [ATLANTA, WASHINGTON]
    assert [g["id"] for g in (await world.get("/v1/games", status="scheduled")).json()["data"]] == [WASHINGTON]
    assert (await world.get("/v1/games", date="2026-08-04")).json() == {"data": [], "next_cursor": None}

    game = (await world.get(f"/v1/games/{ATLANTA}")).json()
    assert game["status"] == "closed" and {c["market"] for c in game["closes"]} == {"h2h", "spreads", "totals"}
    assert (await world.get(f"/v1/games/{WASHINGTON}")).json()["closes"] == []

    closed = (await world.get(f"/v1/games/{ATLANTA}/odds")).json()
    expected = await world.repos.quotes.as_of(ATLANTA, datetime(9999, 1, 1, tzinfo=UTC))
    assert len(closed["lines"]) == len(expected) > 0
    assert closed["as_of"] == max(line["observed_at"] for line in closed["lines"])
    live = (await world.get(f"/v1/games/{WASHINGTON}/odds")).json()
    latest = await world.repos.quotes.latest([WASHINGTON])
    assert [(x["book"], x["market"], x["point"]) for x in live["lines"]] == [
        (x.book, x.market.value, x.point) for x in latest
    ]
    spreads = (await world.get(f"/v1/games/{WASHINGTON}/consensus", market="spreads", limit=200)).json()["data"]
    assert spreads and all(c["market"] == "spreads" for c in spreads)

    graded = (await world.repos.grades.list(limit=1))[0][0]
    detail = (await world.get(f"/v1/signals/{graded.id}")).json()
    assert detail["id"] == graded.id and detail["grade"]["signal_id"] == graded.id
    assert detail["books"] and detail["breakdown"] and "velocity" in detail  # full diagnostics
    ungraded = (await world.repos.signals.list(game_id=WASHINGTON, limit=1))[0]
    assert (await world.get(f"/v1/signals/{ungraded.id}")).json()["grade"] is None

    summary = (await world.get("/v1/clv/summary")).json()
    assert summary == (await build_audit(world.repos, world.ctx.settings)).as_dict()
    assert summary["graded"] > 0 and "presets" not in summary
    rows = summary["classes"]
    assert {r["class"] for r in rows if r["kind"] == "preset"} == {
        f"preset:{name}" for name in world.ctx.settings.presets
    }
    kinds = [r["kind"] for r in rows]
    assert kinds == sorted(kinds, key=["class", "preset", "score"].index)  # classes, then presets, then scores
    for r in rows:
        assert r["tier"] in ("S", "A", "B", "unproven") and (r["tier"] == "unproven") == bool(r["reason"])
        if r["graded"]:
            assert r["wilson_low"] <= r["beat_rate"] <= r["wilson_high"]
        else:
            assert r["beat_rate"] is None and r["wilson_low"] is None


async def test_a_signal_carries_its_ev_at_fire_documented(world: World):
    """The EV a DISLOCATION fired on is served with it; types that do not price their entry serve null."""
    stored = await world.repos.signals.list(limit=1000)
    dislocation = next(s for s in stored if s.type == SignalType.DISLOCATION)
    steam = next(s for s in stored if s.type == SignalType.STEAM)
    served = (await world.get(f"/v1/signals/{dislocation.id}")).json()
    assert served["ev_at_fire"] == dislocation.details["expected_value"]
    assert served["ev_at_fire"] > world.ctx.settings.dislocation.min_ev
    assert (await world.get(f"/v1/signals/{steam.id}")).json()["ev_at_fire"] is None
    listed = (await world.get("/v1/signals", type="DISLOCATION", limit=200)).json()["data"]
    assert listed and all(row["ev_at_fire"] > world.ctx.settings.dislocation.min_ev for row in listed)
    doc = (await world.client.get("/v1/openapi.json")).json()
    described = doc["components"]["schemas"]["Signal"]["properties"]["ev_at_fire"]["description"]
    assert "no-vig consensus" in described and "dislocation.min_ev" in described


async def test_every_number_in_a_signal_is_its_sides_own(world: World):
    """One sign convention (API 2026-12-08): the details' consensus views and a key number's cross are the
    side's numbers, like the signal's own consensus and entry (an away spread: the home spread negated), and
    a view's probability is the side's (`prob`, no more `prob_a`); a webhook says the same."""
    from api.serialize import signal_json

    stored = await world.repos.signals.list(limit=10_000)
    away = [s for s in stored if s.market == Market.SPREADS and s.side.value == "away"]
    assert any(s.type == SignalType.KEY_CROSS for s in away) and any(s.type == SignalType.STEAM for s in away)
    for signal in stored:
        served = (await world.get(f"/v1/signals/{signal.id}")).json()
        details, consensus = served["details"], served["consensus"]
        for name in ("consensus_before", "consensus_after"):
            if details.get(name) is not None:
                assert set(details[name]) == {"at", "point", "prob", "books"}, name
        if "consensus_after" in details:  # the consensus the signal fired on: the same numbers, the side's
            assert details["consensus_after"]["point"] == consensus["point"]
            assert details["consensus_after"]["prob"] == pytest.approx(consensus["prob"], abs=2e-6)
        if signal.type == SignalType.KEY_CROSS:
            assert details["to"] == consensus["point"] and details["key_number"] > 0
        if signal.type == SignalType.DISLOCATION:
            assert details["consensus_point"] == consensus["point"]
        served.pop("grade")
        assert signal_json(signal) == served  # the webhook's `signal.created` data


# ---------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("path", "params", "parameter"),
    [
        ("/v1/signals", {"limit": "0"}, "limit"),
        ("/v1/signals", {"limit": "201"}, "limit"),
        ("/v1/signals", {"limit": "ten"}, "limit"),
        ("/v1/signals", {"cursor": "garbage"}, "cursor"),
        ("/v1/signals", {"min_score": "101"}, "min_score"),
        ("/v1/signals", {"min_score": "-1"}, "min_score"),
        ("/v1/signals", {"min_score": "high"}, "min_score"),
        ("/v1/signals", {"type": "WHALE"}, "type"),
        ("/v1/signals", {"market": "props"}, "market"),
        ("/v1/signals", {"since": "yesterday"}, "since"),
        ("/v1/signals", {"until": "2026-08-05T25:00:00Z"}, "until"),
        ("/v1/signals", {"since": "2026-08-05T12:00:00Z", "until": "2026-08-05T11:00:00Z"}, "until"),
        ("/v1/signals", {"preset": "yolo"}, "preset"),
        ("/v1/signals", {"min_scor": "90"}, "min_scor"),
        ("/v1/games", {"date": "2026-13-01"}, "date"),
        ("/v1/games", {"status": "open"}, "status"),
        ("/v1/clv/grades", {"limit": "500"}, "limit"),
        (f"/v1/games/{ATLANTA}/odds/history", {"market": "props"}, "market"),
        (f"/v1/games/{ATLANTA}/consensus", {"market": "props"}, "market"),
        (f"/v1/games/{ATLANTA}/consensus", {"cursor": "eyJrIjoiZ2FtZXMiLCJ2IjpbIngiXX0"}, "cursor"),  # a games cursor
        # Instants a datetime cannot hold once converted to UTC (they used to overflow into a 500).
        ("/v1/signals", {"until": "9999-12-31T23:59:59-05:00"}, "until"),
        ("/v1/signals", {"since": "0001-01-01T00:00:00+05:00"}, "since"),
        # RFC 3339 only: a zone is required, no padding, no other calendar forms.
        ("/v1/signals", {"since": "2026-08-05T18:00:00"}, "since"),
        ("/v1/signals", {"since": " 2026-08-05T18:00:00Z"}, "since"),
        ("/v1/signals", {"since": "2026-W32-3T18:00:00Z"}, "since"),
        # An integer is ASCII digits, nothing around them.
        ("/v1/signals", {"limit": " 5"}, "limit"),
        ("/v1/signals", {"limit": "5 "}, "limit"),
        ("/v1/signals", {"limit": "\u0665"}, "limit"),  # ARABIC-INDIC DIGIT FIVE
        ("/v1/signals", {"limit": "5_0"}, "limit"),
        ("/v1/signals", {"min_score": "+50"}, "min_score"),
        # The document says minLength 1: an empty cursor is refused, as the schema says.
        ("/v1/signals", {"cursor": ""}, "cursor"),
        ("/v1/signals", {"cursor": "a" * 1025}, "cursor"),
        # A cursor whose time has no zone (hand-made: ours always carry one) is not read in local time.
        ("/v1/signals", {"cursor": encode_cursor("signals", ["2026-08-05T22:00:00", "x"])}, "cursor"),
        ("/v1/clv/grades", {"cursor": encode_cursor("grades", ["2026-08-05T22:00:00", "x"])}, "cursor"),
    ],
)
async def test_bad_parameters_are_400_naming_them(world: World, path: str, params: dict[str, str], parameter: str):
    response = await world.client.get(path, params=params, headers=world.auth("pro"))
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_parameter" and error["parameter"] == parameter and error["message"]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("limit=0", "“limit” must be from 1 to 200."),
        ("limit=ten", "“limit” must be an integer from 1 to 200."),
        ("min_score=+50", "“min_score” must be an integer from 0 to 100."),
        ("type=WHALE", "“type” must be one of STEAM, DISLOCATION, KEY_CROSS."),
        ("preset=yolo", "“preset” must be one of high_confidence, low_noise."),
        ("game=" + "g" * 201, "“game” is at most 200 characters."),
        ("since=2026-08-05T18:00:00", "“since” needs a zone (Z or an offset), e.g. 2026-08-05T18:00:00Z."),
        ("until=9999-12-31T23:59:59-05:00", "“until” is out of range."),
        ("since=yesterday", "“since” must be an RFC 3339 time, e.g. 2026-08-05T18:00:00Z."),
        ("since=2026-08-05T12:00:00Z&until=2026-08-05T11:00:00Z", "“until” must be later than “since”."),
        ("cursor=garbage", "“cursor” is not a cursor of this list; pass `next_cursor` unchanged."),
        (
            "min_scor=90",
            "Unknown parameter “min_scor”; allowed: "
            "cursor, game, limit, market, min_score, preset, since, type, until.",
        ),
        ("limit=5&limit=6", "Give “limit” once."),
    ],
)
async def test_refusals_keep_their_bytes(world: World, query: str, message: str):
    """The 400 body a partner parses, byte for byte as the API has always written it: the framework's
    validation in the API's words, naming the parameter (never a 422)."""
    response = await world.client.get(f"/v1/signals?{query}", headers=world.auth("pro"))
    parameter = message.split("“", 1)[1].split("”", 1)[0]
    if query.startswith("since=2026-08-05T12"):
        parameter = "until"
    assert response.status_code == 400
    assert (
        response.content
        == json.dumps(
            {"error": {"code": "invalid_parameter", "message": message, "parameter": parameter}},
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()
    )


async def test_every_operation_refuses_an_unknown_or_repeated_parameter(world: World):
    """Also the operations without query parameters: `?nope=1` is a 400 naming it, never silently ignored."""
    created = await world.client.post("/v1/webhooks", json={"url": "https://example.com/h"}, headers=world.auth("pro"))
    endpoint = f"/v1/webhooks/{created.json()['id']}"
    graded = (await world.repos.grades.list(limit=1))[0][0]
    operations = [
        ("GET", "/v1/games"),
        ("GET", f"/v1/games/{ATLANTA}"),
        ("GET", f"/v1/games/{ATLANTA}/odds"),
        ("GET", f"/v1/games/{ATLANTA}/odds/history"),
        ("GET", f"/v1/games/{ATLANTA}/consensus"),
        ("GET", "/v1/signals"),
        ("GET", f"/v1/signals/{graded.id}"),
        ("GET", "/v1/clv/grades"),
        ("GET", "/v1/clv/summary"),
        ("GET", "/v1/usage"),
        ("GET", "/v1/webhooks"),
        ("POST", "/v1/webhooks"),
        ("POST", endpoint + "/test"),
        ("POST", endpoint + "/rotate-secret"),
        ("DELETE", endpoint),
    ]
    for method, path in operations:
        body = {"url": "https://example.com/h"} if method == "POST" else None
        unknown = await world.client.request(method, path, params={"nope": "1"}, json=body, headers=world.auth("pro"))
        assert unknown.status_code == 400, (method, path, unknown.text)
        error = unknown.json()["error"]
        assert error["parameter"] == "nope" and error["message"].startswith("Unknown parameter “nope”; allowed: ")
        assert "X-RateLimit-Remaining" in unknown.headers
        twice = await world.client.request(method, path + "?nope=1&nope=2", json=body, headers=world.auth("pro"))
        assert twice.status_code == 400 and twice.json()["error"]["message"] == "Give “nope” once."
    assert (await world.client.get("/v1/usage?x=1")).status_code == 401  # the key first, as always
    assert world.webhooks.endpoints  # nothing was deleted


async def test_unknown_ids_and_paths_are_404(world: World):
    for path in (
        "/v1/games/nope",
        "/v1/games/nope/odds",
        "/v1/games/nope/odds/history",
        "/v1/games/nope/consensus",
        "/v1/signals/nope",
        "/v1/nope",
    ):
        response = await world.get(path)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "not_found" and "X-RateLimit-Limit" in response.headers
    response = await world.client.post("/v1/signals", headers=world.auth("pro"))
    assert response.status_code == 405 and response.json()["error"]["code"] == "method_not_allowed"


async def test_unexpected_errors_are_500_without_details(world: World, monkeypatch, caplog):
    async def boom(**_: Any) -> None:
        raise RuntimeError("database exploded at /secret/path")

    monkeypatch.setattr(world.repos.signals, "list", boom)
    with caplog.at_level(logging.ERROR, logger="api.route"):
        response = await world.get("/v1/signals")
    assert response.status_code == 500
    assert response.json() == {"error": {"code": "internal_error", "message": response.json()["error"]["message"]}}
    assert "secret" not in response.text and "Traceback" not in response.text
    assert "database exploded" in caplog.text
    await world.api.usage.flush()
    assert (await world.repos.api.usage_since(world.key_ids["pro"], "2000"))[0][2] == 1  # counted as an error


# ---------------------------------------------------------------------- webhooks


async def test_webhook_routes_delegate(world: World):
    auth = world.auth("builder")  # Builder: one endpoint
    created = await world.client.post(
        "/v1/webhooks", json={"url": "https://example.com/hook", "events": ["signal.created"]}, headers=auth
    )
    assert created.status_code == 201
    endpoint = created.json()
    assert endpoint["secret"] == "whsec_first" and endpoint["events"] == ["signal.created"]
    second = await world.client.post("/v1/webhooks", json={"url": "https://example.com/2"}, headers=auth)
    assert second.status_code == 403 and second.json()["error"]["code"] == "plan_limit_reached"
    bad_url = await world.client.post("/v1/webhooks", json={"url": "http://example.com"}, headers=world.auth("pro"))
    assert bad_url.status_code == 400 and bad_url.json()["error"]["code"] == "invalid_request"
    for body, parameter in (
        ({"events": ["signal.created"]}, "url"),
        ({"url": "https://example.com", "events": "signal.created"}, "events"),
        ({"url": "https://example.com", "colour": "red"}, "colour"),
        ([1, 2], "body"),
    ):
        response = await world.client.post("/v1/webhooks", json=body, headers=auth)
        assert response.status_code == 400 and response.json()["error"]["parameter"] == parameter
    broken = await world.client.post("/v1/webhooks", content=b"{not json", headers=auth)
    assert broken.json()["error"]["parameter"] == "body"

    listed = (await world.client.get("/v1/webhooks", headers=auth)).json()["data"]
    assert [e["id"] for e in listed] == [endpoint["id"]] and "secret" not in listed[0]
    assert (await world.client.get("/v1/webhooks", headers=world.auth("pro"))).json()["data"] == []

    path = f"/v1/webhooks/{endpoint['id']}"
    tested = await world.client.post(path + "/test", headers=auth)
    assert tested.status_code == 200 and tested.json() == {"endpoint_id": endpoint["id"], "delivery_id": "msg_test1"}
    rotated = await world.client.post(path + "/rotate-secret", headers=auth)
    assert rotated.status_code == 200 and rotated.json()["secret"] == "whsec_second"
    listed = (await world.client.get("/v1/webhooks", headers=auth)).json()["data"]
    assert listed[0]["previous_secret_expires_at"] == "2026-08-06T23:20:05Z"
    # Another key's endpoint does not exist for you.
    for method, suffix in (("DELETE", ""), ("POST", "/test"), ("POST", "/rotate-secret")):
        response = await world.client.request(method, path + suffix, headers=world.auth("pro"))
        assert response.status_code == 404
    deleted = await world.client.delete(path, headers=auth)
    assert deleted.status_code == 204 and deleted.content == b""
    assert (await world.client.delete(path, headers=auth)).status_code == 404
    assert world.webhooks.endpoints == {}
    assert ("delete", endpoint["id"]) in world.webhooks.calls


async def test_hostile_webhook_bodies_are_4xx_and_never_reach_json_loads(world: World, monkeypatch):
    """A body nested 100,000 deep is refused on a bounded scan (json.loads never sees it: no deep
    recursion); one over the cap is 413; neither is a 500 nor reaches the webhook service."""
    parsed: list[int] = []
    real_loads = json.loads

    def spy(text: Any, *args: Any, **kwargs: Any) -> Any:
        parsed.append(len(text))
        return real_loads(text, *args, **kwargs)

    monkeypatch.setattr(json, "loads", spy)
    auth = world.auth("builder")
    deep = [b"[" * 100_000, b'{"url": "https://example.test", "events": ' + b"[" * 100_000, b"{" * 100_000]
    for body in deep:
        response = await world.client.post("/v1/webhooks", content=body, headers=auth)
        assert response.status_code == 400, response.text
        assert response.json()["error"]["parameter"] == "body"
    assert not [n for n in parsed if n >= 100_000]
    # Big but flat: over the API's 64 KiB cap.
    big = json.dumps({"url": "https://example.test/" + "a" * 70_000}).encode()
    response = await world.client.post("/v1/webhooks", content=big, headers=auth)
    assert response.status_code == 413 and response.json()["error"]["code"] == "payload_too_large"
    # Within the bounds, a body still parses (brackets inside strings are not nesting).
    fine = {"url": "https://example.test/" + "[" * 100, "events": ["signal.created"]}
    assert (await world.client.post("/v1/webhooks", json=fine, headers=auth)).status_code == 201
    assert [c for c in world.webhooks.calls if c[0] == "create"] == [("create", world.key_ids["builder"])]


async def test_webhook_routes_answer_503_without_a_service(template_db: Path, tmp_path: Path):
    async for world in serve_api(template_db, tmp_path, webhooks=False):
        for method, path in (
            ("GET", "/v1/webhooks"),
            ("POST", "/v1/webhooks"),
            ("DELETE", "/v1/webhooks/we_1"),
            ("POST", "/v1/webhooks/we_1/test"),
            ("POST", "/v1/webhooks/we_1/rotate-secret"),
        ):
            response = await world.client.request(method, path, headers=world.auth("pro"), json={"url": "https://x"})
            assert response.status_code == 503 and response.json()["error"]["code"] == "unavailable"


# ---------------------------------------------------------------------- the document


async def test_every_operation_matches_the_document(world: World):
    doc = world.checker.doc
    assert doc["openapi"].startswith("3.1")
    assert doc["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key.",
    }
    assert {"Signal", "Grade", "Game", "Line", "Consensus", "ClassAudit", "Usage", "WebhookEndpoint", "Error"} <= set(
        doc["components"]["schemas"]
    )
    # Every route the API serves is documented, and nothing else (but its answer to every other path).
    served = {
        (method, route.path_format) for route in world.api.routes if route.include_in_schema for method in route.methods
    }
    documented = {(method.upper(), path) for path, ops in doc["paths"].items() for method in ops}
    assert served == documented
    assert [route.path_format for route in world.api.routes if not route.include_in_schema] == [
        "/openapi.json",
        "/v1/{path}",
    ]

    graded = (await world.repos.grades.list(limit=1))[0][0]
    calls = [
        ("GET", "/v1/games", {"status": "closed", "limit": 2}),
        ("GET", f"/v1/games/{ATLANTA}", None),
        ("GET", f"/v1/games/{ATLANTA}/odds", None),
        ("GET", f"/v1/games/{ATLANTA}/odds/history", {"market": "totals", "limit": 5}),
        ("GET", f"/v1/games/{ATLANTA}/consensus", {"market": "h2h"}),
        ("GET", "/v1/signals", {"limit": 200}),
        ("GET", f"/v1/signals/{graded.id}", None),
        ("GET", "/v1/clv/grades", {"limit": 200}),
        ("GET", "/v1/clv/summary", None),
        ("GET", "/v1/usage", None),
        ("GET", "/v1/webhooks", None),
        ("GET", "/v1/openapi.json", None),
    ]
    for method, path, params in calls:
        response = await world.client.request(method, path, params=params, headers=world.auth("pro"))
        assert response.status_code == 200, (path, response.text)
    created = await world.client.post("/v1/webhooks", json={"url": "https://example.com/h"}, headers=world.auth("pro"))
    endpoint = f"/v1/webhooks/{created.json()['id']}"
    await world.client.post(endpoint + "/test", headers=world.auth("pro"))
    await world.client.post(endpoint + "/rotate-secret", headers=world.auth("pro"))
    await world.client.delete(endpoint, headers=world.auth("pro"))
    operations = {op["operationId"] for ops in doc["paths"].values() for op in ops.values()}
    assert world.checker.seen == operations


# ---------------------------------------------------------------------- data terms, caches, batching


async def test_raw_odds_are_refused_without_a_licence(template_db: Path, tmp_path: Path):
    async for world in serve_api(template_db, tmp_path, raw_odds=False):
        for path in (f"/v1/games/{ATLANTA}/odds", f"/v1/games/{ATLANTA}/odds/history", "/v1/games/nope/odds"):
            response = await world.get(path)
            assert response.status_code == 403, path
            error = response.json()["error"]
            assert error["code"] == "raw_odds_not_licensed" and "licence" in error["message"]
            assert "X-RateLimit-Limit" in response.headers
        # Derived data is always served: consensus, closes, signals with their entry, CLV.
        assert (await world.get(f"/v1/games/{ATLANTA}/consensus")).status_code == 200
        assert (await world.get(f"/v1/games/{ATLANTA}")).json()["closes"]
        signal = (await world.get("/v1/signals", limit=1)).json()["data"][0]
        assert signal["entry"]["book"] and signal["entry"]["price"]
        assert (await world.get("/v1/clv/summary")).status_code == 200


async def test_raw_odds_are_served_with_a_licence(world: World):
    assert world.ctx.settings.api.redistribute_raw_odds is True
    assert (await world.get(f"/v1/games/{ATLANTA}/odds")).json()["lines"]
    assert (await world.get(f"/v1/games/{ATLANTA}/odds/history", limit=1)).json()["data"]


async def test_a_revoked_or_rotated_key_stops_at_once_despite_the_cache(world: World):
    from services.keys import rotate

    assert (await world.get("/v1/usage", "pro_plain")).status_code == 200  # now cached
    assert len(world.api.keys) >= 1
    await revoke(world.repos, world.key_ids["pro_plain"], world.clock())
    assert (await world.get("/v1/usage", "pro_plain")).status_code == 401
    assert (await world.get("/v1/usage", "builder")).status_code == 200
    new, plaintext = await rotate(world.repos, world.ctx.settings, world.key_ids["builder"], world.clock())
    assert (await world.get("/v1/usage", "builder")).status_code == 401
    response = await world.client.get("/v1/usage", headers={"Authorization": f"Bearer {plaintext}"})
    assert response.status_code == 200 and response.json()["key"]["id"] == new.id


async def test_a_revocation_by_another_process_is_seen_within_the_poll(world: World):
    assert (await world.get("/v1/usage", "pro_plain")).status_code == 200
    other = await Repositories.open(world.repos.db.target)  # another connection: the `apikey` command line
    try:
        await revoke(other, world.key_ids["pro_plain"], world.clock())
    finally:
        await other.close()
    world.api.data_changed()  # what the poll interval (1 s) would do on its own
    assert (await world.get("/v1/usage", "pro_plain")).status_code == 401


async def test_cached_answers_follow_new_data(world: World):
    before = (await world.get("/v1/signals", limit=3)).json()
    assert (await world.get("/v1/signals", limit=3)).json() == before  # served from the response cache
    assert world.api.responses.hits >= 1
    stored = await world.repos.signals.list(limit=1)
    async with world.repos.db.transaction():
        await world.repos.signals.insert(replace(stored[0], id="newest", created_at=START))
    after = (await world.get("/v1/signals", limit=3)).json()
    assert after["data"][0]["id"] == "newest"


async def test_spellings_of_one_query_share_one_cache_entry(world: World):
    """The cache is keyed on the parsed parameters, not the raw path: percent-encoded names and values,
    another order, the same instant at another offset, a percent-encoded path are all one entry."""
    first = await world.client.get(
        "/v1/signals?type=STEAM&min_score=10&since=2026-08-05T18:00:00Z&limit=5", headers=world.auth("pro")
    )
    assert first.status_code == 200
    misses, hits = world.api.responses.misses, world.api.responses.hits
    spellings = [
        "/v1/signals?type=STEAM&min_score=10&since=2026-08-05T18:00:00Z&limit=5",
        "/v1/signals?t%79pe=ST%45AM&min_score=%310&since=2026-08-05T18%3A00%3A00Z&limit=5",
        "/v1/signals?limit=5&since=2026-08-05T14:00:00-04:00&min_score=10&type=STEAM",
        "/v1/sign%61ls?type=STEAM&min_%73core=10&since=2026-08-05T18:00:00%2B00:00&limit=%35",
    ]
    for path in spellings:
        again = await world.client.get(path, headers=world.auth("pro"))
        assert again.status_code == 200 and again.content == first.content, path
    assert world.api.responses.misses == misses
    assert world.api.responses.hits == hits + len(spellings)


MIB = 1024 * 1024


@pytest.mark.parametrize(
    ("max_bytes", "max_entries"),
    [(1 * MIB, 100_000), (32 * MIB, 300)],
    ids=["byte-budget", "entry-cap"],
)
async def test_a_flood_of_distinct_valid_paths_stays_inside_the_cache_budget(
    db_url: str, max_bytes: int, max_entries: int
):
    """2,500 distinct valid requests of up to 3.9 KB (tiny bodies, huge raw paths) against a real server in a
    child process: the memory they leave behind (tracemalloc, after a warm-up) stays within the cache's
    budget plus a generous allowance, the cache's own accounting stays within its bounds, and every
    re-spelling of a query is served from its entry."""
    requests = 2500
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.cache_flood",
        db_url,
        str(max_bytes),
        str(max_entries),
        str(requests),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 540)
    assert process.returncode == 0, err.decode()[-3000:]
    result = json.loads(out.decode().strip().splitlines()[-1])
    assert result["path_bytes"] > 3000 * requests  # the flood was what it says: ~10 MB of distinct paths
    assert result["cache_bytes"] <= max_bytes and result["cache_entries"] <= max_entries
    # Keyed on raw paths, without counting keys, the flood left ~9 MB behind; the allowance is for noise.
    assert result["grown"] <= min(max_bytes, max_entries * 2048) + 2 * MIB, result
    assert result["hits"] >= requests // 4  # every fourth request re-spells the one before it


async def test_the_usage_flush_leaves_cached_answers_in_place(world: World):
    """The usage counters written every ~2 s are bookkeeping, not data an answer is built from: writing
    them must not make every cached answer look stale."""
    first = await world.get("/v1/games", limit=2)
    misses, hits = world.api.responses.misses, world.api.responses.hits
    assert await world.api.usage.flush() >= 1  # what the 2-second timer does: the counts are written
    assert await world.repos.api.usage_since(world.key_ids["pro"], "2000")
    again = await world.get("/v1/games", limit=2)
    assert again.content == first.content
    assert (world.api.responses.misses, world.api.responses.hits) == (misses, hits + 1)


async def test_usage_is_counted_in_memory_and_written_in_batches(world: World):
    key_id = world.key_ids["pro_plain"]
    for _ in range(5):
        assert (await world.get("/v1/games", "pro_plain", limit=1)).status_code == 200
    assert await world.repos.api.usage_since(key_id, "2000") == []  # no database write per request
    assert world.api.usage.pending == 5
    assert (await world.get("/v1/usage", "pro_plain")).json()["usage"]["this_minute"]["requests"] == 6
    await world.api.usage.flush()
    assert await world.repos.api.usage_since(key_id, "2000") == [(minute_key(START), 6, 0)]
    assert world.api.usage.pending == 0


def test_the_document_is_generated_from_the_models():
    from api.document import openapi
    from api.install import install_api
    from api.schemas import Signal
    from app.asgi import root_app

    root, lifespan = root_app()
    ctx = SimpleNamespace(settings=settings(), repos=SimpleNamespace(), clock=lambda: START)  # nothing is served
    api = install_api(root, lifespan, ctx, webhooks=None, on_anomaly=None)  # type: ignore[arg-type]
    doc = openapi(api.routes, root.webhooks.routes)
    assert doc["components"]["schemas"]["Signal"]["required"] == list(Signal.model_fields)
    row = doc["components"]["schemas"]["ClassAudit"]
    assert "class" in row["properties"] and row["properties"]["tier"]["enum"] == ["S", "A", "B", "unproven"]
    assert row["properties"]["kind"]["enum"] == ["class", "preset", "score"]
    assert set(doc["paths"]) == {route.path_format for route in api.routes if route.include_in_schema}
    presets = next(p for p in doc["paths"]["/v1/signals"]["get"]["parameters"] if p["name"] == "preset")
    assert presets["schema"]["anyOf"][0]["enum"] == list(settings().presets)
    assert "raw_odds_not_licensed" in doc["paths"]["/v1/games/{game_id}/odds"]["get"]["description"]


WEBHOOK_HEADERS = {"webhook-id", "webhook-timestamp", "webhook-signature"}


async def test_the_document_states_security_refusals_headers_and_the_webhooks(world: World):
    """FastAPI's document, as served at both addresses: every operation's key requirement, refusals with the
    Error body and their headers (never a 422: the API answers 400), and the webhooks an endpoint receives."""
    served = await world.client.get("/openapi.json")
    assert served.content == (await world.client.get("/v1/openapi.json")).content
    doc = served.json()
    assert '"422"' not in served.text and "HTTPValidationError" not in doc["components"]["schemas"]
    rate = {"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"}
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if op["operationId"] == "getOpenApi":
                assert "security" not in op  # the document needs no key
                continue
            assert op["security"] == [{"bearerAuth": []}], (method, path)
            for parameter in op.get("parameters", []):  # each described, with an example of its own
                schema = parameter["schema"]
                assert parameter.get("description") and (
                    schema.get("examples") or any(s.get("examples") for s in schema.get("anyOf", []))
                ), (path, parameter["name"])
            answers = op["responses"]
            assert {"401", "429", "500"} <= set(answers), (method, path)
            assert "WWW-Authenticate" in answers["401"]["headers"]
            assert rate | {"Retry-After"} <= set(answers["429"]["headers"])
            for status, answer in answers.items():
                if status.startswith(("4", "5")):
                    assert answer["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
                if status not in ("401", "429"):
                    assert rate <= set(answer["headers"]), (method, path, status)
    hooks = doc["webhooks"]
    assert set(hooks) == {"signal.created", "move.created", "clv.graded", "usage.anomaly", "webhook.test"}
    payloads = {"signal.created": "Signal", "move.created": "Move", "clv.graded": "GradedSignal"}
    for name, item in hooks.items():
        op = item["post"]
        headers = {p["name"] for p in op["parameters"] if p["in"] == "header" and p["required"]}
        assert headers == WEBHOOK_HEADERS and "410" in op["responses"], name
        envelope = op["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
        schema = doc["components"]["schemas"][envelope]
        assert schema["properties"]["type"]["const"] == name, name
        assert set(schema["required"]) == {"type", "version", "timestamp", "data"}
        if name in payloads:
            assert schema["properties"]["data"]["$ref"].endswith("/" + payloads[name])


def test_every_field_is_described_and_every_example_is_its_models_own():
    """Every model of the contract (answers, request bodies, webhook payloads) describes each field and
    carries an example that the model itself accepts and writes back unchanged."""
    import api.events
    import api.schemas
    from api.schemas import Model

    models = {
        model
        for module in (api.schemas, api.events)
        for model in vars(module).values()
        if isinstance(model, type)
        and issubclass(model, Model)
        and model not in (Model, api.schemas.Page, api.events.Event)  # bases: their subclasses are the models
    }
    assert len(models) > 40
    for model in models:
        schema = model.model_json_schema(mode="serialization")
        for name, field in schema["properties"].items():
            assert field.get("description"), f"{model.__name__}.{name} has no description"
        examples = schema.get("examples")
        assert examples, f"{model.__name__} has no example"
        for example in examples:
            assert json.loads(model.model_validate(example).body()) == example, model.__name__


async def test_the_document_describes_alert_states_and_the_record_since(world: World):
    """`GET /v1/clv/summary`'s class rows carry the alert state, when it was reached and the record since;
    the served document says so (the same models serve both)."""
    doc = (await world.client.get("/v1/openapi.json")).json()
    schemas = doc["components"]["schemas"]
    row = schemas["ClassAudit"]["properties"]
    states = next(option for option in row["alert_state"]["anyOf"] if option.get("type") == "string")
    assert states["enum"] == ["tiered", "unproven", "refuted"] and "refuted" in row["alert_state"]["description"]
    since = next(option for option in row["state_since"]["anyOf"] if option.get("type") == "string")
    assert since["format"] == "date-time" and "reached" in row["state_since"]["description"]
    assert {"$ref": "#/components/schemas/ForwardRecord"} in row["forward"]["anyOf"]
    assert set(schemas["ForwardRecord"]["properties"]) == {
        "graded",
        "beat_rate",
        "null_rate",
        "lift",
        "lift_low",
        "lift_high",
    }
    body = (await world.get("/v1/clv/summary")).json()
    for item in body["classes"]:
        if item["kind"] == "class":
            assert item["alert_state"] in ("tiered", "unproven", "refuted")
            assert set(item["forward"]) == set(schemas["ForwardRecord"]["properties"])
        else:
            assert item["alert_state"] is None and item["forward"] is None


async def test_the_document_and_the_server_agree_on_parameter_edges(world: World):
    """Every edge the document draws, the server draws in the same place: what the schema refuses is a
    400 naming the parameter, and the first value the schema allows is served."""
    doc = (await world.client.get("/v1/openapi.json")).json()
    for path, item in doc["paths"].items():
        for parameter in item.get("get", {}).get("parameters", []):
            schema = parameter["schema"]  # an optional parameter's schema: its type, or null (never sent)
            schema = next((s for s in schema.get("anyOf", [schema]) if s.get("type") != "null"), schema)
            if parameter["name"] == "cursor":
                # An empty cursor: the schema refuses it (minLength 1), and so does the server.
                assert schema["minLength"] == 1 and schema["pattern"] == "^[A-Za-z0-9_-]+$", path
            if schema.get("type") == "integer":
                lowest = str(schema["minimum"])
                concrete = path.replace("{game_id}", ATLANTA)
                ok = await world.get(concrete, **{parameter["name"]: lowest})
                assert ok.status_code in (200, 403), (path, ok.text)
                for bad in (f" {lowest}", f"{lowest} ", "\u0665", str(schema["maximum"] + 1)):
                    refused = await world.get(concrete, **{parameter["name"]: bad})
                    assert refused.status_code == 400, (path, bad)
                    assert refused.json()["error"]["parameter"] == parameter["name"]
            if schema.get("format") == "date-time":
                assert "offset" in parameter["description"]


async def test_the_summary_is_the_audit_exactly(world: World):
    body = (await world.get("/v1/clv/summary")).json()
    report = (await build_audit(world.repos, world.ctx.settings)).as_dict()
    assert ClvSummary.model_validate(report).as_json() == report == body
