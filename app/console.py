"""Plain-text rendering for the terminal (the main job's output)."""

from __future__ import annotations

from engine.models import Game, Market, Signal, SignalType


def format_number(market: Market, point: float | None, price: int) -> str:
    if market == Market.H2H or point is None:
        return f"{price:+d}"
    shown = f"{point:+g}" if market == Market.SPREADS else f"{point:g}"
    return f"{shown} ({price:+d})"


def format_signal(signal: Signal, game: Game | None) -> str:
    matchup = f"{game.away_team} @ {game.home_team}" if game else signal.game_id
    side = game.side_label(signal.market, signal.side) if game else signal.side.value
    entry = signal.entry
    parts = [
        signal.created_at.strftime("%Y-%m-%d %H:%MZ"),
        f"{signal.type.value:<11}",
        f"{signal.market.value:<7}",
        matchup,
        f"→ {side}",
        f"best {format_number(signal.market, entry.point, entry.price)} at {entry.book}",
        f"score {signal.score}",
    ]
    unit = "pp" if signal.market == Market.H2H else "pts"
    scale = 100.0 if signal.market == Market.H2H else 1.0
    if signal.type == SignalType.STEAM:
        parts.append(f"{len(signal.books)} books, first {signal.books[0]}")
        parts.append(f"{signal.magnitude * scale:.2f} {unit} at {signal.velocity * scale:.3f} {unit}/min")
    elif signal.type == SignalType.DISLOCATION:
        parts.append(f"gap {signal.magnitude * scale:.2f} {unit}, EV at fire {100 * (signal.ev_at_fire or 0.0):+.1f}%")
    else:
        details = signal.details
        parts.append(f"crossed {details['key_number']:g} ({details['from']:+g} → {details['to']:+g})")
    return "  ".join(parts)
