"""How a line reads to a bettor, the same in Discord and on the dashboard: "Mystics +2.5 (−110)",
"Over 183.5 (−110)", "Wings −180", with real minus signs and each side's best quote marked. Pure text:
what is shown was already chosen for the viewer by `services.odds`."""

from __future__ import annotations

from access import SignalView
from engine.models import MARKET_SIDES, BetGrade, Close, Consensus, Game, Grade, Market, Side
from engine.odds import probability_to_american
from engine.price_now import PriceNow
from services.odds import Quote, side_quote

#: Marks each side's best quote among the books (the same mark in the Community view: it names no book).
BEST = "★"
#: The real minus sign of prices and points ("−110", "−3.5").
MINUS = "\u2212"
MARKET_NAMES = {Market.SPREADS: "Spread", Market.TOTALS: "Total", Market.H2H: "Moneyline"}


def minus(text: str) -> str:
    return text.replace("-", MINUS)


def nickname(team: str) -> str:
    """ "Dallas Wings" → "Wings": the last word of a team's name, for short titles."""
    return team.split()[-1] if team.split() else team


def side_text(game: Game, market: Market, side: Side, quote: Quote, best: Quote | None = None) -> str:
    """One side of a line as a bettor reads it: "Mystics +2.5 (−110)", "Over 183.5 (−110)", "Wings −180";
    starred when it is the best quote of that side."""
    point, price = quote
    team = side.value.capitalize() if market == Market.TOTALS else nickname(game.side_label(market, side))
    shown = minus(f"{price:+d}")
    if market != Market.H2H and point is not None:
        number_text = f"{point:+g}" if market == Market.SPREADS else f"{point:g}"
        shown = f"{minus(number_text)} ({shown})"
    return f"{team} {shown}{BEST if quote == best else ''}"


def sides(
    game: Game, market: Market, point: float | None, price_a: int, price_b: int, best: tuple[Quote, Quote] | None
) -> tuple[tuple[str, bool], tuple[str, bool]]:
    """Both sides of one line, side A (home / Over) first, each as (its text unstarred, whether it is that
    side's best quote): for a surface that marks the best its own way."""
    shown = []
    for index, side in enumerate(MARKET_SIDES[market]):
        quote = side_quote(market, point, price_a, price_b, side)
        shown.append((side_text(game, market, side, quote), best is not None and quote == best[index]))
    return shown[0], shown[1]


def both_sides(
    game: Game, market: Market, point: float | None, price_a: int, price_b: int, best: tuple[Quote, Quote] | None
) -> str:
    """Both sides of one line, side A (home / Over) first: "Mystics +2.5 (−110) · Wings −2.5 (−110)"."""
    return " · ".join(
        text + (BEST if is_best else "") for text, is_best in sides(game, market, point, price_a, price_b, best)
    )


def fair_prices(consensus: Consensus | Close) -> tuple[int, int]:
    """The consensus (or a close: the last pre-tip consensus) as no-vig American prices of (side A, side B)."""
    prob_a = min(max(consensus.prob_a, 0.001), 0.999)
    return probability_to_american(prob_a), probability_to_american(1.0 - prob_a)


def fair_sides(game: Game, market: Market, consensus: Consensus | Close) -> tuple[str, str]:
    """The consensus as no-vig prices for both sides, at the consensus number (side A first)."""
    fair_a, fair_b = fair_prices(consensus)
    (text_a, _), (text_b, _) = sides(game, market, consensus.point, fair_a, fair_b, None)
    return text_a, text_b


def fair_text(game: Game, market: Market, consensus: Consensus) -> str:
    return " · ".join(fair_sides(game, market, consensus))


def point_text(market: Market, point: float) -> str:
    """A side's number with a real minus sign: signed on a spread ("−3.5", "+3"), plain on a total ("183.5")."""
    return minus(f"{point:+g}" if market == Market.SPREADS else f"{point:g}")


def quote_text(market: Market, point: float | None, price: int) -> str:
    """A side's number and price as a bettor reads them, with real minus signs: "183.5 (−110)",
    "−3.5 (−108)", "+150" (a moneyline, or a line without a number, is its price)."""
    shown = minus(f"{price:+d}")
    if market == Market.H2H or point is None:
        return shown
    return f"{point_text(market, point)} ({shown})"


