"""The schema declared once: every table of migrations 0001-0014 as SQLAlchemy Core ``Table`` objects.

Issue #18 moves the repositories from hand-written aiosqlite SQL to SQLAlchemy 2 Core on SQLite and
PostgreSQL, with Alembic. This module is its first step: one ``MetaData`` that states what the numbered
migrations build today, so the repositories and Alembic can be rewritten on top of it. Nothing at run time
uses it yet; ``tests/integration/test_schema_metadata.py`` holds it equal to what the migrations build
(tables, columns, NOT NULL, primary keys, unique and foreign keys, indexes with their partial WHERE).
``schema_migrations`` is left out: it is the migration runner's bookkeeping, which Alembic's own
``alembic_version`` replaces.

Types are the ones that mean the same on both engines: ``Text``, ``Integer``, ``Double`` (the migrations'
DOUBLE PRECISION: REAL affinity in SQLite, float8 in PostgreSQL), ``Boolean`` only for the columns that
hold 0/1 (SQLite keeps storing 0/1; PostgreSQL gets a native boolean). Discord ids are TEXT today and stay
TEXT (no ``BigInteger`` is needed for them); the rowid-alias keys (``quotes.id``, ``outbox.id``,
``api_anomalies.id``) are ``BigInteger`` on PostgreSQL and plain ``INTEGER PRIMARY KEY`` on SQLite, where
only that exact spelling is the rowid alias; the API keys' operator-set limits (``rpm_override``,
``webhooks_override``, ``monthly_override``) are ``BigInteger`` on PostgreSQL too: an operator may set one
past 2**31. The per-minute usage counters stay ``Integer`` (a key cannot make 2**31 requests in a minute).

Storage formats do not change. Datetimes are ISO-8601 UTC text in one fixed width
(``2024-05-01T18:30:00.000000Z``, see ``storage/codec.py``), so text order is time order. These columns hold
such text today and will be ``timestamptz`` on PostgreSQL (each is marked ``info={"utc": True}`` here, and
the test checks that list against this docstring's):

- games: commence_time, scheduled_tip, first_seen, last_seen
- quotes: last_update, observed_at
- consensus: at
- signals: created_at, commence_time
- closes: captured_at, at
- grades: graded_at
- feed_state: updated_at
- watchlist: added_at
- alert_routes: created_at
- member_prefs: (none)
- outbox: created_at, next_attempt_at, sent_at, failed_at
- bets: placed_at
- bet_grades: graded_at
- cursors: updated_at
- billing_links: linked_at
- stripe_events: received_at, processed_at, parked_at
- subscriptions: current_period_end, past_due_since, updated_at
- api_keys: created_at, revoked_at
- api_anomalies: at
- webhook_endpoints: old_secret_until, created_at, disabled_at
- ungraded_signals: decided_at
- books: updated_at
- web_sessions: created_at, renewed_at
- class_states: since

Not timestamps, on purpose: ``feed_state.cursor`` (a source's opaque position), ``cursors.value`` (a job's
position, any text) and ``api_usage.minute`` (a ``YYYY-MM-DDTHH:MM`` bucket key).
"""

from __future__ import annotations

from sqlalchemy import (
    TIMESTAMP,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
)

__all__ = ["UTC_COLUMNS", "UTC_TIME", "metadata"]

#: Names for constraints that the migrations leave unnamed, so Alembic can address them on both engines.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

#: A rowid-alias key: ``INTEGER PRIMARY KEY`` on SQLite (only that spelling aliases the rowid), BIGINT elsewhere.
_ROWID = BigInteger().with_variant(Integer(), "sqlite")

_MARKETS = "('h2h', 'spreads', 'totals')"


#: An instant: ISO-8601 UTC text on SQLite (see storage/codec.py), ``timestamptz`` on PostgreSQL.
UTC_TIME = Text().with_variant(TIMESTAMP(timezone=True), "postgresql")


def _utc(name: str, *, nullable: bool = False) -> Column:
    """An instant column: fixed-width UTC text on SQLite, ``timestamptz`` on PostgreSQL."""
    return Column(name, UTC_TIME, nullable=nullable, info={"utc": True})


def _market() -> Column:
    return Column("market", Text, nullable=False)


def _market_check() -> CheckConstraint:
    return CheckConstraint(f"market IN {_MARKETS}", name="market")


