"""Persistence: one SQL layer (SQLAlchemy Core, async) on SQLite or PostgreSQL, a repository per aggregate.

All SQL of the project lives in this package, with bound parameters only, and runs on both backends
(`storage.db` says how the differences are handled). Repositories never commit: callers group writes in
``db.transaction()`` so a snapshot's games, quotes, consensus and signals land together or not at all. Reads need no
transaction.

    repos = await Repositories.open("stratum.db")
    async with repos.db.transaction():
        await repos.games.upsert(game, seen_at=now)
        await repos.quotes.insert_many(lines)
    ...
    await repos.close()
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from storage.api import ApiRepository
from storage.bets import BetRepository
from storage.billing import BillingRepository, StoredEvent
from storage.books import BookRepository
from storage.class_states import ClassStateRepository
from storage.closes import CloseRepository
from storage.codec import from_db, to_db
from storage.consensus import ConsensusRepository
from storage.cursors import CursorRepository
from storage.db import Database, PoolSettings
from storage.feed_state import FeedState, FeedStateRepository
from storage.games import CLOSED, SCHEDULED, GameRepository, StoredGame
from storage.grades import ClassRecord, GradeRepository
from storage.members import AlertRoute, MemberRepository
from storage.outbox import OutboxItem, OutboxRepository
from storage.quotes import QuoteRepository
from storage.signals import SignalRepository
from storage.url import DatabaseTarget, parse_target
from storage.web_sessions import WebSessionRepository

__all__ = [
    "CLOSED",
    "SCHEDULED",
    "AlertRoute",
    "ApiRepository",
    "BetRepository",
    "BillingRepository",
    "BookRepository",
    "ClassRecord",
    "ClassStateRepository",
    "CloseRepository",
    "ConsensusRepository",
    "CursorRepository",
    "Database",
    "DatabaseTarget",
    "FeedState",
    "FeedStateRepository",
    "GameRepository",
    "GradeRepository",
    "MemberRepository",
    "OutboxItem",
    "OutboxRepository",
    "PoolSettings",
    "QuoteRepository",
    "Repositories",
    "SignalRepository",
    "StoredEvent",
    "StoredGame",
    "WebSessionRepository",
    "from_db",
    "parse_target",
    "to_db",
]


@dataclass(frozen=True, slots=True)
class Repositories:
    """Every repository over one `Database`: what the app factory builds once and passes around."""

    db: Database
    games: GameRepository
    quotes: QuoteRepository
    books: BookRepository
    consensus: ConsensusRepository
    signals: SignalRepository
    closes: CloseRepository
    grades: GradeRepository
    feed_state: FeedStateRepository
    members: MemberRepository
    outbox: OutboxRepository
    bets: BetRepository
    cursors: CursorRepository
    billing: BillingRepository
    api: ApiRepository
    web_sessions: WebSessionRepository
    class_states: ClassStateRepository

    @classmethod
    def for_database(cls, db: Database) -> Repositories:
        """Bundle repositories over an already open database."""
        return cls(
            db=db,
            games=GameRepository(db),
            quotes=QuoteRepository(db),
            books=BookRepository(db),
            consensus=ConsensusRepository(db),
            signals=SignalRepository(db),
            closes=CloseRepository(db),
            grades=GradeRepository(db),
            feed_state=FeedStateRepository(db),
            members=MemberRepository(db),
            outbox=OutboxRepository(db),
            bets=BetRepository(db),
            cursors=CursorRepository(db),
            billing=BillingRepository(db),
            api=ApiRepository(db),
            web_sessions=WebSessionRepository(db),
            class_states=ClassStateRepository(db),
        )

    @classmethod
    async def open(cls, target: str | Path | DatabaseTarget, *, pool: PoolSettings | None = None) -> Repositories:
        """Open (and migrate) the database at `target` — a SQLite path, ``":memory:"``, or a URL of either
        backend (storage.url) — and bundle the repositories."""
        return cls.for_database(await Database.open(target, pool=pool))

    async def close(self) -> None:
        await self.db.close()
