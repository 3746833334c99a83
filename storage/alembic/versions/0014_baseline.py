"""Baseline: the schema the numbered SQL migrations 0001-0014 built, on SQLite and PostgreSQL.

Revision ID: 0014
Revises: (none: the first revision)
Create Date: 2026-12-07

Generated once by Alembic's autogenerate (``scripts/new_revision.py``) from `storage/schema.py` against an
empty database, then corrected where autogenerate cannot know and frozen:

- the 0/1 flags' server default is ``sa.false()`` (``0`` on SQLite as the SQL files wrote it, ``false`` on
  PostgreSQL's native boolean), not the text one backend rendered;
- ``grades.beat``/``push`` keep their CHECK (IN (0, 1)) under the naming convention's names (SQLite only:
  PostgreSQL's boolean needs none).

Before any database had it, it was brought up to date once with `storage/schema.py` (the API keys' limits
became BIGINT on PostgreSQL); from now on a change is a new revision.

On SQLite it builds what the files built (``tests/integration/test_schema_metadata.py`` compares the two
catalogues), so a file of before Alembic at version 14 is adopted by stamping this revision, untouched. On
PostgreSQL the instants are ``timestamptz``, the flags ``boolean`` and the rowid keys ``bigserial``.
This file never imports `storage.schema`: the live metadata moves on, what this revision did must not.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Every table and index of schema 0014, in foreign-key order."""
    op.create_table(
        "alert_routes",
        sa.Column("guild_id", sa.Text(), nullable=False),
        sa.Column("channel_id", sa.Text(), nullable=False),
        sa.Column("types", sa.Text(), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Text().with_variant(sa.TIMESTAMP(timezone=True), "postgresql"), nullable=False),
        sa.Column("min_state", sa.Text(), server_default=sa.text("'unproven'"), nullable=False),
        sa.PrimaryKeyConstraint("guild_id", "channel_id", name=op.f("pk_alert_routes")),
    )
    op.create_table(
        "api_anomalies",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("key_id", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("at", sa.Text().with_variant(sa.TIMESTAMP(timezone=True), "postgresql"), nullable=False),
        sa.Column("dedupe_key", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_anomalies")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_api_anomalies_dedupe_key")),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("key_hash", sa.Text(), nullable=False),
        sa.Column("owner", sa.Text(), nullable=False),
        sa.Column("plan", sa.Text(), nullable=False),
        sa.Column("rpm_override", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("webhooks_override", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("monthly_override", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("created_at", sa.Text().with_variant(sa.TIMESTAMP(timezone=True), "postgresql"), nullable=False),
        sa.Column("revoked_at", sa.Text().with_variant(sa.TIMESTAMP(timezone=True), "postgresql"), nullable=True),
        sa.Column("replaced_by", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    op.create_table(
        "api_usage",
        sa.Column("key_id", sa.Text(), nullable=False),
        sa.Column("minute", sa.Text(), nullable=False),
        sa.Column("requests", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("errors", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.PrimaryKeyConstraint("key_id", "minute", name=op.f("pk_api_usage")),
    )
    op.create_table(
        "bets",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("guild_id", sa.Text(), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("game_id", sa.Text(), nullable=False),
        sa.Column("market", sa.Text(), nullable=False),
        sa.Column("side", sa.Text(), nullable=False),
        sa.Column("point", sa.Double(), nullable=True),
        sa.Column("price", sa.Integer(), nullable=False),
        sa.Column("book", sa.Text(), nullable=True),
        sa.Column("placed_at", sa.Text().with_variant(sa.TIMESTAMP(timezone=True), "postgresql"), nullable=False),
        sa.CheckConstraint("market IN ('h2h', 'spreads', 'totals')", name=op.f("ck_bets_market")),
        sa.CheckConstraint("side IN ('home', 'away', 'over', 'under')", name=op.f("ck_bets_side")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bets")),
    )
    op.create_index("bets_game", "bets", ["game_id"], unique=False)
    op.create_index("bets_member", "bets", ["guild_id", "user_id", "placed_at"], unique=False)
    op.create_table(
        "billing_links",
        sa.Column("guild_id", sa.Text(), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("customer_id", sa.Text(), nullable=False),
        sa.Column("linked_by", sa.Text(), nullable=False),
        sa.Column("linked_at", sa.Text().with_variant(sa.TIMESTAMP(timezone=True), "postgresql"), nullable=False),
        sa.PrimaryKeyConstraint("guild_id", "user_id", name=op.f("pk_billing_links")),
        sa.UniqueConstraint("customer_id", name=op.f("uq_billing_links_customer_id")),
    )
    op.create_table(
        "books",
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.Text().with_variant(sa.TIMESTAMP(timezone=True), "postgresql"), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_books")),
    )
    op.create_table(
        "class_states",
        sa.Column("class", sa.Text(), nullable=False),
        sa.Column("since", sa.Text().with_variant(sa.TIMESTAMP(timezone=True), "postgresql"), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("tier", sa.Text(), nullable=False),
        sa.Column("graded", sa.Integer(), nullable=False),
        sa.Column("beats", sa.Integer(), nullable=False),
        sa.Column("null_rate", sa.Double(), nullable=True),
        sa.Column("lift", sa.Double(), nullable=True),
        sa.Column("lift_low", sa.Double(), nullable=True),
        sa.Column("lift_high", sa.Double(), nullable=True),
        sa.Column("reason", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.PrimaryKeyConstraint("class", "since", name=op.f("pk_class_states")),
    )
    op.create_table(
        "closes",
        sa.Column("game_id", sa.Text(), nullable=False),
        sa.Column("market", sa.Text(), nullable=False),
        sa.Column("captured_at", sa.Text().with_variant(sa.TIMESTAMP(timezone=True), "postgresql"), nullable=False),
        sa.Column("at", sa.Text().with_variant(sa.TIMESTAMP(timezone=True), "postgresql"), nullable=False),
        sa.Column("point", sa.Double(), nullable=True),
        sa.Column("prob_a", sa.Double(), nullable=False),
        sa.Column("books", sa.Integer(), nullable=False),
        sa.Column("source", sa.Text(), server_default=sa.text("'consensus'"), nullable=False),
        sa.CheckConstraint("market IN ('h2h', 'spreads', 'totals')", name=op.f("ck_closes_market")),
        sa.PrimaryKeyConstraint("game_id", "market", name=op.f("pk_closes")),
    )
    op.create_table(
        "consensus",
        sa.Column("game_id", sa.Text(), nullable=False),
        sa.Column("market", sa.Text(), nullable=False),
        sa.Column("at", sa.Text().with_variant(sa.TIMESTAMP(timezone=True), "postgresql"), nullable=False),
        sa.Column("point", sa.Double(), nullable=True),
        sa.Column("prob_a", sa.Double(), nullable=False),
        sa.Column("books", sa.Integer(), nullable=False),
        sa.Column("components", sa.Text(), server_default=sa.text("'[]'"), nullable=False),
        sa.CheckConstraint("market IN ('h2h', 'spreads', 'totals')", name=op.f("ck_consensus_market")),
        sa.PrimaryKeyConstraint("game_id", "market", "at", name=op.f("pk_consensus")),
    )
    op.create_table(
        "cursors",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.Text().with_variant(sa.TIMESTAMP(timezone=True), "postgresql"), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_cursors")),
    )
    op.create_table(
        "feed_state",
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("cursor", sa.Text(), nullable=True),
        sa.Column("quota_remaining", sa.Integer(), nullable=True),
        sa.Column("quota_used", sa.Integer(), nullable=True),
        sa.Column("quota_last", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.Text().with_variant(sa.TIMESTAMP(timezone=True), "postgresql"), nullable=False),
        sa.Column("recent_gaps", sa.Text(), server_default=sa.text("'[]'"), nullable=False),
        sa.PrimaryKeyConstraint("source", name=op.f("pk_feed_state")),
    )
    op.create_table(
        "game_results",
        sa.Column("game_id", sa.Text(), nullable=False),
        sa.Column("home_score", sa.Integer(), nullable=False),
        sa.Column("away_score", sa.Integer(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("game_id", name=op.f("pk_game_results")),
    )
    op.create_table(
        "games",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("sport_key", sa.Text(), nullable=False),
        sa.Column("home_team", sa.Text(), nullable=False),
        sa.Column("away_team", sa.Text(), nullable=False),
        sa.Column("commence_time", sa.Text().with_variant(sa.TIMESTAMP(timezone=True), "postgresql"), nullable=False),
        sa.Column("scheduled_tip", sa.Text().with_variant(sa.TIMESTAMP(timezone=True), "postgresql"), nullable=False),
        sa.Column("status", sa.Text(), server_default=sa.text("'scheduled'"), nullable=False),
        sa.Column("first_seen", sa.Text().with_variant(sa.TIMESTAMP(timezone=True), "postgresql"), nullable=False),
        sa.Column("last_seen", sa.Text().with_variant(sa.TIMESTAMP(timezone=True), "postgresql"), nullable=False),
        sa.CheckConstraint("status IN ('scheduled', 'closed')", name=op.f("ck_games_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_games")),
    )
    op.create_index("games_commence", "games", ["commence_time", "id"], unique=False)
    op.create_index("games_status", "games", ["status"], unique=False)
    op.create_table(
        "member_prefs",
        sa.Column("guild_id", sa.Text(), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("dm_alerts", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("dm_types", sa.Text(), nullable=True),
        sa.Column("dm_min_score", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("dm_min_state", sa.Text(), server_default=sa.text("'unproven'"), nullable=False),
        sa.PrimaryKeyConstraint("guild_id", "user_id", name=op.f("pk_member_prefs")),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("msg_id", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("queue", sa.Text(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Text().with_variant(sa.TIMESTAMP(timezone=True), "postgresql"), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("next_attempt_at", sa.Text().with_variant(sa.TIMESTAMP(timezone=True), "postgresql"), nullable=False),
        sa.Column("sent_at", sa.Text().with_variant(sa.TIMESTAMP(timezone=True), "postgresql"), nullable=True),
        sa.Column("failed_at", sa.Text().with_variant(sa.TIMESTAMP(timezone=True), "postgresql"), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("key", name=op.f("uq_outbox_key")),
    )
    op.create_index(
        "outbox_pending",
        "outbox",
        ["queue", "next_attempt_at", "id"],
        unique=False,
        sqlite_where=sa.text("sent_at IS NULL AND failed_at IS NULL"),
        postgresql_where=sa.text("sent_at IS NULL AND failed_at IS NULL"),
    )
    op.create_index("outbox_target", "outbox", ["target", "id"], unique=False)
    op.create_table(
        "quotes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("game_id", sa.Text(), nullable=False),
        sa.Column("book", sa.Text(), nullable=False),
        sa.Column("market", sa.Text(), nullable=False),
        sa.Column("point", sa.Double(), nullable=True),
        sa.Column("price_a", sa.Integer(), nullable=False),
        sa.Column("price_b", sa.Integer(), nullable=False),
        sa.Column("last_update", sa.Text().with_variant(sa.TIMESTAMP(timezone=True), "postgresql"), nullable=False),
        sa.Column("observed_at", sa.Text().with_variant(sa.TIMESTAMP(timezone=True), "postgresql"), nullable=False),
        sa.Column("withdrawn", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.CheckConstraint("market IN ('h2h', 'spreads', 'totals')", name=op.f("ck_quotes_market")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quotes")),
    )
    op.create_index("quotes_latest", "quotes", ["game_id", "book", "market", "observed_at", "id"], unique=False)
    op.create_index("quotes_observed", "quotes", ["observed_at"], unique=False)
    op.create_table(
        "signals",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("game_id", sa.Text(), nullable=False),
        sa.Column("market", sa.Text(), nullable=False),
        sa.Column("side", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Text().with_variant(sa.TIMESTAMP(timezone=True), "postgresql"), nullable=False),
        sa.Column("commence_time", sa.Text().with_variant(sa.TIMESTAMP(timezone=True), "postgresql"), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("breakdown", sa.Text(), nullable=False),
        sa.Column("books", sa.Text(), nullable=False),
        sa.Column("magnitude", sa.Double(), nullable=False),
        sa.Column("velocity", sa.Double(), nullable=True),
        sa.Column("entry_book", sa.Text(), nullable=False),
        sa.Column("entry_point", sa.Double(), nullable=True),
        sa.Column("entry_price", sa.Integer(), nullable=False),
        sa.Column("entry_prob", sa.Double(), nullable=False),
        sa.Column("consensus_point", sa.Double(), nullable=True),
        sa.Column("consensus_prob", sa.Double(), nullable=False),
        sa.Column("details", sa.Text(), server_default=sa.text("'{}'"), nullable=False),
        sa.CheckConstraint("market IN ('h2h', 'spreads', 'totals')", name=op.f("ck_signals_market")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signals")),
    )
    op.create_index("signals_created", "signals", ["created_at", "id"], unique=False)
    op.create_index("signals_game", "signals", ["game_id", "created_at"], unique=False)
    op.create_table(
        "stripe_events",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("received_at", sa.Text().with_variant(sa.TIMESTAMP(timezone=True), "postgresql"), nullable=False),
        sa.Column("processed_at", sa.Text().with_variant(sa.TIMESTAMP(timezone=True), "postgresql"), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("parked_at", sa.Text().with_variant(sa.TIMESTAMP(timezone=True), "postgresql"), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stripe_events")),
    )
    op.create_index(
        "stripe_events_parked",
        "stripe_events",
        ["parked_at"],
        unique=False,
        sqlite_where=sa.text("parked_at IS NOT NULL"),
        postgresql_where=sa.text("parked_at IS NOT NULL"),
    )
    op.create_index("stripe_events_pending", "stripe_events", ["processed_at", "received_at"], unique=False)
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("customer_id", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column(
            "current_period_end", sa.Text().with_variant(sa.TIMESTAMP(timezone=True), "postgresql"), nullable=True
        ),
        sa.Column("price_ids", sa.Text(), nullable=False),
        sa.Column("past_due_since", sa.Text().with_variant(sa.TIMESTAMP(timezone=True), "postgresql"), nullable=True),
        sa.Column("cancel_at_period_end", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("updated_at", sa.Text().with_variant(sa.TIMESTAMP(timezone=True), "postgresql"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriptions")),
    )
    op.create_index("subscriptions_customer", "subscriptions", ["customer_id"], unique=False)
    op.create_table(
        "watchlist",
        sa.Column("guild_id", sa.Text(), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("game_id", sa.Text(), nullable=False),
        sa.Column("added_at", sa.Text().with_variant(sa.TIMESTAMP(timezone=True), "postgresql"), nullable=False),
        sa.PrimaryKeyConstraint("guild_id", "user_id", "game_id", name=op.f("pk_watchlist")),
    )
    op.create_index("watchlist_game", "watchlist", ["game_id"], unique=False)
    op.create_table(
        "web_sessions",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("tier", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Text().with_variant(sa.TIMESTAMP(timezone=True), "postgresql"), nullable=False),
        sa.Column("renewed_at", sa.Text().with_variant(sa.TIMESTAMP(timezone=True), "postgresql"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_sessions")),
    )
    op.create_index("web_sessions_renewed", "web_sessions", ["renewed_at"], unique=False)
    op.create_index("web_sessions_user", "web_sessions", ["user_id"], unique=False)
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("key_id", sa.Text(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("events", sa.Text(), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("old_secret", sa.Text(), nullable=True),
        sa.Column("old_secret_until", sa.Text().with_variant(sa.TIMESTAMP(timezone=True), "postgresql"), nullable=True),
        sa.Column("created_at", sa.Text().with_variant(sa.TIMESTAMP(timezone=True), "postgresql"), nullable=False),
        sa.Column("disabled_at", sa.Text().with_variant(sa.TIMESTAMP(timezone=True), "postgresql"), nullable=True),
        sa.Column("disabled_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_endpoints")),
    )
    op.create_index("webhook_endpoints_key", "webhook_endpoints", ["key_id"], unique=False)
    op.create_table(
        "bet_grades",
        sa.Column("bet_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("graded_at", sa.Text().with_variant(sa.TIMESTAMP(timezone=True), "postgresql"), nullable=False),
        sa.Column("close_point", sa.Double(), nullable=True),
        sa.Column("close_prob", sa.Double(), nullable=False),
        sa.Column("clv_points", sa.Double(), nullable=True),
        sa.Column("clv_prob", sa.Double(), nullable=False),
        sa.Column("beat", sa.Boolean(), nullable=False),
        sa.Column("push", sa.Boolean(), nullable=False),
        sa.Column("clv_ev", sa.Double(), nullable=True),
        sa.ForeignKeyConstraint(["bet_id"], ["bets.id"], name=op.f("fk_bet_grades_bet_id_bets")),
        sa.PrimaryKeyConstraint("bet_id", name=op.f("pk_bet_grades")),
    )
    op.create_table(
        "grades",
        sa.Column("signal_id", sa.Text(), nullable=False),
        sa.Column("graded_at", sa.Text().with_variant(sa.TIMESTAMP(timezone=True), "postgresql"), nullable=False),
        sa.Column("close_point", sa.Double(), nullable=True),
        sa.Column("close_prob", sa.Double(), nullable=False),
        sa.Column("clv_points", sa.Double(), nullable=True),
        sa.Column("clv_prob", sa.Double(), nullable=False),
        sa.Column("beat", sa.Boolean(create_constraint=True, name=op.f("ck_grades_beat")), nullable=False),
        sa.Column("push", sa.Boolean(create_constraint=True, name=op.f("ck_grades_push")), nullable=False),
        sa.Column("consensus_clv_points", sa.Double(), nullable=True),
        sa.Column("consensus_clv_prob", sa.Double(), nullable=False),
        sa.Column("clv_ev", sa.Double(), nullable=True),
        sa.ForeignKeyConstraint(["signal_id"], ["signals.id"], name=op.f("fk_grades_signal_id_signals")),
        sa.PrimaryKeyConstraint("signal_id", name=op.f("pk_grades")),
    )
    op.create_index("grades_graded", "grades", ["graded_at", "signal_id"], unique=False)
    op.create_table(
        "ungraded_signals",
        sa.Column("signal_id", sa.Text(), nullable=False),
        sa.Column("decided_at", sa.Text().with_variant(sa.TIMESTAMP(timezone=True), "postgresql"), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["signal_id"], ["signals.id"], name=op.f("fk_ungraded_signals_signal_id_signals")),
        sa.PrimaryKeyConstraint("signal_id", name=op.f("pk_ungraded_signals")),
    )


def downgrade() -> None:
    """Drop every table (and with them their indexes): every row is lost."""
    op.drop_table("ungraded_signals")
    op.drop_table("grades")
    op.drop_table("bet_grades")
    op.drop_table("webhook_endpoints")
    op.drop_table("web_sessions")
    op.drop_table("watchlist")
    op.drop_table("subscriptions")
    op.drop_table("stripe_events")
    op.drop_table("signals")
    op.drop_table("quotes")
    op.drop_table("outbox")
    op.drop_table("member_prefs")
    op.drop_table("games")
    op.drop_table("game_results")
    op.drop_table("feed_state")
    op.drop_table("cursors")
    op.drop_table("consensus")
    op.drop_table("closes")
    op.drop_table("class_states")
    op.drop_table("books")
    op.drop_table("billing_links")
    op.drop_table("bets")
    op.drop_table("api_usage")
    op.drop_table("api_keys")
    op.drop_table("api_anomalies")
    op.drop_table("alert_routes")
