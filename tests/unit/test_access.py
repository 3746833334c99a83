"""The tier rules: roles to tiers, the Community delay, redaction, limits, Pro-only features."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

import access
from access import Feature, Tier, UpgradeRequired, Viewer
from engine.models import Entry, Market, ScoreBreakdown, Side, Signal, SignalType
from tests.engine_builders import T0, TIP, settings

BOOKS = ("lowvig", "fanduel", "draftkings", "betmgm")


def _signal(kind=SignalType.STEAM, created_at=T0, details=None) -> Signal:
    return Signal(
        id="sig1",
        type=kind,
        game_id="g1",
        market=Market.SPREADS,
        side=Side.HOME,
        created_at=created_at,
        score=73,
        breakdown=ScoreBreakdown(0.9, 0.8, 0.7, 0.6, 0.5, 73),
        books=BOOKS,
        magnitude=0.75,
        velocity=0.2,
        entry=Entry(book="betmgm", point=-3.0, price=-110, prob=0.5),
        consensus_point=-3.5,
        consensus_prob=0.5,
        commence_time=TIP,
        details=details
        or {
            "window_seconds": 600,
            "first_move_at": T0.isoformat(),
            "consensus_before": {"point": -3.0, "books": 8},
            "book": "betmgm",
            "key_number": 3.0,
            "from": -3.0,
            "to": -3.5,
            "unit": "points",
        },
    )


def test_tier_from_roles_by_name_or_id():
    discord = settings().discord
    assert access.tier_for_roles([(1, "everyone"), (2, "pro")], discord) == Tier.PRO
    assert access.tier_for_roles([(1, "everyone"), (2, "Moderator")], discord) == Tier.COMMUNITY
    assert access.tier_for_roles([], discord) == Tier.COMMUNITY
    discord.pro_role = "424242"
    assert access.tier_for_roles([(424242, "Paid")], discord) == Tier.PRO
    assert access.tier_for_roles([(1, "Pro")], discord) == Tier.COMMUNITY


def test_community_sees_signals_only_after_ten_minutes():
    tiers = settings().tiers
    signal = _signal(created_at=T0)
    assert not access.can_see(signal, Tier.COMMUNITY, T0 + timedelta(minutes=9, seconds=59), tiers)
    assert access.can_see(signal, Tier.COMMUNITY, T0 + timedelta(minutes=10), tiers)
    assert access.can_see(signal, Tier.PRO, T0, tiers)
    assert access.horizon(Tier.COMMUNITY, T0, tiers) == T0 - timedelta(minutes=10)


def test_community_view_has_no_velocity_no_book_no_breakdown():
    view = access.view_signal(_signal(), Tier.COMMUNITY, heat=2)
    assert view.redacted
    assert view.velocity is None and view.magnitude is None
    assert view.books is None and view.entry_book is None
    assert view.breakdown is None and view.score is None
    assert view.score_band == "high" and view.heat == 2
    assert view.type == SignalType.STEAM and view.side == Side.HOME and view.market == Market.SPREADS
    text = repr(dataclasses.asdict(view))
    for book in BOOKS:
        assert book not in text
    assert "window_seconds" not in text and "first_move_at" not in text
    assert view.details == {"key_number": 3.0, "from": -3.0, "to": -3.5, "unit": "points"}


def test_pro_view_keeps_everything():
    view = access.view_signal(_signal(), Tier.PRO)
    assert not view.redacted
    assert view.books == BOOKS and view.velocity == 0.2 and view.score == 73
    assert view.breakdown["magnitude"] == 0.9 and view.entry_book == "betmgm"


def test_the_ev_at_fire_is_a_pro_diagnostic():
    dislocation = _signal(SignalType.DISLOCATION, details={"book": "betmgm", "gap": 1.0, "expected_value": 0.0123})
    assert access.view_signal(dislocation, Tier.PRO).ev_at_fire == 0.0123
    assert access.view_signal(dislocation, Tier.COMMUNITY).ev_at_fire is None
    assert access.view_signal(_signal(), Tier.PRO).ev_at_fire is None  # a STEAM does not price its entry


def test_pro_features_are_refused_to_community_with_an_upgrade_hint():
    community = Viewer(Tier.COMMUNITY, 1, 1)
    for feature in Feature:
        assert not access.allows(Tier.COMMUNITY, feature)
        assert access.allows(Tier.PRO, feature)
        with pytest.raises(UpgradeRequired, match=r"Pro feature.*/upgrade"):
            access.require(community, feature)
    access.require(Viewer(Tier.PRO, 1, 1), Feature.EXPORT)


def test_watchlist_limits_and_score_bands():
    tiers = settings().tiers
    assert access.watchlist_limit(Tier.COMMUNITY, tiers) == 3
    assert access.watchlist_limit(Tier.PRO, tiers) == 50
    assert [access.score_band(s) for s in (90, 70, 69, 45, 44, 0)] == ["high", "high", "medium", "medium", "low", "low"]


# ---------------------------------------------------------------------- API plans


@pytest.mark.parametrize("plan", ["builder", "pro_infra", "enterprise"])
def test_every_api_plan_sees_signals_in_real_time_with_full_diagnostics(plan):
    audience = access.api_audience(plan, redistribute_raw_odds=False)
    assert audience.delay == timedelta(0) and audience.tier == Tier.PRO
    signal = _signal()
    view = access.view_signal_for(signal, audience)
    assert not view.redacted and view.score == 73 and view.velocity == 0.2 and view.books == BOOKS
    assert view.entry_book == "betmgm" and view.entry_price == -110 and view.entry_prob == 0.5
    assert view.details == dict(signal.details)
    assert access.api_can_see(signal, audience, T0)  # no delay: visible the moment it fires
    # The plans differ in limits only, so their answers may be shared (cached) between them.
    assert audience.cache_key == access.api_audience("builder", redistribute_raw_odds=False).cache_key


def test_raw_odds_follow_the_operator_licence():
    closed = access.api_audience("pro_infra", redistribute_raw_odds=False)
    with pytest.raises(access.RawOddsNotLicensed) as refused:
        access.require_raw_odds(closed)
    assert refused.value.status == 403 and "licence" in str(refused.value)
    access.require_raw_odds(access.api_audience("pro_infra", redistribute_raw_odds=True))
    assert closed.cache_key != access.api_audience("pro_infra", redistribute_raw_odds=True).cache_key
