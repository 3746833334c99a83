"""The member-side repositories (outbox, members, bets, class states, web sessions) on both backends.

Every test takes `db_url`, so it runs on a SQLite file and on a PostgreSQL database (`[sqlite]`,
`[postgresql]`): instants come back as the same aware datetimes, flags as bools, Discord ids beyond 2^31 as
the same ints, and the outbox's one-statement updates hold with several transactions at once. Games rows the
bets join are written with plain SQL, so these tests depend on no other repository.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from engine.alert_state import ClassState
from engine.models import Bet, BetGrade, Market, Side, SignalType
from storage import Repositories
from storage.members import DmPrefs
from tests.storage_builders import clv

T0 = datetime(2026, 3, 1, 18, 0, tzinfo=UTC)
#: Discord snowflakes are far beyond 2^31 (and 2^53 is where JSON numbers stop being exact).
GUILD = 1_180_000_000_000_000_001
USER = 1_180_000_000_000_000_002
OTHER = 1_180_000_000_000_000_003
CHANNEL = 1_180_000_000_000_000_004


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


async def add_game(repos: Repositories, game_id: str, tip: datetime, status: str = "scheduled") -> None:
    await repos.db.execute(
        "INSERT INTO games (id, sport_key, home_team, away_team, commence_time, scheduled_tip, status, "
        "first_seen, last_seen) VALUES (:id, 'basketball_nba', 'Home', 'Away', :tip, :tip, :status, :seen, :seen)",
        {"id": game_id, "tip": tip, "status": status, "seen": T0},
    )


# --- outbox -----------------------------------------------------------------------------------------------


async def test_outbox_enqueue_once_per_key_and_reads_back_every_column(repos: Repositories) -> None:
    woken: list[str] = []
    repos.outbox.listen(woken.append)
    async with repos.db.transaction():
        assert await repos.outbox.enqueue("e:s:webhook:w1", "webhook", "webhook:w1", {"n": 1}, at(0), queue="shared")
        assert not await repos.outbox.enqueue("e:s:webhook:w1", "webhook", "webhook:w1", {"n": 2}, at(1))
        assert await repos.outbox.enqueue_dm("key.issued", "k1", USER, "your key", at(2), guild_id=GUILD)
    assert woken == ["shared", "discord"]

    item = await repos.outbox.by_key("e:s:webhook:w1")
    assert item is not None
    assert (item.kind, item.target, item.queue, item.payload) == ("webhook", "webhook:w1", "shared", {"n": 1})
    assert item.created_at == at(0) and item.next_attempt_at == at(0)
    assert item.created_at.tzinfo is not None
    assert (item.attempts, item.sent_at, item.failed_at, item.last_status, item.last_error) == (
        0,
        None,
        None,
        None,
        None,
    )
    assert await repos.outbox.get(item.id) == item
    assert await repos.outbox.by_msg_id(item.msg_id) == item

    dm = await repos.outbox.by_key(f"key.issued:k1:dm:{USER}")
    assert dm is not None and dm.target == f"user:{USER}"
    assert dm.payload == {"user_id": USER, "text": "your key", "guild_id": GUILD}
    assert await repos.outbox.count_pending() == 2
    assert sorted(await repos.outbox.queues()) == ["discord", "shared"]
    assert await repos.outbox.next_due("shared") == at(0)
    assert await repos.outbox.next_due("nowhere") is None


async def test_outbox_due_filters_by_queue_kind_and_time_in_id_order(repos: Repositories) -> None:
    async with repos.db.transaction():
        await repos.outbox.enqueue("a", "alert", "channel:1", {}, at(0))
        await repos.outbox.enqueue("b", "webhook", "webhook:w1", {}, at(0), queue="shared")
        await repos.outbox.enqueue("c", "dm", "user:2", {}, at(0))
        await repos.outbox.enqueue("d", "alert", "channel:3", {}, at(10))  # not yet due
    assert [i.key for i in await repos.outbox.due(None, at(5))] == ["a", "b", "c"]
    assert [i.key for i in await repos.outbox.due("discord", at(5))] == ["a", "c"]
    assert [i.key for i in await repos.outbox.due("discord", at(5), kinds=["dm"])] == ["c"]
    assert await repos.outbox.due("discord", at(5), kinds=[]) == []
    assert [i.key for i in await repos.outbox.due(None, at(10), limit=2)] == ["a", "b"]


async def test_outbox_due_holds_a_targets_younger_rows_behind_one_waiting_for_its_retry(
    repos: Repositories,
) -> None:
    async with repos.db.transaction():
        for key in ("t1", "t2", "t3"):
            await repos.outbox.enqueue(key, "alert", "channel:1", {}, at(0))
        await repos.outbox.enqueue("u1", "alert", "channel:2", {}, at(0))
    first = await repos.outbox.by_key("t2")
    assert first is not None
    async with repos.db.transaction():
        await repos.outbox.retry_later(first.id, "429", at(30), 429)
    # t1 is older than the waiting t2 and still goes; t3 waits behind t2; channel:2 is not held up.
    assert [i.key for i in await repos.outbox.due("discord", at(5))] == ["t1", "u1"]
    assert [i.key for i in await repos.outbox.due("discord", at(30))] == ["t1", "t2", "t3", "u1"]
    waiting = await repos.outbox.get(first.id)
    assert waiting is not None
    assert (waiting.attempts, waiting.last_status, waiting.last_error, waiting.next_attempt_at) == (
        1,
        429,
        "429",
        at(30),
    )


async def test_outbox_due_a_held_target_does_not_use_up_the_limit(repos: Repositories) -> None:
    """A target held behind a retry with `limit` or more rows due must not hide every other target's rows
    (the worker stops a round when `due` comes back empty, so those would wait for the retry)."""
    async with repos.db.transaction():
        for n in range(5):
            await repos.outbox.enqueue(f"held{n}", "alert", "channel:1", {}, at(0))
        await repos.outbox.enqueue("free", "alert", "channel:2", {}, at(0))
    head = await repos.outbox.by_key("held0")
    assert head is not None
    async with repos.db.transaction():
        await repos.outbox.retry_later(head.id, "503", at(30))
    assert [i.key for i in await repos.outbox.due("discord", at(5), limit=3)] == ["free"]
    assert [i.key for i in await repos.outbox.due(None, at(5), limit=1)] == ["free"]


async def test_outbox_sent_and_given_up_rows_forget_a_sensitive_payload(repos: Repositories) -> None:
    async with repos.db.transaction():
        await repos.outbox.enqueue_dm("key", "k1", USER, "secret one", at(0), sensitive=True)
        await repos.outbox.enqueue_dm("key", "k2", USER, "secret two", at(0), sensitive=True)
        await repos.outbox.enqueue_dm("key", "k3", USER, "secret three", at(0), sensitive=True)
        await repos.outbox.enqueue_dm("note", "n1", USER, "plain", at(0))
        await repos.outbox.enqueue_dm("note", "n2", USER, "plain too", at(0))
    rows = {i.key.split(":")[1]: i for i in await repos.outbox.for_target(f"user:{USER}")}
    assert [i.key.split(":")[1] for i in await repos.outbox.for_target(f"user:{USER}")] == [
        "k1",
        "k2",
        "k3",
        "n1",
        "n2",
    ]
    async with repos.db.transaction():
        await repos.outbox.mark_sent(rows["k1"].id, at(1), 200)
        await repos.outbox.mark_sent_many([(rows["k2"].id, None), (rows["n1"].id, 204)], at(2))
        await repos.outbox.give_up(rows["k3"].id, "x" * 600, at(3), 403)
        await repos.outbox.give_up(rows["n2"].id, "blocked", at(3))

    after = {i.key.split(":")[1]: i for i in await repos.outbox.all()}
    assert after["k1"].payload == {} and after["k1"].sent_at == at(1) and after["k1"].last_status == 200
    assert after["k2"].payload == {} and after["k2"].sent_at == at(2) and after["k2"].last_status is None
    assert after["k3"].payload == {} and after["k3"].failed_at == at(3) and after["k3"].last_error == "x" * 500
    assert after["n1"].payload["text"] == "plain" and after["n1"].last_status == 204
    assert after["n2"].payload["text"] == "plain too" and after["n2"].failed_at == at(3)
    assert all(i.attempts == 1 and not i.pending for i in after.values())
    assert await repos.outbox.pending() == [] and await repos.outbox.count_pending() == 0
    assert await repos.outbox.queues() == []


async def test_outbox_fail_target_gives_up_only_that_targets_pending_rows(repos: Repositories) -> None:
    async with repos.db.transaction():
        await repos.outbox.enqueue("w1a", "webhook", "webhook:w1", {}, at(0), queue="shared")
        await repos.outbox.enqueue("w1b", "webhook", "webhook:w1", {}, at(0), queue="shared")
        await repos.outbox.enqueue("w2", "webhook", "webhook:w2", {}, at(0), queue="shared")
    sent = await repos.outbox.by_key("w1a")
    assert sent is not None
    async with repos.db.transaction():
        await repos.outbox.mark_sent(sent.id, at(1))
        assert await repos.outbox.fail_target("webhook:w1", "endpoint deleted", at(2)) == 1
    assert [i.key for i in await repos.outbox.pending()] == ["w2"]
    assert [i.key for i in await repos.outbox.pending(kinds=["dm"])] == []
    gone = await repos.outbox.by_key("w1b")
    assert gone is not None and gone.failed_at == at(2) and gone.last_error == "endpoint deleted"
    kept = await repos.outbox.by_key("w1a")
    assert kept is not None and kept.failed_at is None and kept.sent_at == at(1)


async def test_outbox_attempts_counted_exactly_when_outcomes_are_recorded_at_once(repos: Repositories) -> None:
    """`attempts = attempts + 1` inside the UPDATE: concurrent transactions (several workers) lose no count."""
    async with repos.db.transaction():
        await repos.outbox.enqueue("k", "webhook", "webhook:w1", {}, at(0), queue="shared")
    item = await repos.outbox.by_key("k")
    assert item is not None

    async def record(n: int) -> None:
        async with repos.db.transaction():
            await repos.outbox.retry_later(item.id, f"attempt {n}", at(n))

    await asyncio.gather(*(record(n) for n in range(8)))
    done = await repos.outbox.get(item.id)
    assert done is not None and done.attempts == 8


# --- members ----------------------------------------------------------------------------------------------


async def test_watchlist_round_trip_with_snowflake_ids(repos: Repositories) -> None:
    async with repos.db.transaction():
        assert await repos.members.watch(GUILD, USER, "g2", at(1))
        assert await repos.members.watch(GUILD, USER, "g1", at(2))
        assert not await repos.members.watch(GUILD, USER, "g1", at(3))
        assert await repos.members.watch(GUILD, OTHER, "g1", at(1))
    assert await repos.members.watchlist(GUILD, USER) == ["g2", "g1"]
    assert await repos.members.watchers("g1") == [(GUILD, USER), (GUILD, OTHER)]
    async with repos.db.transaction():
        assert await repos.members.unwatch(GUILD, USER, "g2")
        assert not await repos.members.unwatch(GUILD, USER, "g2")
    assert await repos.members.watchlist(GUILD, USER) == ["g1"]
    assert await repos.members.watchlist(GUILD, 5) == []


async def test_alert_routes_upsert_filter_and_remove(repos: Repositories) -> None:
    async with repos.db.transaction():
        await repos.members.set_route(GUILD, CHANNEL, [SignalType.STEAM], USER, at(0))
        await repos.members.set_route(GUILD, CHANNEL, [SignalType.STEAM, SignalType.KEY_CROSS], OTHER, at(5), "tiered")
        await repos.members.set_route(7, 8, [SignalType.STEAM], 9, at(1))
    routes = await repos.members.routes(GUILD)
    assert len(routes) == 1
    route = routes[0]
    assert (route.guild_id, route.channel_id, route.created_by, route.min_state) == (GUILD, CHANNEL, OTHER, "tiered")
    assert route.types == frozenset({SignalType.STEAM, SignalType.KEY_CROSS}) and route.created_at == at(5)
    assert {r.guild_id for r in await repos.members.routes()} == {GUILD, 7}
    async with repos.db.transaction():
        assert await repos.members.remove_route(GUILD, CHANNEL)
        assert not await repos.members.remove_route(GUILD, CHANNEL)
    assert await repos.members.routes(GUILD) == []


async def test_dm_prefs_defaults_and_each_setting_alone(repos: Repositories) -> None:
    prefs = await repos.members.dm_prefs(GUILD, USER)
    assert (prefs.enabled, prefs.types, prefs.min_score, prefs.min_state) == (False, None, 0, "unproven")
    async with repos.db.transaction():
        await repos.members.set_dm_filters(GUILD, USER, [SignalType.KEY_CROSS], 60)
    prefs = await repos.members.dm_prefs(GUILD, USER)
    assert prefs.enabled is False and prefs.types == frozenset({SignalType.KEY_CROSS}) and prefs.min_score == 60
    async with repos.db.transaction():
        await repos.members.set_dm_alerts(GUILD, USER, True)
        await repos.members.set_dm_min_state(GUILD, USER, "tiered")
    prefs = await repos.members.dm_prefs(GUILD, USER)
    assert (prefs.enabled, prefs.types, prefs.min_score, prefs.min_state) == (
        True,
        frozenset({SignalType.KEY_CROSS}),
        60,
        "tiered",
    )
    assert await repos.members.dm_alerts(GUILD, USER) is True
    async with repos.db.transaction():
        await repos.members.set_dm_filters(GUILD, USER, None, 0)
        await repos.members.set_dm_alerts(GUILD, USER, False)
    prefs = await repos.members.dm_prefs(GUILD, USER)
    assert (prefs.enabled, prefs.types, prefs.min_score) == (False, None, 0)
    # Only the flag was ever set for this member: the other columns take their defaults.
    async with repos.db.transaction():
        await repos.members.set_dm_alerts(GUILD, OTHER, True)
    assert await repos.members.dm_prefs(GUILD, OTHER) == DmPrefs(enabled=True)


# --- bets -------------------------------------------------------------------------------------------------


def bet(
    game_id: str, minutes: float, *, user: int = USER, point: float | None = -4.5, book: str | None = "fanduel"
) -> Bet:
    return Bet(None, GUILD, user, game_id, Market.SPREADS, Side.HOME, point, -110, book, at(minutes))


def bet_grade(bet_id: int, *, beat: bool, push: bool = False, clv_ev: float | None = None) -> BetGrade:
    return BetGrade(bet_id, at(300), **clv(beat=beat, push=push, clv_ev=clv_ev))


async def test_bets_insert_returns_ids_and_grades_come_back_typed(repos: Repositories) -> None:
    async with repos.db.transaction():
        await add_game(repos, "g1", at(240))
        first = await repos.bets.insert(bet("g1", 0))
        second = await repos.bets.insert(bet("g1", 10, point=None, book=None))
        third = await repos.bets.insert(bet("g1", 20))
    assert first < second < third
    async with repos.db.transaction():
        assert await repos.bets.grade(bet_grade(first, beat=True))
        assert not await repos.bets.grade(bet_grade(first, beat=False))
        assert await repos.bets.grade(bet_grade(second, beat=False, push=True, clv_ev=math.nan))

    found = await repos.bets.get(first)
    assert found is not None
    stored, graded = found
    assert stored == replace(bet("g1", 0), id=first)
    assert graded == bet_grade(first, beat=True)
    assert graded.beat is True and graded.push is False
    pushed = await repos.bets.get(second)
    assert pushed is not None and pushed[0].point is None and pushed[0].book is None
    assert pushed[1] is not None and pushed[1].push is True and pushed[1].beat is False and math.isnan(pushed[1].clv_ev)
    assert await repos.bets.get(third) == (replace(bet("g1", 20), id=third), None)
    assert await repos.bets.get(third + 100) is None

    history = await repos.bets.for_member(GUILD, USER)
    assert [b.id for b, _ in history] == [third, second, first]
    assert [b.id for b, _ in await repos.bets.for_member(GUILD, USER, since=at(10))] == [third, second]
    assert [b.id for b in await repos.bets.for_member_game(GUILD, USER, "g1")] == [first, second, third]
    assert [b.id for b in await repos.bets.ungraded_for_game("g1")] == [third]


async def test_bets_open_delete_and_closed_games(repos: Repositories) -> None:
    async with repos.db.transaction():
        await add_game(repos, "later", at(240))
        await add_game(repos, "soon", at(30))
        await add_game(repos, "done", at(-60), status="closed")
        later = await repos.bets.insert(bet("later", 0))
        graded = await repos.bets.insert(bet("later", 1))
        soon = await repos.bets.insert(bet("soon", 2))
        done = await repos.bets.insert(bet("done", -90))
        others = await repos.bets.insert(bet("later", 3, user=OTHER))
        await repos.bets.grade(bet_grade(graded, beat=True))
    assert [b.id for b in await repos.bets.open_for_member(GUILD, USER, at(10))] == [soon, later]
    assert [b.id for b in await repos.bets.open_for_member(GUILD, USER, at(60))] == [later]
    assert [b.id for b in await repos.bets.open_for_member(GUILD, USER, at(10), limit=1)] == [soon]
    assert [b.id for b in await repos.bets.ungraded_for_closed_games()] == [done]
    async with repos.db.transaction():
        assert not await repos.bets.delete(graded, GUILD, USER)  # part of the record
        assert not await repos.bets.delete(others, GUILD, USER)  # someone else's
        assert await repos.bets.delete(later, GUILD, USER)
        assert not await repos.bets.delete(later, GUILD, USER)
    assert await repos.bets.get(later) is None and await repos.bets.get(graded) is not None


# --- class states -----------------------------------------------------------------------------------------


def change(name: str, minutes: float, state: str, **sample: float | None) -> ClassState:
    return ClassState(
        name=name,
        state=state,
        tier="pro" if state == "tiered" else "none",
        since=at(minutes),
        graded=40,
        beats=24,
        **sample,
    )


async def test_class_states_history_before_and_current(repos: Repositories) -> None:
    async with repos.db.transaction():
        assert await repos.class_states.record(change("steam:spreads", 0, "unproven"))
        assert await repos.class_states.record(
            change("steam:spreads", 60, "tiered", null_rate=0.5, lift=0.1, lift_low=0.02, lift_high=0.2)
        )
        assert await repos.class_states.record(change("rlm:totals", 30, "refuted"))
        assert not await repos.class_states.record(change("steam:spreads", 60, "refuted"))
    with pytest.raises(ValueError, match="instant"):
        await repos.class_states.record(ClassState("x", "unproven", "none", None))

    history = await repos.class_states.history()
    assert [(c.name, c.since) for c in history] == [
        ("steam:spreads", at(0)),
        ("rlm:totals", at(30)),
        ("steam:spreads", at(60)),
    ]
    assert history[2] == change("steam:spreads", 60, "tiered", null_rate=0.5, lift=0.1, lift_low=0.02, lift_high=0.2)
    assert [c.state for c in await repos.class_states.history("steam:spreads")] == ["unproven", "tiered"]
    before = await repos.class_states.before(at(60))
    assert {k: v.state for k, v in before.items()} == {"steam:spreads": "unproven", "rlm:totals": "refuted"}
    assert {k: v.state for k, v in (await repos.class_states.current()).items()} == {
        "steam:spreads": "tiered",
        "rlm:totals": "refuted",
    }


# --- web sessions -----------------------------------------------------------------------------------------


async def test_web_sessions_tier_renew_and_expiry(repos: Repositories) -> None:
    async with repos.db.transaction():
        await repos.web_sessions.add("s1", USER, "pro", at(0))
        await repos.web_sessions.add("s2", USER, "community", at(0))
        await repos.web_sessions.add("s3", OTHER, "pro", at(0))
    assert await repos.web_sessions.tier("s1", USER) == "pro"
    assert await repos.web_sessions.tier("s1", OTHER) is None
    assert await repos.web_sessions.tier("nope", USER) is None
    async with repos.db.transaction():
        assert await repos.web_sessions.renew("s1", at(60))
        assert not await repos.web_sessions.renew("nope", at(60))
        assert await repos.web_sessions.delete_other_tiers(USER, "pro") == 1
    assert await repos.web_sessions.tier("s2", USER) is None
    async with repos.db.transaction():
        assert await repos.web_sessions.delete_renewed_before(at(30)) == 1  # s3; s1 was renewed
        assert await repos.web_sessions.delete("s1")
        assert not await repos.web_sessions.delete("s1")
    assert await repos.web_sessions.tier("s3", OTHER) is None