def entry_text(view: SignalView) -> str:
    """The entry as the signal's side sees it, with real minus signs: "183.5 (−110)", "−3.5 (−108)", "+150";
    empty when the view carries no entry price."""
    if view.entry_price is None:
        return ""
    return quote_text(view.market, view.entry_point, view.entry_price)


#: What the EV at fire is measured against, said after it wherever there is room.
EV_AT_FIRE_BASIS = "against the no-vig consensus (this price, vig included)"


def ev_at_fire_text(view: SignalView) -> str:
    """ "EV at fire +1.2%": the entry's expected value against the no-vig consensus when the signal fired, as
    the bot and the dashboard show it; empty when the view carries none (Community, or a type that does not
    price its entry)."""
    if view.ev_at_fire is None:
        return ""
    return f"EV at fire {percent(view.ev_at_fire)}"


def verdict(grade: Grade | BetGrade) -> tuple[str, str]:
    """A grade's verdict as read ("beat the close", "missed the close", "push") and its kind ("beat",
    "missed", "push"): the same words on the dashboard and in Discord."""
    if grade.push:
        return "push", "push"
    return ("beat the close", "beat") if grade.beat else ("missed the close", "missed")


def clv_points_text(value: float) -> str:
    """CLV in points: "+1.5 pts", "−1 pt", "0 pts"."""
    shown = "0" if value == 0 else minus(f"{value:+g}")
    return f"{shown} pt" if abs(value) == 1 else f"{shown} pts"


def clv_text(grade: Grade, market: Market) -> str:
    """ "CLV +6.97% · +1.5 pts": the expected value at the close (the verdict's measure), and the points
    gained on the number where the market has one."""
    text = minus(f"CLV {100 * grade.clv_ev:+.2f}%")
    if grade.clv_points is not None and market != Market.H2H:
        text += f" · {clv_points_text(grade.clv_points)}"
    return text


def close_number_text(grade: Grade, market: Market) -> str:
    """The close a signal was graded against, for its side: "−7.5 · 49.8% no-vig", "183.5 · 51.0% no-vig",
    "52.4% no-vig" (moneyline)."""
    prob = f"{100 * grade.close_prob:.1f}% no-vig"
    if grade.close_point is None or market == Market.H2H:
        return prob
    return f"{point_text(market, grade.close_point)} · {prob}"


def percent(value: float) -> str:
    """An expected value as a signed percentage with a real minus sign: "+1.2%", "−4.5%"."""
    return minus(f"{round(100 * value, 1) + 0.0:+.1f}%")  # + 0.0: never "−0.0%"


def fair_quote(market: Market, price: PriceNow) -> str:
    """The fair price of the side `price` is on: its consensus number at the no-vig price, "+3 (−104)"."""
    prob = min(max(price.fair_prob, 0.001), 0.999)
    return quote_text(market, price.fair_point, probability_to_american(prob))


#: What "Best price now" says when there is none: the same words in Discord and on the dashboard.
NO_PRICE_NOW = "none to take now (the game has started, or no book quotes this side against a fair price)"


def price_line(market: Market, price: PriceNow) -> str:
    """ "−4.5 (+110) at Bovada · EV +5.0% against the fair −4.5 (−100)": the best price now, its book when
    the viewer may see it, and its expected value against the fair price."""
    where = f" at {price.book}" if price.book else ""
    return (
        f"{quote_text(market, price.point, price.price)}{where} · EV {percent(price.ev)} "
        f"against the fair {fair_quote(market, price)}"
    )


def signed_points(value: float) -> str:
    """A rate difference in percentage points with a real minus sign: +3.7, −8.0."""
    return minus(f"{100 * value:+.1f}")


def row_name(name: str) -> str:
    """How a row is called on charts and embeds: "preset high_confidence", "score 55-69"."""
    for prefix in ("preset:", "score:"):
        if name.startswith(prefix):
            return f"{prefix[:-1]} {name[len(prefix) :]}"
    return name