def _flag(name: str, *, check: bool = False, default: bool | None = None) -> Column:
    """A 0/1 column: stored 0/1 on SQLite as today (``check`` adds the migrations' ``IN (0, 1)``)."""
    kind = Boolean(create_constraint=check, name=name if check else None)
    return Column(name, kind, nullable=False, server_default=false() if default is False else None)


games = Table(
    "games",
    metadata,
    Column("id", Text, primary_key=True),
    Column("sport_key", Text, nullable=False),
    Column("home_team", Text, nullable=False),
    Column("away_team", Text, nullable=False),
    _utc("commence_time"),
    _utc("scheduled_tip"),
    Column("status", Text, nullable=False, server_default=text("'scheduled'")),
    _utc("first_seen"),
    _utc("last_seen"),
    CheckConstraint("status IN ('scheduled', 'closed')", name="status"),
)
Index("games_commence", games.c.commence_time, games.c.id)
Index("games_status", games.c.status)

# Every distinct quote observed (the engine stores only changes); a withdrawal row copies the book's last line.
quotes = Table(
    "quotes",
    metadata,
    Column("id", _ROWID, primary_key=True, autoincrement=True),
    Column("game_id", Text, nullable=False),
    Column("book", Text, nullable=False),
    _market(),
    Column("point", Double),
    Column("price_a", Integer, nullable=False),
    Column("price_b", Integer, nullable=False),
    _utc("last_update"),
    _utc("observed_at"),
    _flag("withdrawn", default=False),
    _market_check(),
)
Index("quotes_latest", quotes.c.game_id, quotes.c.book, quotes.c.market, quotes.c.observed_at, quotes.c.id)
Index("quotes_observed", quotes.c.observed_at)

consensus = Table(
    "consensus",
    metadata,
    Column("game_id", Text, nullable=False),
    _market(),
    _utc("at"),
    Column("point", Double),
    Column("prob_a", Double, nullable=False),
    Column("books", Integer, nullable=False),
    Column("components", Text, nullable=False, server_default=text("'[]'")),
    PrimaryKeyConstraint("game_id", "market", "at"),
    _market_check(),
)

signals = Table(
    "signals",
    metadata,
    Column("id", Text, primary_key=True),
    Column("type", Text, nullable=False),
    Column("game_id", Text, nullable=False),
    _market(),
    Column("side", Text, nullable=False),
    _utc("created_at"),
    _utc("commence_time"),
    Column("score", Integer, nullable=False),
    Column("breakdown", Text, nullable=False),
    Column("books", Text, nullable=False),
    Column("magnitude", Double, nullable=False),
    Column("velocity", Double),
    Column("entry_book", Text, nullable=False),
    Column("entry_point", Double),
    Column("entry_price", Integer, nullable=False),
    Column("entry_prob", Double, nullable=False),
    Column("consensus_point", Double),
    Column("consensus_prob", Double, nullable=False),
    Column("details", Text, nullable=False, server_default=text("'{}'")),
    _market_check(),
)
Index("signals_created", signals.c.created_at, signals.c.id)
Index("signals_game", signals.c.game_id, signals.c.created_at)

# The first captured close of a (game, market) is final.
closes = Table(
    "closes",
    metadata,
    Column("game_id", Text, nullable=False),
    _market(),
    _utc("captured_at"),
    _utc("at"),
    Column("point", Double),
    Column("prob_a", Double, nullable=False),
    Column("books", Integer, nullable=False),
    Column("source", Text, nullable=False, server_default=text("'consensus'")),
    PrimaryKeyConstraint("game_id", "market"),
    _market_check(),
)

grades = Table(
    "grades",
    metadata,
    Column("signal_id", Text, ForeignKey("signals.id"), primary_key=True),
    _utc("graded_at"),
    Column("close_point", Double),
    Column("close_prob", Double, nullable=False),
    Column("clv_points", Double),
    Column("clv_prob", Double, nullable=False),
    _flag("beat", check=True),
    _flag("push", check=True),
    Column("consensus_clv_points", Double),
    Column("consensus_clv_prob", Double, nullable=False),
    Column("clv_ev", Double),
)
Index("grades_graded", grades.c.graded_at, grades.c.signal_id)

feed_state = Table(
    "feed_state",
    metadata,
    Column("source", Text, primary_key=True),
    Column("cursor", Text),
    Column("quota_remaining", Integer),
    Column("quota_used", Integer),
    Column("quota_last", Integer),
    _utc("updated_at"),
    Column("recent_gaps", Text, nullable=False, server_default=text("'[]'")),
)

