"""`/integrity`'s embed: what each row says, and Discord's limits (25 fields, 1024 per value, 6000 in all)."""

from __future__ import annotations

from bot.render import (
    EMBED_FIELDS_MAX,
    EMBED_TOTAL_MAX,
    FIELD_VALUE_MAX,
    INTEGRITY_GUIDE,
    INTEGRITY_TITLE,
    integrity_embed,
    integrity_row_value,
)
from engine.audit import ClassAudit, wilson_interval
from engine.reports import AuditReport


def row(
    name: str,
    kind: str = "class",
    graded: int = 34,
    beats: int = 22,
    *,
    null_rate: float | None = 0.61,
    lift_interval: tuple[float, float] | None = (-0.08, 0.152),
    opposite_rate: float | None = 0.4,
    tier: str = "unproven",
    reason: str = "lift interval crosses zero (-8.0 pts)",
    ungraded: int = 0,
    pushes: int = 0,
    record: tuple[int, int, int] | None = None,
) -> ClassAudit:
    rate = beats / graded if graded else None
    lift = None if rate is None or null_rate is None else rate - null_rate
    low, high = lift_interval if graded and lift_interval else (None, None)
    return ClassAudit(
        name=name,
        kind=kind,
        graded=graded,
        beats=beats,
        pushes=pushes,
        ungraded=ungraded,
        interval=wilson_interval(beats, graded),
        null_graded=graded * 10,
        null_rate=null_rate if graded else None,
        lift=lift,
        lift_low=low,
        lift_high=high,
        opposite_rate=opposite_rate if graded else None,
        mean_clv=0.01 if graded else None,
        mean_clv_points=None,
        record=record,
        tier=tier,
        reason="" if tier != "unproven" else reason,
    )


def report(*rows: ClassAudit, method: dict[str, object] | None = None) -> AuditReport:
    return AuditReport(
        classes=rows, signals_by_type={"STEAM": 1}, close_source="external closes (SBR)", method=method or {}
    )


def embed_size(embed) -> int:
    data = embed.to_dict()
    return (
        len(data.get("title", ""))
        + len(data.get("description", ""))
        + len(data.get("footer", {}).get("text", ""))
        + sum(len(f["name"]) + len(f["value"]) for f in data.get("fields", []))
    )


def test_a_row_reads_as_rate_interval_null_lift_opposite_and_verdict():
    assert integrity_row_value(row("STEAM:spreads")) == (
        "34 graded · 64.7% beat (Wilson 47.9–78.5%)\n"
        "null 61.0% · lift +3.7 pts (−8.0…+15.2) · opp 40.0%\n"
        "**unproven** — lift interval crosses zero (-8.0 pts)"
    )
    tiered = integrity_row_value(
        row(
            "DISLOCATION:h2h",
            graded=640,
            beats=390,
            null_rate=0.5,
            lift_interval=(0.05, 0.15),
            tier="S",
            pushes=3,
            record=(300, 280, 10),
        )
    )
    assert tiered.endswith("\n**S**") and "3 pushes" in tiered and "300-280-10 (W-L-P)" in tiered
    no_null = integrity_row_value(
        row("STEAM:totals", null_rate=None, opposite_rate=None, lift_interval=None, reason="no null to compare with")
    )
    assert no_null.split("\n")[1] == "no null yet" and "opp" not in no_null
    assert integrity_row_value(row("KEY_CROSS:spreads", graded=0, beats=0)) == "not graded yet"
    assert integrity_row_value(row("KEY_CROSS:spreads", graded=0, beats=0, ungraded=4)) == (
        "not graded yet (4 waiting for a close)"
    )
    assert len(integrity_row_value(row("X:spreads", reason="x" * 5000))) == FIELD_VALUE_MAX


def test_embed_title_description_fields_and_footer():
    embed = integrity_embed(
        report(
            row("STEAM:spreads"),
            row("KEY_CROSS:spreads", graded=0, beats=0, ungraded=2),
            row("preset:high_confidence", "preset", graded=50, beats=30, null_rate=0.55),
            row("score:55-69", "score", graded=40, beats=20, null_rate=0.5),
        ),
        image="integrity.png",
    )
    data = embed.to_dict()
    assert data["title"] == INTEGRITY_TITLE == "Signal integrity: every signal graded against the close"
    description = data["description"]
    assert "vig included" in description and "no-vig close" in description and "matched null" in description
    assert "lift interval above zero" in description and f"Guide: {INTEGRITY_GUIDE}" in description
    assert [f["name"] for f in data["fields"]] == [
        "STEAM:spreads",
        "KEY_CROSS:spreads",
        "preset high_confidence",
        "score 55-69",
    ]
    assert data["fields"][1]["value"] == "not graded yet (2 waiting for a close)"
    assert data["footer"]["text"] == "Close: external closes (SBR)"
    assert data["image"]["url"] == "attachment://integrity.png"


