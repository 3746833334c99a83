"""Odds arithmetic, in one place: American prices, implied probability, de-vig, expected value.

Pure functions with hand-worked tests (tests/unit/test_odds.py). Everything else in the project calls
these rather than re-deriving a conversion.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

DevigMethod = Literal["multiplicative", "power", "shin"]


class InvalidPrice(ValueError):
    """An American price that no book can quote (0, or between -100 and +100 exclusive)."""


def validate_american(price: int) -> int:
    if isinstance(price, bool) or not isinstance(price, int):
        raise InvalidPrice(f"price must be an integer, got {price!r}")
    if -100 < price < 100:
        raise InvalidPrice(f"American price {price} is impossible (must be <= -100 or >= +100)")
    return price


def american_to_decimal(price: int) -> float:
    validate_american(price)
    if price > 0:
        return 1.0 + price / 100.0
    return 1.0 + 100.0 / -price


def implied_probability(price: int) -> float:
    """Break-even probability of a price, vig included."""
    return 1.0 / american_to_decimal(price)


def probability_to_american(prob: float) -> int:
    """The fair American price of a probability (rounded to the nearest integer)."""
    if not 0.0 < prob < 1.0:
        raise ValueError(f"probability must be in (0, 1), got {prob}")
    if prob >= 0.5:
        return -round(100.0 * prob / (1.0 - prob))
    return round(100.0 * (1.0 - prob) / prob)


def overround(price_a: int, price_b: int) -> float:
    return implied_probability(price_a) + implied_probability(price_b) - 1.0


def devig_multiplicative(q_a: float, q_b: float) -> float:
    """Scale both implied probabilities by their sum."""
    return q_a / (q_a + q_b)


def devig_power(q_a: float, q_b: float) -> float:
    """Find k with q_a**k + q_b**k = 1; favourites keep relatively more of their probability."""
    if q_a + q_b <= 1.0:
        return devig_multiplicative(q_a, q_b)
    low, high = 1.0, 10.0
    for _ in range(100):
        k = (low + high) / 2.0
        if q_a**k + q_b**k > 1.0:
            low = k
        else:
            high = k
    k = (low + high) / 2.0
    fair_a, fair_b = q_a**k, q_b**k
    return fair_a / (fair_a + fair_b)


def devig_shin(q_a: float, q_b: float) -> float:
    """Shin's model: the margin comes from a share z of insider money; solve z so the fair probs sum to 1."""
    total = q_a + q_b
    if total <= 1.0:
        return devig_multiplicative(q_a, q_b)

    def fair(q: float, z: float) -> float:
        return (math.sqrt(z * z + 4.0 * (1.0 - z) * q * q / total) - z) / (2.0 * (1.0 - z))

    low, high = 0.0, 0.5
    for _ in range(100):
        z = (low + high) / 2.0
        if fair(q_a, z) + fair(q_b, z) > 1.0:
            low = z
        else:
            high = z
    z = (low + high) / 2.0
    fair_a, fair_b = fair(q_a, z), fair(q_b, z)
    return fair_a / (fair_a + fair_b)


_DEVIG: dict[str, Callable[[float, float], float]] = {
    "multiplicative": devig_multiplicative,
    "power": devig_power,
    "shin": devig_shin,
}


def devig(price_a: int, price_b: int, method: DevigMethod = "multiplicative") -> float:
    """De-vigged probability of side A of a two-way market."""
    return _DEVIG[method](implied_probability(price_a), implied_probability(price_b))


def expected_value(fair_prob: float, price: int) -> float:
    """Expected profit per unit staked at `price` when the true probability is `fair_prob`."""
    return fair_prob * american_to_decimal(price) - 1.0