watchlist = Table(
    "watchlist",
    metadata,
    Column("guild_id", Text, nullable=False),
    Column("user_id", Text, nullable=False),
    Column("game_id", Text, nullable=False),
    _utc("added_at"),
    PrimaryKeyConstraint("guild_id", "user_id", "game_id"),
)
Index("watchlist_game", watchlist.c.game_id)

alert_routes = Table(
    "alert_routes",
    metadata,
    Column("guild_id", Text, nullable=False),
    Column("channel_id", Text, nullable=False),
    Column("types", Text, nullable=False),
    Column("created_by", Text, nullable=False),
    _utc("created_at"),
    Column("min_state", Text, nullable=False, server_default=text("'unproven'")),
    PrimaryKeyConstraint("guild_id", "channel_id"),
)

member_prefs = Table(
    "member_prefs",
    metadata,
    Column("guild_id", Text, nullable=False),
    Column("user_id", Text, nullable=False),
    _flag("dm_alerts", default=False),
    Column("dm_types", Text),
    Column("dm_min_score", Integer, nullable=False, server_default=text("0")),
    Column("dm_min_state", Text, nullable=False, server_default=text("'unproven'")),
    PrimaryKeyConstraint("guild_id", "user_id"),
)

# One outbox for every outgoing delivery (0007); `key` is "event:subject:target", written ON CONFLICT DO NOTHING.
outbox = Table(
    "outbox",
    metadata,
    Column("id", _ROWID, primary_key=True, autoincrement=True),
    Column("key", Text, nullable=False),
    Column("msg_id", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("target", Text, nullable=False),
    Column("queue", Text, nullable=False),
    Column("payload", Text, nullable=False),
    _utc("created_at"),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    _utc("next_attempt_at"),
    _utc("sent_at", nullable=True),
    _utc("failed_at", nullable=True),
    Column("last_status", Integer),
    Column("last_error", Text),
    UniqueConstraint("key"),
)
_PENDING = "sent_at IS NULL AND failed_at IS NULL"
Index(
    "outbox_pending",
    outbox.c.queue,
    outbox.c.next_attempt_at,
    outbox.c.id,
    sqlite_where=text(_PENDING),
    postgresql_where=text(_PENDING),
)
Index("outbox_target", outbox.c.target, outbox.c.id)

bets = Table(
    "bets",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("guild_id", Text, nullable=False),
    Column("user_id", Text, nullable=False),
    Column("game_id", Text, nullable=False),
    _market(),
    Column("side", Text, nullable=False),
    Column("point", Double),
    Column("price", Integer, nullable=False),
    Column("book", Text),
    _utc("placed_at"),
    _market_check(),
    CheckConstraint("side IN ('home', 'away', 'over', 'under')", name="side"),
)
Index("bets_member", bets.c.guild_id, bets.c.user_id, bets.c.placed_at)
Index("bets_game", bets.c.game_id)

bet_grades = Table(
    "bet_grades",
    metadata,
    Column("bet_id", Integer, ForeignKey("bets.id"), primary_key=True, autoincrement=False),
    _utc("graded_at"),
    Column("close_point", Double),
    Column("close_prob", Double, nullable=False),
    Column("clv_points", Double),
    Column("clv_prob", Double, nullable=False),
    _flag("beat"),
    _flag("push"),
    Column("clv_ev", Double),
)

cursors = Table(
    "cursors",
    metadata,
    Column("name", Text, primary_key=True),
    Column("value", Text, nullable=False),
    _utc("updated_at"),
)

billing_links = Table(
    "billing_links",
    metadata,
    Column("guild_id", Text, nullable=False),
    Column("user_id", Text, nullable=False),
    Column("customer_id", Text, nullable=False),
    Column("linked_by", Text, nullable=False),
    _utc("linked_at"),
    PrimaryKeyConstraint("guild_id", "user_id"),
    UniqueConstraint("customer_id"),
)

# Every Stripe webhook event, stored before it is acted on (id = Stripe's event id: a replay changes nothing).
stripe_events = Table(
    "stripe_events",
    metadata,
    Column("id", Text, primary_key=True),
    Column("type", Text, nullable=False),
    Column("payload", Text, nullable=False),
    _utc("received_at"),
    _utc("processed_at", nullable=True),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("last_error", Text),
    _utc("parked_at", nullable=True),
)
Index("stripe_events_pending", stripe_events.c.processed_at, stripe_events.c.received_at)
_PARKED = "parked_at IS NOT NULL"
Index(
    "stripe_events_parked",
    stripe_events.c.parked_at,
    sqlite_where=text(_PARKED),
    postgresql_where=text(_PARKED),
)

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("id", Text, primary_key=True),
    Column("customer_id", Text, nullable=False),
    Column("status", Text, nullable=False),
    _utc("current_period_end", nullable=True),
    Column("price_ids", Text, nullable=False),
    _utc("past_due_since", nullable=True),
    _flag("cancel_at_period_end", default=False),
    _utc("updated_at"),
)
Index("subscriptions_customer", subscriptions.c.customer_id)