def test_guide_url_and_tier_rules_come_from_the_method():
    method = {
        "guide_url": "https://stratum.example/docs/signal-integrity",
        "tiers": [
            {"name": "S", "min_rate": 0.58, "min_graded": 500},
            {"name": "B", "min_rate": 0.52, "min_graded": 30},
        ],
    }
    description = integrity_embed(report(row("STEAM:spreads"), method=method)).description
    assert "Guide: https://stratum.example/docs/signal-integrity" in description
    assert "S > 58% over ≥ 500" in description and "B > 52% over ≥ 30" in description
    assert INTEGRITY_GUIDE not in description


def test_an_empty_audit_says_so():
    embed = integrity_embed(report())
    assert [f["name"] for f in embed.to_dict()["fields"]] == ["No graded signals yet"]
    assert embed.footer.text == "Close: external closes (SBR)"


def test_thirty_rows_stay_within_discord_limits_dropping_score_rows_first():
    long_reason = "lift interval crosses zero (-3.1 pts)"
    rows = [
        *(row(f"TYPE{i}:spreads", graded=30 + i, beats=16 + i, reason=long_reason, pushes=1) for i in range(18)),
        *(row(f"preset:p{i}", "preset", graded=40, beats=22, reason=long_reason) for i in range(4)),
        *(row(f"score:{i}0-{i}9", "score", graded=20, beats=11) for i in range(8)),
    ]
    assert len(rows) == 30
    embed = integrity_embed(report(*rows), image="integrity.png")
    fields = embed.to_dict()["fields"]
    assert len(fields) <= EMBED_FIELDS_MAX
    assert embed_size(embed) <= EMBED_TOTAL_MAX and len(embed) <= EMBED_TOTAL_MAX
    assert all(len(f["value"]) <= FIELD_VALUE_MAX and len(f["name"]) <= 256 for f in fields)
    names = [f["name"] for f in fields]
    # Every class and preset is kept; the score buckets go, and the last field says how many.
    assert names[:22] == [f"TYPE{i}:spreads" for i in range(18)] + [f"preset p{i}" for i in range(4)]
    shown_scores = [n for n in names if n.startswith("score ")]
    assert names[-1] == "Not shown here" and f"{8 - len(shown_scores)} more rows" in fields[-1]["value"]


def test_many_long_class_rows_are_cut_by_size_not_only_by_count():
    reason = "r" * 900
    rows = [row(f"TYPE{i}:spreads", reason=reason) for i in range(30)]
    embed = integrity_embed(report(*rows))
    fields = embed.to_dict()["fields"]
    assert len(fields) <= EMBED_FIELDS_MAX and embed_size(embed) <= EMBED_TOTAL_MAX
    assert fields[-1]["name"] == "Not shown here"
    assert f"{30 - (len(fields) - 1)} more rows" in fields[-1]["value"]


def test_a_class_row_shows_its_alert_state_since_when_and_its_record_since_then():
    from dataclasses import replace
    from datetime import UTC, datetime

    from engine.audit import ForwardRecord

    refuted = replace(
        row("DISLOCATION:spreads", graded=35, beats=11, null_rate=0.423, lift_interval=(-0.157, -0.062)),
        alert_state="refuted",
        state_since=datetime(2026, 8, 5, 23, 35, 25, tzinfo=UTC),
        state_reason="lift −10.9 pts (−15.7…−6.2) over 35 graded",
        forward=ForwardRecord(graded=12, beats=5, null_rate=0.45, lift=5 / 12 - 0.45, lift_low=-0.2, lift_high=0.1),
    )
    assert integrity_row_value(refuted).split("\n")[-1] == (
        "Alert state: refuted since 2026-08-05 23:35 UTC — lift −10.9 pts (−15.7…−6.2) over 35 graded · "
        "since then: 12 graded, 41.7% beat, null 45.0%, lift −3.3 pts (−20.0…+10.0)"
    )
    fresh = replace(row("STEAM:totals"), alert_state="unproven", state_reason="too few: 6 graded, 30 needed")
    fresh = replace(fresh, forward=ForwardRecord(0, 0, None, None, None, None))
    assert integrity_row_value(fresh).endswith(
        "Alert state: unproven from the start — too few: 6 graded, 30 needed · since then: none graded yet"
    )
    # Preset and score rows have no alert state: no such line.
    assert "Alert state" not in integrity_row_value(row("preset:low_noise", "preset"))
