"""Bets that are real: `/bet log` accepts only a bet a book could have taken at the moment it is logged,
and `/bet delete` removes only the member's own bet before its game tips.

The database holds the bundled real tape replayed up to the morning of 2026-08-05 (the clock stands at
11:55:27Z). The market then, read from the stored consensus (checked in `test_the_market_the_tests_assume`):
Phoenix Mercury @ Atlanta Dream (tips 23:00Z): Atlanta -5.5 (no-vig 49.87% to cover), total 183.5
(50.00% over), moneyline Atlanta 65.06% / Phoenix 34.94%. `[bets]` in config.toml: prices within
-10000..+10000, numbers within 1.5 points, prices within 5 percentage points of the fair probability, a
point away from the consensus worth 3% (spreads) / 2% (totals) of probability.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from access import NotFound, Tier, UpgradeRequired, UserError, Viewer
from app.bootstrap import BUNDLED_TAPE
from engine.events import EventBus
from engine.models import BetGrade, Market, Side
from engine.providers.tape import read_tape
from engine.service import EngineService
from services import bets
from services.context import ServiceContext
from storage import Repositories
from tests.bot_rig import bot_on_fake, final
from tests.engine_builders import Clock, settings
from tests.fake_discord import FakeDiscord
from tests.tape_games import ATLANTA, NEW_YORK

TAPE = list(read_tape(BUNDLED_TAPE))
CUT = datetime(2026, 8, 5, 12, 0, tzinfo=UTC)

PRO = Viewer(Tier.PRO, user_id=22, guild_id=1)
OTHER = Viewer(Tier.PRO, user_id=33, guild_id=1)
COMMUNITY = Viewer(Tier.COMMUNITY, user_id=11, guild_id=1)


@pytest.fixture
async def world(db_url):
    config = settings()
    repos = await Repositories.open(db_url)
    service = await EngineService.restore(config, repos, EventBus(), source="test")
    for raw in TAPE:
        if raw.fetched_at > CUT:
            break
        await service.process(raw)
    clock = Clock(max(raw.fetched_at for raw in TAPE if raw.fetched_at <= CUT))
    yield ServiceContext(config, repos, service, clock), clock
    await repos.close()


def _bet(**change):
    base = {"game": ATLANTA, "market": "spreads", "side": "home", "line": "-5.5", "price": -110, "book": "fanduel"}
    return {**base, **change}


async def _log(ctx, clock, viewer=PRO, **change):
    return await bets.log_bet(ctx, viewer, **_bet(**change), now=clock())


async def _refused(ctx, clock, **change) -> str:
    with pytest.raises(UserError) as caught:
        await _log(ctx, clock, **change)
    return str(caught.value)


async def test_the_market_the_tests_assume(world):
    ctx, clock = world
    assert clock() == datetime(2026, 8, 5, 11, 55, 27, tzinfo=UTC)
    market = {}
    for m in Market:
        market[m] = await ctx.repos.consensus.latest_before(ATLANTA, m, clock() + timedelta(microseconds=1))
    assert market[Market.SPREADS].side_point(Side.HOME) == -5.5
    assert market[Market.SPREADS].side_point(Side.AWAY) == 5.5
    assert market[Market.SPREADS].side_prob(Side.HOME) == pytest.approx(0.4987, abs=5e-5)
    assert market[Market.TOTALS].point == 183.5
    assert market[Market.TOTALS].side_prob(Side.OVER) == pytest.approx(0.5000, abs=5e-5)
    assert market[Market.H2H].side_prob(Side.HOME) == pytest.approx(0.6506, abs=5e-5)
    assert ctx.settings.bets.min_price == -10000 and ctx.settings.bets.max_price == 10000
    assert ctx.settings.bets.max_points_from_market == 1.5 and ctx.settings.bets.max_prob_from_market == 0.05


# ---------------------------------------------------------------------- prices


async def test_absurd_prices_are_refused_naming_the_bound(world):
    ctx, clock = world
    for price in (1_000_000_000, 10_001, -10_001, -1_000_000_000):
        message = await _refused(ctx, clock, price=price)
        assert f"A price of {price:+d} is outside the accepted range" in message
        assert "at least -10000 and at most +10000" in message
    assert await ctx.repos.bets.for_member(1, PRO.user_id) == []


async def test_impossible_prices_are_refused(world):
    ctx, clock = world
    for price in (50, -50, 0, 99, -99):
        message = await _refused(ctx, clock, price=price)
        assert f"{price} is impossible" in message and "American odds" in message
    assert await ctx.repos.bets.for_member(1, PRO.user_id) == []


# ---------------------------------------------------------------------- sides and lines


async def test_a_side_the_market_does_not_have_is_refused(world):
    ctx, clock = world
    message = await _refused(ctx, clock, side="over")
    assert message == "Side must be Atlanta Dream (home) or Phoenix Mercury (away) for spreads."
    message = await _refused(ctx, clock, market="totals", side="home", line="183.5")
    assert message == "Side must be Over or Under for totals."
    message = await _refused(ctx, clock, market="h2h", side="Seattle Storm", line=None, price=-190)
    assert message.startswith("Side must be Atlanta Dream (home) or Phoenix Mercury (away)")


async def test_the_underdogs_points_on_the_favourite_are_refused(world):
    ctx, clock = world
    # Atlanta is -5.5: "Atlanta Dream +5.5" is Phoenix's number (and is only 0 points from |-5.5|).
    message = await _refused(ctx, clock, side="Atlanta Dream", line="+5.5")
    assert message == (
        "Atlanta Dream is the favourite at -5.5 now; +5.5 is the underdog's number. "
        "To back Phoenix Mercury, pick Phoenix Mercury as the side."
    )
    # ... and the other way round, even a point that is only 1 away from Phoenix's +5.5 in absolute terms.
    message = await _refused(ctx, clock, side="away", line="-4.5")
    assert message.startswith("Phoenix Mercury is the underdog at +5.5 now; -4.5 is the favourite's number.")


async def test_a_line_too_far_from_the_market_names_the_current_line(world):
    ctx, clock = world
    message = await _refused(ctx, clock, market="totals", side="over", line="165.5")
    assert message == "The market is Over 183.5 now; a bet at 165.5 is more than 1.5 points away."
    # 185.5 is 2.0 points from 183.5.
    message = await _refused(ctx, clock, market="totals", side="under", line="185.5", price=-115)
    assert message == "The market is Under 183.5 now; a bet at 185.5 is more than 1.5 points away."
    # -7.5 is 2.0 points from -5.5; Phoenix +8 is 2.5 from +5.5.
    message = await _refused(ctx, clock, line="-7.5", price=120)
    assert message == "The market is Atlanta Dream -5.5 now; a bet at -7.5 is more than 1.5 points away."
    message = await _refused(ctx, clock, side="away", line="8")
    assert message == "The market is Phoenix Mercury +5.5 now; a bet at +8 is more than 1.5 points away."
    assert await ctx.repos.bets.for_member(1, PRO.user_id) == []


async def test_exactly_the_allowed_distance_is_accepted(world):
    ctx, clock = world
    # Under 185.0 is 1.5 points better than 183.5: fair 50.0% + 1.5 × 2% = 53.0%; -115 implies 53.49%.
    under, _ = await _log(ctx, clock, market="totals", side="under", line="185", price=-115)
    # Atlanta -7 is 1.5 points worse than -5.5: fair 49.87% - 1.5 × 3% = 45.37%; +110 implies 47.62%.
    alt, _ = await _log(ctx, clock, line="-7", price=110)
    assert (under.point, under.price, alt.point, alt.price) == (185.0, -115, -7.0, 110)


async def test_a_price_too_far_from_the_market_is_refused(world):
    ctx, clock = world
    # Moneyline: Atlanta (the favourite) is 65.06% no-vig, a fair -186; +150 implies 40.0% (25 pp away).
    message = await _refused(ctx, clock, market="h2h", side="Atlanta Dream", line=None, price=150)
    assert message == (
        "The market makes Atlanta Dream 65.1% now (a fair price of -186); +150 implies 40.0%, "
        "more than 5 percentage points away."
    )
    # Phoenix is 34.94%: +150 (40.00%) is 5.06 pp away, refused; +160 (38.46%, 3.52 pp) is accepted below.
    message = await _refused(ctx, clock, market="h2h", side="away", line=None, price=150)
    assert message.startswith("The market makes Phoenix Mercury 34.9% now (a fair price of +186)")
    # A spread at the market's number but a moneyline-sized price: 49.87% fair, +300 implies 25.0%.
    message = await _refused(ctx, clock, price=300)
    assert message == (
        "The market makes Atlanta Dream -5.5 about 49.9% now (a fair price of +101); +300 implies 25.0%, "
        "more than 5 percentage points away."
    )
    assert await ctx.repos.bets.for_member(1, PRO.user_id) == []


async def test_a_game_that_has_tipped_is_refused(world):
    ctx, clock = world
    message = await _refused(ctx, clock, game=NEW_YORK, line="-7.5")
    assert message == "Seattle Storm @ New York Liberty has already tipped off; bets are logged before the game."
    clock.now = datetime(2026, 8, 5, 23, 0, tzinfo=UTC)  # Atlanta's tip
    message = await _refused(ctx, clock)
    assert message == "Phoenix Mercury @ Atlanta Dream has already tipped off; bets are logged before the game."


async def test_a_game_without_a_market_is_refused(world):
    ctx, clock = world
    atlanta = (await ctx.repos.games.get(ATLANTA)).game
    async with ctx.repos.db.transaction():
        await ctx.repos.games.upsert(
            replace(atlanta, id="nomarket", commence_time=clock() + timedelta(days=1)), seen_at=clock()
        )
    message = await _refused(ctx, clock, game="nomarket")
    assert message.startswith("There is no spreads market for Phoenix Mercury @ Atlanta Dream yet")


async def test_bets_at_the_market_are_accepted(world):
    ctx, clock = world
    spread, game = await _log(ctx, clock, side="Atlanta Dream")
    total, _ = await _log(ctx, clock, market="totals", side="over", line="183.5", book=None)
    # Atlanta -190 implies 65.52%, 0.46 pp from 65.06%; Phoenix +160 implies 38.46%, 3.52 pp from 34.94%.
    fav, _ = await _log(ctx, clock, market="h2h", side="home", line=None, price=-190)
    dog, _ = await _log(ctx, clock, market="h2h", side="Phoenix Mercury", line="", price=160)
    assert game.home_team == "Atlanta Dream"
    assert (spread.market, spread.side, spread.point, spread.price, spread.book) == (
        Market.SPREADS,
        Side.HOME,
        -5.5,
        -110,
        "fanduel",
    )
    assert (total.side, total.point, total.book) == (Side.OVER, 183.5, None)
    assert (fav.side, fav.point, fav.price) == (Side.HOME, None, -190)
    assert (dog.side, dog.point, dog.price) == (Side.AWAY, None, 160)
    stored = [bet.id for bet, _ in await ctx.repos.bets.for_member(1, PRO.user_id)]
    assert sorted(stored) == sorted([spread.id, total.id, fav.id, dog.id])


# ---------------------------------------------------------------------- delete


def _grade(bet_id: int, at: datetime) -> BetGrade:
    return BetGrade(
        bet_id=bet_id,
        graded_at=at,
        close_point=-5.5,
        close_prob=0.5,
        clv_points=0.0,
        clv_prob=-0.0238,
        beat=False,
        push=True,
        clv_ev=-0.045,
    )


async def test_delete_own_open_bet(world):
    ctx, clock = world
    keep, _ = await _log(ctx, clock)
    gone, _ = await _log(ctx, clock, market="totals", side="under", line="183.5")
    assert [b.id for b, _ in await bets.deletable_bets(ctx, PRO, clock())] == [gone.id, keep.id]
    deleted, game = await bets.delete_bet(ctx, PRO, f"#{gone.id}", clock())
    assert deleted == gone and game.id == ATLANTA
    assert [bet.id for bet, _ in await ctx.repos.bets.for_member(1, PRO.user_id)] == [keep.id]
    assert await ctx.repos.bets.get(gone.id) is None
    with pytest.raises(NotFound, match=f"You have no bet #{gone.id}"):
        await bets.delete_bet(ctx, PRO, str(gone.id), clock())


async def test_delete_a_graded_bet_is_refused(world):
    ctx, clock = world
    bet, _ = await _log(ctx, clock)
    async with ctx.repos.db.transaction():
        assert await ctx.repos.bets.grade(_grade(bet.id, clock()))
    assert await bets.deletable_bets(ctx, PRO, clock()) == []
    with pytest.raises(UserError, match=f"Bet #{bet.id} has been graded against the close") as caught:
        await bets.delete_bet(ctx, PRO, str(bet.id), clock())
    assert not isinstance(caught.value, NotFound)
    # The repository refuses too, whoever asks.
    async with ctx.repos.db.transaction():
        assert not await ctx.repos.bets.delete(bet.id, 1, PRO.user_id)
    assert (await ctx.repos.bets.get(bet.id))[1] is not None


async def test_delete_after_tip_is_refused(world):
    ctx, clock = world
    bet, _ = await _log(ctx, clock)
    clock.now = datetime(2026, 8, 5, 23, 0, tzinfo=UTC)
    assert await bets.deletable_bets(ctx, PRO, clock()) == []
    with pytest.raises(UserError, match="has tipped off; bet #"):
        await bets.delete_bet(ctx, PRO, str(bet.id), clock())
    assert await ctx.repos.bets.get(bet.id) is not None


async def test_someone_elses_bet_and_an_unknown_id_get_the_same_answer(world):
    ctx, clock = world
    theirs, _ = await _log(ctx, clock, viewer=OTHER)
    answers = {}
    for label, viewer, bet_id in (
        ("other member", PRO, theirs.id),
        ("other guild", replace(OTHER, guild_id=2), theirs.id),
        ("unknown", PRO, 987654),
        ("not a number", PRO, "abc"),
    ):
        with pytest.raises(NotFound) as caught:
            await bets.delete_bet(ctx, viewer, str(bet_id), clock())
        answers[label] = str(caught.value).replace(str(bet_id), "N")
    assert set(answers.values()) == {"You have no bet #N. `/bet list` shows yours."}
    assert await ctx.repos.bets.get(theirs.id) is not None
    assert await bets.deletable_bets(ctx, PRO, clock()) == []
    with pytest.raises(UpgradeRequired):
        await bets.delete_bet(ctx, COMMUNITY, str(theirs.id), clock())


# ---------------------------------------------------------------------- through the fake Discord


@pytest.fixture
async def stack(template_db, tmp_path, monkeypatch):  # template_db: tests/conftest.py
    async with bot_on_fake(template_db, tmp_path, monkeypatch) as rig:
        yield rig.fake, rig.bot, rig.clock


async def test_bet_log_refused_with_the_current_line_and_bet_delete(stack):
    fake, bot, _ = stack
    user = FakeDiscord.PRO_USER_ID
    far = {"game": ATLANTA, "market": "totals", "side": "over", "line": "165.5", "price": -110}
    refused = await final(await fake.invoke_slash("bet log", far, user_id=user))
    assert refused.ephemeral
    assert refused.content == "The market is Over 183.5 now; a bet at 165.5 is more than 1.5 points away."
    logged = await final(await fake.invoke_slash("bet log", {**far, "line": "183.5"}, user_id=user))
    assert logged.ephemeral and logged.content.startswith("Logged bet #1: Phoenix Mercury @ Atlanta Dream · Over 183.5")
    # Autocomplete lists the member's own open bet; another member sees none of it.
    choices = (await (await fake.invoke_autocomplete("bet delete", {"bet": ""}, user_id=user)).response()).choices
    assert choices == [{"name": "#1 Phoenix Mercury @ Atlanta Dream · Over 183.5 (−110)", "value": "1"}]
    others = await fake.invoke_autocomplete("bet delete", {"bet": ""}, user_id=FakeDiscord.COMMUNITY_USER_ID)
    assert (await others.response()).choices == []
    deleted = await final(await fake.invoke_slash("bet delete", {"bet": "1"}, user_id=user))
    assert deleted.ephemeral
    assert deleted.content == "Deleted bet #1 Phoenix Mercury @ Atlanta Dream · Over 183.5 (−110)."
    again = await final(await fake.invoke_slash("bet delete", {"bet": "1"}, user_id=user))
    assert again.ephemeral and again.content == "You have no bet #1. `/bet list` shows yours."
    listed = await final(await fake.invoke_slash("bet list", {}, user_id=user))
    assert "No bets yet" in json.dumps(listed.embeds)
    assert await bot.ctx.repos.bets.for_member(FakeDiscord.DEFAULT_GUILD_ID, user) == []