#: An operator-set limit that may pass 2**31 (an Enterprise key's "no limit in practice", `--rpm 10000000000`):
#: BIGINT on PostgreSQL, whose INTEGER is 32-bit; SQLite's INTEGER already holds 64 bits and keeps its DDL.
_LIMIT = BigInteger().with_variant(Integer(), "sqlite")

# API keys are stored only as a SHA-256 hash; `id` is the visible prefix.
api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Text, primary_key=True),
    Column("key_hash", Text, nullable=False),
    Column("owner", Text, nullable=False),
    Column("plan", Text, nullable=False),
    Column("rpm_override", _LIMIT),
    Column("webhooks_override", _LIMIT),
    Column("monthly_override", _LIMIT),
    _utc("created_at"),
    _utc("revoked_at", nullable=True),
    Column("replaced_by", Text),
    UniqueConstraint("key_hash"),
)

api_usage = Table(
    "api_usage",
    metadata,
    Column("key_id", Text, nullable=False),
    Column("minute", Text, nullable=False),
    Column("requests", Integer, nullable=False, server_default=text("0")),
    Column("errors", Integer, nullable=False, server_default=text("0")),
    PrimaryKeyConstraint("key_id", "minute"),
)

api_anomalies = Table(
    "api_anomalies",
    metadata,
    Column("id", _ROWID, primary_key=True, autoincrement=True),
    Column("key_id", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("detail", Text, nullable=False),
    _utc("at"),
    Column("dedupe_key", Text, nullable=False),
    UniqueConstraint("dedupe_key"),
)

webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", Text, primary_key=True),
    Column("key_id", Text, nullable=False),
    Column("url", Text, nullable=False),
    Column("events", Text, nullable=False),
    Column("secret", Text, nullable=False),
    Column("old_secret", Text),
    _utc("old_secret_until", nullable=True),
    _utc("created_at"),
    _utc("disabled_at", nullable=True),
    Column("disabled_reason", Text),
)
Index("webhook_endpoints_key", webhook_endpoints.c.key_id)

ungraded_signals = Table(
    "ungraded_signals",
    metadata,
    Column("signal_id", Text, ForeignKey("signals.id"), primary_key=True),
    _utc("decided_at"),
    Column("reason", Text, nullable=False),
)

game_results = Table(
    "game_results",
    metadata,
    Column("game_id", Text, primary_key=True),
    Column("home_score", Integer, nullable=False),
    Column("away_score", Integer, nullable=False),
    Column("source", Text, nullable=False),
)

books = Table(
    "books",
    metadata,
    Column("key", Text, primary_key=True),
    Column("title", Text, nullable=False),
    _utc("updated_at"),
)

web_sessions = Table(
    "web_sessions",
    metadata,
    Column("id", Text, primary_key=True),
    Column("user_id", Text, nullable=False),
    Column("tier", Text, nullable=False),
    _utc("created_at"),
    _utc("renewed_at"),
)
Index("web_sessions_user", web_sessions.c.user_id)
Index("web_sessions_renewed", web_sessions.c.renewed_at)

class_states = Table(
    "class_states",
    metadata,
    Column("class", Text, nullable=False),
    _utc("since"),
    Column("state", Text, nullable=False),
    Column("tier", Text, nullable=False),
    Column("graded", Integer, nullable=False),
    Column("beats", Integer, nullable=False),
    Column("null_rate", Double),
    Column("lift", Double),
    Column("lift_low", Double),
    Column("lift_high", Double),
    Column("reason", Text, nullable=False, server_default=text("''")),
    PrimaryKeyConstraint("class", "since"),
)

#: (table, column) of every column holding ISO-8601 UTC text today, ``timestamptz`` on PostgreSQL later.
UTC_COLUMNS: frozenset[tuple[str, str]] = frozenset(
    (table.name, column.name)
    for table in metadata.tables.values()
    for column in table.columns
    if column.info.get("utc")
)
