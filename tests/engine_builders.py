"""Builders for crafted engine inputs: snapshots from a compact description, settings from config."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from config.settings import Settings, load_settings
from engine.models import BookLine, EventOdds, Game, Market, Snapshot

T0 = datetime(2026, 1, 10, 18, 0, tzinfo=UTC)
TIP = T0 + timedelta(hours=6)
GAME = Game(id="g1", sport_key="basketball_nba", home_team="Home", away_team="Away", commence_time=TIP)


class Clock:
    """A clock tests set and move by hand (services, jobs and the bot take any `() -> datetime`)."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def settings() -> Settings:
    """The real config.toml with no .env, so tests see the documented defaults (the web server, when a
    test starts one, takes a free port)."""
    config = load_settings(env_file=None)
    config.web.port = 0
    return config


def minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


def line(
    book: str,
    market: Market,
    point: float | None,
    price_a: int = -110,
    price_b: int = -110,
    *,
    at: datetime,
    updated: datetime | None = None,
    game: Game = GAME,
) -> BookLine:
    return BookLine(
        game_id=game.id,
        book=book,
        market=market,
        point=point,
        price_a=price_a,
        price_b=price_b,
        last_update=updated or at,
        observed_at=at,
    )


def snapshot(at: datetime, lines: list[BookLine], game: Game = GAME) -> Snapshot:
    return Snapshot(fetched_at=at, events=(EventOdds(game=game, lines=tuple(lines)),))


def spreads(at: datetime, points: dict[str, float], updated: dict[str, datetime] | None = None) -> Snapshot:
    """One game's spreads market: {book: home point}, all at -110/-110."""
    updated = updated or {}
    return snapshot(at, [line(b, Market.SPREADS, p, at=at, updated=updated.get(b)) for b, p in points.items()])


BOOKS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot")


def api_event(game_id: str, tip: datetime, spreads_by_book: dict[str, float]) -> dict:
    """One event in The Odds API v4's JSON shape with a spreads market per book (home point given)."""
    stamp = tip.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "id": game_id,
        "sport_key": "basketball_nba",
        "sport_title": "NBA",
        "commence_time": stamp,
        "home_team": "Home",
        "away_team": "Away",
        "bookmakers": [
            {
                "key": book,
                "title": book.title(),
                "last_update": stamp,
                "markets": [
                    {
                        "key": "spreads",
                        "outcomes": [
                            {"name": "Home", "price": -110, "point": point},
                            {"name": "Away", "price": -110, "point": -point},
                        ],
                    }
                ],
            }
            for book, point in spreads_by_book.items()
        ],
    }
